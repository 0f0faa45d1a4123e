"""Remote mode against the embedded worker, side by side in one run.

    python benchmarks/bench_remote.py [--steps N] [--rounds R] [--device cpu|cuda:0] [--models tiny,medium]

Starts two local GT servers with one worker each (eager: batch size 1; and
auto-compile), then times, in interleaved windows (each mode's median; the order of the
modes reversed every other round; an MLP window's first ``--settle`` steps untimed):

- ms per training step of the tiny and medium MLPs (benchmarks/bench_mlp.py's models, optimizer loop),
  embedded vs over localhost, eager and auto-compile; and of the tiny MLP reading its loss
  every step (a sync point a step: the round trip is paid every step);
- the round trip of one read (``x.sum().item()``);
- the throughput of a stream of small ops (ops/s), synchronised at its end.

"remote" is the direct path (the client talks to its worker, the server only
assigns and watches), here over the worker's plain Unix socket; "routed" the same
through the server (``GT_DIRECT=0``); a read is also timed direct over TCP, as a
client on another machine talks to its worker.

Goals (issue 9): tiny step over localhost at most 2x embedded, medium at most 1.2x.
Goals (issue 18): a read's round trip within 1.5x a bare pyzmq DEALER -> ROUTER echo
(another process, 64 B) measured in the same run, and the read-every-step tiny loop
at most 1.5x embedded; a line per goal says whether it was met.  Next to them: where a read's
and an echo's round trip spend their time (CPU per round trip of each process's Python and
ZeroMQ I/O threads, from Linux's /proc), the echo at 1 MB, the echo under ZeroMQ's
CURVE (authenticated and encrypted): what encryption costs per message, and a bare echo over
a plain Unix socket, the transport a direct read takes on one machine (its floor; the goal stays
the pyzmq echo's).
"""
from __future__ import annotations

import argparse
import dataclasses
import glob
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gt  # noqa: E402
from bench_mlp import build  # noqa: E402
from gt import config as gt_config  # noqa: E402
from gt.client import runtime  # noqa: E402
from gt.transport import launch, local  # noqa: E402
from gt.transport.curve import make_keys  # noqa: E402
from gt.worker.worker import Worker  # noqa: E402


def embedded(device: str, auto: bool) -> Worker:
    cfg = gt_config.Config(auto_compile=auto, hot_threshold=10, batch_size=1024 if auto else 1, compile=False,
                           device=device)
    return Worker("embedded_auto" if auto else "embedded_eager", batch_size=cfg.batch_size, config=cfg)


def worker_env(device: str, base: dict | None = None) -> dict:
    """The environment of a benchmark's servers and workers on ``device``: ``base`` (the process's
    own by default) with no persistent cache, as the embedded targets (a worker meeting a new pattern
    would start the ahead-of-time builder, and each target would load graphs built another way), and a
    CPU worker's threads as gt.gpu_workers(1) sets them where no GPU is visible."""
    env = dict(os.environ if base is None else base, GT_DEVICE=device, GT_CACHE_DIR="")
    if device == "cpu":
        env.update(launch.cpu_devices(1)[0][1])
    return env


def remote(server: launch.LocalServer, direct: bool, curve_keys: str | None = None,
           tcp: bool = False) -> runtime.RemoteWorker:
    """A connection to ``server``'s worker: direct or routed; ``tcp``: direct over TCP, as from another
    machine, not over the worker's Unix socket."""
    conn = runtime.RemoteWorker(server.address, "")
    conn.cfg = dataclasses.replace(conn.cfg, direct=direct, curve_keys=curve_keys)
    available = local.available
    local.available = (lambda: False) if tcp else available
    try:
        conn.open()
    finally:
        local.available = available
    if (conn._data is not conn._sock) != direct or tcp and not conn.direct.startswith("tcp"):
        raise RuntimeError("the direct path was not taken" if direct else "the routed path was not taken")
    return conn


def window_times(modes: dict, run, rounds: int, settle=None) -> dict:
    """Seconds of each window of each mode, in round order: the modes take turns, their order reversed
    every other round (on a shared machine the window after another process's burst runs slower, and a
    best-of in a fixed order favoured whichever mode came later).  ``settle(state)``, where given, runs
    untimed at the start of each window."""
    times: dict = {name: [] for name in modes}
    for r in range(rounds):
        for name in (list(modes) if r % 2 == 0 else list(modes)[::-1]):
            target, state = modes[name]
            if target is not None:
                runtime.connect(target)
            if settle is not None:
                settle(state)
            t0 = time.perf_counter()
            run(state)
            times[name].append(time.perf_counter() - t0)
    return times


def median_windows(modes: dict, run, rounds: int) -> dict:
    """Median seconds per window for each mode (window_times)."""
    return {name: statistics.median(t) for name, t in window_times(modes, run, rounds).items()}


