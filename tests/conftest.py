"""Shared fixtures for GT's front-end tests.

Every test computes its reference with PyTorch on the same inputs, on the
worker's device (``devices.DEVICE``); the fixtures here make the inputs (a seeded
numpy RNG), put one array into both frameworks, and compare a GT result with a
torch result (shape, dtype and values).
"""
from __future__ import annotations

import logging
import os
import zlib

# The suite never reads or writes the user's hot-path cache (~/.cache/gt), nor do the
# processes it starts: tests of the cache give their own directories.
os.environ["GT_CACHE_DIR"] = ""
# Cache tests use their own directories; only the ahead-of-time tests build libraries (seconds each).
os.environ["GT_CACHE_AOT"] = "0"

import numpy as np
import pytest
import torch

import gt
from gt import config as gt_config
from gt.client import runtime
from gt.worker.worker import Worker

from devices import on_device, twin

# float32 results are compared with a relative tolerance a little above the
# type's epsilon (GT and torch may order a reduction differently).
TOLERANCES = {
    torch.float16: (1e-3, 1e-3),
    torch.float32: (1e-5, 1e-6),
    torch.float64: (1e-10, 1e-12),
}


def _values(x) -> np.ndarray:
    if isinstance(x, gt.Tensor):
        return x.detach().numpy()
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _assert_matches(actual, expected, rtol=None, atol=None, check_dtype=True) -> None:
    """``actual`` (a gt Tensor) has ``expected``'s (a torch Tensor) shape, dtype and values."""
    assert isinstance(actual, gt.Tensor), f"expected a gt.Tensor, got {type(actual).__name__}"
    assert isinstance(expected, torch.Tensor), f"reference is not a torch.Tensor: {type(expected).__name__}"
    assert tuple(actual.shape) == tuple(expected.shape), \
        f"shape {tuple(actual.shape)} != torch's {tuple(expected.shape)}"
    if check_dtype:
        assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != torch's {expected.dtype}"
    got, want = _values(actual), _values(expected)
    if expected.dtype in TOLERANCES:
        r, a = TOLERANCES[expected.dtype]
        np.testing.assert_allclose(got, want, rtol=r if rtol is None else rtol, atol=a if atol is None else atol)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.fixture
def assert_matches():
    """``assert_matches(gt_tensor, torch_tensor, rtol=None, atol=None, check_dtype=True)``."""
    return _assert_matches


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A numpy generator seeded from the test's id: reproducible, different per test."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def pair():
    """``pair(array, requires_grad=False) -> (gt_tensor, torch_tensor)`` holding the same values."""
    def make(a, requires_grad: bool = False):
        a = np.asarray(a)
        return gt.from_numpy(a.copy(), requires_grad=requires_grad), twin(a, requires_grad)
    return make


@pytest.fixture
def twins():
    """``twins(build, seed=0) -> (torch_model, gt_model)``: ``build(framework)`` under the same seed,
    so both start from the same weights; torch's model is on the worker's device."""
    def make(build, seed: int = 0):
        torch.manual_seed(seed)
        tm = on_device(build(torch))
        gt.manual_seed(seed)
        return tm, build(gt)
    return make


@pytest.fixture(autouse=True)
def _clean_session():
    """Each test starts and ends with gradients on and no unreported worker error."""
    assert gt.is_grad_enabled(), "a previous test left gradient recording off"
    yield
    worker = gt.debug.get_worker()
    leftover = getattr(worker, "_error", None)
    grad_on = gt.is_grad_enabled()
    if leftover is not None:
        worker._error = None
    if not grad_on:
        gt.set_grad_enabled(True)
    assert grad_on, "the test left gradient recording off"
    assert leftover is None, f"the test left an unreported worker error: {leftover}"


def make_worker(batch_size=1, auto_compile=False, threshold=10, compile=False, worker_id="test_worker",
                device="cpu"):
    """A worker with explicit settings (not read from the GT_* environment), on the CPU unless told."""
    cfg = gt_config.Config(auto_compile=auto_compile, hot_threshold=threshold, batch_size=batch_size,
                           compile=compile, device=str(device))
    return Worker(worker_id, batch_size=batch_size, config=cfg)


@pytest.fixture
def use_worker():
    """``use_worker(**settings)`` routes the client to a fresh worker; the default one is restored after."""
    previous = runtime.get_worker()

    def _use(**kwargs):
        w = make_worker(**kwargs)
        runtime.connect(w)
        return w

    yield _use
    runtime.connect(previous)


