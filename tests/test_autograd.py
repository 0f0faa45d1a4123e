"""Gradients of every differentiable op, and backward()'s rules, checked against torch."""
from __future__ import annotations

import operator
import threading

import numpy as np
import pytest
import torch

import gt

from devices import twin


def _weights(rng, shape):
    """Random upstream weights, so that a wrong gradient cannot hide behind a plain sum."""
    return rng.standard_normal(shape).astype(np.float32)


def _check_grads(fn, arrays, rng, pair, assert_matches, grad_inputs=None):
    """Run ``(fn(*inputs) * w).sum().backward()`` in both frameworks; compare outputs and grads."""
    grad_inputs = range(len(arrays)) if grad_inputs is None else grad_inputs
    gs, ts = [], []
    for i, a in enumerate(arrays):
        g, t = pair(a, requires_grad=i in grad_inputs)
        gs.append(g)
        ts.append(t)
    gout, tout = fn(*gs), fn(*ts)
    assert_matches(gout, tout)
    assert gout.requires_grad
    w = _weights(rng, tuple(tout.shape))
    (gout * gt.from_numpy(w)).sum().backward()
    (tout * twin(w)).sum().backward()
    for i, (g, t) in enumerate(zip(gs, ts)):
        if i in grad_inputs:
            assert g.grad is not None, f"input {i} got no gradient"
            assert_matches(g.grad, t.grad, rtol=1e-4, atol=1e-5)
        else:
            assert g.grad is None


# -- elementwise ------------------------------------------------------------------------------
UNARY = {
    "exp": lambda x: x.exp(),
    "log": lambda x: x.log(),
    "sqrt": lambda x: x.sqrt(),
    "abs": lambda x: x.abs(),
    "relu": lambda x: x.relu(),
    "sigmoid": lambda x: x.sigmoid(),
    "tanh": lambda x: x.tanh(),
    "neg": lambda x: -x,
    "gt.exp": lambda x: (gt if isinstance(x, gt.Tensor) else torch).exp(x),
    "gt.relu": lambda x: (gt if isinstance(x, gt.Tensor) else torch).relu(x),
}


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_gradients_match_torch(name, rng, pair, assert_matches):
    if name in ("log", "sqrt"):
        a = rng.uniform(0.2, 3.0, (3, 4)).astype(np.float32)
    else:  # keep away from 0, where abs and relu have no derivative
        a = rng.uniform(0.2, 2.0, (3, 4)).astype(np.float32) * rng.choice([-1, 1], (3, 4)).astype(np.float32)
    _check_grads(UNARY[name], [a], rng, pair, assert_matches)


BROADCAST_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 1), (1, 4)),
    ((4,), (3, 4)),
    ((3, 4), (4,)),
    ((2, 3, 4), (3, 1)),
    ((), (3, 4)),
    ((1, 4), (2, 3, 1)),
]
BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
          "pow": operator.pow}


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize("sa, sb", BROADCAST_SHAPES)
def test_binary_gradients_reduce_over_broadcast_dims(op, sa, sb, rng, pair, assert_matches):
    a = rng.uniform(0.5, 2.0, sa).astype(np.float32)
    b = rng.uniform(0.5, 2.0, sb).astype(np.float32)
    _check_grads(BINARY[op], [a, b], rng, pair, assert_matches)


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize("which", [0, 1])
def test_binary_gradient_when_only_one_input_requires_grad(op, which, rng, pair, assert_matches):
    a = rng.uniform(0.5, 2.0, (3, 1)).astype(np.float32)
    b = rng.uniform(0.5, 2.0, (4,)).astype(np.float32)
    _check_grads(BINARY[op], [a, b], rng, pair, assert_matches, grad_inputs=(which,))


