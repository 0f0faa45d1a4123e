"""The op table drives these tests: every entry is run against torch, values and gradients.

Elementwise and broadcasting entries are checked generically (shapes, dtypes,
edge values); every other entry through the samples below, written once for
both libraries (``lib`` is gt or torch).  A coverage test records the opcodes
the samples emit and fails when a table entry has no check.
"""
from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch

import gt
from gt.client import runtime
from gt.ops import OP_NAMES, OPS, VJP, Op, core, math as math_ops, optim
from gt.ops.table import load

from devices import DEVICE, twin

EDGE = np.array([-0.0, 0.0, 1.5, -2.25, math.inf, -math.inf, math.nan, 3.0], dtype=np.float32)
UNARY = [e.name for e in OPS if e.kind == "elementwise" and "function" in e.variants]
BINARY = [e.name for e in OPS if e.kind == "broadcast" and "function" in e.variants]
DIFF_UNARY = [e.name for e in OPS if e.kind == "elementwise" and "function" in e.variants and e.grad]
DIFF_BINARY = [e.name for e in OPS if e.kind == "broadcast" and e.grad]
POSITIVE_DOMAIN = {"log", "sqrt", "rsqrt", "pow", "div", "reciprocal"}


def _same(g, t, rtol=1e-5, atol=1e-6):
    """A gt result (tensor, tuple or number) equals torch's: shape, dtype, values (nan == nan)."""
    if isinstance(t, (tuple, list)):
        assert len(g) == len(t)
        for a, b in zip(g, t):
            _same(a, b, rtol, atol)
        return
    if not isinstance(t, torch.Tensor):
        assert g == t
        return
    assert isinstance(g, gt.Tensor), type(g)
    assert tuple(g.shape) == tuple(t.shape), (g.shape, t.shape)
    assert g.dtype == t.dtype, (g.dtype, t.dtype)
    got, want = g.detach().numpy(), t.detach().numpy(force=True)  # force: torch may give a ZeroTensor
    if t.dtype.is_floating_point:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
        # -0.0 and 0.0 differ in sign: an op that keeps the sign must keep it
        np.testing.assert_array_equal(np.signbit(got[want == 0]), np.signbit(want[want == 0]))
    else:
        np.testing.assert_array_equal(got, want)


def _both(a: np.ndarray, requires_grad: bool = False):
    return (gt.from_numpy(a.copy(), requires_grad=requires_grad), twin(a, requires_grad))


def _outcome(fn):
    try:
        return fn(), None
    except Exception as exc:  # noqa: BLE001 - compared with torch's
        return None, exc


def _compare_call(gfn, tfn):
    """Same result, or the same exception type torch raises (torch's tensors made on the worker's device)."""
    with DEVICE:
        t, t_exc = _outcome(tfn)
    if t_exc is not None:
        with pytest.raises(type(t_exc)):
            gfn()
        return
    _same(gfn(), t)


# -- elementwise ------------------------------------------------------------------------------
# What torch's CPU kernels refuse and its CUDA kernels take: GT refuses it on every device, as the CPU.
CPU_ONLY_REFUSALS = {("abs", np.bool_)}


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_elementwise_values_and_dtypes_match_torch(name, dtype):
    for a in (EDGE.astype(dtype) if dtype != np.bool_ else EDGE > 0, np.zeros((0, 3), dtype=dtype),
              np.array(2, dtype=dtype), np.arange(12, dtype=np.float64).reshape(3, 4).astype(dtype) - 5):
        g, t = _both(np.asarray(a))
        if (name, dtype) in CPU_ONLY_REFUSALS:
            t = t.cpu()
        _compare_call(lambda: getattr(gt, name)(g), lambda: getattr(torch, name)(t))
        _compare_call(lambda: getattr(g, name)(), lambda: getattr(t, name)())


@pytest.mark.parametrize("name", DIFF_UNARY)
@pytest.mark.parametrize("shape", [(3, 4), (), (0,)])
def test_elementwise_gradients_match_torch(name, shape, rng):
    a = rng.uniform(0.3, 2.0, shape) * (1 if name in POSITIVE_DOMAIN else rng.choice([-1, 1], shape))
    g, t = _both(np.asarray(a, dtype=np.float64), requires_grad=True)
    w = rng.standard_normal(shape)
    (getattr(gt, name)(g) * gt.from_numpy(w)).sum().backward()
    (getattr(torch, name)(t) * twin(w)).sum().backward()
    _same(g.grad, t.grad, rtol=1e-10, atol=1e-12)


