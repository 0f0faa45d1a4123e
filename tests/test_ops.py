"""Tensor creation, operators, reductions, shapes, indexing and metadata, checked against torch."""
from __future__ import annotations

import operator

import numpy as np
import pytest
import torch

import gt


# -- creation ---------------------------------------------------------------------------------
def test_public_dtypes_are_torchs():
    assert gt.float32 is torch.float32
    assert gt.float64 is torch.float64
    assert gt.int64 is torch.int64
    assert gt.bool is torch.bool


@pytest.mark.parametrize("data", [
    [[1.0, 2.0], [3.0, 4.0]],
    [1, 2, 3],
    [True, False, True],
    3.5,
    7,
    [[1, 2.5], [3, 4]],
])
def test_tensor_infers_dtype_and_values_like_torch(data, assert_matches):
    assert_matches(gt.tensor(data), torch.tensor(data))


@pytest.mark.parametrize("dtype", [gt.float32, gt.float64, gt.int64, gt.bool])
def test_tensor_with_explicit_dtype(dtype, assert_matches):
    data = [[0.0, 1.0, 2.0], [3.0, 0.0, 5.0]]
    assert_matches(gt.tensor(data, dtype=dtype), torch.tensor(data, dtype=dtype))


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_from_numpy_keeps_values_and_dtype(np_dtype, rng, assert_matches):
    a = (rng.standard_normal((3, 4)) * 3).astype(np_dtype)
    assert_matches(gt.from_numpy(a), torch.from_numpy(a))


def test_tensor_from_numpy_array_keeps_dtype(rng, assert_matches):
    a = rng.standard_normal((2, 5))  # float64
    assert_matches(gt.tensor(a), torch.tensor(a))


def test_from_numpy_requires_grad_defaults_to_false(rng):
    a = rng.standard_normal((2, 3)).astype(np.float32)
    x = gt.from_numpy(a)
    assert x.requires_grad is False
    y = gt.from_numpy(a, requires_grad=True)
    assert y.requires_grad is True
    assert y.is_leaf and y.grad is None


@pytest.mark.parametrize("make", ["randn", "rand"])
@pytest.mark.parametrize("seed", [0, 1234])
def test_random_creation_follows_manual_seed(make, seed, assert_matches):
    gt.manual_seed(seed)
    g = getattr(gt, make)(3, 4)
    g2 = getattr(gt, make)((2, 5))
    torch.manual_seed(seed)
    t = getattr(torch, make)(3, 4)
    t2 = getattr(torch, make)((2, 5))
    assert_matches(g, t, rtol=0, atol=0)
    assert_matches(g2, t2, rtol=0, atol=0)


def test_manual_seed_different_seeds_give_different_samples():
    gt.manual_seed(1)
    a = gt.randn(16).numpy()
    gt.manual_seed(2)
    b = gt.randn(16).numpy()
    gt.manual_seed(1)
    c = gt.randn(16).numpy()
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_randn_with_dtype_float64(assert_matches):
    gt.manual_seed(7)
    g = gt.randn(2, 3, dtype=gt.float64)
    torch.manual_seed(7)
    assert_matches(g, torch.randn(2, 3, dtype=torch.float64), rtol=0, atol=0)


def test_rand_is_in_unit_interval():
    v = gt.rand(1000).numpy()
    assert v.min() >= 0.0 and v.max() < 1.0 and v.std() > 0.1


@pytest.mark.parametrize("fn", ["zeros", "ones"])
@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 1, 4), ()])
@pytest.mark.parametrize("dtype", [None, gt.float64, gt.int64, gt.bool])
def test_zeros_and_ones_match_torch(fn, shape, dtype, assert_matches):
    kw = {} if dtype is None else {"dtype": dtype}
    if shape:  # torch.zeros() with no sizes at all is an error; () goes as a tuple
        assert_matches(getattr(gt, fn)(*shape, **kw), getattr(torch, fn)(*shape, **kw))
    assert_matches(getattr(gt, fn)(shape, **kw), getattr(torch, fn)(shape, **kw))


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64, np.int64, np.bool_])
@pytest.mark.parametrize("fn", ["zeros_like", "ones_like"])
def test_zeros_like_and_ones_like_keep_shape_and_dtype(fn, np_dtype, rng, pair, assert_matches):
    g, t = pair((rng.standard_normal((2, 3)) * 4).astype(np_dtype))
    assert_matches(getattr(gt, fn)(g), getattr(torch, fn)(t))


