"""Data-parallel training over several worker processes (gt.gpu_workers(n, shard=True)), Gloo on CPU.

Each test runs its GT script in a subprocess (it starts a server and two workers forming a
torch.distributed group) under a time limit, and checks its numbers against torch in this process.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from test_remote import _alive, _env, finish, wait_for


def _dp_env(**extra) -> dict:
    """The scripts' environment: one worker per GPU where two GPUs are visible; else CPU workers, the GPU
    hidden (gpu_workers(2) refuses to put two workers on one GPU)."""
    env = _env(**extra)
    if torch.cuda.device_count() < 2:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env

TRAIN = """
import json, sys, threading
import numpy as np
import gt
import gt.nn as nn
from gt.client import runtime as rt
gt.gpu_workers(2) if sys.argv[1] == "auto" else gt.gpu_workers(2, shard=True)
all_reduces = []
def counting(opcode, *args, submit=rt.submit):
    all_reduces.extend([1] if gt.ops.OP_NAMES[opcode] == "all_reduce_mean" else [])
    submit(opcode, *args)
rt.submit = counting
gt.manual_seed(0)
rng = np.random.default_rng(0)
X = rng.standard_normal((64, 8)).astype("float32")
Y = rng.standard_normal((64, 2)).astype("float32")
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
opt = gt.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
lossf = nn.MSELoss()
losses = []
for step in range(4):
    x, y = gt.from_numpy(X), gt.from_numpy(Y)
    opt.zero_grad()
    loss = lossf(model(x), y)
    loss.backward()
    opt.step()
    losses.append(loss.item())
out = {"losses": losses, "shape": list(x.shape), "grad": model[0].weight.grad.numpy().tolist(),
       "w": [p.detach().numpy().tolist() for p in model.parameters()],
       "pred": model(x).detach().numpy().tolist(), "xsum": x.sum().item(), "errors": []}
for bad in (lambda: model[0](x).sum(0).detach().numpy(), lambda: gt.from_numpy(X[:3]),
            lambda: gt.gpu_workers(2, shard="yes")):
    try:
        bad()
    except (NotImplementedError, ValueError, TypeError) as exc:
        out["errors"].append(f"{type(exc).__name__}: {exc}")
def other_thread():
    try:
        gt.ones(2) + 1
    except RuntimeError as exc:
        out["errors"].append(str(exc))
thread = threading.Thread(target=other_thread, name="loader")
thread.start()
thread.join()
out["all_reduces"] = len(all_reduces)
out["stats"] = {name: s["operations"]["total"] for name, s in gt.debug.get_worker_stats().items()}
srv = gt.client.runtime._servers[0]
out["pids"] = [srv.server.pid] + [w.pid for w in srv.workers]
print(json.dumps(out))
"""


def _mlp(optimizer) -> tuple:
    """TRAIN's and SHARDED's model after 4 steps of ``optimizer(params)`` by torch in this process, its
    input and its losses."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.standard_normal((64, 8)).astype("float32"))
    Y = torch.from_numpy(rng.standard_normal((64, 2)).astype("float32"))
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = optimizer(model.parameters())
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(X), Y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, X, losses