# -- broadcasting binary ------------------------------------------------------------------------
SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 3), (4, 1)), ((), (3,)), ((0, 2), (2,))]


@pytest.mark.parametrize("name", BINARY + ["add", "sub", "mul", "div", "pow"])
@pytest.mark.parametrize("sa, sb", SHAPES)
@pytest.mark.parametrize("da, db", [(np.float32, np.float32), (np.float32, np.float64), (np.int64, np.float32),
                                    (np.int64, np.int64), (np.bool_, np.bool_), (np.int32, np.int64)])
def test_binary_values_dtypes_and_broadcasting_match_torch(name, sa, sb, da, db, rng):
    a = (rng.uniform(0.5, 3, sa) * 2).astype(da)
    b = (rng.uniform(0.5, 3, sb) * 2).astype(db)
    (ga, ta), (gb, tb) = _both(np.asarray(a)), _both(np.asarray(b))
    _compare_call(lambda: getattr(gt, name)(ga, gb), lambda: getattr(torch, name)(ta, tb))


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "eq", "ne", "lt", "le", "gt", "ge",
                                  "bitwise_and", "bitwise_or", "bitwise_xor", "remainder", "floor_divide",
                                  "__mod__", "__floordiv__", "fmod"])
@pytest.mark.parametrize("scalar", [2, -1, 2.5, -0.0, math.inf, True])
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_tensor_with_python_number_matches_torch(name, scalar, dtype):
    g, t = _both(np.asarray(EDGE if dtype == np.float32 else np.arange(-3, 5)).astype(dtype))
    _compare_call(lambda: getattr(g, name)(scalar), lambda: getattr(t, name)(scalar))


@pytest.mark.parametrize("name", DIFF_BINARY)
@pytest.mark.parametrize("sa, sb", SHAPES[:4])
def test_binary_gradients_match_torch(name, sa, sb, rng):
    a, b = rng.uniform(0.5, 2.0, sa), rng.uniform(0.5, 2.0, sb)
    (ga, ta), (gb, tb) = _both(np.asarray(a), True), _both(np.asarray(b), True)
    w = rng.standard_normal(np.broadcast_shapes(sa, sb))
    (getattr(gt, name)(ga, gb) * gt.from_numpy(w)).sum().backward()
    (getattr(torch, name)(ta, tb) * twin(w)).sum().backward()
    _same(ga.grad, ta.grad, 1e-10, 1e-12)
    _same(gb.grad, tb.grad, 1e-10, 1e-12)


# -- every other entry: samples written once for both libraries ---------------------------------------
def _mask(lib, x):
    return x > 0.2


