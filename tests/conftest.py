"""Shared fixtures for GT's front-end tests.

Every test computes its reference with PyTorch on the same inputs; the fixtures
here make the inputs (a seeded numpy RNG), put one array into both frameworks,
and compare a GT result with a torch result (shape, dtype and values).
"""
from __future__ import annotations

import os
import zlib

# The suite never reads or writes the user's hot-path cache (~/.cache/gt), nor do the
# processes it starts: tests of the cache give their own directories.
os.environ["GT_CACHE_DIR"] = ""

import numpy as np
import pytest
import torch

import gt
from gt import config as gt_config
from gt.client import runtime
from gt.worker.worker import Worker

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
        return gt.from_numpy(a.copy(), requires_grad=requires_grad), \
            torch.tensor(a.copy(), requires_grad=requires_grad)
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


def make_worker(batch_size=1, auto_compile=False, threshold=10, compile=False, worker_id="test_worker"):
    """A CPU worker with explicit settings (not read from the GT_* environment)."""
    cfg = gt_config.Config(auto_compile=auto_compile, hot_threshold=threshold, batch_size=batch_size,
                           compile=compile, device="cpu")
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