def bench_steps(targets: dict, model: str, steps: int, warm: int, rounds: int, read_every_step: bool = False,
                loop: str = "optimizer", settle: int = 0, windows: dict | None = None) -> dict:
    """Median milliseconds per step of each target, each window's first ``settle`` steps untimed;
    ``windows``, where given, receives each target's ms per step of every window, in round order."""
    modes = {}
    for name, target in targets.items():
        runtime.connect(target)
        step = build(gt, gt.nn, model, loop)
        for _ in range(warm):
            step()
        step().item()
        modes[name] = (target, step)

    def run(step, n=steps):
        for _ in range(n):
            loss = step()
            if read_every_step:
                loss.item()
        loss.item()

    times = window_times(modes, run, rounds, (lambda step: run(step, settle)) if settle else None)
    if windows is not None:
        windows.update((name, [s / steps * 1e3 for s in t]) for name, t in times.items())
    return {name: statistics.median(t) / steps * 1e3 for name, t in times.items()}


def bench_read(targets: dict, n: int, rounds: int) -> dict:
    """Best microseconds per read of each target and of a bare 64 B echo ("echo"), in interleaved windows."""
    modes = {}
    for name, target in targets.items():
        runtime.connect(target)
        modes[name] = (target, gt.ones(()) * 2)
    echoes = {"echo": Echo(64, False), "echo unix": UnixEcho(64)}
    modes.update((name, (None, echo)) for name, echo in echoes.items())

    def run(x):
        if isinstance(x, (Echo, UnixEcho)):
            x.run(n)
        else:
            for _ in range(n):
                x.sum().item()

    try:
        return {name: s / n * 1e6 for name, s in median_windows(modes, run, rounds).items()}
    finally:
        for echo in echoes.values():
            echo.close()


def thread_cpu(pid: int) -> dict[str, int]:
    """CPU nanoseconds each thread of process ``pid`` has run, by role: its main thread, ZeroMQ's I/O
    thread(s), the rest (Linux's /proc; empty elsewhere)."""
    roles: dict[str, int] = {}
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            with open(f"{task}/comm") as f:
                name = f.read().strip()
            with open(f"{task}/schedstat") as f:
                ns = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):  # a thread that ended meanwhile
            continue
        role = "main" if task.endswith(f"/{pid}") else "zmq I/O" if name.startswith("ZMQbg/IO") else "other"
        roles[role] = roles.get(role, 0) + ns
    return roles


def read_breakdown(conn: runtime.RemoteWorker, worker_pid: int, n: int, rounds: int) -> dict:
    """Where a round trip's time goes: CPU microseconds per round trip of each thread role of the client
    and of the peer (the worker, or the bare echo's process), for a direct read and a 64 B echo, from the
    window of each that ran fastest.  On a machine with fewer free cores than busy threads the round trip
    is about the sum of these, as each hop waits for the one before."""
    runtime.connect(conn)
    x = gt.ones(()) * 2
    echo = Echo(64, False)
    kinds = {"read": (worker_pid, lambda: [x.sum().item() for _ in range(n)]), "echo": (echo.proc.pid,
                                                                                        lambda: echo.run(n))}
    best: dict = {kind: (float("inf"), {}) for kind in kinds}
    try:
        for _ in range(rounds):
            for kind, (pid, run) in kinds.items():
                before = {"client": thread_cpu(os.getpid()), "peer": thread_cpu(pid)}
                t0 = time.perf_counter()
                run()
                wall = time.perf_counter() - t0
                after = {"client": thread_cpu(os.getpid()), "peer": thread_cpu(pid)}
                if wall < best[kind][0]:
                    best[kind] = (wall, {f"{side} {role}": (after[side][role] - before[side].get(role, 0)) / n / 1e3
                                         for side in after for role in after[side]})
    finally:
        echo.close()
    return {kind: (wall / n * 1e6, cpu) for kind, (wall, cpu) in best.items()}


def bench_stream(targets: dict, n: int, rounds: int) -> dict:
    modes = {}
    for name, target in targets.items():
        runtime.connect(target)
        modes[name] = (target, gt.ones(4))

    def run(x):
        y = x
        for _ in range(n):
            y = y + 1.0
        y.sum().item()

    return {name: n / s for name, s in median_windows(modes, run, rounds).items()}


ECHO_SERVER = """
import sys, zmq
sock = zmq.Context().socket(zmq.ROUTER)
if sys.argv[1] != "-":
    sock.curve_server = True
    sock.curve_secretkey = sys.argv[1].encode()
print("tcp://127.0.0.1:%d" % sock.bind_to_random_port("tcp://127.0.0.1"), flush=True)
while True:
    sock.send_multipart(sock.recv_multipart(copy=False), copy=False)
"""