SAMPLES = {
    "clamp": lambda lib, x, y: (x.clamp(min=-0.5, max=0.5), x.clamp(min=0), lib.clamp(x, max=0.1)),
    "clamp_tensor": lambda lib, x, y: (x.clamp(min=y), lib.clamp(x, min=y, max=y + 1)),
    "where": lambda lib, x, y: (lib.where(x > 0, x, y), lib.where(x > 0, x, 0.0)),
    "masked_fill": lambda lib, x, y: (x.masked_fill(x > 0, 1.5), x.masked_fill(x < 0, lib.tensor(2.0))),
    "maximum": lambda lib, x, y: (lib.maximum(x, y), lib.minimum(x, y), lib.maximum(x, x)),
    "reductions": lambda lib, x, y: (x.sum(), x.sum(1), x.sum((0, 1), keepdim=True), x.mean(), x.mean(-1),
                                     x.max(), x.min(), lib.max(x, 1), lib.min(x, 0, keepdim=True), x.argmax(),
                                     x.argmin(1), x.var(), x.var(1, unbiased=False), x.std(0), x.norm(),
                                     x.norm(p=1, dim=1), x.norm(3, 0), x.cumsum(1)),
    "logic": lambda lib, x, y: ((x > 0).all(), (x > 0).any(1), lib.all(x > -10), x.isnan().any()),
    "softmax": lambda lib, x, y: (x.softmax(1), lib.softmax(x, 0), x.log_softmax(-1), lib.log_softmax(x, 0)),
    "matmul": lambda lib, x, y: (x @ y.T, lib.mm(x, y.T), lib.bmm(x[None], y.T[None]), lib.outer(x[0], y[1]),
                                 lib.einsum("ij,kj->ik", x, y), lib.einsum("ij,ij->i", x, y), lib.matmul(x[0], y.T)),
    "shapes": lambda lib, x, y: (x.reshape(4, 3), x.view(-1), x.view_as(y.T), x.transpose(0, 1), x.t(), x.T,
                                 x.permute(1, 0), x.unsqueeze(0), x[None].squeeze(0), x.flatten(),
                                 x[:1].expand(5, 4), x[:1].expand_as(y), x.repeat(2, 1, 3),
                                 x.tril(), lib.triu(x, 1), x.contiguous()),
    "joins": lambda lib, x, y: (lib.cat([x, y]), lib.cat([x, y], 1), lib.stack([x, y]), lib.stack([x, y], -1),
                                *x.split(1), *lib.split(x, [1, 2], 0), *x.chunk(2, 1), *x.unbind(1)),
    "index": lambda lib, x, y: (x[0], x[:, 1], x[1:, ::2], x[..., None, 0], x[-1, -2], x[lib.tensor([2, 0, 2])],
                                x[:, lib.tensor([1, 1])], x[x > 0], x[lib.tensor([0, 1]), lib.tensor([3, 2])],
                                x[_mask(lib, x)], x[lib.tensor([[0], [2]]), 1:]),
    "index_ops": lambda lib, x, y: (x.index_select(1, lib.tensor([3, 0])), x.gather(1, lib.tensor([[0, 0]] * 3)),
                                    x.scatter(1, lib.tensor([[1]] * 3), y[:, :1]),
                                    x.scatter(0, lib.tensor([[0, 1, 2, 0]]), 2.5), x.topk(2), x.topk(1, 0, False),
                                    x.sort(1), x.sort(0, descending=True), x.argsort(1), lib.sort(x, 1).indices),
    "setitem": lambda lib, x, y: _writes(lib, x, y),
    "casts": lambda lib, x, y: (x.double(), x.detach().half(), x.long(), x.int(), x.bool(),
                                x.type_as(y.long()), x.float(), x.to(lib.float64)),
    "creation_like": lambda lib, x, y: (x.new_zeros(2, 3), x.new_ones((2,)), x.new_tensor([1, 2]),
                                        x.new_full((2,), 3.0), lib.arange(5), lib.arange(1.0, 2.0, 0.25)),
    "inplace": lambda lib, x, y: _inplace(x * 1, y),
    "linear_mse": lambda lib, x, y: (lib.nn.functional.linear(x, y, y[0, :3]),
                                     lib.nn.functional.mse_loss(x, y),
                                     lib.nn.functional.mse_loss(x, y, reduction="sum")),
    "add_scaled": lambda lib, x, y: (lib.add(x, y, alpha=2.5), lib.sub(x, y, alpha=0.5)),
    "nn_activations": lambda lib, x, y: (lib.nn.functional.gelu(x), lib.nn.functional.gelu(x, approximate="tanh"),
                                         lib.nn.functional.silu(x), lib.nn.functional.leaky_relu(x, 0.2),
                                         lib.nn.functional.softplus(x, 2.0, 1.0), lib.nn.functional.elu(x),
                                         lib.nn.functional.relu6(x * 4), lib.nn.functional.mish(x),
                                         lib.nn.functional.logsigmoid(x)),
    "nn_losses": lambda lib, x, y: _nn_losses(lib.nn.functional, lib.tensor([1, 0, 3]), x, y),
    "nn_layers": lambda lib, x, y: _nn_layers(lib, x, y),
    "math_shapes": lambda lib, x, y: (
        lib.diag(x[0]), lib.diag(x, 1), x[0].diag_embed(), lib.diag_embed(x, 1, 0, 2), lib.diagonal(x, 1), x.diagonal(),
        lib.trace(x), lib.kron(x[:2, :2], y[:2, :3]), lib.cross(x[:, :3], y[:, :3], dim=1), x[:, :3].cross(y[:, :3]),
        lib.cdist(x, y), lib.cdist(x, y, p=1.0), lib.tensordot(x, y.T, 1), lib.tensordot(x, y, ([1], [1])),
        x.roll(1, 0), lib.roll(x, (1, -2), (0, 1)), x.roll(5), x.flip(0, 1), lib.flip(x, [1]), lib.rot90(x),
        x.rot90(2, [0, 1]), lib.repeat_interleave(x, 2, 0), x.repeat_interleave(3), x.movedim(0, 1),
        lib.repeat_interleave(x, lib.tensor([1, 0, 2]), 0), x.repeat_interleave(lib.tensor(2), dim=1, output_size=8),
        lib.repeat_interleave(lib.tensor([2, 1])),
        lib.diagonal_scatter(x, y[:, 0]), x[:, :3].diagonal_scatter(y[0, :2], 1), x.diagonal(-1).exp(),
        lib.movedim(x[None], (0, 1), (2, 0))),
    "math_products": lambda lib, x, y: (
        lib.addmm(y[:, :3], x, y.T, beta=0.5, alpha=2), x[:, :3].addmm(x, y.T),
        lib.baddbmm(x[None], x[None], y.T[None] @ x[None]),
        lib.addcmul(x, x, y, value=0.5), x.addcdiv(x, y.abs() + 1, value=2), lib.lerp(x, y, 0.3), x.lerp(y, 2.0),
        lib.logsumexp(x, 1), x.logsumexp((0, 1), keepdim=True), lib.special.logsumexp(x, 0),
        lib.isclose(x, y, atol=0.5), x.isclose(x), lib.nan_to_num(x.log()), x.log().nan_to_num(1.0, neginf=-5.0),
        lib.polygamma(1, x.abs() + 0.5), lib.special.polygamma(2, x.abs() + 1), lib.special.digamma(x),
        lib.special.erfinv(x.clamp(-0.9, 0.9)), lib.special.expm1(x), lib.special.log1p(x.abs()), lib.special.erf(x),
        lib.fft.irfft(x), lib.fft.irfft(x, n=6, dim=0, norm="ortho"), lib.fft.hfft(x, norm="forward"),
        lib.fft.irfft2(x), lib.fft.hfft2(x, s=(3, 4)), lib.fft.irfftn(x, dim=(0,)), lib.fft.hfftn(x, norm="ortho"),
        lib.fft.fftshift(x), lib.fft.ifftshift(x, dim=1), lib.fft.fftshift(x, (0, 1)) * lib.fft.fftfreq(4, 0.1),
        lib.fft.rfftfreq(7, dtype=x.dtype)),
    "math_index": lambda lib, x, y: (
        lib.take(x, lib.tensor([0, 5, 11])), x.index_add(0, lib.tensor([0, 2]), y[:2], alpha=2),
        lib.index_copy(x, 1, lib.tensor([3, 0]), y[:, :2]), x.index_fill(1, lib.tensor([1]), -1.5),
        lib.scatter_add(x, 0, lib.tensor([[0, 1, 2, 0]]), y[:1]),
        x.scatter_reduce(0, lib.tensor([[0, 1, 2, 0]]), y[:1], "amax"),
        lib.scatter_reduce(x, 1, lib.tensor([[0, 0]] * 3), y[:, :2], "sum", include_self=False),
        lib.searchsorted(lib.tensor([-0.5, 0.0, 0.5], dtype=x.dtype), x.detach()),
        lib.searchsorted(y[0].detach(), x.detach(), right=True, sorter=y[0].detach().argsort()),
        lib.bucketize(x.detach(), lib.tensor([0.0, 0.5], dtype=x.dtype), right=True), lib.histc(x.detach(), 5),
        lib.unique(lib.tensor([3, 1, 3]), return_inverse=True, return_counts=True), lib.unique(lib.tensor([2, 0, 2])),
        (x > 0).unique(), lib.nonzero(x > 0), (x > 0).nonzero(as_tuple=True), lib.bincount(lib.tensor([0, 2, 2])),
        lib.bincount(lib.tensor([0, 2, 2]), weights=lib.tensor([1.0, 2.0, 0.5]), minlength=5),
        lib.masked_select(x, y > 0), x.masked_select(lib.tensor([True, False, True, False])), x[range(0, 3, 2)],
        x[range(2), [1, 3]], _range_write(lib, x)),
    "math_linalg": lambda lib, x, y: _linalg(lib, x, y),
}


