"""Indexing: ``x[key]`` reads and ``x[key] = v`` writes, and the index-driven ops
(masked_fill, index_select, gather, scatter, topk, sort).

Basic keys (ints, slices, None, ``...``) are one ``getitem`` op.  Keys with
index tensors or boolean masks are torch's two steps: the basic part first,
then ``index`` with the tensors.  A boolean mask's result size depends on the
data, so reading with one is a sync point: the mask's count is fetched.
"""
from __future__ import annotations

import warnings
from collections import namedtuple

import numpy as np
import torch

from gt.client import surface
from gt.client.creation import tensor
from gt.client.emit import alias, apply, infer, number, operand, send, send_number
from gt.client.autograd import renamed
from gt.client.inplace import inplace
from gt.client.modes import grad_mode
from gt.client.reductions import values_indices
from gt.client.shapes import broadcast, index_shape, norm_dim
from gt.client.tensor import Tensor
from gt.client.views import INDEX, link, quiet
from gt.ops import OPCODE
from gt.ops.kernels import rebuild_key

_GETITEM = OPCODE["getitem"]
_INDEX = OPCODE["index"]
Plan = namedtuple("Plan", ["basic", "tensors", "layout", "key"])


def _as_index(k):
    """A list, numpy array or torch tensor in a key becomes an index tensor, as in torch."""
    if isinstance(k, torch.Tensor):
        return operand(k)
    if isinstance(k, (list, np.ndarray)):
        return tensor(k)
    if isinstance(k, range):
        return tensor(list(k), dtype=torch.int64)
    return k


def _plan(x: Tensor, key: tuple) -> Plan:
    """Split a key with index tensors into its basic part and the advanced ``layout``."""
    consumed = sum(k.ndim if k.dtype is torch.bool else 1 for k in key if isinstance(k, Tensor)) + sum(
        1 for k in key if k is not None and k is not Ellipsis and not isinstance(k, Tensor))
    if consumed > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    basic, tensors, layout, full = [], [], [], []
    for k in key:
        if isinstance(k, Tensor):
            if k.dtype is torch.bool:
                basic.extend([slice(None)] * k.ndim)
            elif k.dtype.is_floating_point:
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            else:
                basic.append(slice(None))
            tensors.append(k)
            layout.append(True)
            full.append("T")
        elif k is Ellipsis:
            basic.append(k)
            layout.extend([False] * (x.ndim - consumed))
            full.append("...")
        else:
            basic.append(k)
            if not isinstance(k, int) or isinstance(k, bool):
                layout.append(False)
            full.append((k.start, k.stop, k.step) if isinstance(k, slice) else k)
    while layout and not layout[-1]:
        layout.pop()
    return Plan(tuple(basic), tuple(tensors), tuple(layout), tuple(full))


def _mask_checked(y: Tensor, plan: Plan) -> None:
    dim = 0
    for t, adv in zip(_layout_inputs(plan), plan.layout):
        if adv and t.dtype is torch.bool:
            want = tuple(y.shape[dim:dim + t.ndim])
            if tuple(t.shape) != want:
                raise IndexError(f"The shape of the mask {list(t.shape)} at index {dim} does not match the shape "
                                 f"of the indexed tensor {list(y.shape)} at index {dim}")
            dim += t.ndim
        else:
            dim += 1


def _layout_inputs(plan: Plan) -> list:
    it = iter(plan.tensors)
    return [next(it) if adv else None for adv in plan.layout]


def _advanced_shape(y: Tensor, plan: Plan) -> tuple:
    """Result (shape, dtype) of ``index`` on ``y``; a mask counts as its nonzero positions (a sync)."""
    if not any(t.dtype is torch.bool for t in plan.tensors):
        return infer(_INDEX, (y,) + plan.tensors, (plan.layout,))
    _mask_checked(y, plan)
    metas, layout = [], []
    for t, adv in zip(_layout_inputs(plan), plan.layout):
        if adv and t.dtype is torch.bool:
            count = int(t.sum().item())
            metas.extend([torch.empty(count, dtype=torch.int64, device="meta")] * t.ndim)
            layout.extend([True] * t.ndim)
        else:
            if adv:
                metas.append(torch.empty(t.shape, dtype=t.dtype, device="meta"))
            layout.append(adv)
    res = torch.ops.aten.index.Tensor(torch.empty(y.shape, dtype=y.dtype, device="meta"),
                                      [metas.pop(0) if adv else None for adv in layout])
    return torch.Size(res.shape), res.dtype


_basic_cache: dict = {}