@pytest.mark.parametrize("mode, bucket_mb, per_step", [("shard", "25", 1), ("auto", "0.0005", 2)])
def test_mlp_trains_data_parallel_on_two_workers_like_torch_on_one(mode, bucket_mb, per_step):
    """gpu_workers(2, shard=True), or gpu_workers(2) with GT_AUTO_SHARD=1; the 4 gradients go in one
    bucket of 25 MB, or in two of 524 bytes (backward gives the last layer's 136 bytes first, the
    first layer's 576 last)."""
    res = finish(subprocess.Popen([sys.executable, "-c", TRAIN, mode], stdout=subprocess.PIPE,
                                  env=_dp_env(GT_AUTO_SHARD="1" if mode == "auto" else "0", GT_DP_BUCKET_MB=bucket_mb),
                                  stderr=subprocess.PIPE, text=True), timeout=300)
    model, X, losses = _mlp(lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9))
    np.testing.assert_allclose(res["losses"], losses, rtol=1e-5)
    np.testing.assert_allclose(res["grad"], model[0].weight.grad.numpy(), rtol=1e-4, atol=1e-6)
    for got, want in zip(res["w"], model.parameters()):
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert res["shape"] == [32, 8]            # a batch handle has its shard's shape
    with torch.no_grad():
        np.testing.assert_allclose(res["pred"], model(X).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res["xsum"], X.sum().item(), rtol=1e-5)
    assert res["all_reduces"] == 4 * per_step
    assert sorted(name.rsplit("-", 1)[1] for name in res["stats"]) == ["rank0", "rank1"]
    assert len(set(res["stats"].values())) == 1 and min(res["stats"].values()) > 0   # both ran the same ops
    refused, indivisible, bad_flag, thread = res["errors"]
    assert refused.startswith("NotImplementedError: data parallel: this tensor is a per-worker partial result")
    assert indivisible == ("ValueError: data parallel over 2 workers: a batch's size along dim 0 must divide "
                           "by 2, got shape (3, 8)")
    assert bad_flag == "TypeError: gpu_workers(shard=...) must be True or False, got 'yes'"
    assert thread == ("data parallel: this client's group of 2 workers is used from thread 'loader', but GT's "
                      "data-parallel mode serves one thread, the one that called gt.gpu_workers(n, shard=True); "
                      "make and use tensors from that thread only")
    for pid in res["pids"]:
        wait_for(lambda: not _alive(pid), 10, f"process {pid} to stop")


def test_shard_flag_is_checked_before_starting_anything():
    import gt
    with pytest.raises(TypeError, match="must be True or False"):
        gt.gpu_workers(2, shard=1)


KILL = """
import json, os, signal, time
import numpy as np
import gt
import gt.nn as nn
gt.gpu_workers(2, shard=True)
model = nn.Linear(4, 1)
opt = gt.optim.SGD(model.parameters(), lr=0.1)
def step():
    opt.zero_grad()
    loss = model(gt.from_numpy(np.ones((8, 4), "float32"))).pow(2).mean()
    loss.backward()
    opt.step()
    return loss.item()
step()
srv = gt.client.runtime._servers[0]
os.kill(srv.workers[1].pid, signal.SIGKILL)
t0 = time.monotonic()
try:
    step()
    error = None
except RuntimeError as exc:
    error = str(exc)
print(json.dumps({"error": error, "seconds": time.monotonic() - t0,
                  "pids": [srv.server.pid] + [w.pid for w in srv.workers]}))
"""


def test_a_worker_dying_mid_collective_fails_the_read_quickly():
    res = finish(subprocess.Popen([sys.executable, "-c", KILL], env=_dp_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True), timeout=300)
    assert res["error"] is not None and res["seconds"] < 15
    assert res["error"].startswith("data parallel over 2 workers: the group failed (a worker of it is gone")
    for pid in res["pids"]:
        wait_for(lambda: not _alive(pid), 10, f"process {pid} to stop")


LINEAR = """
import json, sys
import numpy as np
import gt
import gt.nn as nn
if len(sys.argv) > 2:   # plain workers the server groups
    gt.connect_group(sys.argv[1], n=int(sys.argv[2]))
else:
    gt.connect_group(sys.argv[1], "hostgroup", 2) if len(sys.argv) > 1 else gt.gpu_workers(2, shard=True)
gt.manual_seed(0)
X = np.random.default_rng(0).standard_normal((8, 4)).astype("float32")
model = nn.Linear(4, 1)
opt = gt.optim.SGD(model.parameters(), lr=0.1)
losses = []
for _ in range(8):
    opt.zero_grad()
    loss = model(gt.from_numpy(X)).pow(2).mean()
    loss.backward()
    opt.step()
    losses.append(loss.item())
stats = gt.debug.get_worker_stats()
print(json.dumps({"losses": losses, "compiled": sum(v["operations"]["compiled"] for v in stats.values()),
                  "ranks": sorted(stats)}))
"""