@pytest.mark.parametrize("name, fn", [
    ("x + 2", lambda x: x + 2),
    ("2 + x", lambda x: 2 + x),
    ("x - 1.5", lambda x: x - 1.5),
    ("2 - x", lambda x: 2 - x),
    ("x * 3", lambda x: x * 3),
    ("0.5 * x", lambda x: 0.5 * x),
    ("x / 3", lambda x: x / 3),
    ("3 / x", lambda x: 3 / x),
    ("x ** 3", lambda x: x ** 3),
    ("x ** 0.5", lambda x: x ** 0.5),
    ("x ** -2", lambda x: x ** -2),
    ("x ** 0", lambda x: x ** 0),
    ("x ** 1", lambda x: x ** 1),
    ("2 ** x", lambda x: 2 ** x),
    ("1.5 ** x", lambda x: 1.5 ** x),
    ("np.float32(2.0) * x", lambda x: np.float32(2.0) * x),
    ("np.float32(2.0) - x", lambda x: np.float32(2.0) - x),
    ("x.pow(2)", lambda x: x.pow(2)),
])
def test_scalar_op_gradients_match_torch(name, fn, rng, pair, assert_matches):
    _check_grads(fn, [rng.uniform(0.5, 2.0, (3, 4)).astype(np.float32)], rng, pair, assert_matches)


def test_pow_with_tensor_exponent_gradient(rng, pair, assert_matches):
    base = rng.uniform(0.5, 2.0, (3, 4)).astype(np.float32)
    expo = rng.uniform(-1.5, 2.5, (3, 4)).astype(np.float32)
    _check_grads(lambda a, b: a ** b, [base, expo], rng, pair, assert_matches)


def test_float64_gradients(rng, pair, assert_matches):
    a, b = rng.uniform(0.5, 2.0, (3, 4)), rng.uniform(0.5, 2.0, (4, 2))
    _check_grads(lambda x, y: (x.exp() @ y).tanh() / y.sum(), [a, b], rng, pair, assert_matches)


# -- matmul -------------------------------------------------------------------------------------
@pytest.mark.parametrize("sa, sb", [
    ((3, 4), (4, 5)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((4,), (2, 4, 5)),
    ((2, 3, 4), (4,)),
])
def test_matmul_gradients_match_torch(sa, sb, rng, pair, assert_matches):
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    _check_grads(operator.matmul, [a, b], rng, pair, assert_matches)


@pytest.mark.parametrize("which", [0, 1])
def test_matmul_gradient_with_one_constant_operand(which, rng, pair, assert_matches):
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 5)).astype(np.float32)
    _check_grads(operator.matmul, [a, b], rng, pair, assert_matches, grad_inputs=(which,))


# -- reductions -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("kw", [
    {},
    {"dim": 0},
    {"dim": -1},
    {"dim": 1, "keepdim": True},
    {"dim": (0, 2)},
    {"dim": (0, 1), "keepdim": True},
    {"axis": 2, "keepdims": True},
])
def test_sum_and_mean_gradients(name, kw, rng, pair, assert_matches):
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    _check_grads(lambda x: getattr(x, name)(**kw), [a], rng, pair, assert_matches)


def test_max_over_all_gradient(rng, pair, assert_matches):
    _check_grads(lambda x: x.max(), [rng.standard_normal((3, 4)).astype(np.float32)], rng, pair,
                 assert_matches)


def test_max_over_all_gradient_splits_between_ties(pair, assert_matches):
    g, t = pair(np.array([1.0, 3.0, 3.0, 2.0], dtype=np.float32), requires_grad=True)
    (g.max() * 2).backward()
    (t.max() * 2).backward()
    assert_matches(g.grad, t.grad)


@pytest.mark.parametrize("kw", [{"dim": 0}, {"dim": 1}, {"dim": -1, "keepdim": True}, {"dim": 0, "keepdim": True}])
def test_max_over_dim_gradient(kw, rng, pair, assert_matches):
    a = rng.standard_normal((4, 5)).astype(np.float32)
    _check_grads(lambda x: x.max(**kw).values, [a], rng, pair, assert_matches)


def test_max_over_dim_values_in_a_bigger_graph(rng, pair, assert_matches):
    a = rng.standard_normal((3, 4, 5)).astype(np.float32)
    _check_grads(lambda x: x.max(1)[0].exp() + x.mean(1), [a], rng, pair, assert_matches)


