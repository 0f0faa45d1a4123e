"""gt.autograd: grad (inputs' gradients, as adversarial examples need), backward of several
tensors, custom Functions with a ctx; gt.utils.checkpoint.  Side by side with torch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gt

from devices import DEVICE


def _mlp(fw):
    return fw.nn.Sequential(fw.nn.Linear(4, 8), fw.nn.Tanh(), fw.nn.Linear(8, 3))


def test_input_gradient_for_an_adversarial_example(pair, assert_matches, twins):
    """FGSM: the loss's gradient with respect to the input, then a perturbed input."""
    tm, gm = twins(_mlp)
    gx, tx = pair(np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32), requires_grad=True)
    y = torch.tensor([0, 1, 2, 0, 1])
    tl = torch.nn.functional.cross_entropy(tm(tx), y.to(DEVICE))
    gl = gt.nn.functional.cross_entropy(gm(gx), y)
    (tg,) = torch.autograd.grad(tl, tx)
    (gg,) = gt.autograd.grad(gl, gx)
    assert_matches(gg, tg)
    assert gx.grad is None and all(p.grad is None for p in gm.parameters())   # grad() leaves .grad alone
    assert_matches((gx + 0.1 * gg.sign()).detach(), (tx + 0.1 * tg.sign()).detach())


def test_grad_of_intermediate_tensors_and_several_inputs(pair, assert_matches):
    gx, tx = pair([1.0, -2.0, 3.0], requires_grad=True)
    gw, tw = pair([0.5, 0.5, 2.0], requires_grad=True)
    th, gh = tx * tw, gx * gw
    tout, gout = (th.exp() * tw).sum(), (gh.exp() * gw).sum()
    tgrads = torch.autograd.grad(tout, (th, tx, tw), retain_graph=True)
    ggrads = gt.autograd.grad(gout, (gh, gx, gw), retain_graph=True)
    for g, t in zip(ggrads, tgrads):
        assert_matches(g, t)
    seed_g, seed_t = pair([2.0, 0.0, 1.0])
    assert_matches(gt.autograd.grad(gh, gx, grad_outputs=seed_g, retain_graph=True)[0],
                   torch.autograd.grad(th, tx, grad_outputs=seed_t, retain_graph=True)[0])
    assert_matches(gt.autograd.grad(gh, gx, grad_outputs=seed_t)[0],     # a torch seed is accepted too
                   torch.autograd.grad(th, tx, grad_outputs=seed_t)[0])


def test_grad_unused_inputs_and_errors_as_torch(pair):
    gx, tx = pair([1.0, 2.0], requires_grad=True)
    gu, tu = pair([1.0, 2.0], requires_grad=True)
    for fw, x, u in ((torch, tx, tu), (gt, gx, gu)):
        out = (x * 2).sum()
        with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
            fw.autograd.grad(out, (x, u), retain_graph=True)
        assert fw.autograd.grad(out, (x, u), allow_unused=True, retain_graph=True)[1] is None
        assert fw.autograd.grad(out, (x, u), materialize_grads=True, retain_graph=True)[1].tolist() == [0.0, 0.0]
        fw.autograd.grad(out, x)
        with pytest.raises(RuntimeError, match="second time"):
            fw.autograd.grad(out, x)
        with pytest.raises(RuntimeError, match="does not require grad"):
            fw.autograd.grad(out.detach() * 1, x)


def test_backward_of_several_tensors_accumulates(pair, assert_matches):
    gx, tx = pair([1.0, 2.0, 3.0], requires_grad=True)
    torch.autograd.backward([(tx * tx).sum(), tx * 3], [None, torch.ones(3, device=DEVICE)])
    gt.autograd.backward([(gx * gx).sum(), gx * 3], [None, gt.ones(3)])
    assert_matches(gx.grad, tx.grad)


class _TorchCube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(x)
        ctx.k = k
        return x ** 3 * k, (x > 0)

    @staticmethod
    def backward(ctx, g, _mask_grad):
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2 * ctx.k, None