def _linear_losses() -> list:
    """LINEAR's 8 losses, by torch in this process."""
    torch.manual_seed(0)
    X = torch.from_numpy(np.random.default_rng(0).standard_normal((8, 4)).astype("float32"))
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = model(X).pow(2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_data_parallel_steps_run_compiled_with_the_same_numbers():
    res = finish(subprocess.Popen([sys.executable, "-c", LINEAR], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=_dp_env(GT_AUTO_COMPILE="1", GT_HOTPATH_THRESHOLD="2"), text=True), timeout=400)
    np.testing.assert_allclose(res["losses"], _linear_losses(), rtol=1e-5)
    assert res["compiled"] > 0


SHARDED = """
import json
import numpy as np
import gt
import gt.nn as nn
gt.gpu_workers(2, shard=True)
gt.manual_seed(0)
gt.register_config("fsdp", gt.SignalConfig(shard=gt.ShardConfig(axis=0, workers=[0, 1])))
gt.register_config("cols", gt.SignalConfig(shard=gt.ShardConfig(axis=1, workers=[0, 1])))
gt.register_config("one", gt.SignalConfig(shard=gt.ShardConfig(axis=0, workers=[0])))
rng = np.random.default_rng(0)
X = rng.standard_normal((64, 8)).astype("float32")
Y = rng.standard_normal((64, 2)).astype("float32")
with gt.signal.context("fsdp"):       # the parameters made here are sharded along dim 0 as the scope closes
    first = nn.Linear(8, 16)
model = nn.Sequential(first, nn.ReLU(), nn.Linear(16, 2))
assert gt.signal.tensor(model[2].weight, "cols") is model[2].weight     # one parameter, along dim 1
opt = gt.optim.Adam(model.parameters(), lr=0.01)
losses = []
for step in range(4):
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(gt.from_numpy(X)), gt.from_numpy(Y))
    loss.backward()
    opt.step()
    losses.append(loss.item())
dp = gt.client.runtime.worker
out = {"losses": losses, "sharded": [p._id in dp._axis for p in model.parameters()],
       "state_sharded": [all(v._id in dp._axis for v in opt.state[p].values() if isinstance(v, gt.Tensor) and v.dim())
                         for p in model.parameters()],
       "shape": list(model[0].weight.shape), "grad": model[0].weight.grad.numpy().tolist(),
       "state": {k: v.numpy().tolist() for k, v in model.state_dict().items()}}
r = gt.randn(4, 3)
whole = r.numpy()
batch = gt.signal.tensor(r, "fsdp")     # not a parameter: split along dim 0 as a batch
out["batch"] = [list(batch.shape), bool(np.array_equal(batch.numpy(), whole))]
out["errors"] = []
def inside(name, make):
    with gt.signal.context(name):
        make()
for bad in (lambda: inside("one", lambda: None), lambda: inside("fsdp", lambda: nn.Linear(2, 3)),
            lambda: gt.signal.tensor(gt.ones(4, 4) * 2, "cols")):
    try:
        bad()
    except (NotImplementedError, ValueError) as exc:
        out["errors"].append(f"{type(exc).__name__}: {exc}")
print(json.dumps(out))
"""


def test_sharded_parameters_train_like_torch_on_one_process():
    """ShardConfig on a scope (dim 0) and on one parameter (dim 1): Adam's numbers equal torch's, and the
    parameters, their gradients and Adam's state stay sharded over the steps."""
    res = finish(subprocess.Popen([sys.executable, "-c", SHARDED], env=_dp_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True), timeout=300)
    model, _, losses = _mlp(lambda params: torch.optim.Adam(params, lr=0.01))
    np.testing.assert_allclose(res["losses"], losses, rtol=1e-5)
    assert res["sharded"] == [True, True, True, False] and res["state_sharded"] == [True, True, True, False]
    assert res["shape"] == [16, 8]     # a sharded parameter's handle has the whole shape
    np.testing.assert_allclose(res["grad"], model[0].weight.grad.numpy(), rtol=1e-4, atol=1e-6)
    assert list(res["state"]) == list(model.state_dict())
    for key, want in model.state_dict().items():
        np.testing.assert_allclose(res["state"][key], want.numpy(), rtol=1e-5, atol=1e-6)
    assert res["batch"] == [[2, 3], True]
    subset, indivisible, not_a_param = res["errors"]
    assert subset == ("NotImplementedError: ShardConfig(axis=0, workers=(0,)) of scope 'one': GT shards over every "
                      "worker of the group (workers 0..1); GT does not support sharding over a subset of the "
                      "workers yet")
    assert indivisible == ("ValueError: ShardConfig(axis=0, workers=(0, 1)) of scope 'fsdp': a sharded tensor's "
                           "size along axis 0 must divide by the 2 workers, got shape (3, 2)")
    assert not_a_param.startswith("NotImplementedError: gt.signal.tensor(t, 'cols') with ShardConfig(axis=1, "
                                  "workers=(0, 1)): GT shards parameters (leaves that require grad) along any axis")


def test_workers_started_separately_form_a_group_a_client_joins(tmp_path):
    """The two-host set-up on one machine: a server, and two ``python -m gt.worker`` processes started by
    hand with their rank, the world size and one rendezvous address; ``gt.connect_group`` trains on them."""
    import socket

    from gt.transport import launch
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "server.log", "ab")
    srv = launch.start_server(env=_dp_env(), output=log)
    try:
        for rank in range(2):
            srv.add_worker("cpu", {"GT_DP_RANK": str(rank), "GT_DP_WORLD_SIZE": "2",
                                   "GT_DP_INIT": f"tcp://127.0.0.1:{port}"}, ("--name", f"hostgroup-rank{rank}"),
                           output=log)
        srv.add_worker("cpu", output=log)    # a worker of the server outside the group
        res = finish(subprocess.Popen([sys.executable, "-c", LINEAR, srv.address], env=_dp_env(),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), timeout=300)
    finally:
        srv.stop()
        log.close()
    np.testing.assert_allclose(res["losses"], _linear_losses(), rtol=1e-5)
    assert res["ranks"] == ["hostgroup-rank0", "hostgroup-rank1"]


