"""Client-side shape and dtype inference.

Every operation's result shape and dtype are worked out here, before anything
is sent, so that a bad call raises at the line that made it and the worker
never sees it.  Results for the shapes a loop keeps using are cached.
"""
from __future__ import annotations

import math

import torch

FLOATING = frozenset({torch.float16, torch.bfloat16, torch.float32, torch.float64})
SUPPORTED_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32,
                    torch.int16, torch.int8, torch.uint8, torch.bool)
_DTYPE_NAMES = {"float32": torch.float32, "float": torch.float32, "float64": torch.float64,
                "double": torch.float64, "float16": torch.float16, "half": torch.float16,
                "bfloat16": torch.bfloat16, "int64": torch.int64, "long": torch.int64, "int32": torch.int32,
                "int": torch.int32, "int16": torch.int16, "short": torch.int16, "int8": torch.int8,
                "uint8": torch.uint8, "bool": torch.bool}


def as_dtype(dtype) -> torch.dtype | None:
    """A supported torch.dtype from a dtype, its name (``'float32'``, ``'torch.long'``) or None."""
    if dtype is None or type(dtype) is torch.dtype and dtype in SUPPORTED_DTYPES:
        return dtype
    if isinstance(dtype, str):
        found = _DTYPE_NAMES.get(dtype[6:] if dtype.startswith("torch.") else dtype)
        if found is None:
            raise TypeError(f"unknown dtype name {dtype!r} (known: {', '.join(sorted(_DTYPE_NAMES))})")
        return found
    if isinstance(dtype, torch.dtype):
        raise TypeError(f"GT does not support dtype {dtype} (supported: "
                        + ", ".join(dtype_name(d) for d in SUPPORTED_DTYPES) + ")")
    raise TypeError(f"dtype must be a torch.dtype or its name, got {type(dtype).__name__}")


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")

_broadcast_cache: dict = {}


def fmt(shape: tuple) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def broadcast(a: tuple, b: tuple) -> tuple:
    """The broadcast of two shapes; RuntimeError naming both when they do not fit."""
    key = (a, b)
    out = _broadcast_cache.get(key)
    if out is not None:
        return out
    n = max(len(a), len(b))
    pa = (1,) * (n - len(a)) + a
    pb = (1,) * (n - len(b)) + b
    res = []
    for i, (x, y) in enumerate(zip(pa, pb)):
        if x == y or y == 1:
            res.append(x)
        elif x == 1:
            res.append(y)
        else:
            raise RuntimeError(
                f"shapes {fmt(a)} and {fmt(b)} cannot be broadcast together: the size of tensor a ({x}) "
                f"must match the size of tensor b ({y}) at non-singleton dimension {i}")
    out = torch.Size(res)
    if len(_broadcast_cache) < 4096:
        _broadcast_cache[key] = out
    return out


def norm_dim(dim, ndim: int) -> int:
    """Normalise one dim index; IndexError like torch's when out of range."""
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    lo, hi = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if dim < lo or dim > hi:
        raise IndexError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})")
    return dim % ndim if ndim else 0


def norm_dims(dim, ndim: int) -> tuple:
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = tuple(sorted({norm_dim(d, ndim) for d in dims}))
    if len(out) != len(dims):
        raise RuntimeError(f"dim {tuple(dims)} appears multiple times in the list of dims")
    return out


def reduce_shape(shape: tuple, dims: tuple, keepdim: bool) -> tuple:
    if keepdim:
        return tuple(1 if i in dims else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in dims)


def matmul_shape(a: tuple, b: tuple) -> tuple:
    """Result shape of ``a @ b`` with torch.matmul's 1-D and batch rules."""
    if not a or not b:
        raise RuntimeError(f"matmul: both arguments need at least 1 dimension, got shapes {fmt(a)} and {fmt(b)}")
    ka = a[-1]
    kb = b[0] if len(b) == 1 else b[-2]
    if ka != kb:
        raise RuntimeError(f"matmul: shapes {fmt(a)} and {fmt(b)} cannot be multiplied "
                           f"({'x'.join(map(str, a))} and {'x'.join(map(str, b))}): "
                           f"inner dimensions {ka} and {kb} differ")
    if len(a) == 1 and len(b) == 1:
        return ()
    if len(b) == 1:
        return a[:-1]
    if len(a) == 1:
        return b[:-2] + b[-1:]
    try:
        batch = broadcast(a[:-2], b[:-2])
    except RuntimeError:
        raise RuntimeError(f"matmul: shapes {fmt(a)} and {fmt(b)} cannot be multiplied: batch dimensions "
                           f"{fmt(a[:-2])} and {fmt(b[:-2])} cannot be broadcast together") from None
    return batch + (a[-2], b[-1])


