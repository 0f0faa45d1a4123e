"""Reductions: sum, mean, max/min (with indices), arg-extrema, all/any, var/std, norm,
cumsum, and softmax/log_softmax (torch's fused kernels and their backward kernels)."""
from __future__ import annotations

from collections import namedtuple

import torch

from gt.client import surface
from gt.client.emit import apply, emit, number, send
from gt.client.shapes import FLOATING, norm_dim, norm_dims, reduce_shape
from gt.client.tensor import Tensor
from gt.ops import OPCODE as _OP

values_indices = namedtuple("values_indices", ["values", "indices"])


def _dims_arg(name: str, dim, keepdim, axis, keepdims):
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{name}() got both 'dim' and 'axis'")
        dim = axis
    return dim, keepdim or bool(keepdims)


def _reduce(x: Tensor, name: str, dim, keepdim: bool, dtype: torch.dtype) -> Tensor:
    if dim is None or dim == () or dim == []:
        return send(_OP[name + "_all"], (x,), (x._id,), (), dtype)
    dims = norm_dims(dim, x.ndim)
    return send(_OP[name + "_dim"], (x,), (x._id,), reduce_shape(x.shape, dims, keepdim), dtype, (dims, keepdim))


def sum(x: Tensor, dim=None, keepdim=False, *, axis=None, keepdims=False, dtype=None) -> Tensor:
    dim, keepdim = _dims_arg("sum", dim, keepdim, axis, keepdims)
    out = _reduce(x, "sum", dim, keepdim, x.dtype if x.dtype in FLOATING else torch.int64)
    return out if dtype is None else out.to(dtype)


def mean(x: Tensor, dim=None, keepdim=False, *, axis=None, keepdims=False, dtype=None) -> Tensor:
    dim, keepdim = _dims_arg("mean", dim, keepdim, axis, keepdims)
    if dtype is not None:
        x = x.to(dtype)
    if x.dtype not in FLOATING:
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating point "
                           f"or complex dtype. Got: {str(x.dtype).replace('torch.', '').capitalize()}")
    return _reduce(x, "mean", dim, keepdim, x.dtype)


def _extremum(x: Tensor, name: str, dim, keepdim: bool, axis, keepdims):
    if isinstance(dim, Tensor):
        return x.maximum(dim) if name == "max" else x.minimum(dim)
    dim, keepdim = _dims_arg(name, dim, keepdim, axis, keepdims)
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                               f"Specify the reduction dim with the 'dim' argument.")
        return _reduce(x, name, None, False, x.dtype)
    d = norm_dim(dim, x.ndim)
    if x.ndim and x.shape[d] == 0:
        raise IndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")
    shape = reduce_shape(x.shape, (d,), keepdim)
    arg = "argmax_dim" if name == "max" else "argmin_dim"
    idx = emit(_OP[arg], (x._id,), shape, torch.int64, (d, keepdim))
    values = send(_OP["amax_dim" if name == "max" else "amin_dim"], (x,), (x._id,), shape, x.dtype, (d, keepdim))
    return values_indices(values, idx)


def max(x: Tensor, dim=None, keepdim=False, *, axis=None, keepdims=False):
    """Full max, elementwise maximum (``max(a, b)``), or (values, indices) along ``dim``."""
    return _extremum(x, "max", dim, keepdim, axis, keepdims)


def min(x: Tensor, dim=None, keepdim=False, *, axis=None, keepdims=False):
    return _extremum(x, "min", dim, keepdim, axis, keepdims)


def _arg_extremum(x: Tensor, name: str, dim, keepdim: bool) -> Tensor:
    if dim is None:
        if x.numel() == 0:
            raise IndexError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0.")
        flat = x.reshape(-1)
        out = _arg_extremum(flat, name, 0, False)
        return out.reshape((1,) * x.ndim) if keepdim else out
    d = norm_dim(dim, x.ndim)
    return emit(_OP[name + "_dim"], (x._id,), reduce_shape(x.shape, (d,), keepdim), torch.int64, (d, keepdim))