def _range_write(lib, x):
    a = x * 1
    a[range(1, 3)] = 0.5
    return a


def _linalg(lib, x, y):
    L = lib.linalg
    a = x[:, :3] @ x[:, :3].mT + lib.eye(3, dtype=x.dtype) * 3   # symmetric positive definite
    return (L.norm(x), L.norm(x, "fro"), L.norm(x, 1, dim=1), L.norm(x, ord=2), L.vector_norm(x, 3),
            L.vector_norm(x, dim=(0, 1), keepdim=True), L.matrix_norm(x), L.matrix_norm(x, "nuc"), L.inv(a),
            L.solve(a, y[:, :2]), L.solve(a, y[:2, :3], left=False), L.det(a), L.slogdet(a), L.cholesky(a),
            L.cholesky(a, upper=True), L.qr(x[:, :3]), L.svd(a, full_matrices=False).S, L.eigh(a).eigenvalues,
            L.pinv(x), L.lstsq(a.detach(), y.detach()).solution, L.matrix_exp(a * 0.1),
            L.solve_triangular(L.cholesky(a), y[:, :2], upper=False),
            L.solve_triangular(a.triu(), y[:2, :3], upper=True, left=False, unitriangular=True),
            lib.cholesky_inverse(L.cholesky(a)), L.cholesky(a, upper=True).cholesky_inverse(upper=True))


