"""Remote mode end to end: a real dispatcher and real worker processes on free ports.

One server with two CPU workers serves most tests (module fixture); tests that
break a server (a wrong token, a killed dispatcher) start their own.  Heartbeats
are fast here (0.25 s, lost after 3 s) so that fault tests take seconds; the
defaults are checked against the issue's 15 s separately.
"""
from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import os
import pickle
import signal
import socket
import subprocess
import sys
import struct
import threading
import time

import msgspec
import numpy as np
import pytest
import torch
import zmq

import gt
from gt.client import runtime
from gt.transport import launch, local, settings, wire

FAST = {"GT_HEARTBEAT_INTERVAL": "0.25", "GT_HEARTBEAT_TIMEOUT": "3", "GT_CONNECT_TIMEOUT": "60"}
LOST_WITHIN = 3 + 0.25 + 2.0  # timeout + one heartbeat + slack for a loaded CI machine
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("GT_SERVER", "GT_TOKEN", "GT_WORKER_TOKEN")}
    env.update(FAST, **extra)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def start_cluster(tmp_path, workers: int, env: dict | None = None, worker_env: dict | None = None,
                  args=()) -> launch.LocalServer:
    log = open(tmp_path / "server.log", "ab")
    srv = launch.start_server(env=env or _env(), output=log, args=args)
    for _ in range(workers):
        srv.add_worker("cpu", worker_env, output=log)
    return srv


def worker_count(address: str) -> int:
    """How many workers the server at ``address`` has (asked as a bare client)."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(settings.tcp_endpoint(*settings.parse_address(address)))
    try:
        sock.send(wire.encode(wire.ClientHello(wire.PROTOCOL_VERSION, "", os.getpid())))
        if not sock.poll(1000):
            return 0  # no worker yet: the server keeps the client waiting
        wire.decode_header(sock.recv())
        sock.send(wire.encode(wire.StatsRequest(1)))
        assert sock.poll(10_000)
        return len(wire.decode_header(sock.recv()).stats)
    finally:
        sock.send(wire.encode(wire.Bye()))
        sock.close()


@contextlib.contextmanager
def time_limit(seconds: float):
    """TimeoutError when the block runs longer than ``seconds`` (a hang fails the test, not the run)."""
    def expire(*_):
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def raw_client(address: str, token: str = ""):
    """A bare DEALER registered as a client (its welcome read), for frames GT's client never sends."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.ipv6 = True
    sock.connect(settings.tcp_endpoint(*settings.parse_address(address)))
    try:
        sock.send(wire.encode(wire.ClientHello(wire.PROTOCOL_VERSION, token, os.getpid())))
        assert sock.poll(30_000), "no welcome for a well-formed hello"
        assert type(wire.decode_header(sock.recv_multipart()[0])) is wire.Welcome
        yield sock
        sock.send(wire.encode(wire.Bye()))
    finally:
        sock.close()


def next_answer(sock, timeout: float):
    """The next worker answer (or server ``Error``) the raw client gets, None after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while sock.poll(max(0.0, deadline - time.monotonic()) * 1e3):
        frames = sock.recv_multipart()
        header = wire.decode_header(frames[0])
        if type(header) is wire.Forward:
            return wire.decode_answer(frames[1])
        if type(header) is wire.Error:
            return header
    return None


def run_client(script: str, address: str, **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script], env=_env(GT_SERVER=address, **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 60) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"client failed ({proc.returncode}):\n{err}"
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gt_server")
    srv = start_cluster(tmp, 2, env=_env(GT_INSTRUCTION_LOG=str(tmp / "instructions.log")))
    srv.log_dir = tmp
    try:
        wait_for(lambda: worker_count(srv.address) == 2, 60, "two workers to join")
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def connect(server, use_worker, monkeypatch):
    """``connect(address=server)`` makes this process a client of a server (left again after the test)."""
    for k, v in FAST.items():
        monkeypatch.setenv(k, v)
    use_worker()  # a fresh embedded worker holds no tensors, as gt.connect requires

    def _connect(address=None, token=None):
        return runtime.connect_server(address or server.address, token)

    yield _connect
    runtime.disconnect()


@pytest.fixture
def cluster_stats(server, connect):
    """Every worker's stats, once both of the module's workers have joined."""
    conn = connect()
    return lambda: conn.get_all_stats()


def _mlp_losses(steps: int = 4) -> list[float]:
    gt.manual_seed(0)
    rng = np.random.default_rng(0)
    x = gt.from_numpy(rng.standard_normal((16, 8)).astype(np.float32))
    y = gt.from_numpy(rng.standard_normal((16, 1)).astype(np.float32))
    model = gt.nn.Sequential(gt.nn.Linear(8, 16), gt.nn.ReLU(), gt.nn.Linear(16, 1))
    opt = gt.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = gt.nn.MSELoss()(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_mlp_losses_remote_equal_embedded(connect, use_worker):
    embedded = _mlp_losses()
    conn = connect()
    remote = _mlp_losses()
    assert isinstance(runtime.get_worker(), runtime.RemoteWorker) and conn.worker_id
    assert remote == embedded
    assert remote[-1] < remote[0]


CLIENT_SCRIPT = """
import json, os, sys, time, numpy as np, gt
k = {k}
a = gt.from_numpy(np.arange(12, dtype=np.float32).reshape(3, 4) * k)
print("ready", flush=True)
while not os.path.exists({go!r}):  # every client is connected before any computes
    time.sleep(0.02)
