"""Compiled execution: same values as eager, compiled once per pattern, clean fallback.

Each compile costs seconds on a CPU, so these tests compile few, small graphs.
"""
from __future__ import annotations

import logging

import numpy as np
import torch

import gt
from gt.client import runtime
from gt.worker import engine as engine_mod
from gt.worker.engine import Batch
from gt.ops import OP_NAMES


def _every_op_program():
    """A program that makes the client emit every opcode once or more (forward and backward)."""
    rng = np.random.default_rng(0)
    x = gt.from_numpy(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    w = gt.from_numpy(rng.standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    b = gt.from_numpy(rng.standard_normal(5).astype(np.float32), requires_grad=True)
    t = gt.from_numpy(rng.standard_normal((4, 5)).astype(np.float32))
    pos = gt.from_numpy(rng.random((4, 3)).astype(np.float32) + 0.5, requires_grad=True)
    idx, idx2, half = gt.tensor([0, 2]), gt.tensor([[0, 1]] * 4), gt.tensor(0.5)
    labels, running_mean, running_var = gt.tensor([0, 2, 1, 4]), gt.zeros(5), gt.ones(5)
    gt.flush()
    yield  # data is on the worker; what follows is one batch
    h = gt.nn.functional.linear(x, w, b)
    loss = gt.nn.functional.mse_loss(h.sigmoid(), t) + (h.tanh() + h.relu()).sum() * 0.1
    y = (x + pos) - pos * x / pos
    y = y + pos ** pos + 2.0 ** pos + pos ** 2.0 + (1.0 / pos) - (3.0 - pos) + pos / 2.0
    y = y + (pos.log() + pos.sqrt() + pos.exp() + (-x).abs()) * 0.25
    y = y + (x > pos).float() + (x < 0.5).float() + (x >= pos).float() + (x <= 0.1).float()
    y = y + (x == pos).float() + (x == 1.0).float() + (x > 0).float() + (x < pos).float()
    y = y + (x >= 0.0).float() + (x <= pos).float()
    z = (x @ w.T).mean(dim=0) + y.sum(1).reshape(4, 1).mean() + y.max() + y.max(dim=1).values.sum()
    z = z + y.transpose(0, 1).permute(1, 0)[1:3, None].sum() + y.unsqueeze(0).expand(2, 4, 3).mean(0).sum()
    z = z.sum() + y.mean() + x.sign().sum() + y.max(dim=0, keepdim=True).values.sum()
    z = z + y.sum(0).sum() + gt.arange(3).float().sum()
    e = (pos + 1.0) + pos.ceil() + pos.floor() + pos.round() + pos.rsqrt() + pos.sin() + pos.cos() + pos.erf()
    e = e + pos.reciprocal() + x.isnan() + x.isfinite() + (x != pos) + (x != 0.5) + gt.maximum(x, pos)
    e = e + gt.minimum(x, pos) + x.clamp(min=-0.5, max=0.5) + x.clamp(min=pos) + gt.where(x > 0, x, pos)
    e = e + x.masked_fill(x > 0, 0.5) + x.masked_fill(x < 0, half) + x.cumsum(1) + x.softmax(1) + x.log_softmax(1)
    e = e + ((x > 0) & (x < 1)) + ((x > 0) | True) + (~(x > 0) ^ (x < 1)) + (x > 0).logical_not()
    e = e + ((x > 0) & False) + ((x > 0) ^ True) + ((x > 0) | (x < 1)) + x.tril() + x.triu(1)
    e = e + x.scatter(1, idx2[:, :1], pos) + x.scatter(1, idx2, 0.5) + (pos % 0.7) + (pos % (x + 2))
    e = e + (x // 0.5) + (x // pos)
    s = x * 1.0
    s[idx] = pos[:2]
    s[0] = 1.0
    e = e.sum() + x.min() + x.min(dim=1).values.sum() + x.argmin(dim=0).sum() + x.all() + x.any(dim=0).sum()
    e = e + x.var() + x.std(dim=0).sum() + x.norm() + x.mm(w.T).sum() + gt.bmm(x[None], w.T[None]).sum()
    e = e + gt.outer(b, b).sum() + gt.einsum("ij,kj->ik", x, w).sum() + x.repeat(2, 1).sum() + s.sum()
    e = e + gt.cat([x, pos]).sum() + gt.stack([x, pos]).sum() + x[idx].sum() + x.index_select(0, idx).sum()
    e = e + x.gather(1, idx2).sum() + x.topk(2).values.sum() + x.sort(1).values.sum()
    F = gt.nn.functional
    p = pos.sigmoid() * 0.5 + 0.25
    n = F.gelu(h).sum() + F.silu(h).sum() + F.leaky_relu(h, 0.1).sum() + F.softplus(h).sum()
    n = n + F.nll_loss(h.log_softmax(1), labels) + F.l1_loss(h, t) + F.smooth_l1_loss(h, t)
    n = n + F.cross_entropy(h, labels) + F.huber_loss(h, t) + F.elu(h).sum() + F.relu6(h).sum()
    n = n + F.mish(h).sum() + F.logsigmoid(h).sum()
    n = n + F.binary_cross_entropy(p, x.sigmoid()) + F.binary_cross_entropy_with_logits(x, p, pos_weight=b[:3])
    n = n + F.layer_norm(h, (5,), b, b).sum() + F.batch_norm(h, running_mean, running_var, b, b, True).sum()
    n = n + F.embedding(labels, w).sum() + F.one_hot(labels, 5).sum() + F.pad(x, (1, 1)).sum()
    n = n + F.conv1d(x[:, None], w[:2, None], b[:2], padding=1).sum() + F.max_pool2d(x[None], 2, 1).sum()
    n = n + F.avg_pool2d(x[None], 2, 1).sum() + F.adaptive_avg_pool2d(x[None], (2, 2)).sum()
    total = z + loss + e + n
    total.backward()
    gx = x.grad.detach()
    gx.add_(pos, alpha=0.5)
    live = [total, x.grad, w.grad, b.grad, pos.grad, gx, y.argmax(dim=1), (x > 0)]
    yield live


def test_compiled_matches_eager_for_every_op(use_worker):
    w = use_worker(batch_size=100000)
    w.mark_boundary = lambda: None          # keep the whole program in one batch
    runtime.connect(w)                      # the client binds the worker's methods at connect
    program = _every_op_program()
    next(program)
    live = next(program)
    ops = list(w.pending_operations)
    emitted = {OP_NAMES[op[0]] for op in ops}
    missing = set(OP_NAMES) - emitted - {"cast"} | ({"cast"} - emitted)
    assert not missing, f"the program does not cover {sorted(missing)}"
    canon, ext_ids, live_ids, freed_ids = w._batcher.flush_ops(ops, w._pending_frees)
    w.pending_operations, w._pending_frees = [], []
    tensors = w.tensors
    metas = tuple((t.dtype, tuple(t.shape)) for t in (tensors[i] for i in ext_ids))
    eager = w.engine.execute_batch(ops, tensors, Batch(canon, ext_ids, live_ids, metas=metas), compile=False)
    batch = Batch(canon, ext_ids, live_ids, metas=metas)
    compiled = w.engine.execute_batch(ops, tensors, batch, compile=True)
    assert batch.compiled, batch.error
    assert set(compiled) == set(eager) == set(live_ids)
    for t in live:
        assert t._id in compiled
    for i in live_ids:
        e, c = eager[i], compiled[i]
        assert e.dtype == c.dtype and e.shape == c.shape, OP_NAMES
        if e.dtype.is_floating_point:
            torch.testing.assert_close(c, e, rtol=1e-4, atol=1e-5)
        else:
            assert torch.equal(c, e)


def _train(steps, lrs=None):
    gt.manual_seed(0)
    rng = np.random.default_rng(0)
    X = gt.from_numpy(rng.standard_normal((16, 4)).astype(np.float32))
    Y = gt.from_numpy(rng.standard_normal((16, 1)).astype(np.float32))
    model = gt.nn.Sequential(gt.nn.Linear(4, 8), gt.nn.Tanh(), gt.nn.Linear(8, 1))
    opt = gt.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for i in range(steps):
        if lrs is not None:
            opt.lr = lrs[i]
        opt.zero_grad()
        loss = gt.nn.MSELoss()(model(X), Y)
        loss.backward()
        opt.step()
        losses.append(loss)
    return [l.item() for l in losses], [p.detach().numpy() for p in model.parameters()]


def test_steady_loop_compiles_each_pattern_once_and_matches_eager(use_worker):
    lrs = [0.05 * 0.97 ** i for i in range(30)]      # a schedule: scalars are graph inputs
    use_worker(batch_size=1)
    ref_losses, ref_params = _train(30, lrs)
    w = use_worker(batch_size=1024, auto_compile=True, threshold=3)
    losses, params = _train(30, lrs)
    stats = w.get_stats()
    hp, comp = stats["hotpath"], stats["compilation"]
    assert hp["hot_paths"] >= 3                      # forward, backward, step
    assert comp["cache_misses"] == hp["hot_paths"]   # one compile per hot pattern, none after
    assert comp["compile_failures"] == 0
    assert stats["operations"]["compiled"] > stats["operations"]["eager"]
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-4, atol=1e-6)
    for p, r in zip(params, ref_params):
        np.testing.assert_allclose(p, r, rtol=1e-4, atol=1e-5)


def test_failing_compile_falls_back_to_eager_once(use_worker, monkeypatch, caplog):
    calls = []

    def broken_compile(gm, inputs):
        calls.append(gm)
        raise RuntimeError("inductor is unhappy")

    monkeypatch.setattr(engine_mod, "_compile_graph", broken_compile)
    gt_logger = logging.getLogger("gt")
    gt_logger.addHandler(caplog.handler)
    try:
        w = use_worker(batch_size=1024, auto_compile=True, threshold=2)
        x = gt.tensor([1.0, 2.0, 3.0])
        for _ in range(8):
            with gt.no_grad():
                y = (x * 2.0 + 1.0).exp()
        np.testing.assert_allclose(y.numpy(), np.exp(np.array([1.0, 2.0, 3.0]) * 2 + 1), rtol=1e-6)
    finally:
        gt_logger.removeHandler(caplog.handler)
    assert len(calls) == 1                          # never retried
    stats = w.get_stats()
    assert stats["compilation"]["compile_failures"] == 1
    assert [p["state"] for p in stats["hotpath"]["top_patterns"] if p["ops"] == 3] == ["failed"]
    assert caplog.text.count("inductor is unhappy") == 1
    assert stats["operations"]["compiled"] == 0