def _basic_key(shape: tuple, key: tuple):
    """A hashable form of a basic key for the inference cache (slices are unhashable
    before Python 3.12), or None for keys that are not plain ints, slices, None, ``...``."""
    out = [shape]
    for k in key:
        t = type(k)
        if t is slice:
            out.append((k.start, k.stop, k.step))
        elif t is int or k is None or k is Ellipsis:
            out.append(k)
        else:
            return None
    return tuple(out)


def _as_tuple(key) -> tuple:
    """A key as a tuple; a list holding sequences, slices, None or ``...`` is one, as in torch
    2.11-2.13 (with torch's deprecation warning): ``x[[[0, 1], [1, 2]]]`` is ``x[[0, 1], [1, 2]]``."""
    if type(key) is tuple:
        return key
    if type(key) is list and any(k is None or k is Ellipsis or isinstance(k, (list, tuple, range, slice, Tensor))
                                 for k in key):
        warnings.warn("Using a non-tuple sequence for multidimensional indexing is deprecated and will be changed "
                      "in pytorch 2.9; use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 this will be interpreted "
                      "as tensor index, x[torch.tensor(seq)], which will result either in an error or a different "
                      "result", UserWarning, stacklevel=3)
        return tuple(key)
    return (key,)


def getitem(x: Tensor, key) -> Tensor:
    if type(key) is not tuple:
        key = _as_tuple(key)
    ck = _basic_key(x.shape, key)   # None unless every item is an int, slice, None or ``...``
    if ck is None:
        for k in key:
            if isinstance(k, (Tensor, list, np.ndarray, range, torch.Tensor)):
                return _advanced_read(x, tuple(_as_index(k) for k in key))
        hit = None
    else:
        hit = _basic_cache.get(ck)
    if hit is None:
        hit = index_shape(x.shape, key)
        if ck is not None and len(_basic_cache) < 4096:
            _basic_cache[ck] = hit
    shape, norm = hit
    out = send(_GETITEM, (x,), (x._id,), shape, x.dtype, (norm,))
    if out._grad_fn is not None:
        out._grad_fn.name = "slice" if len(key) == 1 and type(key[0]) is slice else _view_name(norm, x.shape)
    return link(out, x, INDEX, key)


def _advanced_read(x: Tensor, key: tuple) -> Tensor:
    plan = _plan(x, key)
    y = getitem(x, plan.basic) if any(not _whole(k) for k in plan.basic) else x
    shape, dtype = _advanced_shape(y, plan)
    return apply(_INDEX, (y,) + plan.tensors, (plan.layout,), shape=shape, dtype=dtype)


def _whole(k) -> bool:
    return k is Ellipsis or (isinstance(k, slice) and k == slice(None))


def read_key(x: Tensor, key: tuple, tensors: tuple) -> Tensor:
    """``x`` read with a normalised key (as ``setitem`` carries it) and its index tensors."""
    return getitem(x, rebuild_key(key, tensors))


def setitem(x: Tensor, key, value) -> None:
    """``x[key] = value``: a functional write; the handle takes the result (SSA)."""
    key = tuple(_as_index(k) for k in _as_tuple(key))
    plan = _plan(x, key)
    if grad_mode.enabled and x.requires_grad and x._grad_fn is None and _into_view(x.shape, plan):
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place operation.")
    with quiet():
        read = getitem(alias(x), key)  # the written region's shape (and torch's index errors)
    if isinstance(value, Tensor):
        if value.shape != read.shape:
            try:
                broadcast(value.shape, read.shape)
            except RuntimeError:
                raise RuntimeError(f"shape mismatch: value tensor of shape {list(value.shape)} cannot be "
                                   f"broadcast to indexing result of shape {list(read.shape)}") from None
        inplace(x, lambda old: apply(OPCODE["setitem"], (old,) + plan.tensors + (value,), (plan.key,),
                                     shape=old.shape, dtype=old.dtype))
    else:
        s = number(value)
        if s is None:
            if isinstance(value, torch.Tensor):
                return setitem(x, key, operand(value))
            raise TypeError(f"can't assign a {type(value).__name__} to a gt Tensor")
        inplace(x, lambda old: _setitem_number(old, plan, s))
    if grad_mode.enabled and x._grad_fn is not None and x._data_of is None:
        x._grad_fn.name = _write_name(x.shape, plan, _copied(x.shape, value))


def _into_view(shape: tuple, plan: Plan) -> bool:
    """Whether torch writes ``x[key] = v`` into a view of ``x``: the key's basic part makes one."""
    return _view_name(index_shape(shape, plan.basic)[1], shape) != "alias"


def _copied(shape: tuple, value) -> bool:
    """Whether torch writes ``value`` over a whole ``shape`` by copy_ rather than fill_: it fills only
    with a 0-d value on the CPU (a number is one) into a region of other sizes."""
    if isinstance(value, Tensor) and (value.ndim > 0 or value.device.type != "cpu"):
        return True
    return shape == ()


