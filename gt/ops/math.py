"""Op entries of the wider math surface: elementwise functions, ``gt.linalg``, ``gt.fft``,
``gt.special``, and the tensor ops scripts reach for beyond the core.

Each entry carries its signature, so its client function, method and in-place
form are generated (gt/client/generate.py): adding one of these ops is one entry.
Entries named ``linalg_*``/``fft_*`` are ``gt.linalg.*``/``gt.fft.*``, as torch's
native functions are named.  Gradients are functions where they are short, else
``VJP``: torch's own backward of the kernel, run on the worker.

``unique``, ``nonzero``, ``bincount``, ``histc`` are "data" ops: their result's size (or
torch's lack of a meta kernel, ``linalg.lstsq``) needs the values, so calling one reads
its inputs (a sync point, as ``x[mask]`` is); their results have no gradient.
GT has no complex dtypes: ``gt.fft`` functions whose result is complex raise
NotImplementedError; those with real results of a real tensor (``irfft``, ``hfft`` and their 2-d
and n-d forms, ``fftshift``) work.  Entries exported nowhere (``export=()``) are overloads that a
hand-written function picks between (``gt/client/overloads.py``) or view ops linked to their
base (``diagonal``, ``gt/client/movement.py``).
"""
from __future__ import annotations

import math

import torch

from gt.ops.table import VJP, Op, elementwise, ops

_FN = ("function", "out")
_METHOD = ("function", "method", "out")
_INPLACE = ("function", "method", "inplace", "out")
_OVERLOAD = ("function",)   # with export=(): made into a function by a hand-written one (overloads, views)
_SPECIAL = ("gt", "gt.special")
_LINALG = ("gt.linalg",)
_FFT = ("gt.fft",)


def _binary(name, kernel, grads, node=""):
    """A broadcasting op of two tensors (no Python-number twin): function and method."""
    return Op(name, kernel, "broadcast", ("a", "b"), grads, node or name, variants=_METHOD)


def _which(fn):
    """A kernel of several results, selecting result ``which`` (see ``parse_signature``)."""
    def kernel(*args):
        return fn(*args[:-1])[args[-1]]
    kernel.__name__ = fn.__name__
    return kernel


_FFT2_SIG = "input: Tensor, s: int[]? = None, dim: int[] = (-2, -1), norm: str? = None"
_FFTN_SIG = "input: Tensor, s: int[]? = None, dim: int[]? = None, norm: str? = None"


def _fft(name, fn, sig="input: Tensor, n: int? = None, dim: int = -1, norm: str? = None"):
    return Op(name, fn, "meta", grad=VJP, node=name, sig=sig, variants=_FN, export=_FFT)


def _linalg(name, fn, sig, grad=VJP, node=""):
    return Op(name, fn, "meta", grad=grad, node=node or name, sig=sig, variants=_FN, export=_LINALG)


def _repeat_index(repeats, output_size):
    """torch.repeat_interleave(repeats, output_size=): on a GPU torch trusts ``output_size`` in the
    kernel (a device-side assert that kills the CUDA context when it is wrong); checked here first."""
    if output_size is not None and repeats.device.type != "cpu" and int(repeats.sum()) != output_size:
        raise RuntimeError("allocated size does not match required size")
    return torch.repeat_interleave(repeats, output_size=output_size)


def _logsumexp_grad(g, out, input, dim, keepdim):
    """``g * exp(input - out)``, with ``g`` and ``out`` given back the reduced dims."""
    if not keepdim and input.ndim:
        for d in sorted(d % input.ndim for d in dim):
            g, out = g.unsqueeze(d), out.unsqueeze(d)
    return g * (input - out).exp()


