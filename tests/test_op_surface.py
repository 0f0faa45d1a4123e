"""torch's other names for GT's ops (gt/ops/aliases.py) and the forms of ops beyond one signature
(tensor repeats, ``sorter=``, the real-valued ``gt.fft`` functions), side by side with torch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gt
from gt.client import surface
from gt.ops.aliases import ALIASES

from devices import DEVICE, twin


def _lookup(lib, name: str):
    namespace, _, short = name.rpartition(".")
    return getattr(getattr(lib, namespace) if namespace else lib, short)


def _same(g, t, rtol=1e-10, atol=1e-12):
    assert isinstance(g, gt.Tensor), type(g)
    assert tuple(g.shape) == tuple(t.shape) and g.dtype == t.dtype, (g.shape, g.dtype, t.shape, t.dtype)
    np.testing.assert_allclose(g.detach().numpy(), t.detach().cpu().numpy(), rtol=rtol, atol=atol, equal_nan=True)


# The arguments each alias is called with (``x``, ``y``: 3x3 float64 tensors; ``a``: positive definite).
_ARGS = {"arctan2": "xy", "divide": "xy", "true_divide": "xy", "multiply": "xy", "subtract": "xy",
         "greater": "xy", "greater_equal": "xy", "less": "xy", "less_equal": "xy", "not_equal": "xy", "ger": "vv",
         "det": "a", "inverse": "a", "matrix_exp": "a"}
_EXTRA = {"moveaxis": (0, 1), "clip": (-0.3, 0.4)}
_SEQUENCE = {"row_stack"}   # takes a list of tensors


def _inputs(lib, name, rng_values):
    leaves = x, y = tuple(lib.tensor(v, requires_grad=True) for v in rng_values)
    spd = x @ x.mT + lib.eye(3, dtype=x.dtype) * 3
    if name == "arccosh":
        x = x.abs() + 1
    elif name in ("arccos", "arcsin", "arctanh"):
        x = x.tanh() * 0.9
    operands = {"x": (x,), "xy": (x, y), "vv": (x[0], y[1]), "a": (spd,)}[_ARGS.get(name.rpartition(".")[2], "x")]
    if name in _SEQUENCE:
        operands = ([x, y],)
    return operands + _EXTRA.get(name, ()), leaves


@pytest.mark.parametrize("name, target", ALIASES, ids=[a for a, _ in ALIASES])
def test_each_alias_is_its_targets_function_and_equals_torchs(name, target, rng):
    assert _lookup(gt, name) is _lookup(gt, target)
    values = [rng.standard_normal((3, 3)) for _ in range(2)]
    (g_args, g_leaves), (t_args, t_leaves) = _inputs(gt, name, values), _inputs(torch, name, values)
    g_out, t_out = _lookup(gt, name)(*g_args), _lookup(torch, name)(*t_args)
    _same(g_out, t_out)
    short = name.rpartition(".")[2]
    if "." not in name and hasattr(torch.Tensor, short) and name not in _SEQUENCE:
        _same(getattr(g_args[0], short)(*g_args[1:]), getattr(t_args[0], short)(*t_args[1:]))
    if t_out.requires_grad:
        g_out.sum().backward()
        t_out.sum().backward()
        for g, t in zip(g_leaves, t_leaves):
            assert (g.grad is None) == (t.grad is None)
            if t.grad is not None:
                _same(g.grad, t.grad)
        assert f"grad_fn=<{type(t_out.grad_fn).__name__}>" in repr(g_out)


@pytest.mark.parametrize("name", sorted({a for a, _ in ALIASES if "." not in a and hasattr(torch.Tensor, a + "_")
                                         and (a in surface.INPLACE or a + "_" in surface.METHODS)}))
def test_in_place_aliases_change_the_tensor_as_torchs(name, rng):
    values = [rng.uniform(0.2, 0.8, (3, 3)) for _ in range(2)]
    (g_args, _), (t_args, _) = _inputs(gt, name, values), _inputs(torch, name, values)
    g, t = g_args[0].detach().clone(), t_args[0].detach().clone()
    g_res = getattr(g, name + "_")(*(a.detach() if isinstance(a, gt.Tensor) else a for a in g_args[1:]))
    t_res = getattr(t, name + "_")(*(a.detach() if isinstance(a, torch.Tensor) else a for a in t_args[1:]))
    assert g_res is g
    _same(g, t_res)


def test_an_alias_of_a_missing_name_is_refused():
    with pytest.raises(ValueError, match="alias 'foo' names 'no_such_op', which GT does not have"):
        surface.alias((("foo", "no_such_op"),))


# -- overloads: repeat_interleave with tensor repeats, searchsorted with sorter= ------------------------
REPEATS = [
    lambda lib, x: lib.repeat_interleave(x, lib.tensor([1, 0, 2]), 0),
    lambda lib, x: x.repeat_interleave(lib.tensor([3]), -1),
    lambda lib, x: lib.repeat_interleave(x, lib.tensor(2)),                        # flattened
    lambda lib, x: x.repeat_interleave(lib.tensor([2, 1, 0, 1]), dim=1, output_size=4),
    lambda lib, x: lib.repeat_interleave(x, 2, dim=0),
    lambda lib, x: lib.repeat_interleave(lib.tensor([2, 0, 3])),
    lambda lib, x: lib.repeat_interleave(lib.tensor([1, 2]), output_size=3),
]


@pytest.mark.parametrize("build", REPEATS)
def test_repeat_interleave_equals_torchs_with_gradients(build, rng):
    a = rng.standard_normal((3, 4))
    g, t = gt.from_numpy(a.copy(), requires_grad=True), twin(a, True)
    with DEVICE:
        t_out = build(torch, t)
    g_out = build(gt, g)
    _same(g_out, t_out)
    if t_out.requires_grad:
        w = rng.standard_normal(tuple(t_out.shape))
        (g_out * gt.from_numpy(w)).sum().backward()
        (t_out * twin(w)).sum().backward()
        _same(g.grad, t.grad)
        assert f"grad_fn=<{type(t_out.grad_fn).__name__}>" in repr(g_out)


@pytest.mark.parametrize("build", [
    lambda lib, x: lib.repeat_interleave(x, lib.tensor([[1, 2]]), 0),
    lambda lib, x: lib.repeat_interleave(x, lib.tensor([1, 2]), 0),
    lambda lib, x: lib.repeat_interleave(x, lib.tensor([1, -1, 2]), 0),
    lambda lib, x: lib.repeat_interleave(x, lib.tensor([1.0, 2.0, 1.0]), 0),
    lambda lib, x: lib.repeat_interleave(x, lib.tensor([1, 2, 1]), 0, output_size=5),
    lambda lib, x: lib.repeat_interleave(x, lib.tensor([1, 2, 1]), 2),
])
def test_repeat_interleave_refuses_what_torch_refuses(build):
    """The messages of torch on the CPU: on a GPU torch checks ``output_size`` only in the kernel
    (a device-side assert that would kill this process's CUDA context), where GT checks it first.
    A kernel's name carries its device (``repeat_interleave_cuda``); that part may differ."""
    a = np.ones((3, 4))
    with pytest.raises(Exception) as t_exc:
        build(torch, torch.from_numpy(a))
    with pytest.raises(type(t_exc.value)) as g_exc:
        build(gt, gt.from_numpy(a))
    def first_line(exc):
        return str(exc.value).split("\n")[0].replace("_cuda\"", "_cpu\"")
    assert first_line(g_exc) == first_line(t_exc)


def test_searchsorted_with_sorter_equals_torchs(rng):
    seq = rng.standard_normal((2, 6))
    values = rng.standard_normal((2, 5))
    order = np.argsort(seq, axis=-1)
    for kwargs in ({}, {"right": True}, {"side": "right", "out_int32": True}):
        g_out = gt.searchsorted(gt.from_numpy(seq), gt.from_numpy(values), sorter=gt.from_numpy(order), **kwargs)
        t_out = torch.searchsorted(twin(seq), twin(values), sorter=twin(order), **kwargs)
        np.testing.assert_array_equal(g_out.numpy(), t_out.cpu().numpy())
        assert g_out.dtype == t_out.dtype
    out = gt.zeros(2, 5, dtype=torch.int64)
    gt.searchsorted(gt.from_numpy(seq), gt.from_numpy(values), sorter=gt.from_numpy(order), out=out)
    np.testing.assert_array_equal(out.numpy(), torch.searchsorted(twin(seq), twin(values), sorter=twin(order)).cpu())


@pytest.mark.parametrize("sorter", [np.array([0, 1]), np.array([2, 0, 1], np.int32)])
def test_searchsorted_refuses_a_bad_sorter_as_torch(sorter):
    seq, values = np.array([3.0, 1.0, 2.0]), np.array([1.5])
    with pytest.raises(RuntimeError) as t_exc:
        torch.searchsorted(twin(seq), twin(values), sorter=twin(sorter))
    with pytest.raises(RuntimeError) as g_exc:
        gt.searchsorted(gt.from_numpy(seq), gt.from_numpy(values), sorter=gt.from_numpy(sorter))
    assert str(g_exc.value).replace(" ", "") == str(t_exc.value).replace(" ", "")   # torch's meta kernel adds one


# -- stacking composites (atleast_*, hstack, vstack, dstack, column_stack) ------------------------------
STACKS = ["hstack", "vstack", "dstack", "column_stack"]


@pytest.mark.parametrize("name", STACKS)
@pytest.mark.parametrize("shapes", [[(), ()], [(3,), (3,)], [(2, 3), (2, 3)], [(2, 3, 2), (2, 3, 2)], [(3,), (3, 1)]])
def test_stacking_equals_torchs_with_gradients(name, shapes, rng):
    arrays = [rng.standard_normal(s) for s in shapes]
    g_in = [gt.from_numpy(np.asarray(a).copy(), requires_grad=True) for a in arrays]
    t_in = [twin(np.asarray(a), True) for a in arrays]
    with DEVICE:
        try:
            t_out = getattr(torch, name)(t_in)
        except RuntimeError as exc:
            with pytest.raises(RuntimeError):
                getattr(gt, name)(g_in)
            assert str(exc)
            return
    g_out = getattr(gt, name)(g_in)
    _same(g_out, t_out)
    w = rng.standard_normal(tuple(t_out.shape))
    (g_out * gt.from_numpy(w)).sum().backward()
    (t_out * twin(w)).sum().backward()
    for g, t in zip(g_in, t_in):
        _same(g.grad, t.grad)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_atleast_nd_equals_torchs(n, rng):
    arrays = [rng.standard_normal(s) for s in ((), (4,), (2, 3), (2, 3, 4))]
    fn, tfn = getattr(gt, f"atleast_{n}d"), getattr(torch, f"atleast_{n}d")
    g_in, t_in = [gt.from_numpy(np.asarray(a).copy()) for a in arrays], [twin(np.asarray(a)) for a in arrays]
    for g, t in zip(g_in, t_in):
        _same(fn(g), tfn(t))
    for g_all, t_all in ((fn(*g_in), tfn(*t_in)), (fn(g_in), tfn(t_in))):
        assert isinstance(g_all, tuple) and len(g_all) == len(t_all)
        for g, t in zip(g_all, t_all):
            _same(g, t)


def test_stacking_an_empty_list_is_refused_as_torch():
    for name in STACKS:
        with pytest.raises(RuntimeError, match=f"{name} expects a non-empty TensorList"):
            getattr(torch, name)([])
        with pytest.raises(RuntimeError, match=f"{name} expects a non-empty TensorList"):
            getattr(gt, name)([])