def test_zeros_like_with_dtype(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((2, 3)).astype(np.float32))
    assert_matches(gt.zeros_like(g, dtype=gt.int64), torch.zeros_like(t, dtype=torch.int64))
    assert_matches(gt.ones_like(g, dtype=gt.float64), torch.ones_like(t, dtype=torch.float64))


@pytest.mark.parametrize("args, kw", [
    ((5,), {}),
    ((2, 10, 3), {}),
    ((-3, 4), {}),
    ((0.0, 1.0, 0.25), {}),
    ((1, 2.5, 0.5), {}),
    ((10, 0, -2), {}),
    ((6,), {"dtype": gt.float64}),
    ((0, 5), {"dtype": gt.float32}),
])
def test_arange_matches_torch(args, kw, assert_matches):
    assert_matches(gt.arange(*args, **kw), torch.arange(*args, **kw))


@pytest.mark.parametrize("size, value, kw", [
    ((2, 3), 7, {}),
    ((4,), 1.5, {}),
    ((2, 2), True, {}),
    ((3,), 2, {"dtype": gt.float64}),
    ((2, 1), -0.5, {"dtype": gt.float32}),
    ((), 4.0, {}),
])
def test_full_matches_torch(size, value, kw, assert_matches):
    assert_matches(gt.full(size, value, **kw), torch.full(size, value, **kw))


# -- arithmetic -----------------------------------------------------------------------------
BINARY_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 1), (1, 4)),
    ((4,), (3, 4)),
    ((3, 4), (4,)),
    ((2, 1, 4), (3, 1)),
    ((), (2, 3)),
    ((2, 3), ()),
]
BINARY_OPS = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "truediv": operator.truediv,
    "pow": operator.pow,
}


@pytest.mark.parametrize("op", list(BINARY_OPS))
@pytest.mark.parametrize("sa, sb", BINARY_SHAPES)
def test_binary_ops_broadcast_like_torch(op, sa, sb, rng, pair, assert_matches):
    fn = BINARY_OPS[op]
    a = rng.uniform(0.5, 2.0, sa).astype(np.float32)
    b = rng.uniform(0.5, 2.0, sb).astype(np.float32)
    (ga, ta), (gb, tb) = pair(a), pair(b)
    assert_matches(fn(ga, gb), fn(ta, tb))


@pytest.mark.parametrize("name, fn", [
    ("x + 2", lambda x: x + 2),
    ("2 + x", lambda x: 2 + x),
    ("x - 1.5", lambda x: x - 1.5),
    ("2 - x", lambda x: 2 - x),
    ("2.5 - x", lambda x: 2.5 - x),
    ("x * 3", lambda x: x * 3),
    ("3 * x", lambda x: 3 * x),
    ("x / 4", lambda x: x / 4),
    ("1 / x", lambda x: 1 / x),
    ("x ** 2", lambda x: x ** 2),
    ("x ** 0.5", lambda x: x ** 0.5),
    ("x ** -1", lambda x: x ** -1),
    ("2 ** x", lambda x: 2 ** x),
    ("1.5 ** x", lambda x: 1.5 ** x),
    ("-x", lambda x: -x),
    ("np.float32(2.0) * x", lambda x: np.float32(2.0) * x),
    ("x * np.float32(2.0)", lambda x: x * np.float32(2.0)),
    ("np.float64(2.0) - x", lambda x: np.float64(2.0) - x),
    ("np.float32(3.0) / x", lambda x: np.float32(3.0) / x),
    ("np.int64(3) + x", lambda x: np.int64(3) + x),
    ("x - np.float32(0.25)", lambda x: x - np.float32(0.25)),
    ("np.float32(2.0) ** x", lambda x: np.float32(2.0) ** x),
    ("x ** np.int64(3)", lambda x: x ** np.int64(3)),
])
def test_scalar_and_reflected_ops_match_torch(name, fn, rng, pair, assert_matches):
    g, t = pair(rng.uniform(0.5, 2.0, (3, 4)).astype(np.float32))
    out = fn(g)
    assert isinstance(out, gt.Tensor), f"{name} gave {type(out).__name__}"
    assert_matches(out, fn(t))


def test_unary_minus_on_int_tensor(assert_matches):
    assert_matches(-gt.tensor([1, -2, 3]), -torch.tensor([1, -2, 3]))