b = ((a + k) * a).sum(1)
print(json.dumps({{"result": b.tolist(), "worker": gt.client.runtime.get_worker().worker_id}}))
"""


def _expected(k: int) -> list:
    a = torch.arange(12, dtype=torch.float32).reshape(3, 4) * k
    return ((a + k) * a).sum(1).tolist()


def test_three_client_processes_get_their_own_answers(server, tmp_path):
    go = tmp_path / "go"
    procs = [run_client(CLIENT_SCRIPT.format(k=k, go=str(go)), server.address) for k in (1, 2, 3)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    go.touch()
    results = [finish(p) for p in procs]
    for k, res in zip((1, 2, 3), results):
        assert res["result"] == _expected(k)
    # the same tensor ids (each process counts from 1) met on a shared worker without mixing
    assert len({r["worker"] for r in results}) == 2


def test_threads_each_get_their_own_connection(connect):
    connect()
    results, errors, workers = {}, [], {}

    def run(k):
        try:
            a = gt.from_numpy(np.arange(12, dtype=np.float32).reshape(3, 4) * k)
            results[k] = ((a + k) * a).sum(1).tolist()
            workers[k] = runtime.get_worker()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert {k: results[k] for k in (1, 2, 3)} == {k: _expected(k) for k in (1, 2, 3)}
    conns = {id(w) for w in workers.values()} | {id(runtime.get_worker())}
    assert len(conns) == 4
    assert all(isinstance(w, runtime.RemoteWorker) for w in workers.values())


def test_boundaries_coalesce_into_few_messages_and_syncs_send_everything(connect, monkeypatch):
    conn = connect()
    monkeypatch.setattr(conn, "COALESCE_SECONDS", 60.0)  # only the item count sends here
    sent = []
    real_send = conn._send
    monkeypatch.setattr(conn, "_send", lambda sync=False: sent.append(len(conn._items)) or real_send(sync))
    gc.collect()  # no free of an earlier test's tensor, collected mid-loop, among the items counted below
    gc.disable()
    try:
        x = gt.from_numpy(np.arange(4, dtype=np.float32))  # a put goes out at once
        ref = torch.arange(4, dtype=torch.float32)
        assert len(sent) == 1
        kept = []  # no frees: an op and a boundary item each
        for _ in range(conn.COALESCE_ITEMS // 2 - 1):
            kept.append(x)
            x = x + 1.0
            ref = ref + 1.0
            runtime.mark_boundary()
    finally:
        gc.enable()
    others = [item for item in conn._items if item[0] not in (0, 2)]
    assert len(sent) == 1 and len(conn._items) == conn.COALESCE_ITEMS - 2, others  # held: no message per boundary
    kept.append(x)
    x = x * 2.0
    runtime.mark_boundary()
    assert len(sent) == 2 and sent[-1] == conn.COALESCE_ITEMS and conn._items == []
    x = x - 3.0
    runtime.mark_boundary()
    assert len(sent) == 2  # buffered again
    assert x.tolist() == (ref * 2.0 - 3.0).tolist()  # the read sends what is buffered first
    monkeypatch.setattr(conn, "COALESCE_SECONDS", 0.0)
    (x + 1.0).sum()
    runtime.mark_boundary()  # a boundary after a pause goes out at once
    assert conn._items == []


@pytest.mark.skipif(not local.available(), reason="abstract Unix sockets are Linux's")
def test_after_a_read_a_local_connection_sends_the_next_steps_first_ops_at_once(connect, monkeypatch):
    """A loop that reads every step leaves its worker idle while it builds the next step: the first
    EARLY_ITEMS ops then go at once (the worker takes them in while the rest is built), once a read;
    over TCP, where each message wakes ZeroMQ's threads, they wait for the boundary."""
    conn = connect()
    assert type(conn._data) is local.Channel
    monkeypatch.setattr(conn, "COALESCE_SECONDS", 60.0)
    sent = []
    real_send = conn._send
    monkeypatch.setattr(conn, "_send", lambda sync=False: sent.append(len(conn._items)) or real_send(sync))
    x = gt.from_numpy(np.arange(4, dtype=np.float32))
    ref = torch.arange(4, dtype=torch.float32)
    kept = []

    def ops(n):
        nonlocal x, ref
        for _ in range(n):
            kept.append(x)  # no frees among the items counted
            x, ref = x + 1.0, ref + 1.0

    gc.collect()
    gc.disable()
    try:
        ops(conn.EARLY_ITEMS)
        assert len(sent) == 1 and len(conn._items) == conn.EARLY_ITEMS  # the put only: no read yet
        kept.append(total := x.sum())
        assert total.item() == ref.sum().item()
        del sent[:]
        ops(conn.EARLY_ITEMS - 1)
        assert sent == []
        ops(1)
        assert sent == [conn.EARLY_ITEMS] and conn._items == []  # sent at once, before any boundary
        ops(conn.EARLY_ITEMS + 1)
        runtime.mark_boundary()
        assert sent == [conn.EARLY_ITEMS]   # once a read: the rest of the step waits for its boundary
        kept.append(total := x.sum())
        assert total.item() == ref.sum().item()
        del sent[:]
        batch = gt.from_numpy(np.ones(4, dtype=np.float32))   # a step's new data goes at once,
        x, ref = x + batch, ref + 1.0
        ops(conn.EARLY_ITEMS - 1)
        assert sent == [1, conn.EARLY_ITEMS]   # and its first ops after it still go early
    finally:
        gc.enable()
    assert x.tolist() == ref.tolist()
    runtime.disconnect()
    conn = _tcp_direct(connect, monkeypatch)
    x = gt.from_numpy(np.arange(4, dtype=np.float32))
    assert x.sum().item() == 6.0
    monkeypatch.setattr(conn, "COALESCE_SECONDS", 60.0)
    kept = [x := x + 1.0 for _ in range(conn.EARLY_ITEMS + 1)]
    assert sum(item[0] == 0 for item in conn._items) == conn.EARLY_ITEMS + 1  # all still buffered
    assert x.tolist() == [17.0, 18.0, 19.0, 20.0]


def test_stats_over_the_server(server, connect):
    conn = connect()
    stats = wait_for(lambda: (s := gt.debug.get_worker_stats()) and len(s) == 2 and s, 60, "two workers")
    assert conn.worker_id in stats
    a = gt.from_numpy(np.ones((2, 3), dtype=np.float32))
    b = (a * 3).exp()
    c = b.sum()
    assert c.item() == pytest.approx(6 * np.exp(3.0))
    mine = gt.debug.get_worker_stats()[conn.worker_id]
    assert mine["operations"]["total"] == 3
    assert mine["tensors"] == 3
    assert mine["device"] == "cpu"
    assert mine["process"]["tensors"] >= 3
    other = [s for name, s in gt.debug.get_worker_stats().items() if name != conn.worker_id]
    assert len(other) == 1 and "operations" not in other[0]  # no session of ours there
    assert other[0]["device"] == "cpu" and set(other[0]["process"]) == {"pid", "clients", "tensors",
                                                                         "params_cache_bytes", "threads",
                                                                         "max_threads"}


def test_instruction_log_names_client_worker_and_ops(server, connect):
    conn = connect()
    a = gt.from_numpy(np.ones((2, 5), dtype=np.float32))
    (a * 2.5).sum().item()

    def mine():
        log = (server.log_dir / "instructions.log").read_text().splitlines()
        lines = [line for line in log if f"client={conn.session} worker={conn.worker_id}" in line]
        return lines if any("op=fetch" in line for line in lines) else None  # the copies arrive after the read

    mine = wait_for(mine, 10, "the log's writer thread")
    assert any("op=put" in line and "shape=(2, 5)" in line and "dtype=float32" in line for line in mine)
    mul = [line for line in mine if "op=mul_scalar" in line and "scalars=(2.5,)" in line]
    assert len(mul) == 1 and f"in={a._id}:(2, 5)" in mul[0] and "shape=(2, 5)" in mul[0]
    assert any("op=sum_all" in line and "shape=()" in line and ":(2, 5)" in line for line in mine)


KILL_ME = """
import json, sys, time, numpy as np, gt
keep = [gt.from_numpy(np.ones((4, 4), dtype=np.float32)) * i for i in range(5)]
keep[-1].sum().item()
print(json.dumps({"worker": gt.client.runtime.get_worker().worker_id}), flush=True)
time.sleep(600)
"""