def _nn_losses(F, labels, x, y):
    p = y.sigmoid()
    return (F.nll_loss(x.log_softmax(1), labels), F.cross_entropy(x, labels, label_smoothing=0.1),
            F.cross_entropy(x, labels), F.l1_loss(x, y), F.smooth_l1_loss(x, y, beta=0.5), F.huber_loss(x, y, delta=0.5),
            F.binary_cross_entropy(x.sigmoid(), p),
            F.binary_cross_entropy_with_logits(x, p, pos_weight=y[0].detach().exp()))


def _nn_layers(lib, x, y):
    F = lib.nn.functional
    idx = lib.tensor([[0, 2], [1, 1]])
    running_mean, running_var = lib.zeros(4, dtype=x.dtype), lib.ones(4, dtype=x.dtype)
    return (F.layer_norm(x, (4,), y[0], y[1]), F.batch_norm(x, running_mean, running_var, y[0], y[1], True),
            running_mean, running_var, F.embedding(idx, x), F.one_hot(idx, 4), F.pad(x, (1, 2)),
            F.pad(x[None], (2, 1), mode="reflect"), F.conv1d(x[:, None], y[:2, None, :2], y[2, :2]),
            F.max_pool2d(x[None, None], 2, 1), F.avg_pool2d(x[None, None], 2, 1), F.adaptive_avg_pool2d(x[None], 2))


def _writes(lib, x, y):
    a = x * 1
    a[0] = 2.0
    a[:, 1] = y[:, 2]
    a[a > 1] = 0.5
    a[lib.tensor([2, 0])] = y[:2] * 3
    b = x * 1
    b[b < 0] = y[b < 0]
    return a, b


def _inplace(a, y):
    a += y
    a *= 2
    a.add_(y).mul_(0.5).sub_(y, alpha=2).div_(3).masked_fill_(a > 2, 0.0).clamp_(-1, 1).exp_()
    b = a * 1
    b.zero_()
    c = a * 1
    c.fill_(1.5)
    d = a * 1
    d.copy_(y)
    return a, b, c, d


