"""A bad index never takes down more than its own work.

On the CPU torch checks an index or class target on the host.  On CUDA its kernels
check on the device, and a failed device-side assert loses the whole process's CUDA
context.  GT's worker checks the ranges of eager index ops on the host when it runs
on CUDA (gt.worker.checks): the user gets torch's CPU error and the worker goes on.
Where a kernel still fails on the device, the error says the CUDA context is lost and
why, every later read says so too (never a cascade of raw CUDA errors, never wrong
numbers), and a remote worker restarts itself.  Tests that really lose a CUDA context
run in subprocesses (or on a worker process of their own), so the suite survives them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import gt
from gt import config as gt_config
from gt.client import runtime
from gt.worker import checks
from gt.worker import worker as worker_mod

from devices import DEVICE, ON_GPU
from test_remote import _env, finish, run_client, start_cluster, wait_for, worker_count

F32 = np.float32


def _long(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64)


def test_the_host_checks_find_what_torch_refuses():
    x, w = torch.zeros(3, 4), torch.zeros(4, 2)
    cases = [
        ("one_hot", (_long([0, 2]), 3), True), ("one_hot", (_long([-1, 0]), 3), False),
        ("one_hot", (_long([0, 3]), 3), False), ("one_hot", (_long([]), 3), True),
        ("nll_loss", (x, _long([0, 3, -100]), 1, -100), True), ("nll_loss", (x, _long([4, 0, 0]), 1, -100), False),
        ("nll_loss", (x, _long([-1, 0, 0]), 1, -100), False), ("nll_loss", (x, _long([0, 7, 1]), w[:, 0], 1, 7), True),
        ("nll_loss", (torch.zeros(4), _long(3), 1, -100), True), ("nll_loss", (torch.zeros(4), _long(4), 1, -100), False),
        ("cross_entropy", (x, _long([0, 4, 1]), 1, -100), False), ("cross_entropy", (x, torch.ones(3, 4), 1, -100), True),
        ("embedding", (w, _long([[3, 0]]), -1, False), True), ("embedding", (w, _long([4]), -1, False), False),
        ("embedding", (w, _long([-1]), -1, False), False),
        ("index_select", (x, _long([3]), 1), True), ("index_select", (x, _long([3]), 0), False),
        ("gather", (x, _long([[3]]), 1), True), ("gather", (x, _long([[4]]), 1), False),
        ("gather", (x, _long([[-1]]), 0), False), ("scatter", (x, _long([[2]]), torch.ones(1, 1), 0), True),
        ("scatter", (x, _long([[3]]), torch.ones(1, 1), 0), False),
        ("scatter_value", (x, _long([[4]]), 1.0, 1), False),
        ("index", (x, _long([-3, 2]), (True,)), True), ("index", (x, _long([-4]), (True,)), False),
        ("index", (x, _long([1]), _long([4]), (True, True)), False),
        ("index", (x, _long([0]), (False, True)), True), ("index", (x, _long([4]), (False, True)), False),
        ("index", (x, x > 0, (True, True)), True),
    ]
    for name, args, ok in cases:
        assert checks.CHECKS[name](*args) == ok, (name, args)


def test_checks_wrap_only_cuda_and_leave_graphs_unchecked():
    from gt import ops
    assert checks.wrap(ops.OP_FUNCS, torch.device("cpu")) is ops.OP_FUNCS
    wrapped = checks.wrap(ops.OP_FUNCS, torch.device("cuda", 0))
    code = ops.OPCODE["gather"]
    assert wrapped[code] is not ops.OP_FUNCS[code] and wrapped[ops.OPCODE["add"]] is ops.OP_FUNCS[ops.OPCODE["add"]]
    # a wrapped kernel refuses with torch's own CPU error, whatever device its inputs are on
    with pytest.raises(RuntimeError, match="index 4 is out of bounds for dimension 1 with size 4"):
        wrapped[code](torch.zeros(3, 4), _long([[4]]), 1)
    assert torch.equal(wrapped[code](torch.arange(4.0)[None], _long([[3, 1]]), 1), torch.tensor([[3.0, 1.0]]))


BAD_CALLS = {
    "one_hot-negative": lambda lib, T: lib.nn.functional.one_hot(T([-1, 0]), 3),
    "one_hot-too-large": lambda lib, T: lib.nn.functional.one_hot(T([0, 3]), 3),
    "nll_loss": lambda lib, T: lib.nn.functional.nll_loss(T(np.zeros((2, 3), F32)), T([0, 3])),
    "cross_entropy": lambda lib, T: lib.nn.functional.cross_entropy(T(np.zeros((2, 3), F32)), T([5, 0])),
    "embedding": lambda lib, T: lib.nn.functional.embedding(T([4]), T(np.ones((4, 2), F32))),
    "index_select": lambda lib, T: T(np.ones((3, 2), F32)).index_select(0, T([3])),
    "gather": lambda lib, T: T(np.ones((3, 2), F32)).gather(1, T([[2]])),
    "scatter": lambda lib, T: T(np.ones((3, 2), F32)).scatter(0, T([[3]]), T(np.ones((1, 1), F32))),
    "index": lambda lib, T: T(np.ones(3, F32))[T([5])],
}


def _tensor(lib):
    return lambda a: lib.tensor(np.asarray(a))


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_a_bad_index_raises_torchs_error_and_the_worker_goes_on(name):
    """On the worker's device (cuda:0 where there is one): torch's CPU error, then business as usual."""
    call = BAD_CALLS[name]
    with pytest.raises((RuntimeError, IndexError)) as want:
        call(torch, _tensor(torch))
    with pytest.raises(RuntimeError) as got:
        call(gt, _tensor(gt)).numpy()
    assert str(want.value).splitlines()[0] in str(got.value)
    assert "CUDA" not in str(got.value)
    assert (gt.ones(3) * 2).sum().item() == 6.0


def _fake_cuda_worker() -> worker_mod.Worker:
    cfg = gt_config.Config(auto_compile=False, hot_threshold=10, batch_size=1, compile=False, device="cuda:0")
    return worker_mod.Worker("fake_cuda", batch_size=1, device="cuda:0", config=cfg)


def test_a_lost_cuda_context_is_named_at_every_read(monkeypatch, use_worker):
    """A device-side assert (faked: no kernel runs) turns into one clear error, repeated at every later
    read of every CUDA worker of the process, instead of a cascade of raw CUDA errors."""
    monkeypatch.setattr(worker_mod, "_context_lost", None)
    w, other = _fake_cuda_worker(), _fake_cuda_worker()
    w.tensors[1] = torch.ones(2)
    w._note_error("gather", RuntimeError("CUDA error: device-side assert triggered\nSearch for `cudaErrorAssert'"))
    for worker in (w, w, other):
        with pytest.raises(RuntimeError, match=r"operation 'gather' failed on cuda:0: the CUDA context is lost "
                                               r"\(CUDA error: device-side assert triggered\).*out of range"):
            worker.fetch(1)
    with pytest.raises(RuntimeError, match="the CUDA context is lost"):
        w.put(2, torch.ones(2))
    assert "Restart the process" in worker_mod.context_lost()
    cpu = use_worker()   # a CPU worker of the same process has no CUDA context to lose
    assert cpu.device.type == "cpu" and (gt.ones(2) + 1).sum().item() == 4.0
    # an error that leaves the context whole stays the op's own
    monkeypatch.setattr(worker_mod, "_context_lost", None)
    w._note_error("matmul", RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    with pytest.raises(RuntimeError, match="operation 'matmul' failed: mat1 and mat2"):
        w._raise_pending_error()
    assert worker_mod.context_lost() is None


# A kernel GT does not check on the host: an indexed assignment with an index out of range.
_LOSE_CONTEXT = """
import json, gt
s = gt.zeros(3)
s[gt.tensor([5])] = 1.0
out = {}
for k in ("first", "second"):
    try:
        out[k] = (s + 1).sum().item()
    except RuntimeError as exc:
        out[k] = str(exc)