@pytest.fixture
def batched_worker(use_worker):
    """Route the client to a fresh worker that batches 8 instructions at a time (restored afterwards)."""
    worker = use_worker(batch_size=8, worker_id="batched_test_worker")
    yield worker
    worker._flush_batch()


@pytest.fixture
def against_torch(rng):
    """``against_torch(g_fn, t_fn, arrays, grads=(), modules=None, rtol=None, atol=None)``: both functions on
    the same arrays (inputs ``grads`` require gradients); results compared, then the gradients of a random
    weighting of the result: of those inputs and, for ``modules=(gt_module, torch_module)``, of every
    parameter.  torch runs on the worker's device: its inputs are put there, and so are ``t_fn`` and
    ``modules[1]`` where they are torch modules.  Returns both results."""
    def run(g_fn, t_fn, arrays, grads=(), modules=None, rtol=None, atol=None):
        for m in (t_fn, modules and modules[1]):
            if isinstance(m, torch.nn.Module):
                on_device(m)
        g_in = [gt.from_numpy(np.array(a), requires_grad=i in grads) for i, a in enumerate(arrays)]
        t_in = [twin(a, requires_grad=i in grads) for i, a in enumerate(arrays)]
        g_out, t_out = g_fn(*g_in), t_fn(*t_in)
        _assert_matches(g_out, t_out, rtol, atol)
        if not t_out.requires_grad:
            return g_out, t_out
        w = rng.standard_normal(tuple(t_out.shape)).astype(_values(t_out).dtype)
        (g_out * gt.from_numpy(w)).sum().backward()
        (t_out * twin(w)).sum().backward()
        for i in grads:
            _assert_matches(g_in[i].grad, t_in[i].grad, rtol, atol)
        if modules is not None:
            t_params = dict(modules[1].named_parameters())
            for name, p in modules[0].named_parameters():
                _assert_matches(p.grad, t_params[name].grad, rtol, atol)
        return g_out, t_out
    return run


def train(lib, build, steps: int, read_stats=None) -> tuple[list, list]:
    """Train ``build(lib) -> (params, loss_of_step)`` with SGD for ``steps`` steps; each step's loss read
    (a sync point, as a printed loss is), and ``read_stats()`` after it when given."""
    lib.manual_seed(0)
    params, loss_of_step = build(lib)
    opt = lib.optim.SGD(params, lr=0.5, momentum=0.5)
    losses, stats = [], []
    for _ in range(steps):
        loss = loss_of_step()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if read_stats:
            stats.append(read_stats())
    return losses, stats


@pytest.fixture
def training_compared(use_worker, monkeypatch):
    """``training_compared(build, steps) -> ops per step``: ``train`` torch, gt eagerly and gt on an
    auto-compiling worker (hot after 2 sightings, never reverted: counts must not depend on this
    machine's timings); gt's eager losses must equal torch's to float32 rounding, the compiled ones to
    float32 compilation's tolerance, and each of the last 3 compiled steps must be exactly one compiled
    graph, every op of it compiled, with no compile after the first of them."""
    from gt.worker import policy as policy_mod
    monkeypatch.setattr(policy_mod, "REVERT_SAMPLES", 0)

    def run(build, steps: int) -> float:
        torch_losses, _ = train(torch, build, steps)
        use_worker(batch_size=1)
        np.testing.assert_allclose(train(gt, build, steps)[0], torch_losses, rtol=1e-6)
        use_worker(batch_size=4096, auto_compile=True, threshold=2)
        losses, stats = train(gt, build, steps, lambda: gt.debug.get_worker_stats()["test_worker"])
        np.testing.assert_allclose(losses, torch_losses, rtol=1e-4, atol=1e-5)
        a, b = stats[-4], stats[-1]
        assert b["compilation"]["cache_hits"] - a["compilation"]["cache_hits"] == 3
        assert b["compilation"]["cache_misses"] == a["compilation"]["cache_misses"]
        assert b["compilation"]["compile_failures"] == 0
        assert b["batches"] - a["batches"] == 3
        ops = b["operations"]["total"] - a["operations"]["total"]
        assert ops > 0 and b["operations"]["compiled"] - a["operations"]["compiled"] == ops
        return ops / 3
    return run


@pytest.fixture
def logged(caplog):
    """caplog that sees GT's messages (GT's logger does not propagate to the root)."""
    gt_logger = logging.getLogger("gt")
    gt_logger.addHandler(caplog.handler)
    yield caplog
    gt_logger.removeHandler(caplog.handler)