@pytest.mark.parametrize("sa, sb", [
    ((3, 4), (4, 5)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4, 5)),
    ((2, 3, 4), (2, 4, 5)),
    ((3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((2, 3, 4), (4,)),
])
def test_matmul_handles_1d_2d_and_broadcast_batch_dims(sa, sb, rng, pair, assert_matches):
    (ga, ta), (gb, tb) = pair(rng.standard_normal(sa).astype(np.float32)), \
        pair(rng.standard_normal(sb).astype(np.float32))
    want = ta @ tb
    assert_matches(ga @ gb, want)
    assert_matches(gt.matmul(ga, gb), want)
    assert_matches(ga.matmul(gb), want)


def test_matmul_float64(rng, pair, assert_matches):
    (ga, ta), (gb, tb) = pair(rng.standard_normal((3, 4))), pair(rng.standard_normal((4, 2)))
    assert_matches(ga @ gb, ta @ tb)


@pytest.mark.parametrize("op", ["iadd", "isub", "imul", "itruediv"])
@pytest.mark.parametrize("other_kind", ["tensor", "broadcast", "int", "float"])
def test_inplace_operators_update_the_same_object(op, other_kind, rng, pair, assert_matches):
    fn = getattr(operator, op)
    g, t = pair(rng.uniform(0.5, 2.0, (3, 4)).astype(np.float32))
    if other_kind == "tensor":
        go, to = pair(rng.uniform(0.5, 2.0, (3, 4)).astype(np.float32))
    elif other_kind == "broadcast":
        go, to = pair(rng.uniform(0.5, 2.0, (4,)).astype(np.float32))
    else:
        go = to = 3 if other_kind == "int" else 0.75
    alias = g
    res = fn(g, go)
    fn(t, to)
    assert res is alias
    assert_matches(alias, t)


def test_inplace_with_itself_as_operand(rng, pair, assert_matches):
    g, t = pair(rng.uniform(0.5, 2.0, (2, 3)).astype(np.float32))
    g *= g
    t *= t
    assert_matches(g, t)
    g += g
    t += t
    assert_matches(g, t)


def test_inplace_int_tensor_with_int_scalar_stays_int(assert_matches):
    g, t = gt.tensor([1, 2, 3]), torch.tensor([1, 2, 3])
    g += 2
    t += 2
    g *= 3
    t *= 3
    assert_matches(g, t)


def test_inplace_method_forms(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((2, 3)).astype(np.float32))
    g.add_(1.5).mul_(2).sub_(0.5).div_(4)
    t.add_(1.5).mul_(2).sub_(0.5).div_(4)
    assert_matches(g, t)


# -- comparisons --------------------------------------------------------------------------------
COMPARISONS = ["gt", "lt", "ge", "le", "eq"]


@pytest.mark.parametrize("op", COMPARISONS)
@pytest.mark.parametrize("other_kind", ["tensor", "broadcast", "int", "float"])
def test_comparisons_return_bool_tensors(op, other_kind, rng, pair, assert_matches):
    fn = getattr(operator, op)
    a = rng.integers(0, 4, (3, 4)).astype(np.float32)
    g, t = pair(a)
    if other_kind == "tensor":
        go, to = pair(rng.integers(0, 4, (3, 4)).astype(np.float32))
    elif other_kind == "broadcast":
        go, to = pair(rng.integers(0, 4, (4,)).astype(np.float32))
    else:
        go = to = 2 if other_kind == "int" else 1.0
    out = fn(g, go)
    assert out.dtype == torch.bool
    assert_matches(out, fn(t, to))


@pytest.mark.parametrize("op", COMPARISONS)
def test_reflected_comparisons_with_scalar_on_the_left(op, rng, pair, assert_matches):
    fn = getattr(operator, op)
    g, t = pair(rng.integers(0, 4, (5,)).astype(np.float32))
    assert_matches(fn(2.0, g), fn(2.0, t))


# -- unary math -----------------------------------------------------------------------------
UNARY = ["exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh"]


def _unary_input(name, rng, shape=(3, 4)):
    if name in ("log", "sqrt"):
        return rng.uniform(0.1, 3.0, shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("name", UNARY)
def test_unary_methods_match_torch(name, rng, pair, assert_matches):
    g, t = pair(_unary_input(name, rng))
    assert_matches(getattr(g, name)(), getattr(torch, name)(t))


@pytest.mark.parametrize("name", UNARY)
def test_module_level_unary_functions_match_torch(name, rng, pair, assert_matches):
    g, t = pair(_unary_input(name, rng))
    assert_matches(getattr(gt, name)(g), getattr(torch, name)(t))


@pytest.mark.parametrize("name", UNARY)
def test_unary_on_int_tensor_gives_torchs_dtype(name, assert_matches):
    data = [1, 2, 3, 4] if name in ("log", "sqrt") else [-2, 0, 1, 3]
    assert_matches(getattr(gt.tensor(data), name)(), getattr(torch, name)(torch.tensor(data)))


def test_module_level_matmul_sum_mean(rng, pair, assert_matches):
    (ga, ta), (gb, tb) = pair(rng.standard_normal((3, 4)).astype(np.float32)), \
        pair(rng.standard_normal((4, 2)).astype(np.float32))
    assert_matches(gt.matmul(ga, gb), torch.matmul(ta, tb))
    assert_matches(gt.sum(ga), torch.sum(ta))
    assert_matches(gt.sum(ga, 1), torch.sum(ta, 1))
    assert_matches(gt.sum(ga, dim=0, keepdim=True), torch.sum(ta, dim=0, keepdim=True))
    assert_matches(gt.mean(ga), torch.mean(ta))
    assert_matches(gt.mean(ga, dim=1), torch.mean(ta, dim=1))


# -- reductions -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("kw", [
    {},
    {"dim": 0},
    {"dim": 1},
    {"dim": -1},
    {"dim": 1, "keepdim": True},
    {"dim": (0, 2)},
    {"dim": (0, -1), "keepdim": True},
    {"axis": 1},
    {"axis": 0, "keepdims": True},
])
def test_sum_and_mean_match_torch(name, kw, rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((2, 3, 4)).astype(np.float32))
    assert_matches(getattr(g, name)(**kw), getattr(t, name)(**kw))