UNIX_ECHO_SERVER = """
from gt.transport import local
listener, endpoint = local.listen()
listener.setblocking(True)
print(endpoint, flush=True)
sock = listener.accept()[0]
buf = bytearray(1 << 16)
while True:
    n = sock.recv_into(buf)
    if not n:
        break
    sock.sendall(memoryview(buf)[:n])
"""


class Echo:
    """A ROUTER echo in another process and a DEALER to it, over TCP (``curve``: under ZeroMQ's CURVE)."""

    def __init__(self, size: int, curve: bool) -> None:
        public = secret = None
        if curve:
            public, secret = zmq.curve_keypair()
        self.proc = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, secret.decode() if curve else "-"],
                                     stdout=subprocess.PIPE, text=True)
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.linger = 0
        endpoint = self.proc.stdout.readline().strip()
        if curve:
            self.sock.curve_serverkey = public
            self.sock.curve_publickey, self.sock.curve_secretkey = zmq.curve_keypair()
        self.sock.connect(endpoint)
        self.payload = os.urandom(size)
        self.run(10)

    def run(self, n: int) -> None:
        send, recv, payload = self.sock.send, self.sock.recv, self.payload
        for _ in range(n):
            send(payload, copy=False)
            recv(copy=False)

    def close(self) -> None:
        self.sock.close()
        self.proc.kill()
        self.proc.wait()


class UnixEcho:
    """An echo in another process over a plain abstract Unix socket (``gt.transport.local``'s framing), read
    and written by the two main threads: the transport of a direct read on one machine, without GT."""

    def __init__(self, size: int) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", UNIX_ECHO_SERVER], stdout=subprocess.PIPE, text=True)
        self.channel = local.Channel(local.connect(self.proc.stdout.readline().strip(), 10), 1 << 20, 10)
        self.payload = os.urandom(size)
        self.run(10)

    def run(self, n: int) -> None:
        send, recv, payload = self.channel.send, self.channel.recv, self.payload
        for _ in range(n):
            send(payload)
            recv()

    def close(self) -> None:
        self.channel.close()
        self.proc.kill()
        self.proc.wait()


