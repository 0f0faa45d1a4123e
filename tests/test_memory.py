"""The worker's tensor table stays bounded: dropped client handles free their worker tensors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gt

from devices import DEVICE, on_device

SLACK = 2  # a steady loop may hold a couple of extra tensors at a checkpoint, never a growing number


def _count() -> int:
    return len(gt.debug.get_worker().tensors)


def _data(rng, n=16):
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], np.float32) + 0.25).astype(np.float32)
    return gt.from_numpy(x), gt.from_numpy(y)


def _train(model, opt, x, y, steps, checkpoints):
    loss_fn = gt.nn.MSELoss()
    counts, losses = {}, []
    for step in range(1, steps + 1):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if step in checkpoints:
            counts[step] = _count()
            losses.append(loss.item())
        del loss
    return counts, losses


def _assert_bounded(counts: dict, first: int) -> None:
    base = counts[first]
    grown = {step: n - base for step, n in counts.items() if n - base > SLACK}
    assert not grown, f"worker tensor count grew: {counts}"


@pytest.mark.parametrize("name, kw", [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}),
    ("Adam", {"lr": 0.01}),
])
def test_training_loop_keeps_the_worker_tensor_count_bounded(name, kw, rng):
    steps = 3000 if name == "SGD" and "momentum" not in kw else 1000
    gt.manual_seed(0)
    model = gt.nn.Linear(4, 1)
    opt = getattr(gt.optim, name)(model.parameters(), **kw)
    x, y = _data(rng)
    checkpoints = {3, 100, steps // 2, steps - 1, steps}
    counts, losses = _train(model, opt, x, y, steps, checkpoints)
    _assert_bounded(counts, 100)
    assert counts[steps] - counts[3] <= SLACK
    assert losses[-1] < 0.1 * losses[0], f"the model did not train: {losses}"


def test_deeper_model_training_loop_is_bounded(rng):
    gt.manual_seed(1)
    model = gt.nn.Sequential(gt.nn.Linear(4, 8), gt.nn.Tanh(), gt.nn.Linear(8, 1))
    opt = gt.optim.SGD(model.parameters(), lr=0.05, momentum=0.5)
    x, y = _data(rng)
    counts, _ = _train(model, opt, x, y, 600, {100, 300, 599, 600})
    _assert_bounded(counts, 100)


def test_dropping_handles_frees_worker_tensors(rng):
    a = gt.from_numpy(rng.standard_normal((8, 8)).astype(np.float32), requires_grad=True)
    base = _count()
    kept = [(a * i).exp().sum() for i in range(200)]
    assert _count() >= base + 200
    del kept
    assert _count() <= base + SLACK
    loss = (a @ a).relu().mean()
    loss.backward()
    del loss
    grad_base = _count()
    a.grad = None
    assert _count() < grad_base  # the old gradient's tensor went with its handle


def test_no_grad_evaluation_loop_is_bounded(rng):
    model = gt.nn.Linear(4, 2)
    x = gt.from_numpy(rng.standard_normal((5, 4)).astype(np.float32))
    counts = {}
    with gt.no_grad():
        for step in range(1, 1001):
            out = model(x).sigmoid().sum().item()
            if step in (100, 1000):
                counts[step] = _count()
    assert np.isfinite(out)
    _assert_bounded(counts, 100)


def test_inplace_update_loop_is_bounded(rng):
    a = rng.standard_normal((3, 3)).astype(np.float32)
    x = gt.from_numpy(a)
    counts = {}
    for step in range(1, 2001):
        x += 1.0
        x *= 0.5
        if step in (100, 2000):
            counts[step] = _count()
    _assert_bounded(counts, 100)
    expected = a.astype(np.float64)
    for _ in range(2000):
        expected = (expected + 1.0) * 0.5
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_data_assignment_loop_is_bounded(rng):
    model = gt.nn.Linear(4, 1)
    x, y = _data(rng)
    counts = {}
    for step in range(1, 1001):
        model.zero_grad()
        gt.nn.functional.mse_loss(model(x), y).backward()
        for p in model.parameters():
            p.data = p.data - 0.05 * p.grad
        if step in (100, 1000):
            counts[step] = _count()
    _assert_bounded(counts, 100)


def test_training_loop_with_a_batching_worker_is_bounded(batched_worker, rng):
    gt.manual_seed(2)
    model = gt.nn.Linear(4, 1)
    opt = gt.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = _data(rng)
    counts, losses = _train(model, opt, x, y, 1500, {100, 750, 1500})
    assert gt.debug.get_worker() is batched_worker
    _assert_bounded(counts, 100)
    assert losses[-1] < 0.1 * losses[0], f"the model did not train: {losses}"
    del model, opt, x, y


def test_indexing_and_in_place_writes_keep_the_worker_tensor_count_bounded(rng):
    """Index-tensor and mask reads (a sync each), writes and their gradients free what they make."""
    x = gt.from_numpy(rng.standard_normal((8, 5)).astype(np.float32), requires_grad=True)
    idx = gt.tensor([3, 1, 3])
    counts = {}
    for step in range(1, 301):
        h = x * 1.0
        h[idx] = h[idx] * 2.0
        h[h > 1.0] = 0.5
        loss = h[:, gt.tensor([0, 4])].sum() + h[h < 0].sum() + h.softmax(1).max(1).values.sum()
        loss.backward()
        x.grad = None
        if step in (10, 150, 300):
            counts[step] = _count()
        del h, loss
    _assert_bounded(counts, 10)


def test_an_accumulator_updated_in_place_under_grad_keeps_memory_bounded(rng):
    """``total += loss.detach()`` each step under grad mode: the in-place history of ``total``
    (kept for nodes made before a rebinding) holds no old values once nothing else does."""
    from gt.client import autograd
    w = gt.from_numpy(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    total = gt.zeros(())
    counts, history = {}, {}
    for step in range(1, 301):
        loss = (w * w).sum()
        total += loss.detach()
        loss.backward()
        w.grad = None
        if step in (10, 150, 300):
            counts[step] = _count()
            history[step] = sum(len(past) for _, past in autograd.rebound.values())
        del loss
    _assert_bounded(counts, 10)
    assert history[300] <= history[10] + SLACK, history


def test_deepcopy_of_a_model_with_buffers_is_an_independent_copy():
    import copy

    gt.manual_seed(0)
    model = gt.nn.Sequential(gt.nn.Linear(3, 4), gt.nn.BatchNorm1d(4))
    torch.manual_seed(0)
    ref = on_device(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)))
    twin = copy.deepcopy(model)
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    out = model(gt.from_numpy(x))
    out.sum().backward()
    with gt.no_grad():
        for p in model.parameters():
            p -= 0.5 * p.grad
    # the copy kept the original's first values (parameters and running stats), not the update
    twin_out = twin(gt.from_numpy(x))
    np.testing.assert_allclose(twin_out.detach().numpy(), ref(torch.from_numpy(x).to(DEVICE)).detach().cpu().numpy(),
                               rtol=1e-5)
    np.testing.assert_allclose(twin[1].running_mean.numpy(), ref[1].running_mean.cpu().numpy(), rtol=1e-6)
    assert all(p.requires_grad and p.grad is None for p in twin.parameters())
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(out)
    with pytest.raises(TypeError, match="cannot be pickled"):
        import pickle
        pickle.dumps(gt.ones(2))