def test_sum_positional_dim_and_keepdim(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((2, 3)).astype(np.float32))
    assert_matches(g.sum(1, True), t.sum(1, True))
    assert_matches(g.mean(0, False), t.mean(0, False))


@pytest.mark.parametrize("np_dtype", [np.int64, np.bool_])
def test_sum_of_int_and_bool_gives_int64(np_dtype, rng, pair, assert_matches):
    g, t = pair(rng.integers(0, 3, (3, 4)).astype(np_dtype))
    assert_matches(g.sum(), t.sum())
    assert_matches(g.sum(dim=1), t.sum(dim=1))


def test_max_over_all_elements(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((3, 5)).astype(np.float32))
    assert_matches(g.max(), t.max())
    assert_matches(gt.max(g), torch.max(t))


@pytest.mark.parametrize("kw", [{"dim": 0}, {"dim": 1}, {"dim": -1, "keepdim": True}, {"axis": 1},
                                {"axis": 0, "keepdims": True}])
def test_max_over_dim_returns_values_and_indices(kw, rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((4, 5)).astype(np.float32))
    res, ref = g.max(**kw), t.max(**kw)
    values, indices = res
    assert_matches(values, ref.values)
    assert_matches(indices, ref.indices)
    assert_matches(res.values, ref.values)
    assert_matches(res.indices, ref.indices)
    assert_matches(res[0], ref[0])


def test_max_positional_dim(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((4, 5)).astype(np.float32))
    v, i = g.max(1)
    assert_matches(v, t.max(1).values)
    assert_matches(i, t.max(1).indices)


def test_max_of_int_tensor(rng, pair, assert_matches):
    g, t = pair(rng.permutation(12).reshape(3, 4).astype(np.int64))
    assert_matches(g.max(), t.max())
    assert_matches(g.max(dim=0).values, t.max(dim=0).values)
    assert_matches(g.max(dim=0).indices, t.max(dim=0).indices)


# -- shapes -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, fn", [
    ("reshape(-1)", lambda x: x.reshape(-1)),
    ("reshape(4, -1)", lambda x: x.reshape(4, -1)),
    ("reshape((3, 8))", lambda x: x.reshape((3, 8))),
    ("reshape([2, -1, 3])", lambda x: x.reshape([2, -1, 3])),
    ("view(-1, 6)", lambda x: x.view(-1, 6)),
    ("view(24)", lambda x: x.view(24)),
    ("transpose(0, 2)", lambda x: x.transpose(0, 2)),
    ("transpose(-1, -2)", lambda x: x.transpose(-1, -2)),
    ("permute(2, 0, 1)", lambda x: x.permute(2, 0, 1)),
    ("permute((1, 2, 0))", lambda x: x.permute((1, 2, 0))),
    ("unsqueeze(0)", lambda x: x.unsqueeze(0)),
    ("unsqueeze(-1)", lambda x: x.unsqueeze(-1)),
    ("unsqueeze(2)", lambda x: x.unsqueeze(2)),
    ("flatten()", lambda x: x.flatten()),
    ("flatten(1)", lambda x: x.flatten(1)),
    ("flatten(0, 1)", lambda x: x.flatten(0, 1)),
    ("expand(2, 2, 3, 4)", lambda x: x.expand(2, 2, 3, 4)),
])
def test_shape_ops_match_torch(name, fn, rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((2, 3, 4)).astype(np.float32))
    assert_matches(fn(g), fn(t))