def _write_name(shape: tuple, plan: Plan, copied: bool) -> str:
    """torch's grad_fn for ``x[key] = value``: CopySlices when written into a view, else index_put
    with index tensors, else (the key is the whole tensor) a copy of a tensor with dimensions
    (``copied``) or a fill with a number or 0-d tensor."""
    if _into_view(shape, plan):
        return "CopySlices"
    if plan.tensors:
        return "index_put"
    return "CopyBackwards" if copied else "fill3"


def _setitem_number(x: Tensor, plan: Plan, s) -> Tensor:
    code = OPCODE["setitem_scalar"]
    return send_number(code, (x,) + plan.tensors, x.shape, x.dtype, s, (plan.key,))


def _view_name(norm: tuple, shape: tuple) -> str:
    """torch's last view op for a normalised basic key: whole-dimension slices are skipped, and a key
    that does nothing gives an alias (a read with a lone slice is always sliced: see getitem)."""
    name, dim = "alias", 0
    for k in norm:
        if k is None:
            name = "unsqueeze"
        elif type(k) is tuple:
            start, stop, step = k
            if not ((start is None or start == 0 or start <= -shape[dim])
                    and (stop is None or stop >= shape[dim]) and step in (None, 1)):
                name = "slice"
            dim += 1
        elif k != "...":
            name = "select"
            dim += 1
    return name


def _value_args(value) -> tuple:
    """(params, scalars) for a Python number argument: a float is a graph input."""
    s = number(value)
    if s is None:
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return ((), (s,)) if type(s) is float else ((s,), ())


def masked_fill(x: Tensor, mask: Tensor, value) -> Tensor:
    if not isinstance(mask, Tensor) or mask.dtype is not torch.bool:
        raise RuntimeError("masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{getattr(mask, 'dtype', type(mask).__name__)}")
    if isinstance(value, Tensor):
        return apply(OPCODE["masked_fill_tensor"], (x, mask, value))
    params, scalars = _value_args(value)
    shape = broadcast(x.shape, mask.shape)
    if shape != x.shape:
        raise RuntimeError(f"masked_fill: the mask of shape {list(mask.shape)} must broadcast to the input's "
                           f"shape {list(x.shape)}")
    return apply(OPCODE["masked_fill"], (x, mask), params, scalars)


def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    return apply(OPCODE["index_select"], (x, index), (norm_dim(dim, x.ndim),))


def gather(x: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    return apply(OPCODE["gather"], (x, index), (norm_dim(dim, x.ndim),))


def scatter(x: Tensor, dim: int, index: Tensor, src=None, *, value=None, reduce=None) -> Tensor:
    if reduce is not None:
        raise NotImplementedError("GT does not support torch.scatter(reduce=...) yet")
    d = norm_dim(dim, x.ndim)
    src = value if src is None else src
    if isinstance(src, Tensor):
        return apply(OPCODE["scatter"], (x, index, src), (d,))
    params, scalars = _value_args(src)
    return apply(OPCODE["scatter_value"], (x, index), params + (d,), scalars)


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    params = (k, norm_dim(dim, x.ndim), largest, sorted)
    values = apply(OPCODE["topk_values"], (x,), params)
    return values_indices(values, apply(OPCODE["topk_indices"], (x,), params))


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    params = (norm_dim(dim, x.ndim), descending, bool(stable))
    values = apply(OPCODE["sort_values"], (x,), params)
    return values_indices(values, apply(OPCODE["sort_indices"], (x,), params))


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return apply(OPCODE["sort_indices"], (x,), (norm_dim(dim, x.ndim), descending, bool(stable)))


def masked_select(x: Tensor, mask: Tensor) -> Tensor:
    """The elements of ``x`` where ``mask`` (broadcast together) is True, as a 1-D tensor: a
    boolean-mask read, so a sync point (the mask's count is fetched)."""
    if not isinstance(mask, Tensor) or mask.dtype is not torch.bool:
        raise RuntimeError(f"masked_select: expected BoolTensor for mask, got {getattr(mask, 'dtype', type(mask))}")
    shape = broadcast(x.shape, mask.shape)
    return renamed(getitem(x.expand(shape), mask.expand(shape)), x, "masked_select")


surface.functions(masked_select=masked_select)
surface.methods(masked_select=masked_select)
surface.functions(argsort=argsort, gather=gather, index_select=index_select, masked_fill=masked_fill,
                  scatter=scatter, sort=sort, topk=topk)
surface.methods(__getitem__=getitem, __setitem__=setitem, masked_fill=masked_fill, index_select=index_select,
                gather=gather, scatter=scatter, topk=topk, sort=sort, argsort=argsort)
surface.inplace("masked_fill", "scatter")