REFUSED = """
import json, sys, time
import gt
start = time.monotonic()
try:
    gt.connect_group(sys.argv[1], n=int(sys.argv[2]))
    error = None
except RuntimeError as exc:
    error = str(exc)
print(json.dumps({"error": error, "seconds": time.monotonic() - start}))
"""


def _group_client(address: str, n: int, script: str = LINEAR, **env) -> dict:
    return finish(subprocess.Popen([sys.executable, "-c", script, address, str(n)], env=_dp_env(**env),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), timeout=300)


def test_plain_workers_are_grouped_by_the_server(tmp_path):
    """The two-host set-up on one machine: ``python -m gt.worker`` processes without rank settings; the
    server gives ranks and the rendezvous when ``gt.connect_group(address, n=2)`` asks, and frees the
    workers when the client leaves; too few idle workers, or a rank that never joins, raise in time."""
    import os
    import signal

    from gt.transport import launch
    log = open(tmp_path / "server.log", "ab")
    # a stopped worker stays registered (the server's heartbeat timeout is longer than the group's)
    srv = launch.start_server(env=_dp_env(GT_HEARTBEAT_TIMEOUT="30"), output=log)
    try:
        workers = [srv.add_worker("cpu", output=log) for _ in range(3)]
        for script_run in range(2):   # the second client gets workers the first one's group freed
            res = _group_client(srv.address, 2)
            np.testing.assert_allclose(res["losses"], _linear_losses(), rtol=1e-5)
            assert len(res["ranks"]) == 2
        res = _group_client(srv.address, 4, REFUSED, GT_CONNECT_TIMEOUT="2")
        assert res["error"].startswith("connect_group: the GT server has 3 idle worker(s) of the 4 asked for "
                                       "(3 registered), still after 2 s"), res["error"]
        assert res["seconds"] < 10
        os.kill(workers[1].pid, signal.SIGSTOP)   # registered, but it will never join
        try:
            res = _group_client(srv.address, 3, REFUSED)
        finally:
            os.kill(workers[1].pid, signal.SIGCONT)
        assert res["error"].startswith("connect_group: the GT server at "), res["error"]
        assert "gt-group" in res["error"] and res["seconds"] < 15, res
        # the stopped worker is named among those that did not join (it cannot report an error itself)
        assert f"-{workers[1].pid}-cpu (rank " in res["error"], res["error"]
        assert "did not join within 12 s" in res["error"] or "; not joined yet: " in res["error"], res["error"]
    finally:
        srv.stop()
        log.close()
    for proc in workers:
        assert proc.poll() is not None