ENTRIES: tuple = (
    # -- elementwise
    elementwise("log1p", torch.log1p, lambda g, x: g / (x + 1), "log1_p", export=_SPECIAL),
    elementwise("expm1", torch.expm1, lambda g, out: g * (out + 1), export=_SPECIAL),
    elementwise("sinh", torch.sinh, lambda g, x: g * x.cosh()),
    elementwise("cosh", torch.cosh, lambda g, x: g * x.sinh()),
    elementwise("asin", torch.asin, lambda g, x: g * (1 - x * x).rsqrt()),
    elementwise("acos", torch.acos, lambda g, x: -g * (1 - x * x).rsqrt()),
    elementwise("atan", torch.atan, lambda g, x: g / (x * x + 1)),
    elementwise("asinh", torch.asinh, lambda g, x: g * (x * x + 1).rsqrt()),
    elementwise("acosh", torch.acosh, lambda g, x: g * (x * x - 1).rsqrt()),
    elementwise("atanh", torch.atanh, lambda g, x: g / (1 - x * x)),
    elementwise("log2", torch.log2, lambda g, x: g / (x * math.log(2)), "log20"),
    elementwise("log10", torch.log10, lambda g, x: g / (x * math.log(10)), "log100"),
    elementwise("exp2", torch.exp2, lambda g, out: g * out * math.log(2), "exp20", export=_SPECIAL),
    elementwise("square", torch.square, lambda g, x: g * 2 * x, "pow"),
    elementwise("erfinv", torch.erfinv, lambda g, out: g * (out * out).exp() * (math.sqrt(math.pi) / 2),
                export=_SPECIAL),
    elementwise("digamma", torch.digamma, lambda g, x: g * ops.polygamma(x, 1), export=_SPECIAL),
    elementwise("lgamma", torch.lgamma, lambda g, x: g * x.digamma()),
    elementwise("frac", torch.frac, lambda g: g),
    elementwise("trunc", torch.trunc, lambda g: ops.zeros_like(g)),
    elementwise("sgn", torch.sgn, lambda g: ops.zeros_like(g)),
    elementwise("signbit", torch.signbit, inplace=False),
    elementwise("isinf", torch.isinf, inplace=False),
    Op("polygamma", lambda x, n: torch.polygamma(n, x), "meta",
       grad=(lambda g, input, n: g * ops.polygamma(input, n + 1),), node="polygamma", sig="n: int, input: Tensor",
       variants=_FN, export=_SPECIAL),
    Op("nan_to_num", torch.nan_to_num, "meta", grad=(lambda g, input: g * input.isfinite(),), node="nan_to_num",
       sig="input: Tensor, nan: float = 0.0, posinf: float? = None, neginf: float? = None", variants=_INPLACE),
    # -- broadcasting binary
    _binary("atan2", torch.atan2, (lambda g, a, b: g * b / (a * a + b * b),
                                   lambda g, a, b: -g * a / (a * a + b * b)), "atan20"),
    _binary("hypot", torch.hypot, (lambda g, out, a: g * a / out, lambda g, out, b: g * b / out)),
    _binary("logaddexp", torch.logaddexp, (lambda g, a, b: g * (a - b).sigmoid(),
                                           lambda g, a, b: g * (b - a).sigmoid())),
    Op("fmod", torch.fmod, "broadcast", ("a", "b"), (lambda g: g, lambda g, a, b: -g * (a / b).trunc()), "fmod",
       variants=_INPLACE),
    Op("fmod_scalar", torch.fmod, "scalar", ("x", "s"), (lambda g: g,), "fmod"),
    Op("isclose", torch.isclose, "meta", variants=_METHOD,
       sig="input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, "
       "equal_nan: bool = False"),
    # -- reductions and products
    Op("logsumexp", torch.logsumexp, "meta", grad=(_logsumexp_grad,),
       node="logsumexp", sig="input: Tensor, dim: int[], keepdim: bool = False", export=_SPECIAL, variants=_METHOD),
    Op("trace", torch.trace, "meta", grad=VJP, node="trace", sig="input: Tensor", variants=_METHOD),
    Op("kron", torch.kron, "meta", grad=VJP, node="kron", sig="input: Tensor, other: Tensor", variants=_METHOD),
    Op("cross", torch.cross, "meta", grad=VJP, node="linalg_cross",
       sig="input: Tensor, other: Tensor, dim: int? = None", variants=_METHOD),
    Op("cdist", torch.cdist, "meta", grad=VJP, node="cdist", variants=_FN,
       sig="x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode: str = 'use_mm_for_euclid_dist_if_necessary'"),
    Op("tensordot", lambda a, b, dims: torch.tensordot(a, b, dims), "meta", grad=VJP, node="tensordot",
       sig="a: Tensor, b: Tensor, dims: Any = 2", variants=_FN),
    Op("addmm", lambda x, m1, m2, beta, alpha: torch.addmm(x, m1, m2, beta=beta, alpha=alpha), "meta", grad=VJP,
       node="addmm", sig="input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: Scalar = 1, alpha: Scalar = 1",
       variants=_INPLACE),
    Op("baddbmm", lambda x, b1, b2, beta, alpha: torch.baddbmm(x, b1, b2, beta=beta, alpha=alpha), "meta", grad=VJP,
       node="baddbmm", sig="input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: Scalar = 1, alpha: Scalar = 1",
       variants=_INPLACE),
    # -- shapes and diagonals
    Op("diag", torch.diag, "meta", grad=VJP, node="diag", sig="input: Tensor, diagonal: int = 0", variants=_METHOD),
    Op("diag_embed", torch.diag_embed, "meta", grad=VJP, node="diag_embed",
       sig="input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1", variants=_METHOD),
    Op("diagonal", torch.diagonal, "meta", grad=VJP, node="diagonal",
       sig="input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1", variants=_OVERLOAD, export=()),
    Op("diagonal_scatter", torch.diagonal_scatter, "meta", grad=VJP, node="diagonal_scatter",
       sig="input: Tensor, src: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1", variants=_METHOD),
    Op("roll", torch.roll, "meta", grad=(lambda g, shifts, dims: g.roll(tuple(-s for s in shifts), dims),),
       node="roll", sig="input: Tensor, shifts: int[], dims: int[]? = None", variants=_METHOD),
    Op("flip", torch.flip, "meta", grad=(lambda g, dims: g.flip(dims),), node="flip", sig="input: Tensor, dims: int[]",
       variants=_METHOD),
    Op("rot90", torch.rot90, "meta", grad=(lambda g, k, dims: g.rot90(-k, dims),), node="rot90",
       sig="input: Tensor, k: int = 1, dims: int[] = (0, 1)", variants=_METHOD),
    # torch's overloads of one name, each an entry; gt.client.overloads picks one per call
    Op("repeat_interleave", lambda x, repeats, dim, output_size: torch.repeat_interleave(
        x, repeats, dim, output_size=output_size), "meta", grad=VJP, node="view",
       sig="input: Tensor, repeats: int, dim: int? = None, *, output_size: int? = None", variants=_OVERLOAD, export=()),
    Op("repeat_interleave_index", _repeat_index, "data", sig="repeats: Tensor, *, output_size: int? = None",
       variants=_OVERLOAD, export=()),
    # -- indexing
    Op("take", torch.take, "meta", grad=VJP, node="take", sig="input: Tensor, index: Tensor", variants=_METHOD),
    Op("index_add", lambda x, i, s, dim, alpha: torch.index_add(x, dim, i, s, alpha=alpha), "meta", grad=VJP,
       node="index_add", sig="input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: Scalar = 1",
       variants=_INPLACE),
    Op("index_copy", lambda x, i, s, dim: torch.index_copy(x, dim, i, s), "meta", grad=VJP, node="index_copy",
       sig="input: Tensor, dim: int, index: Tensor, source: Tensor", variants=_INPLACE),
    Op("index_fill", lambda x, i, dim, value: torch.index_fill(x, dim, i, value), "meta", grad=VJP,
       node="index_fill", sig="input: Tensor, dim: int, index: Tensor, value: Scalar", variants=_INPLACE),
    Op("scatter_add", lambda x, i, s, dim: torch.scatter_add(x, dim, i, s), "meta", grad=VJP, node="scatter_add",
       sig="input: Tensor, dim: int, index: Tensor, src: Tensor", variants=_INPLACE),
    Op("scatter_reduce", lambda x, i, s, dim, reduce, include_self: torch.scatter_reduce(
        x, dim, i, s, reduce, include_self=include_self), "meta", grad=VJP, node="scatter_reduce",
       sig="input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True",
       variants=_INPLACE),
    Op("searchsorted", lambda s, x, out_int32, right, side: torch.searchsorted(s, x, out_int32=out_int32, right=right,
                                                                                side=side), "meta",
       sig="sorted_sequence: Tensor, input: Tensor, *, out_int32: bool = False, right: bool = False, side: str? = None",
       variants=_OVERLOAD, export=()),
    Op("searchsorted_sorter", lambda s, x, sorter, out_int32, right, side: torch.searchsorted(
        s, x, out_int32=out_int32, right=right, side=side, sorter=sorter), "meta",
       sig="sorted_sequence: Tensor, input: Tensor, *, out_int32: bool = False, right: bool = False, "
           "side: str? = None, sorter: Tensor", variants=_OVERLOAD, export=()),
    Op("bucketize", lambda x, b, out_int32, right: torch.bucketize(x, b, out_int32=out_int32, right=right), "meta",
       sig="input: Tensor, boundaries: Tensor, *, out_int32: bool = False, right: bool = False", variants=_FN),
    Op("histc", torch.histc, "data", sig="input: Tensor, bins: int = 100, min: Scalar = 0, max: Scalar = 0"),
    # -- results whose size depends on the values (a sync point)
    Op("unique", lambda x, s, inv, counts, dim: torch.unique(x, s, inv, counts, dim), "data",
       sig="input: Tensor, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False, "
           "dim: int? = None"),
    Op("nonzero", lambda x, as_tuple: torch.nonzero(x, as_tuple=as_tuple), "data",
       sig="input: Tensor, *, as_tuple: bool = False"),
    Op("bincount", torch.bincount, "data", sig="input: Tensor, weights: Tensor? = None, minlength: int = 0"),
    # -- gt.linalg
    _linalg("linalg_norm", lambda A, ord, dim, keepdim, dtype: torch.linalg.norm(A, ord, dim, keepdim, dtype=dtype),
            "A: Tensor, ord: Any = None, dim: int[]? = None, keepdim: bool = False, *, dtype: dtype? = None"),
    _linalg("linalg_vector_norm", lambda x, ord, dim, keepdim, dtype: torch.linalg.vector_norm(
        x, ord, dim, keepdim, dtype=dtype),
            "x: Tensor, ord: Scalar = 2, dim: int[]? = None, keepdim: bool = False, *, dtype: dtype? = None"),
    _linalg("linalg_matrix_norm", lambda A, ord, dim, keepdim, dtype: torch.linalg.matrix_norm(
        A, ord, dim, keepdim, dtype=dtype),
            "A: Tensor, ord: Any = 'fro', dim: int[] = (-2, -1), keepdim: bool = False, *, dtype: dtype? = None"),
    _linalg("linalg_inv", torch.linalg.inv, "A: Tensor", (lambda g, out: -(out.mT @ g @ out.mT),), "linalg_inv_ex"),
    _linalg("linalg_solve", lambda A, B, left: torch.linalg.solve(A, B, left=left),
            "A: Tensor, B: Tensor, *, left: bool = True"),
    _linalg("linalg_det", torch.linalg.det, "A: Tensor"),
    _linalg("linalg_slogdet", _which(torch.linalg.slogdet), "A: Tensor -> (sign, logabsdet)"),
    _linalg("linalg_cholesky", lambda A, upper: torch.linalg.cholesky(A, upper=upper),
            "A: Tensor, *, upper: bool = False"),
    _linalg("linalg_qr", _which(torch.linalg.qr), "A: Tensor, mode: str = 'reduced' -> (Q, R)"),
    _linalg("linalg_svd", _which(torch.linalg.svd), "A: Tensor, full_matrices: bool = True -> (U, S, Vh)"),
    _linalg("linalg_eigh", _which(torch.linalg.eigh), "A: Tensor, UPLO: str = 'L' -> (eigenvalues, eigenvectors)"),
    _linalg("linalg_pinv", lambda A, atol, rtol, hermitian: torch.linalg.pinv(A, atol=atol, rtol=rtol,
                                                                              hermitian=hermitian),
            "A: Tensor, *, atol: float? = None, rtol: float? = None, hermitian: bool = False"),
    Op("linalg_lstsq", lambda A, B, rcond, driver: torch.linalg.lstsq(A, B, rcond, driver=driver), "data",
       sig="A: Tensor, B: Tensor, rcond: float? = None, *, driver: str? = None", variants=_FN, export=_LINALG),
    _linalg("linalg_matrix_exp", torch.linalg.matrix_exp, "A: Tensor"),
    _linalg("linalg_solve_triangular", lambda A, B, upper, left, unitriangular: torch.linalg.solve_triangular(
        A, B, upper=upper, left=left, unitriangular=unitriangular),
            "A: Tensor, B: Tensor, *, upper: bool, left: bool = True, unitriangular: bool = False"),
    Op("cholesky_inverse", torch.cholesky_inverse, "meta", grad=VJP, node="cholesky_inverse",
       sig="input: Tensor, upper: bool = False", variants=_METHOD),
    # -- gt.fft (results that are complex raise NotImplementedError: GT has no complex dtypes)
    _fft("fft_fft", torch.fft.fft),
    _fft("fft_ifft", torch.fft.ifft),
    _fft("fft_rfft", torch.fft.rfft),
    _fft("fft_irfft", torch.fft.irfft),
    _fft("fft_fftn", torch.fft.fftn, _FFTN_SIG),
    # -- gt.fft with real results (a real input is the real part of a complex one)
    _fft("fft_hfft", torch.fft.hfft),
    _fft("fft_irfft2", torch.fft.irfft2, _FFT2_SIG),
    _fft("fft_hfft2", torch.fft.hfft2, _FFT2_SIG),
    _fft("fft_irfftn", torch.fft.irfftn, _FFTN_SIG),
    _fft("fft_hfftn", torch.fft.hfftn, _FFTN_SIG),
    Op("fft_fftshift", torch.fft.fftshift, "meta", grad=(lambda g, dim: ops.fft_ifftshift(g, dim),), node="roll",
       sig="input: Tensor, dim: int[]? = None", variants=("function",), export=_FFT),
    Op("fft_ifftshift", torch.fft.ifftshift, "meta", grad=(lambda g, dim: ops.fft_fftshift(g, dim),), node="roll",
       sig="input: Tensor, dim: int[]? = None", variants=("function",), export=_FFT),
)