@pytest.mark.parametrize("name, fn", [
    ("squeeze()", lambda x: x.squeeze()),
    ("squeeze(0)", lambda x: x.squeeze(0)),
    ("squeeze(2)", lambda x: x.squeeze(2)),
    ("squeeze(-1)", lambda x: x.squeeze(-1)),
    ("squeeze(1) (size 3: no-op)", lambda x: x.squeeze(1)),
])
def test_squeeze_matches_torch(name, fn, rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((1, 3, 1, 2)).astype(np.float32))
    assert_matches(fn(g), fn(t))


def test_T_transposes_a_matrix(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((3, 5)).astype(np.float32))
    assert_matches(g.T, t.T)
    assert_matches(g.t(), t.t())


def test_expand_with_minus_one(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((3, 1)).astype(np.float32))
    assert_matches(g.expand(-1, 4), t.expand(-1, 4))


# -- indexing -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, key", [
    ("x[:4, :4]", (slice(None, 4), slice(None, 4))),
    ("x[2]", 2),
    ("x[-1]", -1),
    ("x[1:3, None]", (slice(1, 3), None)),
    ("x[..., 0]", (Ellipsis, 0)),
    ("x[::2, 1]", (slice(None, None, 2), 1)),
    ("x[None]", None),
    ("x[1, 2]", (1, 2)),
    ("x[1:, ..., None]", (slice(1, None), Ellipsis, None)),
    ("x[:, 1:5:2]", (slice(None), slice(1, 5, 2))),
    ("x[-3:-1]", slice(-3, -1)),
    ("x[10:]", slice(10, None)),
])
def test_basic_indexing_matches_torch(name, key, rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((5, 6)).astype(np.float32))
    assert_matches(g[key], t[key])


def test_indexing_with_int_tensor_scalar(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((5, 3)).astype(np.float32))
    assert_matches(g[gt.tensor(3)], t[torch.tensor(3)])


def test_iterating_yields_rows(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((3, 2)).astype(np.float32))
    rows = list(g)
    assert len(rows) == 3 == len(g)
    for gr, tr in zip(rows, t):
        assert_matches(gr, tr)


# -- reading data and metadata --------------------------------------------------------------------
@pytest.mark.parametrize("data", [3.25, [2.5], [[7]], True, -4])
def test_item_returns_the_python_number(data):
    got, want = gt.tensor(data).item(), torch.tensor(data).item()
    assert type(got) is type(want)
    assert got == want


def test_numpy_returns_an_array_with_the_values(rng, pair):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    g, t = pair(a)
    out = g.numpy()
    assert isinstance(out, np.ndarray)
    assert out.dtype == t.cpu().numpy().dtype
    np.testing.assert_array_equal(out, a)


def test_data_of_a_grad_tensor_gives_numpy(rng, pair):
    a = rng.standard_normal((2, 3)).astype(np.float32)
    g, _ = pair(a, requires_grad=True)
    assert g.data.requires_grad is False
    np.testing.assert_array_equal(g.data.numpy(), a)
    np.testing.assert_array_equal(g.detach().numpy(), a)


def test_tolist_matches_torch(rng, pair):
    g, t = pair(rng.standard_normal((2, 3)).astype(np.float32))
    assert g.tolist() == t.tolist()
    assert gt.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert gt.tensor(2.5).tolist() == 2.5


def test_shape_dtype_ndim_size_numel_match_torch(rng, pair):
    g, t = pair(rng.standard_normal((2, 3, 4)))
    assert g.shape == t.shape
    assert tuple(g.shape) == (2, 3, 4)
    assert g.dtype == t.dtype == torch.float64
    assert g.ndim == t.ndim == 3
    assert g.dim() == 3
    assert g.size() == t.size()
    assert g.size(1) == t.size(1) == 3
    assert g.size(-1) == t.size(-1) == 4
    assert g.numel() == t.numel() == 24
    assert len(g) == len(t) == 2
    s = gt.tensor(1.0)
    assert s.shape == torch.tensor(1.0).shape == ()
    assert s.ndim == 0 and s.numel() == 1