def reshape_shape(shape: tuple, new: tuple) -> tuple:
    """Resolve a target shape with at most one -1; RuntimeError when sizes disagree."""
    numel = math.prod(shape)
    new = tuple(new)
    for n in new:
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"reshape: sizes must be ints, got {new!r}")
    if new.count(-1) > 1:
        raise RuntimeError(f"reshape: only one dimension can be inferred, got shape {list(new)}")
    if any(n < -1 for n in new):
        raise RuntimeError(f"reshape: invalid shape dimension in {list(new)}")
    if -1 in new:
        rest = math.prod(n for n in new if n != -1)
        if rest == 0 or numel % rest:
            raise RuntimeError(f"shape '{list(new)}' is invalid for input of size {numel}")
        new = tuple(numel // rest if n == -1 else n for n in new)
    elif math.prod(new) != numel:
        raise RuntimeError(f"shape '{list(new)}' is invalid for input of size {numel}")
    return new


def size_args(size: tuple) -> tuple:
    """Accept ``f(2, 3)`` and ``f((2, 3))`` as torch does; check the sizes."""
    if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size)):
        size = tuple(size[0])
    for n in size:
        if not isinstance(n, int) or isinstance(n, bool):
            raise TypeError(f"size must be a sequence of ints, got {size!r}")
        if n < 0:
            raise RuntimeError(f"negative dimension {n} in size {size!r}")
    return tuple(size)


def _as_int(v):
    """A slice bound as a plain int (an object with ``__index__``, a numpy int), or None."""
    return v if v is None or type(v) is int else v.__index__()


def index_shape(shape: tuple, key) -> tuple:
    """Result shape of basic indexing (ints, slices with positive steps, None, ``...``) and
    the hashable key the worker rebuilds; index tensors take ``gt.client.indexing``'s path.

    The key keeps ints and slice bounds as written (``-1``, ``:``), not resolved against the
    size: the same code at another size sends the same key, so a loop whose sizes vary keeps
    one pattern (``x[:, -1]`` of a sequence of any length)."""
    if not isinstance(key, tuple):
        key = (key,)
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_real > len(shape):
        raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
    out, norm, dim = [], [], 0
    for k in key:
        if k is Ellipsis:
            fill = len(shape) - n_real
            for _ in range(fill):
                out.append(shape[dim])
                norm.append((None, None, None))
                dim += 1
        elif k is None:
            out.append(1)
            norm.append(None)
        elif isinstance(k, bool) or not isinstance(k, (int, slice)):
            if getattr(k, "shape", ()) != ():
                raise TypeError(f"cannot index a gt Tensor with a {type(k).__name__} of shape {tuple(k.shape)}: "
                                f"use a gt tensor, a list or a numpy array as the index")
            if hasattr(k, "__index__") and not isinstance(k, bool):
                k = k.__index__()
            else:
                raise TypeError(f"GT cannot index with an object of type {type(k).__name__} (ints, slices, None, "
                                f"..., index tensors and boolean masks are supported)")
        if isinstance(k, int) and not isinstance(k, bool):
            n = shape[dim]
            if k < -n or k >= n:
                raise IndexError(f"index {k} is out of bounds for dimension {dim} with size {n}")
            norm.append(k)
            dim += 1
        elif isinstance(k, slice):
            if k.step is not None and k.step <= 0:
                raise ValueError("step must be greater than zero")
            out.append(len(range(*k.indices(shape[dim]))))
            norm.append((_as_int(k.start), _as_int(k.stop), _as_int(k.step)))
            dim += 1
    out.extend(shape[dim:])
    return tuple(out), tuple(norm)


def inverse_permutation(dims: tuple) -> tuple:
    """The permutation that undoes ``permute(dims)``."""
    inverse = [0] * len(dims)
    for i, d in enumerate(dims):
        inverse[d] = i
    return tuple(inverse)