# -- shapes and indexing --------------------------------------------------------------------------
@pytest.mark.parametrize("name, fn", [
    ("reshape", lambda x: x.reshape(4, -1)),
    ("view", lambda x: x.view(-1)),
    ("permute", lambda x: x.permute(2, 0, 1)),
    ("transpose", lambda x: x.transpose(0, 2)),
    ("T of a matrix", lambda x: x[0].T),
    ("expand", lambda x: x[:, :1, :].expand(2, 3, 4)),
    ("expand new dims", lambda x: x.expand(5, 2, 3, 4)),
    ("unsqueeze", lambda x: x.unsqueeze(1)),
    ("squeeze", lambda x: x[:, :1].squeeze(1)),
    ("flatten", lambda x: x.flatten(1)),
    ("double", lambda x: x.double() * 2),
])
def test_shape_op_gradients(name, fn, rng, pair, assert_matches):
    _check_grads(fn, [rng.standard_normal((2, 3, 4)).astype(np.float32)], rng, pair, assert_matches)


@pytest.mark.parametrize("name, key", [
    ("x[1]", 1),
    ("x[-1]", -1),
    ("x[:4, :4]", (slice(None, 4), slice(None, 4))),
    ("x[1:3, None]", (slice(1, 3), None)),
    ("x[..., 0]", (Ellipsis, 0)),
    ("x[::2, 1:5:2]", (slice(None, None, 2), slice(1, 5, 2))),
    ("x[2, 3]", (2, 3)),
])
def test_indexing_gradients(name, key, rng, pair, assert_matches):
    _check_grads(lambda x: x[key], [rng.standard_normal((5, 6)).astype(np.float32)], rng, pair, assert_matches)


def test_overlapping_slices_accumulate(rng, pair, assert_matches):
    a = rng.standard_normal((6, 3)).astype(np.float32)
    _check_grads(lambda x: x[:4] * x[2:], [a], rng, pair, assert_matches)


# -- graphs ---------------------------------------------------------------------------------------
def test_a_tensor_used_several_times_accumulates(rng, pair, assert_matches):
    a = rng.uniform(0.5, 2.0, (3, 4)).astype(np.float32)
    _check_grads(lambda x: x * x + x.exp() * x - x / (x + 1), [a], rng, pair, assert_matches)


def test_two_layer_network_gradients(rng, pair, assert_matches):
    arrays = [rng.standard_normal(s).astype(np.float32) for s in [(8, 3), (3, 5), (5,), (5, 2), (2,)]]
    _check_grads(lambda x, w1, b1, w2, b2: ((x @ w1 + b1).relu() @ w2 + b2).sigmoid(), arrays, rng, pair,
                 assert_matches, grad_inputs=(1, 2, 3, 4))


def test_inplace_on_non_leaf_keeps_the_gradient_right(rng, pair, assert_matches):
    def fn(x):
        y = x * 2
        y += 1
        y *= x
        y -= x.exp()
        y /= 3
        return y
    _check_grads(fn, [rng.standard_normal((3, 4)).astype(np.float32)], rng, pair, assert_matches)


def test_inplace_non_leaf_plus_itself(rng, pair, assert_matches):
    def fn(x):
        y = x * x
        y += y
        return y
    _check_grads(fn, [rng.standard_normal((3, 4)).astype(np.float32)], rng, pair, assert_matches)


@pytest.mark.parametrize("write,label", [(lambda y: y.zero_(), "ZeroBackward0"),
                                         (lambda y: y.fill_(2.5), "FillBackward2")])
def test_zero_and_fill_on_a_non_leaf_keep_the_graph_with_zero_gradients(rng, pair, assert_matches, write, label):
    """torch keeps a zeroed or filled tensor in the graph: the inputs behind its old value get a zero
    gradient (not None, which an optimizer with momentum or weight decay treats otherwise)."""
    a, b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    (gx, tx), (gw, tw) = pair(a, requires_grad=True), pair(b, requires_grad=True)
    for x, w in ((gx, gw), (tx, tw)):
        y = x * 2
        write(y)
        assert y.requires_grad
        ((y + w * w) * 3).sum().backward()
    assert f"grad_fn=<{label}>" in repr(_written(gx, write))
    assert_matches(gx.grad, tx.grad)
    assert_matches(gw.grad, tw.grad)
    assert not np.any(gx.grad.numpy())