class _GtCube(gt.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(x)
        ctx.k = k
        out, mask = x ** 3 * k, (x > 0)
        ctx.mark_non_differentiable(mask)
        return out, mask

    @staticmethod
    def backward(ctx, g, _mask_grad):
        assert ctx.needs_input_grad == (True, False)
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2 * ctx.k, None


def test_custom_function_with_ctx(pair, assert_matches):
    gx, tx = pair([1.0, -2.0, 0.5], requires_grad=True)
    tout, tmask = _TorchCube.apply(tx, 2.0)
    gout, gmask = _GtCube.apply(gx, 2.0)
    assert_matches(gout, tout.detach())
    assert not gmask.requires_grad and gmask.tolist() == tmask.tolist()
    assert type(tout.grad_fn).__name__ == "_TorchCubeBackward" and "grad_fn=<_GtCubeBackward>" in repr(gout)
    tout.sum().backward()
    gout.sum().backward()
    assert_matches(gx.grad, tx.grad)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        class Bad(gt.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g, g
        Bad.apply(gx).sum().backward()


def test_custom_function_with_setup_context_and_no_grad_inputs(pair, assert_matches):
    class Scale(gt.autograd.Function):
        @staticmethod
        def forward(x):
            return x * 4

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.factor = 4

        @staticmethod
        def backward(ctx, g):
            return g * ctx.factor

    gx, tx = pair([1.0, 2.0], requires_grad=True)
    out = Scale.apply(gx)
    out.sum().backward()
    assert gx.grad.tolist() == [4.0, 4.0]
    plain = Scale.apply(gt.ones(2))
    assert not plain.requires_grad and plain.tolist() == [4.0, 4.0]


def test_anomaly_detection_and_variable_accepted(pair):
    gt.autograd.set_detect_anomaly(True)
    with gt.autograd.detect_anomaly():
        gx = gt.autograd.Variable(gt.ones(2), requires_grad=True)
        (gx * 2).sum().backward()
    assert gx.grad.tolist() == [2.0, 2.0]


def test_checkpoint_runs_the_function_with_the_same_gradients(pair, assert_matches, twins):
    tm, gm = twins(_mlp, 1)
    gx, tx = pair(np.ones((2, 4), dtype=np.float32), requires_grad=True)
    tout = torch.utils.checkpoint.checkpoint(tm, tx, use_reentrant=False)
    gout = gt.utils.checkpoint.checkpoint(gm, gx, use_reentrant=False)
    assert_matches(gout, tout.detach())
    tout.sum().backward()
    gout.sum().backward()
    assert_matches(gx.grad, tx.grad)
    assert_matches(gt.utils.checkpoint.checkpoint_sequential(gm, 2, gx),
                   torch.utils.checkpoint.checkpoint_sequential(tm, 2, tx, use_reentrant=False).detach())


@pytest.mark.parametrize("fn", [
    lambda fw, x, w: (x ** 3).sum() + (w * x).mean(),                 # broadcasting: sum_to recorded
    lambda fw, x, w: (x.exp() * x.sin()).sum(),                         # exp's formula reads its result
    lambda fw, x, w: ((x.unsqueeze(1) @ x.unsqueeze(0)) ** 2).sum() + x.sqrt().sum(),  # matmul, views
    lambda fw, x, w: (x / (1 + x * x)).sum() + x.log().mean()])
def test_double_backward_of_formulas_in_gt_terms(fn, pair, assert_matches):
    gx, tx = pair([1.0, 2.0, 0.5], requires_grad=True)
    gw, tw = pair([[1.0], [2.0]], requires_grad=True)
    (tg,) = torch.autograd.grad(fn(torch, tx, tw), tx, create_graph=True)
    (gg,) = gt.autograd.grad(fn(gt, gx, gw), gx, create_graph=True)
    assert_matches(gg.detach(), tg.detach())
    assert gg.requires_grad and gg.grad_fn is not None
    (tg * tg).sum().backward()
    (gg * gg).sum().backward()
    assert_matches(gx.grad, tx.grad)
    assert (gw.grad is None) == (tw.grad is None)
    if tw.grad is not None:
        assert_matches(gw.grad, tw.grad)


def test_backward_create_graph_keeps_the_gradients_graph(pair, assert_matches):
    gx, tx = pair([0.5, -1.5], requires_grad=True)
    for x in (tx, gx):
        (x ** 4).sum().backward(create_graph=True)
        g = x.grad
        x.grad = None
        g.sum().backward()
    assert_matches(gx.grad, tx.grad)


def test_double_backward_through_a_fused_kernel_says_so(pair):
    gx, _ = pair([0.5, -1.5], requires_grad=True)
    (g,) = gt.autograd.grad(gx.relu().sum() * 2, gx, create_graph=True)
    with pytest.raises(NotImplementedError, match="GT does not support double backward .* threshold_backward"):
        g.sum().backward()
