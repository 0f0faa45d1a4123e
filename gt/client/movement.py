"""Shape and movement ops: views, transposes, joins and splits, repeats.

Views are functional on the worker (a new id holding the viewed value), as
every GT op is; split/chunk/unbind are basic-index reads, so their gradients
come from the indexing rule.
"""
from __future__ import annotations

import math

import torch

from gt.client import surface
from gt.client.autograd import renamed
from gt.client.emit import apply, operands, send
from gt.client.shapes import broadcast, fmt, norm_dim, reshape_shape
from gt.client.tensor import Tensor
from gt.client.generate import from_signature
from gt.client.views import DIAGONAL, EXPAND, PERMUTE, RESHAPE, TRANSPOSE, layout, link, viewable
from gt.ops import OPCODE, OPS
from gt.transport.wire import MAX_INPUTS

_RESHAPE, _TRANSPOSE, _PERMUTE, _EXPAND = (OPCODE[n] for n in ("reshape", "transpose", "permute", "expand"))
_reshape_cache: dict = {}
_diagonal = from_signature(OPS[OPCODE["diagonal"]])   # the entry's checks and kernel; linked as a view here


def _sizes(args: tuple) -> tuple:
    """``f(2, 3)`` or ``f((2, 3))``."""
    return tuple(args[0]) if len(args) == 1 and not isinstance(args[0], int) else args


def reshape(x: Tensor, *shape) -> Tensor:
    """A view of ``x`` where torch's ``reshape`` gives one; a copy where it would have to copy
    (a transposed or column-sliced view that the new shape cannot view)."""
    return _reshaped(x, _sizes(shape), False)


def view(x: Tensor, *shape) -> Tensor:
    """``reshape`` that refuses, as torch's ``view`` does, a shape the layout cannot view."""
    return _reshaped(x, _sizes(shape), True)


def _reshaped(x: Tensor, shape: tuple, strict: bool) -> Tensor:
    key = (x.shape, shape)
    new = _reshape_cache.get(key)
    if new is None:
        new = reshape_shape(x.shape, shape)
        if len(_reshape_cache) < 4096:
            _reshape_cache[key] = new
    if new == x.shape:
        return x
    as_view = x._data_of is None or viewable(x, new)
    if not as_view and strict:
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at least one dimension "
                           "spans across two contiguous subspaces). Use .reshape(...) instead.")
    out = send(_RESHAPE, (x,), (x._id,), new, x.dtype, (new,))
    return link(out, x, RESHAPE, new) if as_view else out


def view_as(x: Tensor, other: Tensor) -> Tensor:
    return view(x, other.shape)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = norm_dim(start_dim, x.ndim), norm_dim(end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    return reshape(x, x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:])


def unflatten(x: Tensor, dim: int, sizes) -> Tensor:
    d = norm_dim(dim, x.ndim)
    return reshape(x, x.shape[:d] + tuple(sizes) + x.shape[d + 1:])


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    d = norm_dim(dim, x.ndim + 1)
    return renamed(reshape(x, x.shape[:d] + (1,) + x.shape[d:]), x, "unsqueeze")


def squeeze(x: Tensor, dim=None) -> Tensor:
    if dim is None:
        return renamed(reshape(x, tuple(n for n in x.shape if n != 1)), x, "squeeze")
    dims = {norm_dim(d, x.ndim) for d in ((dim,) if isinstance(dim, int) else dim)} if x.ndim else set()
    shape = tuple(n for i, n in enumerate(x.shape) if not (i in dims and n == 1))
    return renamed(reshape(x, shape), x, "squeeze1")


def transpose(x: Tensor, dim0: int | None = None, dim1: int | None = None) -> Tensor:
    """Swap two dims; with no dims, the last two (the GT prototype's ``transpose()``)."""
    if dim0 is None and dim1 is None:
        if x.ndim < 2:
            raise RuntimeError(f"transpose() without dims needs at least 2 dims, got {x.ndim}")
        dim0, dim1 = -2, -1
    elif dim0 is None or dim1 is None:
        raise TypeError("transpose() takes two dims (or none, for the last two)")
    n = x.ndim
    a, b = norm_dim(dim0, n), norm_dim(dim1, n)
    if a == b:
        return x
    shape = list(x.shape)
    shape[a], shape[b] = shape[b], shape[a]
    out = send(_TRANSPOSE, (x,), (x._id,), tuple(shape), x.dtype, (a, b))
    return link(out, x, TRANSPOSE, (a, b))