def argmax(x: Tensor, dim=None, keepdim=False) -> Tensor:
    return _arg_extremum(x, "argmax", dim, keepdim)


def argmin(x: Tensor, dim=None, keepdim=False) -> Tensor:
    return _arg_extremum(x, "argmin", dim, keepdim)


def _all_dims(x: Tensor, dim, keepdim: bool) -> tuple:
    return None if dim is None else norm_dims(dim, x.ndim), keepdim


def all(x: Tensor, dim=None, keepdim=False) -> Tensor:
    return apply(_OP["all_dims"], (x,), _all_dims(x, dim, keepdim))


def any(x: Tensor, dim=None, keepdim=False) -> Tensor:
    return apply(_OP["any_dims"], (x,), _all_dims(x, dim, keepdim))


def _correction(unbiased, correction) -> float:
    if correction is not None:
        if unbiased is not None:
            raise RuntimeError("var/std: pass either unbiased or correction, not both")
        return correction
    return 1 if unbiased is None or unbiased else 0


def var(x: Tensor, dim=None, unbiased=None, keepdim=False, *, correction=None) -> Tensor:
    if isinstance(dim, bool):  # var(x, False): the old positional unbiased
        dim, unbiased = None, dim
    dims = tuple(range(x.ndim)) if dim is None else norm_dims(dim, x.ndim)
    return apply(_OP["var"], (x,), (dims, _correction(unbiased, correction), keepdim))


def std(x: Tensor, dim=None, unbiased=None, keepdim=False, *, correction=None) -> Tensor:
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    dims = tuple(range(x.ndim)) if dim is None else norm_dims(dim, x.ndim)
    return apply(_OP["std"], (x,), (dims, _correction(unbiased, correction), keepdim))


def norm(x: Tensor, p="fro", dim=None, keepdim=False, dtype=None) -> Tensor:
    """The vector p-norm over ``dim`` (all elements by default); "fro" is p = 2."""
    if p == "fro" or p is None:
        p = 2.0
    if isinstance(p, str) or number(p) is None:
        raise NotImplementedError(f"GT does not support torch.norm(p={p!r}) yet (numbers and 'fro' are)")
    if dtype is not None:
        x = x.to(dtype)
    dims = tuple(range(x.ndim)) if dim is None else norm_dims(dim, x.ndim)
    return apply(_OP["norm"], (x,), (float(p), dims, keepdim))


def cumsum(x: Tensor, dim: int, *, dtype=None) -> Tensor:
    if dtype is not None:
        x = x.to(dtype)
    return apply(_OP["cumsum"], (x,), (norm_dim(dim, x.ndim),))


def _softmax_like(name: str, x: Tensor, dim, dtype) -> Tensor:
    if dim is None:
        raise TypeError(f"{name}() missing the 'dim' argument (torch's implicit dim choice is deprecated)")
    if dtype is not None:
        x = x.to(dtype)
    return apply(_OP[name], (x,), (norm_dim(dim, x.ndim),))


def softmax(x: Tensor, dim=None, dtype=None, *, _stacklevel=3) -> Tensor:
    """torch's fused softmax kernel and its backward kernel."""
    return _softmax_like("softmax", x, dim, dtype)


def log_softmax(x: Tensor, dim=None, dtype=None, *, _stacklevel=3) -> Tensor:
    return _softmax_like("log_softmax", x, dim, dtype)


_REDUCTIONS = dict(sum=sum, mean=mean, max=max, min=min, argmax=argmax, argmin=argmin, all=all, any=any, var=var,
                   std=std, norm=norm, cumsum=cumsum, softmax=softmax, log_softmax=log_softmax)
surface.functions(**_REDUCTIONS)
surface.methods(**_REDUCTIONS)