def test_killed_client_tensors_are_freed(server, cluster_stats):
    def held() -> int:
        return sum(s["process"]["tensors"] for s in cluster_stats().values())

    before = held()
    proc = run_client(KILL_ME, server.address)
    try:
        json.loads(proc.stdout.readline())
        assert held() == before + 6  # five kept tensors and the sum being read
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    t0 = time.monotonic()
    wait_for(lambda: held() == before, LOST_WITHIN, "the killed client's tensors to be freed")
    assert time.monotonic() - t0 < LOST_WITHIN


def test_killed_worker_errors_its_clients_and_others_go_on(server, connect, tmp_path):
    server.add_worker("cpu", output=open(tmp_path / "worker.log", "ab"))
    conn = connect()
    assert conn.direct  # death on the direct path surfaces through the server, in time
    wait_for(lambda: len(conn.get_all_stats()) == 3, 60, "a third worker")
    a = gt.from_numpy(np.ones(3, dtype=np.float32))
    assert (a + 1).sum().item() == 6.0
    pid = conn.get_stats()["process"]["pid"]
    os.kill(pid, signal.SIGKILL)
    b = a * 2  # queued for a dead worker: no hang, no error yet
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match=f"GT worker {conn.worker_id} was lost"):
        b.sum().item()
    assert time.monotonic() - t0 < LOST_WITHIN
    with pytest.raises(RuntimeError, match="was lost"):  # and every later sync says so too
        a.numpy()
    runtime.disconnect()
    fresh = connect()
    assert fresh.worker_id != conn.worker_id
    c = gt.from_numpy(np.arange(4, dtype=np.float32))
    assert (c * c).sum().item() == 14.0
    assert conn.worker_id not in gt.debug.get_worker_stats()


def test_reads_go_directly_to_the_worker_or_through_the_server_alike(connect, monkeypatch):
    """Issue 18: after assignment a client talks to its worker directly; GT_DIRECT=0 keeps the routed path."""
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    results = {}
    for direct in ("1", "0"):
        monkeypatch.setenv("GT_DIRECT", direct)
        conn = connect()
        assert bool(conn.direct) == (direct == "1") and (conn._data is not conn._sock) == (direct == "1")
        a = gt.from_numpy(values)
        results[direct] = ((a * 2 + 1).sum(1).tolist(), (a @ a.t()).numpy(), conn.get_stats()["tensors"])
        runtime.disconnect()
    ref = torch.from_numpy(values)
    for got in results.values():
        assert got[0] == (ref * 2 + 1).sum(1).tolist()
        assert np.array_equal(got[1], (ref @ ref.t()).numpy())
        assert got[2] >= 1  # stats of this session, the stream applied before the query


def test_item_of_every_wire_dtype_is_torchs(connect, monkeypatch):
    """A remote item() unpacks the read's bytes without building a tensor: the same Python number, of the
    same type, as torch's item() for each dtype the wire carries (bfloat16 through a tensor), on both paths."""
    values = (0.0, -0.0, 1.5, -3.25, 65504.0, 1e-7, float("inf"), float("-inf"), float("nan"))
    ints = {"uint8": (0, 255), "int8": (-128, 127), "int16": (-32768, 32767), "int32": (-2 ** 31, 2 ** 31 - 1),
            "int64": (-2 ** 63, 2 ** 63 - 1), "bool": (False, True)}
    for direct in ("1", "0"):
        monkeypatch.setenv("GT_DIRECT", direct)
        conn = connect()
        assert bool(conn.direct) == (direct == "1")
        cases = [(name, v) for name in ("float16", "bfloat16", "float32", "float64") for v in values]
        cases += [(name, v) for name, vs in ints.items() for v in vs]
        for name, v in cases:
            dtype = getattr(torch, name)
            ref = torch.tensor([v], dtype=dtype).reshape(1, 1).item()
            got = gt.tensor([v], dtype=dtype).reshape(1, 1).item()
            assert type(got) is type(ref), (name, v, got)
            assert got == ref or (got != got and ref != ref), (name, v, got, ref)
            assert math.copysign(1, got) == math.copysign(1, ref) if type(ref) is float else True, (name, v, got)
        assert (gt.ones(()) * 2).sum().item() == 2.0
        for name, bits in (("float32", 0x7FC00001), ("float16", 0x7E01)):  # NaN payloads keep their bits
            raw = torch.tensor([bits], dtype=torch.int32 if name == "float32" else torch.int16)
            ref = raw.view(getattr(torch, name))
            assert np.array_equal(gt.tensor(ref).numpy().view(raw.numpy().dtype), raw.numpy())
        runtime.disconnect()


@pytest.mark.skipif(not local.available(), reason="abstract Unix sockets are Linux's")
def test_a_client_on_the_workers_machine_talks_to_it_on_its_unix_socket(connect, monkeypatch):
    """The direct path takes the worker's plain Unix socket where it listens here (no ZeroMQ thread on the
    way), and TCP where it does not (a worker on another machine); reads are the same either way."""
    conn = connect()
    assert conn.direct.startswith("unix://@gt-worker-") and type(conn._data) is local.Channel
    a = gt.from_numpy(np.arange(4, dtype=np.float32))
    assert (a * a).sum().item() == 14.0
    big = np.arange(1 << 20, dtype=np.float32)   # 4 MB each way: frames over many reads
    assert np.array_equal((gt.from_numpy(big) * 2).numpy(), big * 2)
    runtime.disconnect()
    nowhere = f"unix://@gt-worker-{os.urandom(12).hex()}"
    real = runtime.RemoteWorker._await_welcome
    monkeypatch.setattr(runtime.RemoteWorker, "_await_welcome", lambda *args: msgspec.structs.replace(
        real(*args), local=nowhere))
    t0 = time.monotonic()
    conn = connect()
    assert conn.direct.startswith("tcp://") and conn._data is not conn._sock
    assert time.monotonic() - t0 < runtime.RemoteWorker.DIRECT_TIMEOUT  # no wait on the absent socket
    a = gt.from_numpy(np.arange(4, dtype=np.float32))
    assert (a * a).sum().item() == 14.0


def test_an_unreachable_worker_leaves_the_client_on_the_routed_path(connect, monkeypatch, caplog):
    """The direct connection cannot be made (the worker's address is not reachable from here): routed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nobody = f"tcp://127.0.0.1:{s.getsockname()[1]}"  # closed again: nothing listens there
    real = runtime.RemoteWorker._direct
    monkeypatch.setattr(local, "available", lambda: False)   # not on this machine
    monkeypatch.setattr(runtime.RemoteWorker, "DIRECT_TIMEOUT", 0.5)
    monkeypatch.setattr(runtime.RemoteWorker, "_direct",
                        lambda self, ctx, welcome, endpoint, keys: real(self, ctx, welcome, nobody, keys))
    t0 = time.monotonic()
    gt_logger = logging.getLogger("gt")
    gt_logger.addHandler(caplog.handler)  # GT's logger does not propagate to the root
    try:
        with caplog.at_level(logging.INFO, logger="gt"):
            conn = connect()
    finally:
        gt_logger.removeHandler(caplog.handler)
    assert 0.5 <= time.monotonic() - t0 < 10
    assert conn.direct == "" and conn._data is conn._sock
    assert f"did not answer at {nobody} within 0.5 s; going through the server" in caplog.text
    a = gt.from_numpy(np.arange(4, dtype=np.float32))
    assert (a * a).sum().item() == 14.0


def _tcp_direct(connect, monkeypatch):
    """A connection on the worker's TCP direct socket (its Unix socket not taken)."""
    monkeypatch.setattr(local, "available", lambda: False)
    conn = connect()
    assert conn.direct.startswith("tcp://")
    return conn