swapaxes = swapdims = transpose


def t(x: Tensor) -> Tensor:
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return renamed(transpose(x, 0, 1), x, "t") if x.ndim == 2 else x


def _T(x: Tensor) -> Tensor:
    if x.ndim == 2:
        return renamed(transpose(x, 0, 1), x, "permute")
    return permute(x, *reversed(range(x.ndim)))


def permute(x: Tensor, *dims) -> Tensor:
    dims = _sizes(dims)
    if len(dims) != x.ndim:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
                           f"length of the desired ordering of dimensions i.e. input.dim() = {x.ndim} is not "
                           f"equal to len(dims) = {len(dims)}")
    dims = tuple(norm_dim(d, x.ndim) for d in dims)
    if len(set(dims)) != len(dims):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    if dims == tuple(range(x.ndim)):
        return x
    out = send(_PERMUTE, (x,), (x._id,), tuple(x.shape[d] for d in dims), x.dtype, (dims,))
    return link(out, x, PERMUTE, dims)


def movedim(x: Tensor, source, destination) -> Tensor:
    """A permute (a view) moving dims ``source`` to ``destination``; torch's checks and order,
    read off a meta tensor whose strides number its dims."""
    probe = torch.empty_strided((1,) * x.ndim, tuple(range(1, x.ndim + 1)), device="meta")
    dims = tuple(s - 1 for s in probe.movedim(source, destination).stride())
    return renamed(permute(x, dims), x, "permute")


def diagonal(x: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the (dim1, dim2) planes: a view, as torch's (writes into it reach ``x``)."""
    out = _diagonal(x, offset, dim1, dim2)
    return link(out, x, DIAGONAL, (offset, dim1, dim2))


def expand(x: Tensor, *shape) -> Tensor:
    shape = _sizes(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(shape)}) must be greater or equal "
                           f"to the number of dimensions in the tensor ({x.ndim})")
    target = tuple(x.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(shape))
    if broadcast(x.shape, target) != target:
        raise RuntimeError(f"expand: shape {fmt(x.shape)} cannot be expanded to {fmt(target)}")
    if target == x.shape:
        return x
    out = send(_EXPAND, (x,), (x._id,), target, x.dtype, (target,))
    return link(out, x, EXPAND, target)


def expand_as(x: Tensor, other: Tensor) -> Tensor:
    return expand(x, other.shape)


def repeat(x: Tensor, *sizes) -> Tensor:
    return apply(OPCODE["repeat"], (x,), (_sizes(sizes),))


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    return apply(OPCODE["tril"], (x,), (diagonal,))


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    return apply(OPCODE["triu"], (x,), (diagonal,))


def _joined(name: str, tensors, dim: int) -> Tensor:
    tensors = tuple(tensors)
    if not tensors:
        raise RuntimeError(f"{name}(): expected a non-empty list of Tensors")
    for t_ in tensors:
        if not isinstance(t_, Tensor):
            if isinstance(t_, torch.Tensor):   # a torch tensor among them
                return _joined(name, operands(tensors), dim)
            raise TypeError(f"{name}(): expected a sequence of gt Tensors, got {type(t_).__name__}")
    if len(tensors) > MAX_INPUTS:
        # One op takes at most MAX_INPUTS tensors (the remote wire's limit): join chunks,
        # then concatenate the chunks' results along the same dim (exact for cat and stack).
        parts = [_joined(name, tensors[i:i + MAX_INPUTS], dim) for i in range(0, len(tensors), MAX_INPUTS)]
        return _joined("cat", parts, dim)
    return apply(OPCODE[name], tensors, (dim,))


def cat(tensors, dim: int = 0) -> Tensor:
    return _joined("cat", tensors, dim)


concat = concatenate = cat


def stack(tensors, dim: int = 0) -> Tensor:
    return _joined("stack", tensors, dim)