def bare_echo(n: int, rounds: int, size: int, curve: bool) -> float:
    """Best microseconds per round trip of a ``size``-byte message to a ROUTER echo in another process."""
    echo = Echo(size, curve)
    try:
        best = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            echo.run(n)
            best = min(best, time.perf_counter() - t0)
        return best / n * 1e6
    finally:
        echo.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200,
                    help="MLP steps per timing window (each window ends with one read, as a loop that "
                         "prints its loss every that many steps)")
    ap.add_argument("--warm", type=int, default=30, help="warm-up steps (auto-compile compiles here)")
    ap.add_argument("--settle", type=int, default=100,
                    help="untimed steps at the start of each MLP window: the loop's steady state is timed, "
                         "not the previous window's leftovers (the in-process embedded worker's OpenMP "
                         "threads spin on after it; the remote worker's first waits sleep)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved windows per mode (the median is shown)")
    ap.add_argument("--syncs", type=int, default=500, help="round trips per window")
    ap.add_argument("--ops", type=int, default=5000, help="small ops per stream window")
    ap.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--models", default="tiny,medium")
    args = ap.parse_args()
    logging.getLogger("gt").setLevel(logging.WARNING)
    env = worker_env(args.device)
    servers, conns, others = {}, [], []
    keys = tempfile.mkdtemp(prefix="gt-curve-")
    make_keys(keys)
    eager_flags = ("--auto-compile", "0", "--batch-size", "1")
    try:
        for mode, flags in (("eager", eager_flags), ("auto-compile", ("--auto-compile", "1"))):
            srv = servers[mode] = launch.start_server(env=env, args=("--heartbeat-interval", "1"),
                                                      output=open(os.devnull, "wb"))
            srv.add_worker(args.device, args=flags, output=open(os.devnull, "wb"))
        curve_server = launch.start_server(env=dict(env, GT_CURVE_KEYS=keys), output=open(os.devnull, "wb"))
        others.append(curve_server)
        curve_server.add_worker(args.device, args=eager_flags, output=open(os.devnull, "wb"))
        targets = {mode: {"embedded": embedded(args.device, mode == "auto-compile"),
                          "remote": remote(servers[mode], True), "routed": remote(servers[mode], False)}
                   for mode in servers}
        conns += [t[side] for t in targets.values() for side in ("remote", "routed")]
        print(f"torch {torch.__version__}, device {args.device}, {os.cpu_count()} CPUs; median of {args.rounds} "
              "windows in alternating order; remote = direct to the worker, routed = through the server")
        print(f"{'measure':38} {'embedded':>12} {'remote':>12} {'routed':>12} {'remote/embedded':>16} "
              f"{'routed/embedded':>16}")

        def row(label: str, res: dict, unit: str, fmt: str = "{:12.4f}") -> None:
            e, r, o = res["embedded"], res["remote"], res["routed"]
            print(f"{label:38} {fmt.format(e)} {fmt.format(r)} {fmt.format(o)} {r / e:15.2f}x {o / e:15.2f}x   "
                  f"{unit}")

        for model in args.models.split(","):
            for mode, t in targets.items():
                row(f"{model} MLP step, {mode}", bench_steps(t, model, args.steps, args.warm, args.rounds,
                                                                   settle=args.settle), "ms/step")
        each, spread = {}, {}
        for mode, t in targets.items():   # a loop that prints its loss every step: one round trip a step
            windows: dict = {}
            each[mode] = bench_steps(t, "tiny", args.steps, args.warm, args.rounds, True, settle=args.settle,
                                     windows=windows)
            row(f"tiny step + item() each, {mode}", each[mode], "ms/step")
            # each round's remote window against the embedded one beside it: how much the ratio moves
            spread[mode] = sorted(r / e for r, e in zip(windows["remote"], windows["embedded"]))
        for side in ("embedded", "remote"):
            ops = targets["auto-compile"][side].get_stats()["operations"]
            print(f"  auto-compile {side}: {ops['compiled']} of {ops['total']} ops ran compiled")
        eager = targets["eager"]
        conns.append(remote(servers["eager"], True, tcp=True))
        conns.append(remote(curve_server, True, keys, tcp=True))  # (CURVE never takes the Unix socket)
        sync = bench_read({**eager, "tcp": conns[-2], "curve": conns[-1]}, args.syncs, args.rounds)
        row("read round trip (x.sum().item())", sync, "us", "{:12.1f}")
        print(f"{'  remote over TCP (as from elsewhere)':38} {sync['tcp']:12.1f} us   (read / pyzmq echo "
              f"{sync['tcp'] / sync['echo']:.2f}x)")
        print(f"{'  same under CURVE (GT_CURVE_KEYS)':38} {sync['curve']:12.1f} us   (CURVE adds "
              f"{sync['curve'] - sync['tcp']:.1f} us per read over TCP)")
        print(f"{'bare pyzmq DEALER->ROUTER echo, 64 B':38} {sync['echo']:12.1f} us   (read / echo: remote "
              f"{sync['remote'] / sync['echo']:.2f}x, routed {sync['routed'] / sync['echo']:.2f}x; goal 1.5x)")
        print(f"{'bare plain Unix-socket echo, 64 B':38} {sync['echo unix']:12.1f} us   (the remote read's transport "
              f"here: {eager['remote'].direct.split(':')[0]}; read / it {sync['remote'] / sync['echo unix']:.2f}x)")
        breakdown = read_breakdown(eager["remote"], servers["eager"].workers[0].pid, args.syncs, args.rounds)
        if breakdown["read"][1]:
            print("  where a round trip's time goes (CPU us per round trip, by thread; main: the Python thread):")
            for kind, label in (("read", "direct read (worker)"), ("echo", "bare echo (echo process)")):
                wall, cpu = breakdown[kind]
                parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu.items()) if v >= 0.05)
                print(f"    {label:26} {wall:7.1f} us wall; {parts}; sum {sum(cpu.values()):.1f}")
        goals = [("read / bare echo", sync["remote"] / sync["echo"], "")]
        goals += [(f"tiny step + item() each, {mode}, remote / embedded", res["remote"] / res["embedded"],
                   f" (round by round {spread[mode][0]:.2f}-{spread[mode][-1]:.2f}x)") for mode, res in each.items()]
        for label, ratio, note in goals:
            print(f"issue 18 goal: {label} {ratio:.2f}x{note}, goal at most 1.5x: "
                  f"{'met' if ratio <= 1.5 else 'NOT met'}")
        echo = {}
        for size, n in ((64, args.syncs), (1 << 20, 50)):
            for curve in (False, True):
                echo[size, curve] = bare_echo(n, args.rounds, size, curve)
        for size, label in ((64, "64 B"), (1 << 20, "1 MB")):
            plain, curve = echo[size, False], echo[size, True]
            print(f"{'  same under CURVE, ' + label:38} {curve:12.1f} us   (plain {plain:.1f} us: CURVE adds "
                  f"{curve - plain:.1f} us per round trip)")
        row("small-op stream (x + 1.0)", bench_stream(eager, args.ops, args.rounds), "ops/s", "{:12.0f}")
    finally:
        for conn in conns:
            conn.close()
        for srv in (*servers.values(), *others):
            srv.stop()
        shutil.rmtree(keys, ignore_errors=True)


if __name__ == "__main__":
    main()