def test_the_direct_socket_admits_only_its_session_secret(connect, monkeypatch):
    """A peer that reaches a worker's direct socket gets nothing without its session's secret."""
    conn = _tcp_direct(connect, monkeypatch)
    a = gt.from_numpy(np.arange(3, dtype=np.float32))
    assert (a + 1).sum().item() == 6.0
    rogue = zmq.Context.instance().socket(zmq.DEALER)
    rogue.linger = 0
    rogue.connect(conn.direct)
    try:
        rogue.send(wire.encode([(4, 1, a._id)]))  # a stream without a hello: told it holds no session
        assert rogue.poll(10_000)
        lost = wire.decode_direct(rogue.recv())
        assert type(lost) is wire.WorkerLost and "holds no session for this connection" in lost.reason
        rogue.send(wire.encode(wire.DirectHello(conn.session, b"guess" * 4)))
        assert rogue.poll(10_000)
        refused = wire.decode_direct(rogue.recv())
        assert type(refused) is wire.Refused and "wrong session secret" in refused.reason
        rogue.send(wire.encode([(4, 2, a._id)]))  # still not admitted: no value
        assert rogue.poll(10_000) and type(wire.decode_direct(rogue.recv())) is wire.WorkerLost
    finally:
        rogue.close()
    assert (a * 3).sum().item() == 9.0  # the real client is untouched


def _local_peer(endpoint: str) -> local.Channel:
    return local.Channel(local.connect(endpoint, 10), 1 << 24, 10)


def _until_closed(peer: local.Channel) -> int:
    """Read ``peer`` until the worker closes it; the frames it got."""
    frames = 0
    with pytest.raises(ConnectionError):
        while True:
            peer.recv()
            frames += 1
    return frames


@pytest.mark.skipif(not local.available(), reason="abstract Unix sockets are Linux's")
def test_the_local_socket_admits_only_its_session_secret_and_survives_bad_peers(tmp_path, connect):
    """The worker's Unix socket: a peer without the session's secret gets no value; peers that send
    garbage, a frame over the message limit or half a frame, and a client that never reads its answers,
    are dropped, while the real client is served throughout."""
    limit = 1_000_000
    srv = start_cluster(tmp_path, 1, args=("--max-message-bytes", str(limit)))
    try:
        conn = connect(srv.address)
        assert type(conn._data) is local.Channel
        a = gt.from_numpy(np.arange(3, dtype=np.float32))
        assert (a + 1).sum().item() == 6.0
        with time_limit(60):
            rogue = _local_peer(conn.direct)
            rogue.send(wire.encode([(4, 1, a._id)]))  # a stream without a hello: told it holds no session
            lost = wire.decode_direct(rogue.recv())
            assert type(lost) is wire.WorkerLost and "holds no session for this connection" in lost.reason
            assert _until_closed(rogue) == 0
            rogue = _local_peer(conn.direct)
            rogue.send(wire.encode(wire.DirectHello(conn.session, b"guess" * 4)))
            refused = wire.decode_direct(rogue.recv())
            assert type(refused) is wire.Refused and "wrong session secret" in refused.reason
            assert _until_closed(rogue) == 0
            assert (a * 3).sum().item() == 9.0
            oversize = _local_peer(conn.direct)   # a length past the limit: told so, then dropped
            oversize.sock.sendall(struct.pack("<I", limit + 1))
            error = wire.decode_direct(oversize.recv())
            assert type(error) is wire.Error and f"GT_MAX_MESSAGE_BYTES={limit}" in error.reason
            half = _local_peer(conn.direct)    # half a frame, then silence: the worker does not wait for it
            half.sock.sendall(struct.pack("<I", 1000) + b"x" * 10)
            garbage = _local_peer(conn.direct)
            garbage.sock.sendall(os.urandom(4096))
            assert (a * 4).sum().item() == 12.0
            deaf = runtime.RemoteWorker(srv.address, "")  # a session of its own that asks and never reads
            deaf.open()
            n = 200_000   # 800 kB answers: 20 of them are far more than the worker keeps for a client
            deaf._data.send(wire.encode([(3, 1 << 40, "float32", (n,), bytes(4 * n))] +
                                        [(4, i, 1 << 40) for i in range(1, 21)]))
            assert (a * 5).sum().item() == 15.0
            time.sleep(1)
            assert _until_closed(deaf._data) < 20
            assert (a * 6).sum().item() == 18.0
            for peer in (oversize, half, garbage):
                peer.close()
            deaf.close()
    finally:
        srv.stop()