def _written(x, write):
    y = x * 2
    write(y)
    return y


def _same_graph(build, arrays, grads_for, rng, pair, assert_matches):
    """``build(lib, *inputs)`` in GT and torch: the same value, requires_grad and grad_fn label; then
    the same gradient (or None) for every input, through a weighted sum that also reaches ``w``, an
    extra input requiring grad, so backward runs even where the result does not require grad."""
    pairs = [pair(a, requires_grad=i in grads_for) for i, a in enumerate(arrays)]
    gins, tins = [p[0] for p in pairs], [p[1] for p in pairs]
    gw, tw = pair(_weights(rng, ()), requires_grad=True)
    out = {lib: (build(lib, *ins), w) for lib, ins, w in ((gt, gins, gw), (torch, tins, tw))}
    gy, ty = out[gt][0], out[torch][0]
    assert_matches(gy.detach(), ty.detach())
    assert gy.requires_grad == ty.requires_grad
    assert (gy.grad_fn is None) == (ty.grad_fn is None)
    if ty.grad_fn is not None:
        label = type(ty.grad_fn).__name__
        assert type(gy.grad_fn).__name__ == label and f"grad_fn=<{label}>" in repr(gy), (label, repr(gy))
        assert gy.grad_fn.name() == ty.grad_fn.name()
    weights = _weights(rng, tuple(ty.shape))
    for (y, w), wt in ((out[gt], gt.from_numpy(weights)), (out[torch], twin(weights))):
        ((y.to(w.dtype) * wt).sum() * w).backward()
    for i, (g, t) in enumerate(zip(gins, tins)):
        assert (g.grad is None) == (t.grad is None), f"input {i}: {g.grad} vs {t.grad}"
        if t.grad is not None:
            assert_matches(g.grad, t.grad)


def _copied(lib, x, src):
    y = x * 2
    y.copy_(src)
    return y


@pytest.mark.parametrize("x_grad,src_grad", [(True, False), (False, True), (True, True)])
@pytest.mark.parametrize("src_shape,src_dtype", [((3, 4), np.float32), ((4,), np.float32), ((1, 4), np.float64)])
def test_copy_into_a_non_leaf_keeps_the_graph_as_torchs_CopyBackwards(rng, pair, assert_matches, x_grad, src_grad,
                                                                     src_shape, src_dtype):
    """y.copy_(src): the inputs behind y's old value get zero gradients (not None), src the gradient
    summed over its broadcast and cast to its dtype; y requires grad if either side does."""
    arrays = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(src_shape).astype(src_dtype)]
    grads_for = [i for i, on in enumerate((x_grad, src_grad)) if on]
    _same_graph(_copied, arrays, grads_for, rng, pair, assert_matches)


@pytest.mark.parametrize("write", [
    lambda y, v: y.t().copy_(v.t()), lambda y, v: y.t().add_(v.t()), lambda y, v: y.permute(1, 0).mul_(v.t()),
    lambda y, v: y.view(12).mul_(v.view(12)), lambda y, v: y.reshape(2, 6).copy_(v.reshape(2, 6)),
    lambda y, v: y[0].mul_(v[0]), lambda y, v: y[:, 1:].copy_(v[:, 1:]),
], ids=["t_copy_", "t_add_", "permute_mul_", "view_mul_", "reshape_copy_", "row_mul_", "slice_copy_"])
@pytest.mark.parametrize("x_grad,v_grad", [(True, False), (False, True), (True, True)])
def test_writes_through_a_view_are_torchs_CopySlices(rng, pair, assert_matches, write, x_grad, v_grad):
    def build(lib, x, v):
        y = x * 2
        write(y, v)
        return y
    arrays = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)]
    _same_graph(build, arrays, [i for i, on in enumerate((x_grad, v_grad)) if on], rng, pair, assert_matches)


def test_copy_into_a_leaf_under_no_grad_keeps_it_a_leaf(rng, pair, assert_matches):
    def build(lib, x, src):
        with lib.no_grad():
            x.copy_(src)
        return x * 3
    arrays = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((4,)).astype(np.float32)]
    _same_graph(build, arrays, [0, 1], rng, pair, assert_matches)