print(json.dumps(out))
"""


@pytest.mark.skipif(not ON_GPU, reason="losing a CUDA context needs a GPU")
def test_a_device_side_assert_is_named_and_repeated_never_a_number():
    env = {k: v for k, v in os.environ.items() if not k.startswith("GT_")}
    proc = subprocess.run([sys.executable, "-c", _LOSE_CONTEXT], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for k in ("first", "second"):
        assert isinstance(out[k], str) and "the CUDA context is lost" in out[k], out


_BYSTANDER = """
import json, os, time, numpy as np, gt
a = gt.from_numpy(np.ones(3, dtype=np.float32))
print((a * 2).sum().item(), flush=True)
while not os.path.exists({go!r}):
    time.sleep(0.02)
out = {{}}
try:
    out["value"] = (a + 1).sum().item()
except RuntimeError as exc:
    out["error"] = str(exc)
print(json.dumps(out))
"""


@pytest.fixture
def shared_worker(tmp_path, use_worker, monkeypatch):
    """A server with one worker (on the tests' device), a bystander client process holding a tensor
    there and waiting for ``go``; yields (server, bystander, go).  This process connects with
    ``gt.connect(server.address)``."""
    srv = start_cluster(tmp_path, 0)
    try:
        srv.add_worker(str(DEVICE), output=open(tmp_path / "worker.log", "ab"))
        wait_for(lambda: worker_count(srv.address) == 1, 120, "the worker to join")
        go = tmp_path / "go"
        bystander = run_client(_BYSTANDER.format(go=str(go)), srv.address)
        assert bystander.stdout.readline().strip() == "6.0", bystander.stderr.read()
        use_worker()
        for k, v in _env().items():
            if k.startswith("GT_"):
                monkeypatch.setenv(k, v)
        yield srv, bystander, go
    finally:
        runtime.disconnect()
        srv.stop()


def test_a_bad_index_in_one_remote_client_leaves_the_other_working(shared_worker):
    """On cuda:0 where there is one, the host check refuses the bad index: nobody else notices."""
    srv, bystander, go = shared_worker
    gt.connect(srv.address)
    with pytest.raises(RuntimeError, match="index 3 is out of bounds for dimension 0 with size 3"):
        gt.ones(3, 2).gather(0, gt.tensor([[3, 0]])).sum().item()
    assert (gt.ones(4) * 3).sum().item() == 12.0   # this client goes on too
    go.touch()
    assert finish(bystander, timeout=120) == {"value": 6.0}


@pytest.mark.skipif(not ON_GPU, reason="losing a CUDA context needs a GPU")
def test_a_remote_worker_that_loses_its_cuda_context_says_so_and_restarts(shared_worker, tmp_path):
    """The failing client is told why; the other client of that worker gets a clear error (its tensors
    are gone), never a number; the worker starts afresh and serves new work."""
    srv, bystander, go = shared_worker
    gt.connect(srv.address)
    s = gt.zeros(3)
    s[gt.tensor([5])] = 1.0
    with pytest.raises(RuntimeError, match="the CUDA context is lost"):
        s.sum().item()
    runtime.disconnect()
    go.touch()
    res = finish(bystander, timeout=120)
    assert "value" not in res and "tensors" in res["error"] and "gone" in res["error"], res
    log = tmp_path / "worker.log"
    assert "the CUDA context is lost; dropping" in log.read_text()
    wait_for(lambda: log.read_text().count("registered with the dispatcher") == 2, 120, "the worker to join again")
    gt.connect(srv.address)
    c = gt.from_numpy(np.arange(4, dtype=np.float32))
    assert (c * c).sum().item() == 14.0