def test_hostile_frames_change_nothing(server, connect, tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    payload = pickle.dumps(Exploit())
    host, port = settings.parse_address(server.address)
    endpoint = settings.tcp_endpoint(host, port)
    ctx = zmq.Context.instance()
    rng = np.random.default_rng(7)

    stranger = ctx.socket(zmq.DEALER)
    stranger.linger = 0
    stranger.connect(endpoint)
    for i in range(3000):
        parts = [rng.bytes(int(rng.integers(0, 64))) for _ in range(int(rng.integers(1, 4)))]
        stranger.send_multipart(parts)
    stranger.send_multipart([payload])
    stranger.send_multipart([wire.encode(wire.Stream()), payload])
    stranger.send_multipart([wire.encode(wire.Deliver(1)), payload])

    # a registered client whose bodies are hostile: the worker must refuse them, not run them
    rogue = ctx.socket(zmq.DEALER)
    rogue.linger = 0
    rogue.connect(endpoint)
    rogue.send(wire.encode(wire.ClientHello(wire.PROTOCOL_VERSION, "", os.getpid())))
    assert rogue.poll(30_000), "no welcome for a well-formed hello"
    assert type(wire.decode_header(rogue.recv_multipart()[0])) is wire.Welcome
    stream = wire.encode(wire.Stream())
    bad_bodies = [payload, b"\xc1", wire.encode([(0, 10 ** 6, 1, (), (), ())]), wire.encode([(0, 0, 0, (), (), ())]),
                  wire.encode([(0, 0, 5, (1, 2), {"__reduce__": payload}, ())]),
                  wire.encode([(0, 0, 5, (1, 2), [[[[[[1]]]]]], ())]),
                  wire.encode([(3, 1, "object", (1,), b"\x00" * 8)]), wire.encode([(3, 1, "float32", (4,), b"\x00")])]
    for body in bad_bodies:
        rogue.send_multipart([stream, body])
    for _ in range(500):
        rogue.send_multipart([stream, rng.bytes(int(rng.integers(1, 200)))])
    rogue.send_multipart([wire.encode(wire.Forward()), payload])  # a kind clients may not send
    rogue.send_multipart([stream, wire.encode([(4, 99, 1)])])
    answer = None
    deadline = time.monotonic() + 30
    while answer is None and time.monotonic() < deadline:
        if rogue.poll(1000):
            frames = rogue.recv_multipart()
            if type(wire.decode_header(frames[0])) is wire.Forward:
                answer = wire.decode_answer(frames[1])
    assert type(answer) is wire.Failure and answer.req == 99
    assert "refused a message from this client" in answer.message

    with socket.create_connection((host, port)) as raw:  # not even ZeroMQ
        raw.sendall(payload + rng.bytes(4096))
    rogue.send(wire.encode(wire.Bye()))
    stranger.close()
    rogue.close()

    connect()  # the server still serves everyone else, right
    a = gt.from_numpy(np.arange(6, dtype=np.float32))
    assert (a * a).sum().item() == 55.0
    assert not marker.exists()


def test_wrong_token_is_refused_and_a_dead_dispatcher_surfaces_and_returns(tmp_path, connect):
    srv = start_cluster(tmp_path, 0, env=_env(GT_TOKEN="s3cret"))
    try:
        bad = srv.add_worker("cpu", {"GT_TOKEN": "s3cret", "GT_WORKER_TOKEN": "wrong"},
                             output=open(tmp_path / "bad_worker.log", "ab"))
        srv.add_worker("cpu", {"GT_TOKEN": "s3cret"}, output=open(tmp_path / "worker.log", "ab"))
        with pytest.raises(ConnectionRefusedError, match="wrong token"):
            connect(srv.address, token="guess")
        with pytest.raises(ConnectionRefusedError, match="wrong token"):
            connect(srv.address, token="")
        assert bad.wait(60) == 2
        assert "refused this worker: wrong worker credential" in (tmp_path / "bad_worker.log").read_text()
        connect(srv.address, token="s3cret")
        a = gt.from_numpy(np.ones(2, dtype=np.float32))
        assert (a + a).sum().item() == 4.0
        srv.server.kill()
        srv.server.wait()
        t0 = time.monotonic()
        with pytest.raises(RuntimeError, match="GT server.* is unreachable"):
            while time.monotonic() - t0 < 2 * LOST_WITHIN:  # the direct path reads on until the timeout
                assert (a * 2).sum().item() == 4.0
                time.sleep(0.05)
        assert time.monotonic() - t0 < LOST_WITHIN
        with pytest.raises(RuntimeError, match="unreachable"):  # and it stays that way
            a.numpy()
        # a server restarted on the port gets the surviving worker back, and connecting again works
        port = int(srv.address.rsplit(":", 1)[1])
        srv.server = launch.start_server(env=_env(GT_TOKEN="s3cret"), port=port,
                                         output=open(tmp_path / "server2.log", "ab")).server
        connect(srv.address, token="s3cret")
        b = gt.from_numpy(np.arange(3, dtype=np.float32))
        assert (b * b).sum().item() == 5.0
    finally:
        srv.stop()


@pytest.mark.skipif(not local.available(), reason="abstract Unix sockets are Linux's")
def test_a_worker_that_loses_its_dispatcher_tells_its_local_clients_why(tmp_path, connect):
    """A worker that gives up on a dead dispatcher before its client does closes the client's Unix socket:
    the client reports what the worker said last (its server is unreachable), not a broken pipe."""
    srv = start_cluster(tmp_path, 0, env=_env())
    try:
        srv.add_worker("cpu", {"GT_HEARTBEAT_TIMEOUT": "1"}, output=open(tmp_path / "worker.log", "ab"))
        conn = connect(srv.address)
        assert type(conn._data) is local.Channel
        a = gt.from_numpy(np.ones(2, dtype=np.float32))
        assert (a + a).sum().item() == 4.0
        srv.server.kill()
        srv.server.wait()
        with time_limit(30), pytest.raises(RuntimeError, match=f"GT worker {conn.worker_id} was lost \\(its GT "
                                                                "server is unreachable"):
            while True:
                assert (a * 2).sum().item() == 4.0
                time.sleep(0.05)
    finally:
        srv.stop()


def test_gpu_workers_starts_and_stops_a_local_server():
    script = """
import json, gt
address = gt.gpu_workers(1)
a = gt.ones(3) * 4
srv = gt.client.runtime._servers[0]
print(json.dumps({"sum": a.sum().item(), "pids": [srv.server.pid] + [w.pid for w in srv.workers],
                  "workers": len(gt.debug.get_worker_stats()), "address": address}))
"""
    res = finish(subprocess.Popen([sys.executable, "-c", script], env=_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True), timeout=120)
    assert res["sum"] == 12.0 and res["workers"] == 1
    for pid in res["pids"]:
        wait_for(lambda: not _alive(pid), 10, f"process {pid} to stop")


def test_local_cpu_workers_share_the_cores_and_keep_openmps_wait_policy(monkeypatch):
    """CPU workers split the cores (two left to the client and the server where there are more than 4)
    and set no wait policy: a sleeping OpenMP team is slow to wake for every small matmul."""
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert launch.local_devices(2) == [("cpu", {"OMP_NUM_THREADS": "7"})] * 2
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert launch.local_devices(2) == [("cpu", {"OMP_NUM_THREADS": "1"})] * 2
    assert launch.local_devices(1) == [("cpu", {"OMP_NUM_THREADS": "2"})]
    # where GPUs are visible, the workers are theirs; CPU workers (the benchmarks') split the cores the same way
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert launch.local_devices(1) == [("cuda:0", {"CUDA_VISIBLE_DEVICES": "0"})]
    assert launch.cpu_devices(1) == [("cpu", {"OMP_NUM_THREADS": "14"})]


def test_a_cpu_worker_runs_small_work_on_one_thread_and_large_work_on_all(tmp_path, connect):
    """A CPU worker process's small ops run on one thread (its other OpenMP threads would spin between
    them, on the cores its clients need), large ones on all of its threads; values as torch's."""
    srv = start_cluster(tmp_path, 1, worker_env={"OMP_NUM_THREADS": "2"})
    try:
        connect(srv.address)

        def process():
            return next(iter(gt.debug.get_worker_stats().values()))["process"]

        a, b = torch.randn(8, 4), torch.randn(4, 3)
        small = (gt.from_numpy(a.numpy()) @ gt.from_numpy(b.numpy())).numpy()
        assert process()["threads"] == 1 and process()["max_threads"] == 2
        np.testing.assert_allclose(small, (a @ b).numpy(), rtol=1e-6)
        c = torch.randn(256, 256)
        large = (gt.from_numpy(c.numpy()) @ gt.from_numpy(c.numpy())).sum().item()
        assert process()["threads"] == 2
        assert math.isclose(large, (c @ c).sum().item(), rel_tol=1e-4, abs_tol=1e-2)
    finally:
        srv.stop()


def test_a_waiting_end_of_a_local_connection_polls_only_while_its_waits_are_short(monkeypatch):
    """Channel.recv polls its socket before sleeping while its last wait was shorter than the window;
    after a longer wait it sleeps at once, and the answers are the same either way.  (The window is
    widened to 0.1 s here: under load one yield between polls can outlast the real one.)"""
    monkeypatch.setattr(local, "SPIN_SECONDS", 0.1)
    polls = []
    spinner = local.Spinner(lambda: polls.append(1) or len(polls) >= 3 and "ready")
    assert spinner.spin(time.perf_counter()) == "ready" and len(polls) == 3
    spinner.last = local.SPIN_SECONDS
    assert spinner.spin(time.perf_counter()) is None and len(polls) == 3
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        chan = local.Channel(a, 1 << 20, 5.0)
        seen = []
        ready = chan._spinner.ready
        chan._spinner.ready = lambda: seen.append(1) or ready()
        b.sendall(b"".join(local.frame_parts(b"now")))
        assert bytes(chan.recv()) == b"now" and seen        # no wait yet: it polls
        threading.Timer(0.3, lambda: b.sendall(b"".join(local.frame_parts(b"late")))).start()
        assert bytes(chan.recv()) == b"late" and chan._spinner.last >= 0.3
        seen.clear()
        b.sendall(b"".join(local.frame_parts(b"again")))
        assert bytes(chan.recv()) == b"again" and not seen   # the last wait was long: no polling
        chan._spinner.last = 0.0   # (a short wait, set: under load any wait can last a window)
        b.sendall(b"".join(local.frame_parts(b"more")))
        assert bytes(chan.recv()) == b"more" and seen
    finally:
        a.close()
        b.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie awaiting its reaper is gone too
        return f.read().split(") ")[1][0] != "Z"


def test_connect_errors_name_the_problem(connect, use_worker):
    with pytest.raises(ValueError, match="bad GT server address"):
        connect("localhost")
    free_port = socket.socket()
    free_port.bind(("127.0.0.1", 0))
    port = free_port.getsockname()[1]
    free_port.close()
    os.environ["GT_CONNECT_TIMEOUT"] = "0.5"
    try:
        with pytest.raises(ConnectionError, match=f"no answer from a GT server at 127.0.0.1:{port}"):
            connect(f"127.0.0.1:{port}")
    finally:
        os.environ["GT_CONNECT_TIMEOUT"] = FAST["GT_CONNECT_TIMEOUT"]
    assert not isinstance(runtime.get_worker(), runtime.RemoteWorker)  # a failed connect stays embedded
    use_worker()
    keep = gt.ones(2)
    with pytest.raises(RuntimeError, match="before the first tensor"):
        connect()
    del keep


# -- issue 18: hardening --------------------------------------------------------------------
def test_ops_of_more_than_64_tensors_run_or_are_refused_at_the_call(connect):
    """Bug 1: gt.cat of 65 tensors hung the client (the worker could not decode the body)."""
    connect()
    refs = [torch.randn(2, 3, dtype=torch.float32) for _ in range(130)]
    with time_limit(60):
        xs = [gt.from_numpy(r.numpy()).requires_grad_(True) for r in refs]
        for n in (65, 130):
            assert torch.equal(torch.from_numpy(gt.cat(xs[:n], 1).detach().numpy()), torch.cat(refs[:n], 1))
            for dim in (0, -1):
                assert torch.equal(torch.from_numpy(gt.stack(xs[:n], dim).detach().numpy()), torch.stack(refs[:n], dim))
        weights = torch.arange(130 * 2 * 3, dtype=torch.float32).reshape(260, 3)
        (gt.cat(xs, 0) * gt.from_numpy(weights.numpy())).sum().backward()
        assert torch.equal(torch.from_numpy(xs[70].grad.numpy()), weights[140:142])
        with pytest.raises(ValueError, match="einsum: an op of 65 tensors exceeds GT's remote limit of 64 inputs"):
            gt.einsum("ab" + ",ab" * 64 + "->ab", *xs[:65])
        assert (xs[0] * 2).sum().item() == pytest.approx(float(refs[0].sum() * 2), rel=1e-6)  # still usable


def test_an_undecodable_body_answers_every_request_in_it(server):
    """Bug 1: a body the worker cannot decode left its Fetch and Sync unanswered."""
    with raw_client(server.address) as sock:
        ops = [(0, 0, 100 + i, (), (), ()) for i in range(3)]
        body = wire.encode([*ops, (0, 0, 200, tuple(range(100, 165)), (), ()), (4, 7, 100), (5, 8)])
        sock.send_multipart([wire.encode(wire.Stream()), body])
        answers = [next_answer(sock, 30), next_answer(sock, 30)]
    assert [type(a) for a in answers] == [wire.Failure, wire.Failure], answers
    assert [a.req for a in answers] == [7, 8]
    assert "Expected `array` of length <= 64" in answers[0].message


class _DropNextStream:
    """A client socket that loses the next instruction stream, as a transport would."""

    def __init__(self, sock):
        self._sock, self.dropped = sock, 0

    def send_multipart(self, frames, *args, **kwargs):  # routed: a Stream header and the list
        if not self.dropped and bytes(frames[0]) == wire.encode(wire.Stream()):
            self.dropped += 1
            return None
        return self._sock.send_multipart(frames, *args, **kwargs)

    def send(self, frame, *args, **kwargs):  # direct: the list alone
        if not self.dropped:
            self.dropped += 1
            return None
        return self._sock.send(frame, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def test_a_lost_request_fails_after_the_heartbeat_timeout(connect):
    """Bug 1: every client wait has a deadline tied to the heartbeat, not forever."""
    conn = connect()
    a = gt.from_numpy(np.arange(4, dtype=np.float32))
    assert a.sum().item() == 6.0
    conn._data = _DropNextStream(conn._data)
    t0 = time.monotonic()
    with time_limit(30), pytest.raises(RuntimeError, match="answered a later request before request .*lost"):
        (a * 2).sum().item()
    assert conn._data.dropped == 1
    assert 3 <= time.monotonic() - t0 < LOST_WITHIN + 1


def _hello_answer(address: str, hello) -> object:
    """What the server answers a bare peer's hello (None: no answer within 10 s)."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(settings.tcp_endpoint(*settings.parse_address(address)))
    try:
        sock.send(wire.encode(hello))
        return wire.decode_header(sock.recv()) if sock.poll(10_000) else None
    finally:
        sock.close()


def test_impostor_workers_are_refused_and_never_get_clients(tmp_path, connect):
    """Bug 2: any local user, or any client token holder, could register as a worker and get clients."""
    srv = start_cluster(tmp_path, 1, env=_env(GT_TOKEN="client-secret"))
    try:
        for token in ("", "client-secret", "guess"):
            answer = _hello_answer(srv.address, wire.WorkerHello(wire.PROTOCOL_VERSION, token, "rogue", "cpu", 1))
            assert type(answer) is wire.Refused and "wrong worker credential" in answer.reason, answer
            time.sleep(2.2)  # past this address's penalty: each attempt is answered, none admitted
        conn = connect(srv.address, token="client-secret")
        a = gt.from_numpy(np.arange(5, dtype=np.float32))
        assert (a * a).sum().item() == 30.0
        stats = conn.get_all_stats()
        assert list(stats) == [conn.worker_id] and "rogue" not in conn.worker_id
        path = settings.worker_token_path(int(srv.address.rsplit(":", 1)[1]))
        assert os.stat(path).st_mode & 0o077 == 0  # the credential is its user's alone
    finally:
        srv.stop()
    assert not os.path.exists(path)  # and gone with its server


def test_token_guessing_is_slowed_and_logged_in_aggregate(tmp_path, connect):
    """Weak point: about 5k guesses/s per connection, one log line each."""
    srv = start_cluster(tmp_path, 1, env=_env(GT_TOKEN="right"))
    try:
        wait_for(lambda: "joined" in (tmp_path / "server.log").read_text(), 60, "the worker to join")
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(settings.tcp_endpoint(*settings.parse_address(srv.address)))
        for i in range(300):
            sock.send(wire.encode(wire.ClientHello(wire.PROTOCOL_VERSION, f"guess{i}", 1)))
        answers = 0
        while sock.poll(2000):
            answers += type(wire.decode_header(sock.recv())) is wire.Refused
        sock.close()
        assert 1 <= answers <= 10, answers
        conn = connect(srv.address, token="right")  # an honest client from the same address still gets in
        assert (gt.ones(3) * 2).sum().item() == 6.0 and conn.worker_id
        log_text = (tmp_path / "server.log").read_text()
        assert 1 <= log_text.count("refused") <= 3, log_text
    finally:
        srv.stop()


def test_instruction_log_never_stalls_routing_and_stays_bounded(tmp_path):
    """Bug 3: writing a big log on the routing thread stopped heartbeats and dropped every session."""
    path = tmp_path / "instructions.log"
    srv = start_cluster(tmp_path, 1, args=("--instruction-log", str(path), "--instruction-log-max-mb", "1"))
    try:
        wait_for(lambda: worker_count(srv.address) == 1, 60, "the worker")
        frees = wire.encode([(1, i) for i in range(1, 100_001)])  # 100k cheap items (0.5 MB), 5 MB of log
        pinger = zmq.Context.instance().socket(zmq.DEALER)
        pinger.linger = 0
        pinger.connect(settings.tcp_endpoint(*settings.parse_address(srv.address)))
        with raw_client(srv.address) as sock:
            latencies = []
            for _ in range(8):
                sock.send_multipart([wire.encode(wire.Stream()), frees])
            for _ in range(20):
                t0 = time.monotonic()
                pinger.send(wire.encode(wire.Ping(b"x")))
                assert pinger.poll(10_000), "the server stopped answering heartbeats"
                pinger.recv()
                latencies.append(time.monotonic() - t0)
                time.sleep(0.05)
            sock.send_multipart([wire.encode(wire.Stream()), wire.encode([(5, 3)])])
            answer = next_answer(sock, 60)
        pinger.close()
        assert type(answer) is wire.Ack and answer.req == 3
        assert max(latencies) < 0.5, latencies
        text = wait_for(lambda: "op=sync" in path.read_text() and path.read_text(), 120, "the log to catch up")
        assert "op=free id=100000" in text or "op=free id=100000" in (tmp_path / "instructions.log.1").read_text()
        assert "instruction log could not keep up" in (tmp_path / "server.log").read_text()  # counted, not silent
        sizes = [p.stat().st_size for p in tmp_path.glob("instructions.log*")]
        assert len(sizes) == 2 and max(sizes) < 1.5 * (1 << 20), sizes  # rotated: never more than twice the limit
    finally:
        srv.stop()


def test_op_params_cache_is_per_session_bounded_and_freed(server, cluster_stats):
    """Bug 4: the worker's op-params cache was process-wide, grew by the params' bytes and stayed."""
    def cached() -> int:
        return sum(s["process"]["params_cache_bytes"] for s in cluster_stats().values())

    before = cached()
    with raw_client(server.address) as sock:
        small = [(0, 0, 10 + i, (), (i, "x" * 200), ()) for i in range(3000)]  # 3000 x ~210 B: more than 1 MB
        large = [(0, 0, 9000 + i, (), (i, ["y" * 200] * 40), ()) for i in range(20)]  # 8 kB each: never kept
        sock.send_multipart([wire.encode(wire.Stream()), wire.encode([*small, *large, (5, 1)])])
        assert type(next_answer(sock, 60)) is wire.Ack
        during = cached()
        assert 100_000 < during - before <= 1 << 20
    wait_for(lambda: cached() == before, 10, "the session's params to be freed with it")


def test_messages_over_the_limit_are_split_or_refused_with_the_limit(tmp_path, connect):
    """Bug 5: buffered ops plus a put over the server's limit vanished; the next read failed as '602'."""
    limit = 1_000_000
    srv = start_cluster(tmp_path, 1, args=("--max-message-bytes", str(limit)))
    try:
        conn = connect(srv.address)
        with time_limit(60):
            a = gt.from_numpy(np.zeros(4, dtype=np.float32))
            for _ in range(4000):  # about 80 kB of buffered ops...
                a = a + 1.0
            big = np.arange(240_000, dtype=np.float32)  # ... and a 960 kB put: one message would break the limit
            b = gt.from_numpy(big)
            assert a.tolist() == [4000.0] * 4
            assert b.sum().item() == pytest.approx(float(big.astype(np.float64).sum()), rel=1e-6)
            with pytest.raises(ValueError, match=f"GT_MAX_MESSAGE_BYTES={limit}"):
                gt.from_numpy(np.zeros(limit // 4 + 1, dtype=np.float32))
            assert (a * 2).sum().item() == 32000.0 and conn._dead is None
        with raw_client(srv.address) as sock:  # a client that does not split is told why
            sock.send_multipart([wire.encode(wire.Stream()), wire.encode([(1, 1)] * 400_000)])
            answer = next_answer(sock, 30)
        assert type(answer) is wire.Error and f"exceeds the server's limit GT_MAX_MESSAGE_BYTES={limit}" in \
            answer.reason
    finally:
        srv.stop()


def test_ipv6_server_and_bracketed_address(tmp_path):
    """Bug 6: --host ::1 died with 'No such device' and GT_SERVER=[::1]:P timed out."""
    log = open(tmp_path / "server.log", "ab")
    srv = launch.start_server(host="::1", env=_env(), output=log)
    try:
        assert srv.address.startswith("[::1]:")
        srv.add_worker("cpu", output=log)
        res = finish(run_client(CLIENT_SCRIPT.format(k=2, go=str(tmp_path)), srv.address), timeout=120)
        assert res["result"] == _expected(2)
    finally:
        srv.stop()


def test_a_loop_reading_every_step_drains_the_send_window(connect, use_worker, monkeypatch):
    """Issue 15: 300 steps with loss.item() each, so the flow-control window fills and must drain
    (an acknowledgement consumed by a read has to release the window, or the loop stalls)."""
    embedded = _mlp_losses(300)
    conn = connect()
    sends = []
    real_send = conn._send
    monkeypatch.setattr(conn, "_send", lambda sync=False: sends.append(conn._window_req) or real_send(sync))
    with time_limit(120):
        remote = _mlp_losses(300)
    assert remote == embedded
    assert len(sends) >= 300 and len(set(sends)) >= 300 // conn.WINDOW  # the window turned over, again and again


def test_a_tensor_used_from_another_thread_says_so(connect):
    """Weak point: another thread's tensor failed as "operation 'mul_scalar' failed: 2"."""
    connect()
    a = gt.from_numpy(np.arange(3, dtype=np.float32))
    errors = []

    def other():
        try:
            (a * 2).sum().item()
        except RuntimeError as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(60)
    assert len(errors) == 1 and "operation 'mul_scalar' failed" in errors[0], errors
    assert f"input tensor {a._id} does not exist on this worker" in errors[0]
    assert "a tensor belongs to the thread that made it" in errors[0]
    assert (a * 2).sum().item() == 6.0  # in its own thread it works


def _own_non_loopback_address() -> str | None:
    """An address of this machine other than loopback (connections from it are not loopback ones)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_a_refused_address_is_told_why_and_logged(tmp_path, connect):
    """Weak point: a client refused for its address saw only a 15 s timeout; the server logged nothing."""
    address = _own_non_loopback_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback")
    srv = launch.start_server(host="0.0.0.0", env=_env(), output=open(tmp_path / "server.log", "ab"))
    port = int(srv.address.rsplit(":", 1)[1])
    try:
        t0 = time.monotonic()
        with pytest.raises(ConnectionRefusedError, match="admits only connections from its own machine"):
            connect(f"{address}:{port}")
        assert time.monotonic() - t0 < 5
        wait_for(lambda: "refused 1 connection(s) from outside this machine" in (tmp_path / "server.log").read_text(),
                 10, "the refusal in the server's log")
    finally:
        srv.stop()


def test_a_client_past_its_memory_quota_fails_alone(tmp_path, connect):
    """Weak point: a token holder could fill the shared worker."""
    srv = start_cluster(tmp_path, 0)
    srv.add_worker("cpu", args=("--max-client-mb", "8"), output=open(tmp_path / "worker.log", "ab"))
    try:
        greedy = run_client("""
import json, numpy as np, gt
keep = [gt.from_numpy(np.ones(1 << 20, dtype=np.float32)) * i for i in range(4)]  # 4 MB each
more = [gt.zeros(1 << 18) + i for i in range(40)]  # 40 MB more in 1 MB results, one message, no sync
quota = next(iter(gt.debug.get_worker_stats().values()))["quota"]
try:
    keep[-1].sum().item()
    print(json.dumps({"error": None, "quota": quota}))
except RuntimeError as exc:
    print(json.dumps({"error": str(exc), "quota": quota}))
""", srv.address)
        res = finish(greedy, timeout=120)
        assert res["error"] and "more than its quota --max-client-mb=8" in res["error"]
        # checked as each result is stored, not after the message: the client never held more than its quota
        assert res["quota"]["limit_bytes"] == 8 << 20 and 7 << 20 <= res["quota"]["peak_bytes"] <= 8 << 20
        connect(srv.address)  # another client of the same worker is served
        a = gt.from_numpy(np.ones(1 << 19, dtype=np.float32))
        assert (a * 2).sum().item() == 2.0 * (1 << 19)
    finally:
        srv.stop()


def test_curve_keys_encrypt_and_admit_only_authorized_keys(tmp_path, connect, monkeypatch):
    """Issue 18: optional CURVE: keys for the server, workers and clients; unauthorized keys never get in."""
    keys, other = tmp_path / "keys", tmp_path / "other"
    subprocess.run([sys.executable, "-m", "gt.server", "--make-curve-keys", str(keys)], check=True, env=_env(),
                   capture_output=True)
    srv = start_cluster(tmp_path, 1, env=_env(GT_CURVE_KEYS=str(keys)))
    try:
        monkeypatch.setenv("GT_CURVE_KEYS", str(keys))
        conn = connect(srv.address)
        assert conn.direct.startswith("tcp://")  # the direct path is under CURVE too, on this machine as well
        a = gt.from_numpy(np.arange(6, dtype=np.float32))
        assert (a * a).sum().item() == 55.0 and conn.get_stats()["tensors"] >= 1
        runtime.disconnect()
        # a client key the server does not list: refused in the handshake, saying so
        subprocess.run([sys.executable, "-m", "gt.server", "--make-curve-keys", str(other)], check=True, env=_env(),
                       capture_output=True)
        for name in ("server.key", "worker.key"):
            (other / name).write_bytes((keys / name).read_bytes())
        monkeypatch.setenv("GT_CURVE_KEYS", str(other))
        t0 = time.monotonic()
        with pytest.raises(ConnectionRefusedError, match="refused this client's CURVE key"):
            connect(srv.address)
        assert time.monotonic() - t0 < 10
        # a peer without CURVE gets no answer at all: nothing in clear reaches the server
        plain = zmq.Context.instance().socket(zmq.DEALER)
        plain.linger = 0
        plain.connect(settings.tcp_endpoint(*settings.parse_address(srv.address)))
        plain.send(wire.encode(wire.ClientHello(wire.PROTOCOL_VERSION, "", os.getpid())))
        assert not plain.poll(2000)
        plain.close()
    finally:
        srv.stop()


def test_a_read_that_fails_unexpectedly_is_answered_at_once():
    """A Fetch whose handling raises something other than the worker's RuntimeError (a bug, say) is
    answered with the error, so the client does not wait out the heartbeat for a misleading timeout."""
    from gt.worker import remote as remote_mod

    class Broken:
        def fetch(self, tensor_id):
            raise AttributeError("no such thing")

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    wp = remote_mod.WorkerProcess(f"tcp://127.0.0.1:{port}", device="cpu")
    answers = []
    try:
        wp._reply = lambda sid, answer: answers.append(answer)
        session = remote_mod._Session(Broken(), b"secret")
        wp._apply(7, session, wire.encode([wire.Fetch(3, 11), wire.Sync(4)]))
    finally:
        wp.close()
    assert [type(a) for a in answers] == [wire.Failure, wire.Ack]
    assert answers[0].req == 3 and "AttributeError: no such thing" in answers[0].message
    assert session.rejected is None