@pytest.mark.parametrize("x_grad,v_grad", [(True, False), (False, True), (True, True)])
def test_fill_with_a_0d_tensor_is_torchs_FillBackward3(rng, pair, assert_matches, x_grad, v_grad):
    def build(lib, x, v):
        y = x * 2
        y.fill_(v.sum())
        return y
    arrays = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((2,)).astype(np.float32)]
    _same_graph(build, arrays, [i for i, on in enumerate((x_grad, v_grad)) if on], rng, pair, assert_matches)
    with pytest.raises(RuntimeError, match="fill_ only supports 0-dimension value tensor but got tensor with 1 "):
        gt.ones(3, 2).fill_(gt.ones(2))


# Values on the bounds, and bounds crossing (min > max), where torch's rules pick a side.
_CLAMP_X = [[-2.0, -1.0, 0.0, 0.5], [1.0, 1.0, 2.0, 3.0], [0.0, -1.0, 1.0, 2.0]]
_CLAMP_LO = [[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
_CLAMP_HI = [[1.0, -1.0, 0.0, 1.0], [1.0, 1.0, 2.0, 2.0], [0.0, 0.0, 0.0, 0.0]]


@pytest.mark.parametrize("build", [
    lambda lib, x, lo, hi: x.clamp_min(0.0),
    lambda lib, x, lo, hi: lib.clamp_min(x, 1),
    lambda lib, x, lo, hi: x.clamp_max(1.0),
    lambda lib, x, lo, hi: lib.clamp_max(x, 0.0),
    lambda lib, x, lo, hi: (x * 1).clamp_min_(0.0),
    lambda lib, x, lo, hi: (x * 1).clamp_max_(1.0),
    lambda lib, x, lo, hi: lib.clamp(x, min=0.0),
    lambda lib, x, lo, hi: x.clamp(max=1.0),
    lambda lib, x, lo, hi: lib.clamp(x, 0.0, 1.0),
    lambda lib, x, lo, hi: x.clamp_min(lo),
    lambda lib, x, lo, hi: lib.clamp_max(x, hi),
    lambda lib, x, lo, hi: lib.clamp(x, lo, hi),
    lambda lib, x, lo, hi: lib.clamp(x, min=lo),
    lambda lib, x, lo, hi: x.clamp(max=hi),
], ids=["clamp_min", "fn_clamp_min_int", "clamp_max", "fn_clamp_max", "clamp_min_", "clamp_max_", "clamp_min_kw",
        "clamp_max_kw", "clamp_both", "clamp_min_tensor", "clamp_max_tensor", "clamp_tensors", "clamp_min_kw_tensor",
        "clamp_max_kw_tensor"])
def test_clamp_forms_have_torchs_grad_fn_and_gradients_on_the_bounds(rng, pair, assert_matches, build):
    arrays = [np.array(a, np.float32) for a in (_CLAMP_X, _CLAMP_LO, _CLAMP_HI)]
    _same_graph(build, arrays, [0, 1, 2], rng, pair, assert_matches)


@pytest.mark.parametrize("key", [
    lambda i: 1, lambda i: (slice(None), 1), lambda i: (slice(1, None),), lambda i: None,
    lambda i: slice(None), lambda i: Ellipsis, lambda i: (slice(None), slice(0, 4)),
    lambda i: i, lambda i: (slice(None), i), lambda i: (0, i), lambda i: (i, slice(1, None)),
], ids=["int", "col", "slice", "none", "all", "ellipsis", "all_slices", "idx", "col_idx", "int_idx", "idx_slice"])
@pytest.mark.parametrize("value", ["number", "0d", "tensor"])
def test_writes_through_an_index_have_torchs_grad_fn(rng, pair, assert_matches, key, value):
    """x[key] = v on a non-leaf: CopySlices where the key's basic part is a view, IndexPutBackward0
    for index tensors alone, FillBackward3/CopyBackwards for the whole tensor, as torch names them."""
    def build(lib, x, v, i):
        y = x * 2
        k = key(i)
        y[k] = 2.5 if value == "number" else v.sum() if value == "0d" else v.expand(y[k].shape) * 1
        return y
    arrays = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(()).astype(np.float32),
              np.array([0, 2])]
    _same_graph(build, arrays, [0, 1], rng, pair, assert_matches)


@pytest.mark.parametrize("value", ["number", "0d"])
def test_a_write_over_a_0d_tensor_copies_as_torch(rng, pair, assert_matches, value):
    """x[...] = v over a 0-d x copies (CopyBackwards) even for a number: the sizes are equal."""
    def build(lib, x, v):
        y = x * 2
        y[...] = 2.5 if value == "number" else v * 3
        return y
    arrays = [rng.standard_normal(()).astype(np.float32), rng.standard_normal(()).astype(np.float32)]
    _same_graph(build, arrays, [0, 1], rng, pair, assert_matches)


@pytest.mark.parametrize("key", [lambda i: 0, lambda i: (slice(None),), lambda i: Ellipsis, lambda i: i,
                                 lambda i: (slice(None), i), lambda i: (0, i)],
                         ids=["int", "all", "ellipsis", "idx", "col_idx", "int_idx"])
def test_a_write_into_a_leaf_that_requires_grad_is_refused_as_torch(pair, key):
    """torch names the view it writes into (an int or a slice of the key) in the message."""
    (gx, tx), (gi, ti) = pair(np.ones((3, 4), np.float32), requires_grad=True), pair(np.array([0, 2]))
    with pytest.raises(RuntimeError) as want:
        tx[key(ti)] = 1.0
    with pytest.raises(RuntimeError) as got:
        gx[key(gi)] = 1.0
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("build", [
    lambda lib, x: x.t(), lambda lib, x: x.split(2, 1)[1], lambda lib, x: lib.split(x, [1, 3], 1)[0],
    lambda lib, x: x.chunk(2, 1)[1], lambda lib, x: x.unbind(1)[2], lambda lib, x: x.masked_select(x > 0),
], ids=["t", "split", "split_with_sizes", "chunk", "unbind", "masked_select"])
def test_view_splits_have_torchs_grad_fn(rng, pair, assert_matches, build):
    _same_graph(build, [rng.standard_normal((3, 4)).astype(np.float32)], [0], rng, pair, assert_matches)


def test_grad_fn_is_a_node_of_torchs_class_name(pair):
    """type(t.grad_fn).__name__ and name() as torch's; the same node compares equal; what GT's node
    lacks says so."""
    nodes = []
    for x in pair(np.ones((3, 4), np.float32), requires_grad=True):
        y = x * 2
        assert y.grad_fn == y.grad_fn and hash(y.grad_fn) == hash(y.grad_fn) and y.grad_fn != (x * 2).grad_fn
        y.copy_(x + 1)
        nodes.append((type((x * 2).grad_fn).__name__, y.grad_fn.name(), repr(y.grad_fn).split(" object")[0]))
    assert nodes[0] == nodes[1] == ("MulBackward0", "torch::autograd::CopyBackwards", "<CopyBackwards")
    with pytest.raises(AttributeError, match="GT does not support torch.autograd.graph.Node.next_functions yet"):
        y = pair(np.ones(2, np.float32), requires_grad=True)[0] * 2
        y.grad_fn.next_functions


# -- backward() ---------------------------------------------------------------------------------
def test_gradients_accumulate_across_two_backward_calls(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    for x in (g, t):
        (x * x).sum().backward()
        (x.exp()).mean().backward()
    assert_matches(g.grad, t.grad)


def test_gradients_accumulate_in_place_into_the_grad_tensor(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    kept = []
    for x in (g, t):
        (x * 2).sum().backward()
        x.grad.add_(1.0)
        kept.append(x.grad)        # the same tensor object receives the next backward's sum
        (x * x).sum().backward()
    assert kept[0] is g.grad and kept[1] is t.grad
    assert_matches(kept[0], kept[1])


def test_no_grad_in_one_thread_leaves_another_threads_recording(rng):
    """Grad mode is per thread, as in torch: a thread inside no_grad (an optimizer step)
    must not stop another thread's forward from recording its graph."""
    x = gt.from_numpy(rng.standard_normal(4).astype(np.float32)).requires_grad_(True)
    inside, done, seen = threading.Event(), threading.Event(), {}

    def optimizer_thread():
        with gt.no_grad():
            inside.set()
            done.wait(30)
            seen["own"] = gt.is_grad_enabled()

    t = threading.Thread(target=optimizer_thread)
    t.start()
    try:
        assert inside.wait(30)
        y = (x * x).sum()
        seen["requires_grad"] = y.requires_grad
        y.backward()
    finally:
        done.set()
        t.join(30)
    assert seen == {"requires_grad": True, "own": False}
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy(), rtol=1e-6)


def test_grad_accumulates_then_resets_with_none(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal(5).astype(np.float32), requires_grad=True)
    for x in (g, t):
        (x * 3).sum().backward()
        x.grad = None
        (x * x).sum().backward()
    assert_matches(g.grad, t.grad)


def test_backward_on_non_scalar_without_gradient_raises(rng, pair):
    g, t = pair(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    with pytest.raises(RuntimeError):
        (t * 2).backward()
    with pytest.raises(RuntimeError, match="scalar"):
        (g * 2).backward()
    assert g.grad is None


def test_backward_with_explicit_gradient(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    w = rng.standard_normal((2, 3)).astype(np.float32)
    (g * g).backward(gt.from_numpy(w))
    (t * t).backward(twin(w))
    assert_matches(g.grad, t.grad)


def test_backward_on_a_leaf(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal(()).astype(np.float32), requires_grad=True)
    g.backward()
    t.backward()
    assert_matches(g.grad, t.grad)


def test_backward_on_a_tensor_that_does_not_require_grad_raises(rng, pair):
    g, t = pair(rng.standard_normal(3).astype(np.float32))
    with pytest.raises(RuntimeError):
        t.sum().backward()
    with pytest.raises(RuntimeError):
        g.sum().backward()


def test_no_grad_stops_recording(rng, pair):
    g, t = pair(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    with gt.no_grad():
        y = (g * 2).exp().sum()
    with torch.no_grad():
        ty = (t * 2).exp().sum()
    assert y.requires_grad is ty.requires_grad is False
    assert y.grad_fn is None
    with pytest.raises(RuntimeError):
        y.backward()
    assert g.grad is None


def test_no_grad_part_of_graph_is_constant(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    for x, mod in ((g, gt), (t, torch)):
        with mod.no_grad():
            c = x * 3
        (c * x).sum().backward()
    assert_matches(g.grad, t.grad)


def test_inplace_on_a_leaf_that_requires_grad_raises(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    with pytest.raises(RuntimeError):
        t += 1
    with pytest.raises(RuntimeError, match="leaf"):
        g += 1
    with pytest.raises(RuntimeError):
        g.mul_(2)
    assert_matches(g.detach(), t.detach())  # unchanged by the failed attempts
    assert g.requires_grad and g.is_leaf


def test_inplace_on_a_leaf_is_allowed_under_no_grad(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    for x, mod in ((g, gt), (t, torch)):
        with mod.no_grad():
            x -= 0.5
            x *= 2
    assert g.requires_grad and g.is_leaf
    assert_matches(g.detach(), t.detach())
    (g * g).sum().backward()
    (t * t).sum().backward()
    assert_matches(g.grad, t.grad)


def test_detach_stops_gradients(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    for x in (g, t):
        (x.detach() * x + x.detach().exp()).sum().backward()
    assert_matches(g.grad, t.grad)


def test_detach_in_place_makes_a_leaf_and_earlier_nodes_keep_its_history(rng, pair, assert_matches):
    """y.detach_(): y is a leaf without grad from now on; a node made from y before still sends
    its gradient through y's old history (torch's nodes keep their edges)."""
    (g, t), (gw, tw) = (pair(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True) for _ in range(2))
    for x, w in ((g, gw), (t, tw)):
        y = x * 2
        z = y * 3 + w   # torch refuses a backward through a node that saved y: this one saves nothing
        assert y.detach_() is y
        assert not y.requires_grad and y.is_leaf and y.grad_fn is None
        (z.sum() + (y * w).sum()).backward()
        assert y.grad is None
    assert_matches(g.grad, t.grad)
    assert_matches(gw.grad, tw.grad)


@pytest.mark.parametrize("view", [lambda x: x[0], lambda x: x.view(12), lambda x: x.t()])
def test_detach_in_place_refuses_a_view_as_torch(view, pair):
    for lib, x in zip((gt, torch), pair(np.ones((3, 4), np.float32))):
        with pytest.raises(RuntimeError, match="Can't detach views in-place. Use detach\\(\\) instead."):
            view(x).detach_()
        y = x.detach()
        assert y.detach_() is y and not y.requires_grad


def test_requires_grad_false_on_a_non_leaf_is_refused_as_torch(pair):
    for x in pair(np.ones(3, np.float32), requires_grad=True):
        with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf variables. If you want to "
                                               "use a computed variable .* use var_no_grad = var.detach()"):
            (x * 2).requires_grad_(False)
        assert not (x * 2).requires_grad_(True).is_leaf


def test_leaf_not_in_graph_gets_no_grad(rng, pair):
    (g, _), (h, _) = pair(rng.standard_normal(3).astype(np.float32), requires_grad=True), \
        pair(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    (g * 2).sum().backward()
    assert h.grad is None


def test_grad_has_leaf_shape_and_dtype(rng, pair):
    g, _ = pair(rng.standard_normal((3, 1)), requires_grad=True)  # float64
    (g * gt.ones(3, 4, dtype=gt.float64)).sum().backward()
    assert g.grad.shape == (3, 1)
    assert g.grad.dtype == gt.float64
    np.testing.assert_allclose(g.grad.numpy(), np.full((3, 1), 4.0))


def test_result_of_op_with_grad_input_is_not_a_leaf(rng, pair):
    g, t = pair(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    y, ty = g * 2, t * 2
    assert y.is_leaf is ty.is_leaf is False
    assert y.grad_fn is not None
    assert g.is_leaf and g.grad_fn is None


def test_backward_accepts_retain_graph(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    for x in (g, t):
        loss = (x.exp() * x).sum()
        loss.backward(retain_graph=True)
        loss.backward()
    assert_matches(g.grad, t.grad)


def test_add_and_sub_with_alpha_and_their_gradients(rng, pair, assert_matches):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4,)).astype(np.float32)
    _check_grads(lambda x, y: x.add(y, alpha=2.5) * x.sub(y, alpha=0.5), [a, b], rng, pair, assert_matches)


def test_second_backward_without_retain_graph_raises_like_torch(rng):
    a = rng.standard_normal(3).astype(np.float32)
    for lib in (torch, gt):
        x = lib.tensor(a, requires_grad=True)
        loss = (x * x).exp().sum()
        loss.backward()
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            loss.backward()


def test_backward_frees_saved_activations_on_the_worker(rng):
    worker = gt.debug.get_worker()
    x = gt.tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    before = len(worker.tensors)
    loss = x.exp().tanh().sigmoid().sum()          # each op saves its output for backward
    loss.backward()
    x.grad = None
    # only x, the loss itself and nothing the graph saved remain
    assert len(worker.tensors) == before + 1


def test_in_place_writes_on_a_tensor_used_earlier_keep_its_old_value_and_history(rng):
    """Nodes made before an in-place write read the value (and grad_fn) the tensor had then."""
    a = rng.standard_normal((5, 2))
    grads = []
    for lib in (torch, gt):
        x = lib.tensor(a, requires_grad=True)
        h = x * 1.0
        y, z = h * 3, h.exp()
        h[lib.tensor([3, 1, 3])] = h[lib.tensor([3, 1, 3])] * 2.0
        h.add_(1.0)
        h[h > 1.5] = 0.0
        (h.sum() + y.sum() + z.sum() + h.pow(2).sum()).backward()
        grads.append(np.asarray(x.grad.tolist()))
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)


def test_leaves_sharing_one_gradient_get_handles_of_their_own():
    a = gt.ones(3, requires_grad=True)
    b = gt.ones(3, requires_grad=True)
    (a + b).sum().backward()
    assert a.grad is not b.grad
    with gt.no_grad():
        a.grad.mul_(3)
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0, 1.0])
