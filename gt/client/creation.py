"""Tensor creation: from data (a sync point: the value goes to the worker now) or as ops."""
from __future__ import annotations

import math

import numpy as np
import torch

from gt.client.emit import emit as _emit, number as _scalar, put as _put
from gt.client.shapes import SUPPORTED_DTYPES, size_args
from gt.client.tensor import Tensor
from gt.ops import OPCODE as _OP


def _check_dtype(dtype):
    if dtype is not None and dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"GT does not support dtype {dtype}")


def tensor(data, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """A tensor holding a copy of ``data`` (nested lists, numbers, numpy arrays or a gt Tensor)."""
    _check_dtype(dtype)
    if isinstance(data, Tensor):
        out = data.detach().to(dtype) if dtype is not None else data.detach()
        return out.requires_grad_(True) if requires_grad else out
    if isinstance(data, np.ndarray):
        _check_numpy_dtype(data)
    try:
        value = torch.tensor(data, dtype=dtype)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"gt.tensor: cannot make a tensor from {type(data).__name__}: {exc}") from None
    return _put(value, requires_grad)


_NUMPY_OK = (np.float32, np.float64, np.float16, np.int64, np.int32, np.bool_)


def _check_numpy_dtype(a: np.ndarray) -> None:
    if a.dtype.type not in _NUMPY_OK:
        raise TypeError(f"GT does not support numpy arrays of dtype {a.dtype} (supported: float16, float32, "
                        f"float64, int32, int64, bool)")


def from_numpy(a, requires_grad: bool = False) -> Tensor:
    """A tensor holding a copy of the numpy array ``a`` (same dtype)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(a).__name__}")
    _check_numpy_dtype(a)
    return _put(torch.tensor(a), requires_grad)


def full(size, fill_value, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    shape = size_args((size,) if isinstance(size, int) else tuple(size))
    _check_dtype(dtype)
    s = _scalar(fill_value)
    if s is None:
        raise TypeError(f"full: fill_value must be a number, got {type(fill_value).__name__}")
    if dtype is None:
        dtype = torch.bool if type(s) is bool else torch.int64 if type(s) is int else torch.get_default_dtype()
    out = _emit(_OP["full"], (), shape, dtype, (shape, s, dtype))
    return out.requires_grad_(True) if requires_grad else out


def zeros(*size, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    return full(size_args(size), 0.0, dtype=dtype or torch.get_default_dtype(), requires_grad=requires_grad)


def ones(*size, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    return full(size_args(size), 1.0, dtype=dtype or torch.get_default_dtype(), requires_grad=requires_grad)


def zeros_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return full(t.shape, 0, dtype=dtype or t.dtype, requires_grad=requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return full(t.shape, 1, dtype=dtype or t.dtype, requires_grad=requires_grad)


def randn(*size, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """Standard normal samples from torch's CPU generator (``gt.manual_seed`` seeds it)."""
    _check_dtype(dtype)
    return _put(torch.randn(size_args(size), dtype=dtype), requires_grad)


def rand(*size, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """Uniform [0, 1) samples from torch's CPU generator."""
    _check_dtype(dtype)
    return _put(torch.rand(size_args(size), dtype=dtype), requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    if end is None:
        start, end = 0, start
    _check_dtype(dtype)
    vals = [_scalar(v) for v in (start, end, step)]
    if any(v is None for v in vals):
        raise TypeError("arange: start, end and step must be numbers")
    start, end, step = vals
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    n = max(0, math.ceil((end - start) / step))
    if dtype is None:
        dtype = torch.get_default_dtype() if any(type(v) is float for v in vals) else torch.int64
    out = _emit(_OP["arange"], (), (n,), dtype, (start, end, step, dtype))
    return out.requires_grad_(True) if requires_grad else out


def manual_seed(seed: int):
    """Seed the generator behind randn/rand and nn initialisation (torch's CPU generator)."""
    return torch.manual_seed(seed)