@pytest.mark.parametrize("name", list(SAMPLES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sample_values_and_gradients_match_torch(name, dtype, rng):
    a, b = rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal((3, 4)).astype(dtype)
    (gx, tx), (gy, ty) = _both(a, True), _both(b, True)
    g_out = SAMPLES[name](gt, gx, gy)
    with DEVICE:   # the samples' own tensors (indices, running stats) too
        t_out = SAMPLES[name](torch, tx, ty)
    tol = (1e-10, 1e-12) if dtype == np.float64 else (2e-5, 1e-5)
    _same(g_out, t_out, *tol)
    g_loss = t_loss = 0
    for go, to in zip(_flat(g_out), _flat(t_out)):
        if isinstance(to, torch.Tensor) and to.requires_grad:
            w = rng.standard_normal(tuple(to.shape)).astype(dtype)
            g_loss = g_loss + (go * gt.from_numpy(w)).sum()
            t_loss = t_loss + (to * twin(w)).sum()
    if isinstance(t_loss, torch.Tensor):
        g_loss.backward()
        t_loss.backward()
        _same(gx.grad if gx.grad is not None else 0, tx.grad if tx.grad is not None else 0, *tol)
        _same(gy.grad if gy.grad is not None else 0, ty.grad if ty.grad is not None else 0, *tol)


def _flat(out):
    for o in out if isinstance(out, (tuple, list)) else (out,):
        if isinstance(o, (tuple, list)):
            yield from _flat(o)
        else:
            yield o


def test_every_table_entry_is_exercised(rng, monkeypatch):
    """Running the checks above emits every opcode of the core table (forward and backward);
    the entries of gt/ops/nn.py and the other modules are exercised by their own tests."""
    seen = set()
    submit = runtime.submit

    def recording(opcode, *args):
        seen.add(opcode)
        return submit(opcode, *args)
    monkeypatch.setattr(runtime, "submit", recording)
    for name in SAMPLES:
        test_sample_values_and_gradients_match_torch(name, np.float64, rng)
    for name in UNARY:
        test_elementwise_values_and_dtypes_match_torch(name, np.float32)
        test_elementwise_values_and_dtypes_match_torch(name, np.bool_)
    for name in BINARY:
        test_binary_values_dtypes_and_broadcasting_match_torch(name, (3, 4), (4,), np.int64, np.int64, rng)
    for name in DIFF_UNARY:
        test_elementwise_gradients_match_torch(name, (3, 4), rng)
    for name in DIFF_BINARY:
        test_binary_gradients_match_torch(name, (3, 4), (4,), rng)
    for name in ("add", "sub", "mul", "div", "pow", "eq", "ne", "lt", "le", "gt", "ge", "bitwise_and",
                 "bitwise_or", "bitwise_xor", "remainder", "floor_divide"):
        test_tensor_with_python_number_matches_torch(name, 2, np.bool_ if name.startswith("bit") else np.float32)
    (2 - gx_scalar()).sum(), (2 / gx_scalar()).sum(), (2 ** gx_scalar()).sum()
    for name in ("fmod", "remainder"):
        test_tensor_with_python_number_matches_torch(name, 2, np.float32)
    checked = {e.name for e in core.ENTRIES + math_ops.ENTRIES if e.kind != "data" and e.name not in COMPLEX} | {
        e.name for e in optim.ENTRIES if e.grad}
    missing = sorted(checked - {OP_NAMES[c] for c in seen})
    assert not missing, f"table entries without a check: {missing}"


COMPLEX = ("fft_fft", "fft_ifft", "fft_rfft", "fft_fftn")   # complex results: refused (test below)


@pytest.mark.parametrize("name", COMPLEX)
def test_ops_with_complex_results_say_gt_lacks_complex_dtypes(name):
    fn = getattr(gt.fft, name[4:])
    assert torch.is_complex(getattr(torch.fft, name[4:])(torch.ones(4)))
    with pytest.raises(NotImplementedError, match="does not support dtype torch.complex64"):
        fn(gt.ones(4))


def test_generated_functions_bind_arguments_as_torch_does():
    x, t = _both(np.arange(12.0).reshape(3, 4))
    for call in (lambda lib: lib.diag(x if lib is gt else t, 1, 2),             # too many positionals
                 lambda lib: lib.roll(x if lib is gt else t),                   # missing shifts
                 lambda lib: lib.diag(x if lib is gt else t, offset=1),         # unknown keyword
                 lambda lib: lib.diag(x if lib is gt else t, 1, diagonal=1),    # given twice
                 lambda lib: lib.kron(x if lib is gt else t, 2.0),              # a number for a tensor
                 lambda lib: lib.roll(x if lib is gt else t, "a")):             # a string for ints
        with pytest.raises(TypeError):
            call(torch)
        with pytest.raises(TypeError):
            call(gt)
    _same(x.flip(0, 1), t.flip(0, 1))
    _same(gt.rot90(x, dims=(1, 0)), torch.rot90(t, dims=(1, 0)))


def test_generated_in_place_and_out_variants_match_torch():
    (x, t), (y, u) = _both(np.arange(12.0).reshape(3, 4) - 5), _both(np.ones((2, 4)))
    assert x.index_add_(0, gt.tensor([0, 2]), y, alpha=2) is x
    t.index_add_(0, torch.tensor([0, 2], device=t.device), u, alpha=2)
    _same(x, t)
    _same(x.log().nan_to_num_(), t.log().nan_to_num_())
    _same(x.fmod_(3), t.fmod_(3))
    out_g, out_t = gt.zeros(3), torch.zeros(3, device=t.device)
    assert gt.logsumexp(x, 1, out=out_g) is out_g
    _same(out_g, torch.logsumexp(t, 1, out=out_t))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        gt.logsumexp(gt.ones(3, requires_grad=True), 0, out=gt.zeros(()))


@pytest.mark.parametrize("entry, error", [
    (Op("bad", torch.sin, "meta", grad=(lambda g, y: g,), sig="x: Tensor"), "gradient takes \\['y'\\]"),
    (Op("bad", torch.sin, "meta", sig="x: Tensor, n: number"), "unknown type 'number'"),
    (Op("bad", torch.sin, "meta", ("x",), ("g * cos_of(x)",)), "unknown name 'cos_of'"),
    (Op("bad", torch.sin, "meta", sig="x: Tensor, n: int = 1, m: int"), "follows one with a default"),
    (Op("bad", torch.sin, "meta", sig="x: Tensor", variants=("function", "static")), "unknown variants"),
    (Op("bad", torch.unique, "data", grad=VJP, sig="x: Tensor"), "has no gradient"),
])
def test_the_table_refuses_malformed_entries_when_it_loads(entry, error):
    with pytest.raises((ValueError, TypeError), match=error):
        load((entry,))


def test_a_string_formula_still_loads_as_a_function():
    (entry,) = load((Op("twice", torch.sin, "meta", ("x",), ("g * x.cos()",)),))
    assert callable(entry.grad[0]) and list(inspect.signature(entry.grad[0]).parameters) == ["g", "x"]


def gx_scalar():
    return gt.ones(3)


def test_dtype_names_are_accepted_where_a_dtype_is():
    x = gt.ones(2, 3)
    assert x.to("float64").dtype == torch.float64
    assert x.to(dtype="int32").dtype == torch.int32
    assert x.new_zeros(2, dtype="bfloat16").dtype == torch.bfloat16
    with pytest.raises(TypeError, match="unknown dtype name 'complex64'"):
        x.to(dtype="complex64")


def test_transpose_without_dims_swaps_the_last_two():
    a = np.arange(24.0).reshape(2, 3, 4)
    _same(gt.from_numpy(a).transpose(), torch.tensor(a).transpose(-2, -1))


def test_prototype_module_path_for_creation():
    from gt.client.tensor import from_numpy, ones, randn, tensor, zeros
    _same(from_numpy(np.ones(2)) + zeros(2) + ones(2) + tensor([1.0, 2.0]).double(),
          torch.ones(2, dtype=torch.float64) * 2 + torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert randn(2, 3).shape == (2, 3)


# -- errors: torch's exception types --------------------------------------------------------------
ERRORS = [
    lambda lib: lib.ones(2, 3) + lib.ones(4),
    lambda lib: lib.ones(2, 3) @ lib.ones(2, 3),
    lambda lib: lib.ones(2, 3).sum(2),
    lambda lib: lib.ones(2, 3).reshape(4),
    lambda lib: lib.ones(2, 3)[2],
    lambda lib: lib.ones(2, 3)[0, 0, 0],
    lambda lib: lib.ones(2, 3).permute(0),
    lambda lib: lib.ones(2, 3).softmax(2),
    lambda lib: lib.cat([lib.ones(2, 3), lib.ones(2, 4)]),
    lambda lib: lib.stack([lib.ones(2, 3), lib.ones(3, 2)]),
    lambda lib: lib.ones(2, 3).gather(1, lib.ones(2, 3)),
    lambda lib: lib.ones(2, 3).masked_fill(lib.ones(2, 3), 0.0),
    lambda lib: lib.ones(2, 3, dtype=lib.bool).abs(),
    lambda lib: -lib.ones(2, dtype=lib.bool),
    lambda lib: lib.ones(2, dtype=lib.bool) - lib.ones(2, dtype=lib.bool),
    lambda lib: lib.ones(2, dtype=lib.int64).mean(),
    lambda lib: lib.ones(3).max(0, keepdim=True).values[lib.ones(3) > 0],
    lambda lib: lib.ones(2, 3).topk(4),
    lambda lib: lib.einsum("ij,jk->ik", lib.ones(2, 3), lib.ones(2, 3)),
    lambda lib: lib.ones(2, 3)[lib.ones(3) > 0],
    lambda lib: lib.clamp(lib.ones(2)),
    lambda lib: lib.ones(2, 3).split([1, 1, 2], 1),
]


@pytest.mark.parametrize("case", range(len(ERRORS)))
def test_errors_are_torchs_exception_types(case):
    fn = ERRORS[case]
    with pytest.raises(Exception) as want:
        fn(torch)
    with pytest.raises(Exception) as got:
        fn(gt)
    assert issubclass(type(got.value), type(want.value)) or type(want.value) in type(got.value).__mro__ or \
        type(got.value) is type(want.value), (type(got.value), type(want.value), str(got.value))


def test_what_gt_lacks_is_named_as_torchs():
    with pytest.raises(AttributeError, match="does not support torch.hub"):
        gt.hub
    with pytest.raises(AttributeError, match="does not support torch.linalg.eigvals"):
        gt.linalg.eigvals
    with pytest.raises(AttributeError, match="does not support torch.Tensor.igamma"):
        gt.ones(2).igamma(gt.ones(2))
    with pytest.raises(AttributeError, match="does not support torch.Tensor.stft"):
        gt.ones(2).stft()
    with pytest.raises(AttributeError, match="has no attribute 'not_a_torch_name'$"):
        gt.ones(2).not_a_torch_name


def test_inference_mode_records_no_gradients():
    x = gt.ones(2, requires_grad=True)
    with gt.inference_mode():
        y = x * 2
    assert not y.requires_grad and gt.is_grad_enabled()
    with gt.inference_mode(False):
        assert (x * 2).requires_grad


def test_a_refusal_that_depends_on_the_number_is_not_remembered():
    x = gt.tensor([2, 3])
    with pytest.raises(RuntimeError, match="negative integer powers"):
        x ** -1
    with pytest.raises(RuntimeError, match="negative integer powers"):
        x.pow(-2)
    _same(x ** 2, torch.tensor([2, 3]) ** 2)
    _same(gt.pow(x, 3), torch.pow(torch.tensor([2, 3]), 3))


@pytest.mark.parametrize("name", ["exp", "relu", "sin"])
def test_elementwise_functions_refuse_non_tensors_with_torchs_type(name):
    with pytest.raises(TypeError):
        getattr(torch, name)(2.0)
    with pytest.raises(TypeError, match=f"{name}\\(\\): argument 'input' must be a gt Tensor"):
        getattr(gt, name)(2.0)


@pytest.mark.parametrize("name", BINARY + ["add", "sub", "mul", "div", "pow"])
def test_binary_edge_values_match_torch(name):
    """-0.0, inf and nan against each other, every pair (a column against a row)."""
    (ga, ta), (gb, tb) = _both(EDGE.reshape(-1, 1)), _both(EDGE)
    _compare_call(lambda: getattr(gt, name)(ga, gb), lambda: getattr(torch, name)(ta, tb))


@pytest.mark.parametrize("reduce", [
    lambda x: x.sum(), lambda x: x.sum(0), lambda x: x.mean(), lambda x: x.mean(1), lambda x: x.max(),
    lambda x: x.max(1), lambda x: x.max(0), lambda x: x.argmax(), lambda x: x.var(), lambda x: x.norm(),
    lambda x: x.cumsum(0), lambda x: x.softmax(1), lambda x: x.all(), lambda x: x.any(1), lambda x: x.std(0),
], ids=lambda f: "")
@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0,)])
def test_reductions_of_empty_tensors_match_torch(reduce, shape):
    g, t = _both(np.zeros(shape, np.float32))
    _compare_call(lambda: reduce(g), lambda: reduce(t))


def test_softmax_values_and_gradients_are_torchs_bits():
    """softmax/log_softmax run torch's fused kernels and their backward kernels: equal bits."""
    a = np.random.default_rng(7).standard_normal((5, 7)).astype(np.float32) * 4
    w = np.random.default_rng(8).standard_normal((5, 7)).astype(np.float32)
    for name in ("softmax", "log_softmax"):
        g, t = _both(a, True)
        gy, ty = getattr(g, name)(1), getattr(t, name)(1)
        (gy * gt.from_numpy(w)).sum().backward()
        (ty * twin(w)).sum().backward()
        np.testing.assert_array_equal(gy.detach().numpy(), ty.detach().cpu().numpy())
        np.testing.assert_array_equal(g.grad.numpy(), t.grad.cpu().numpy())