def test_detach_shares_values_but_not_grad(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    y = (g * 2).detach()
    assert y.requires_grad is False and y.grad_fn is None and y.is_leaf
    assert_matches(y, (t * 2).detach())


def test_requires_grad_flag_and_requires_grad_(rng):
    x = gt.from_numpy(rng.standard_normal(3).astype(np.float32))
    assert x.requires_grad is False
    assert x.requires_grad_() is x
    assert x.requires_grad is True
    x.requires_grad_(False)
    assert x.requires_grad is False
    assert (x * 2).requires_grad is False
    x.requires_grad_(True)
    assert (x * 2).requires_grad is True
    assert (2 * x + 1).requires_grad is True


def test_grad_is_none_until_backward(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    assert g.grad is None
    (g * 3).sum().backward()
    (t * 3).sum().backward()
    assert_matches(g.grad, t.grad)


def test_zero_fills_in_place(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((2, 3)).astype(np.float32))
    assert g.zero_() is g
    assert_matches(g, t.zero_())
    gi = gt.tensor([1, 2, 3])
    gi.zero_()
    assert_matches(gi, torch.tensor([1, 2, 3]).zero_())


def test_grad_zero_(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    (g * g).sum().backward()
    (t * t).sum().backward()
    g.grad.zero_()
    t.grad.zero_()
    assert_matches(g.grad, t.grad)


@pytest.mark.parametrize("data, kw", [
    ([[1.0, 2.0], [3.0, 4.0]], {}),
    ([1, 2, 3], {}),
    ([True, False], {}),
    (3.5, {}),
    ([0.1, 2.0, -3.25], {"dtype": torch.float64}),
    ([1.5, 2.25], {"requires_grad": True}),
    ([[1e-8, 1e8]], {}),
    ([1, 2], {"dtype": torch.float64, "requires_grad": True}),
])
def test_repr_equals_torchs(data, kw):
    assert repr(gt.tensor(data, **kw)) == repr(torch.tensor(data, **kw))
    assert str(gt.tensor(data, **kw)) == str(torch.tensor(data, **kw))


def test_repr_of_random_matrix_equals_torchs(rng, pair):
    g, t = pair(rng.standard_normal((4, 3)).astype(np.float32))
    assert repr(g) == repr(t.cpu())   # GT prints as torch prints a CPU tensor


GRAD_FN_CASES = [
    ("x * 2", lambda x, m: x * 2),
    ("x + x", lambda x, m: x + x),
    ("x - 1.5", lambda x, m: x - 1.5),
    ("2 - x", lambda x, m: 2 - x),
    ("x / x", lambda x, m: x / x),
    ("1 / x", lambda x, m: 1 / x),
    ("x ** 2", lambda x, m: x ** 2),
    ("x ** x", lambda x, m: x ** x),
    ("2 ** x", lambda x, m: 2 ** x),
    ("-x", lambda x, m: -x),
    ("x.add(x, alpha=2)", lambda x, m: x.add(x, alpha=2)),
    ("sum()", lambda x, m: x.sum()),
    ("sum(0)", lambda x, m: x.sum(0)),
    ("mean()", lambda x, m: x.mean()),
    ("mean(dim=1, keepdim=True)", lambda x, m: x.mean(dim=1, keepdim=True)),
    ("max()", lambda x, m: x.max()),
    ("max(0).values", lambda x, m: x.max(0).values),
    ("exp", lambda x, m: x.exp()),
    ("log", lambda x, m: x.log()),
    ("sqrt", lambda x, m: x.sqrt()),
    ("abs", lambda x, m: x.abs()),
    ("relu", lambda x, m: x.relu()),
    ("tanh", lambda x, m: x.tanh()),
    ("sigmoid", lambda x, m: x.sigmoid()),
    ("x @ x", lambda x, m: x @ x),
    ("x[0] @ x[0]", lambda x, m: x[0] @ x[0]),
    ("x @ x[0]", lambda x, m: x @ x[0]),
    ("x[0] @ x", lambda x, m: x[0] @ x),
    ("x.expand(3, 2, 2) @ x", lambda x, m: x.expand(3, 2, 2) @ x),
    ("x @ x.expand(3, 2, 2)", lambda x, m: x @ x.expand(3, 2, 2)),
    ("x.T", lambda x, m: x.T),
    ("transpose(0, 1)", lambda x, m: x.transpose(0, 1)),
    ("permute(1, 0)", lambda x, m: x.permute(1, 0)),
    ("reshape(-1)", lambda x, m: x.reshape(-1)),
    ("unsqueeze(0)", lambda x, m: x.unsqueeze(0)),
    ("unsqueeze(0).squeeze(0)", lambda x, m: x.unsqueeze(0).squeeze(0)),
    ("unsqueeze(0).squeeze()", lambda x, m: x.unsqueeze(0).squeeze()),
    ("expand(3, 2, 2)", lambda x, m: x.expand(3, 2, 2)),
    ("double()", lambda x, m: x.double()),
    ("x[0]", lambda x, m: x[0]),
    ("x[:1]", lambda x, m: x[:1]),
    ("x[:]", lambda x, m: x[:]),
    ("x[:, :]", lambda x, m: x[:, :]),
    ("x[None]", lambda x, m: x[None]),
    ("x[0, None]", lambda x, m: x[0, None]),
    ("x[None, 0]", lambda x, m: x[None, 0]),
    ("x[..., 1]", lambda x, m: x[..., 1]),
    ("x[:, 1:]", lambda x, m: x[:, 1:]),
    ("mse_loss", lambda x, m: m.nn.functional.mse_loss(x, x * 2)),
    ("Linear", lambda x, m: (m.manual_seed(0), m.nn.Linear(2, 3))[1](x)),
]


@pytest.mark.parametrize("name, fn", GRAD_FN_CASES, ids=[c[0] for c in GRAD_FN_CASES])
def test_repr_of_a_result_names_its_grad_fn_like_torch(name, fn):
    g = gt.tensor([[1.0, 2.0], [3.0, 0.5]], requires_grad=True)
    t = torch.tensor([[1.0, 2.0], [3.0, 0.5]], requires_grad=True)
    assert repr(fn(g, gt)) == repr(fn(t, torch))


# -- dtype promotion ----------------------------------------------------------------------------
PROMOTION_CASES = [
    ("int tensor + float scalar", lambda T: T([1, 2]) + 1.5),
    ("int tensor + int scalar", lambda T: T([1, 2]) + 3),
    ("int tensor * float scalar", lambda T: T([1, 2]) * 0.5),
    ("int / int tensors", lambda T: T([1, 2]) / T([2, 4])),
    ("int tensor / int scalar", lambda T: T([3, 4]) / 2),
    ("int scalar / int tensor", lambda T: 6 / T([3, 4])),
    ("bool + int scalar", lambda T: T([True, False]) + 2),
    ("bool + float scalar", lambda T: T([True, False]) + 0.5),
    ("bool + int tensor", lambda T: T([True, False]) + T([3, 4])),
    ("bool + bool scalar", lambda T: T([True, False]) + True),
    ("bool * bool tensor", lambda T: T([True, False]) * T([True, True])),
    ("int32 + int64", lambda T: T([1, 2], dtype=torch.int32) + T([3, 4])),
    ("int32 + int scalar", lambda T: T([1, 2], dtype=torch.int32) + 5),
    ("float32 + float64", lambda T: T([1.0, 2.0]) + T([3.0, 4.0], dtype=torch.float64)),
    ("float64 + float scalar", lambda T: T([1.0, 2.0], dtype=torch.float64) + 0.1),
    ("int tensor + float tensor", lambda T: T([1, 2]) + T([0.5, 0.25])),
    ("int ** int scalar", lambda T: T([2, 3]) ** 2),
    ("int ** float scalar", lambda T: T([4, 9]) ** 0.5),
    ("int scalar ** int tensor", lambda T: 2 ** T([2, 3])),
    ("float scalar ** int tensor", lambda T: 2.0 ** T([2, 3])),
    ("int scalar - int tensor", lambda T: 10 - T([2, 3])),
    ("float scalar - int tensor", lambda T: 0.5 - T([2, 3])),
    ("float32 tensor + float64 0-d tensor", lambda T: T([1.0, 2.0]) + T(0.5, dtype=torch.float64)),
    ("int64 tensor + float64 0-d tensor", lambda T: T([1, 2]) + T(0.5, dtype=torch.float64)),
    ("int32 tensor + int64 0-d tensor", lambda T: T([1, 2], dtype=torch.int32) + T(5)),
    ("float64 0-d tensor * float32 tensor", lambda T: T(2.0, dtype=torch.float64) * T([1.0, 2.0])),
    ("0-d float64 + 0-d float32", lambda T: T(2.0, dtype=torch.float64) + T(1.0)),
    ("int tensor > float scalar", lambda T: T([1, 2]) > 1.5),
    ("int tensor == int tensor", lambda T: T([1, 2]) == T([1, 3])),
]


@pytest.mark.parametrize("name, fn", PROMOTION_CASES, ids=[c[0] for c in PROMOTION_CASES])
def test_dtype_promotion_matches_torch(name, fn, assert_matches):
    assert_matches(fn(gt.tensor), fn(torch.tensor))


# -- no_grad ----------------------------------------------------------------------------------------
def test_no_grad_context_manager_stops_recording_and_restores(rng, pair):
    g, _ = pair(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    with gt.no_grad():
        assert gt.is_grad_enabled() is False
        y = g * 2
    assert gt.is_grad_enabled() is True
    assert y.requires_grad is False and y.grad_fn is None
    assert (g * 2).requires_grad is True


def test_no_grad_as_decorator(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal(3).astype(np.float32), requires_grad=True)

    @gt.no_grad()
    def double(x):
        """doc"""
        assert gt.is_grad_enabled() is False
        return x * 2

    out = double(g)
    assert double.__name__ == "double" and double.__doc__ == "doc"
    assert out.requires_grad is False
    assert gt.is_grad_enabled() is True
    with torch.no_grad():
        want = t * 2
    assert_matches(out, want)


def test_no_grad_restores_grad_mode_after_an_exception():
    with pytest.raises(ValueError):
        with gt.no_grad():
            raise ValueError("boom")
    assert gt.is_grad_enabled() is True


def test_nested_no_grad_and_enable_grad(rng, pair):
    g, _ = pair(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    with gt.no_grad():
        with gt.enable_grad():
            assert (g * 2).requires_grad is True
        assert (g * 2).requires_grad is False
    assert gt.is_grad_enabled()


# -- .data and alpha forms ----------------------------------------------------------------------------
def test_inplace_through_data_writes_to_the_tensor(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    for x in (g, t):
        x.data.mul_(2)
        x.data += 1
        x.data -= 0.25 * x.data
    assert_matches(g.detach(), t.detach())
    assert g.requires_grad and g.is_leaf


def test_assigning_data_replaces_the_values(rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    new = rng.standard_normal((2, 3)).astype(np.float32)
    g.data = gt.from_numpy(new)
    t.data = torch.from_numpy(new)
    assert_matches(g.detach(), t.detach())
    (g * g).sum().backward()
    (t * t).sum().backward()
    assert_matches(g.grad, t.grad)


@pytest.mark.parametrize("alpha", [2, -0.5])
def test_add_sub_with_alpha_match_torch(alpha, rng, pair, assert_matches):
    (ga, ta), (gb, tb) = pair(rng.standard_normal((3, 4)).astype(np.float32)), \
        pair(rng.standard_normal((4,)).astype(np.float32))
    assert_matches(ga.add(gb, alpha=alpha), ta.add(tb, alpha=alpha))
    assert_matches(ga.sub(gb, alpha=alpha), ta.sub(tb, alpha=alpha))
    ga.add_(gb, alpha=alpha)
    ta.add_(tb, alpha=alpha)
    assert_matches(ga, ta)
    ga.sub_(gb, alpha=alpha)
    ta.sub_(tb, alpha=alpha)
    assert_matches(ga, ta)


@pytest.mark.parametrize("name, make", [
    ("transposed", lambda a: a.T),
    ("strided", lambda a: a[:, ::2]),
    ("fortran order", lambda a: np.asfortranarray(a)),
])
def test_from_numpy_of_a_non_contiguous_array(name, make, rng, assert_matches):
    a = make(rng.standard_normal((4, 6)).astype(np.float32))
    assert_matches(gt.from_numpy(a), torch.tensor(a))


@pytest.mark.parametrize("name", ["float", "double", "long", "int", "bool"])
def test_dtype_conversions_match_torch(name, rng, pair, assert_matches):
    g, t = pair((rng.standard_normal((2, 3)) * 3).astype(np.float32))
    assert_matches(getattr(g, name)(), getattr(t, name)())
    assert_matches(g.to(getattr(t, name)().dtype), t.to(getattr(t, name)().dtype))


def test_shape_is_a_torch_size_like_torch():
    x = gt.zeros(4, 3, 2)
    y = (x + gt.ones(3, 1)).sum(0)
    assert type(x.shape) is torch.Size and repr(x.shape) == "torch.Size([4, 3, 2])"
    assert type(y.shape) is torch.Size and y.shape == (3, 2) and y.shape.numel() == 6