def _at_least(ndim: int):
    """``atleast_<ndim>d``: each tensor reshaped to at least ``ndim`` dims, as torch places the new ones."""
    def one(x: Tensor) -> Tensor:
        if x.ndim >= ndim:
            return x
        if ndim == 3 and x.ndim:   # (N,) -> (1, N, 1); (M, N) -> (M, N, 1)
            return (x if x.ndim == 2 else x.unsqueeze(0)).unsqueeze(-1)
        return x.reshape((1,) * (ndim - x.ndim) + tuple(x.shape))

    def fn(*tensors):
        if len(tensors) == 1 and isinstance(tensors[0], Tensor):
            return one(tensors[0])
        return tuple(one(t) for t in (tensors[0] if len(tensors) == 1 else tensors))
    fn.__name__ = f"atleast_{ndim}d"
    return fn


atleast_1d, atleast_2d, atleast_3d = _at_least(1), _at_least(2), _at_least(3)


def _stacked(name: str, tensors) -> tuple:
    if not len(tensors):
        raise RuntimeError(f"{name} expects a non-empty TensorList")
    return tuple(operands(tuple(tensors)))


def hstack(tensors) -> Tensor:
    """torch.hstack: cat along dim 1 (dim 0 for 1-d tensors)."""
    tensors = atleast_1d(_stacked("hstack", tensors))
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    return cat(atleast_2d(_stacked("vstack", tensors)), 0)


def dstack(tensors) -> Tensor:
    return cat(atleast_3d(_stacked("dstack", tensors)), 2)


def column_stack(tensors) -> Tensor:
    """torch.column_stack: 0-d and 1-d tensors as columns, then cat along dim 1."""
    return cat([t.reshape(-1, 1) if t.ndim <= 1 else t for t in _stacked("column_stack", tensors)], 1)


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    d = norm_dim(dim, x.ndim)
    return x[(slice(None),) * d + (slice(start, start + length),)]


def select(x: Tensor, dim: int, index: int) -> Tensor:
    d = norm_dim(dim, x.ndim)
    return x[(slice(None),) * d + (index,)]


def split(x: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    d = norm_dim(dim, x.ndim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0 and n:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        sizes = [min(step, n - i) for i in range(0, n, step)] if step else [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                               f"at dimension {d}), but got split_sizes={sizes}")
    name = "split" if isinstance(split_size_or_sections, int) else "split_with_sizes"
    out, start = [], 0
    for size in sizes:
        out.append(renamed(narrow(x, d, start, size), x, name))
        start += size
    return tuple(out)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple:
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    n = x.shape[norm_dim(dim, x.ndim)]
    return split(x, max(1, -(-n // chunks)), dim)


def unbind(x: Tensor, dim: int = 0) -> tuple:
    d = norm_dim(dim, x.ndim)
    return tuple(renamed(select(x, d, i), x, "unbind") for i in range(x.shape[d]))


def contiguous(x: Tensor, memory_format=None) -> Tensor:
    """``x`` itself, or a copy where torch's layout would not be contiguous (a transposed,
    permuted, expanded or column-sliced view): writing to that copy leaves the base alone."""
    if x._data_of is not None and not layout(x).is_contiguous():
        return x.clone()
    return x


_MOVEMENT = dict(reshape=reshape, flatten=flatten, unflatten=unflatten, unsqueeze=unsqueeze, squeeze=squeeze,
                 transpose=transpose, swapaxes=transpose, swapdims=transpose, t=t, permute=permute, expand=expand,
                 repeat=repeat, tril=tril, triu=triu, narrow=narrow, select=select, split=split, chunk=chunk,
                 unbind=unbind, movedim=movedim, diagonal=diagonal)
surface.functions(**_MOVEMENT, cat=cat, concat=cat, concatenate=cat, stack=stack, atleast_1d=atleast_1d,
                  atleast_2d=atleast_2d, atleast_3d=atleast_3d, hstack=hstack, vstack=vstack,
                  dstack=dstack, column_stack=column_stack)
surface.methods(**_MOVEMENT, view=view, view_as=view_as, expand_as=expand_as, contiguous=contiguous,
                T=property(_T), mT=property(lambda self: transpose(self, -2, -1)))
