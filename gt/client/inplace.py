"""In-place operations, functional underneath: the handle takes the result's id.

``x.add_(y)`` emits an ordinary ``add`` and rebinds ``x`` to its result, so the
instruction stream stays in SSA form (every id is written once) and batches can
be compiled without aliasing questions.  ``.data`` handles write through the
same way.
"""
from __future__ import annotations

import torch

from gt.client import runtime as _rt
from gt.client import views as _views
from gt.client.autograd import Node, grad_mode as _gm, note_rebinding
from gt.client import surface
from gt.client.creation import tensor
from gt.client.emit import alias, emit, number
from gt.client.functional import add_scaled
from gt.client.shapes import as_dtype, broadcast, inverse_permutation, size_args
from gt.client.tensor import Tensor
from gt.ops import OPCODE, ops

_new_object = object.__new__
_FULL = OPCODE["full"]


def inplace(self: Tensor, fn, args: tuple = (), kwargs: dict | None = None) -> Tensor:
    """Rebind ``self`` to ``fn(self, *args, **kwargs)``, computed from its current value.

    With gradients on, the op's autograd node must keep the old value, so ``fn`` gets
    a fresh handle ``old`` on it (``x.add_(x)`` reads the old value through it too).
    Under no_grad (an optimizer's update) no node is made: ``fn`` reads ``self`` itself
    and the two handles trade ids, the result's handle freeing the old value.
    """
    if self._data_of is not None:
        _views.check_writable(self)
    if not _gm.enabled:
        res = _checked(self, fn(self, *args, **kwargs) if kwargs else fn(self, *args))
        self._id, res._id = res._id, self._id
    else:
        if self.requires_grad and self._grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        old = _new_object(Tensor)
        old._id, old.shape, old.dtype = self._id, self.shape, self.dtype
        old.requires_grad, old.grad, old._grad_fn, old._data_of = self.requires_grad, None, self._grad_fn, None
        old._views = None
        self._id = -1  # the id now belongs to `old`
        try:
            args = tuple(old if a is self else a for a in args)
            res = _checked(old, fn(old, *args, **kwargs) if kwargs else fn(old, *args))
        except BaseException:
            self._id, old._id = old._id, -1
            raise
        self._id, res._id = res._id, -1
        self.requires_grad, self._grad_fn = res.requires_grad, res._grad_fn
        note_rebinding(self, old)
    if self._data_of is not None or self._views is not None:
        after_inplace(self)   # a view writes back into its base; a base re-makes its views
    return self


def _checked(old: Tensor, res: Tensor) -> Tensor:
    """``res`` fit to replace ``old`` in place: same shape, cast to ``old``'s dtype as torch allows."""
    if res is NotImplemented:
        raise TypeError("unsupported operand type for an in-place op")
    if res.shape != old.shape:
        raise RuntimeError(f"output with shape {list(old.shape)} doesn't match the broadcast shape "
                           f"{list(res.shape)}")
    if res.dtype is not old.dtype:
        if not torch.can_cast(res.dtype, old.dtype):
            raise RuntimeError(f"result type {_title(res.dtype)} can't be cast to the desired output type "
                               f"{_title(old.dtype)}")
        res = res.to(old.dtype)
    return res


def _add_(self: Tensor, other, *, alpha=1) -> Tensor:
    """``self += alpha * other``; an optimizer's update, so kept to one call each way."""
    if alpha == 1:
        return inplace(self, Tensor.__add__, (other,))
    return inplace(self, add_scaled, (other, alpha))


def _sub_(self: Tensor, other, *, alpha=1) -> Tensor:
    if alpha == 1:
        return inplace(self, Tensor.__sub__, (other,))
    return inplace(self, add_scaled, (other, -alpha))


def _title(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "").capitalize()


def inplace_method(fn, name: str):
    """``Tensor.<name>`` running ``fn`` in place (``x.add_(x)`` reads the old value)."""
    def method(self, *args, **kwargs):
        return inplace(self, fn, args, kwargs)
    method.__name__ = name
    return method


def _rebind_to(self: Tensor, src: Tensor) -> None:
    """Make this handle hold (an alias of) ``src``'s value: ``.data`` write-through."""
    a = alias(src)
    old = self._id
    self._id, a._id = a._id, -1
    self.shape, self.dtype = src.shape, src.dtype
    _rt.free(old)


def _get_data(self: Tensor) -> Tensor:
    return _views.link(alias(self), self, _views.IDENTITY)


def _set_data(self: Tensor, value: Tensor) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"data must be a gt Tensor, got {type(value).__name__}")
    _rebind_to(self, value)


def new_full(self: Tensor, size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    shape = size_args((size,) if isinstance(size, int) else tuple(size))
    dtype = as_dtype(dtype) or self.dtype
    s = number(fill_value)
    if s is None:
        raise TypeError(f"new_full: fill_value must be a number, got {type(fill_value).__name__}")
    out = emit(_FULL, (), shape, dtype, (shape, s, dtype))
    return out.requires_grad_(True) if requires_grad else out


def new_zeros(self: Tensor, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return new_full(self, size_args(size), 0, dtype=dtype, requires_grad=requires_grad)


def new_ones(self: Tensor, *size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return new_full(self, size_args(size), 1, dtype=dtype, requires_grad=requires_grad)


def new_tensor(self: Tensor, data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return tensor(data, dtype=as_dtype(dtype) or self.dtype, requires_grad=requires_grad)


def _copy_of(old: Tensor, src, name: str = "CopyBackwards") -> Tensor:
    """``src`` broadcast to ``old``'s shape and cast to its dtype (torch's copy_).  With gradients on
    and either side requiring grad, a node as torch's CopyBackwards: ``src`` gets the gradient
    (summed back over the broadcast, cast to its dtype), the inputs behind ``old``'s value zeros."""
    if not isinstance(src, Tensor):
        src = tensor(src)
    broadcast(src.shape, old.shape)
    if src.shape != old.shape:
        src = src.expand(*old.shape)
    src = src.to(old.dtype)
    out = alias(src)
    if _gm.enabled and (src.requires_grad or old.requires_grad):
        out.requires_grad = True
        out._grad_fn = Node(_overwritten, (old, src), None, name)
    return out


def _overwritten(node: Node, g: Tensor) -> tuple:
    """The gradient rule of a value overwritten by another (copy_, fill_ with a tensor)."""
    return ops.zeros_like(g), g


def _zeroed(node: Node, g: Tensor) -> tuple:
    """The gradient rule of a value overwritten by a number (zero_, fill_)."""
    return (ops.zeros_like(g),)


def _filled(old: Tensor, value, name: str) -> Tensor:
    """``old``'s shape filled with ``value``; with gradients on, a node that gives ``old`` a zero
    gradient, as torch's ZeroBackward0/FillBackward2 do (its inputs' gradients are zeros, not None)."""
    out = new_full(old, old.shape, value)
    if old.requires_grad and _gm.enabled:
        out.requires_grad = True
        out._grad_fn = Node(_zeroed, (old,), None, name)
    return out


def _fill(old: Tensor, value) -> Tensor:
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} "
                               "dimensions.")
        return _copy_of(old, value, "fill3")
    return _filled(old, value, "fill2")


surface.methods(add_=_add_, sub_=_sub_, copy_=inplace_method(_copy_of, "copy_"), fill_=inplace_method(_fill, "fill_"),
                zero_=inplace_method(lambda old: _filled(old, 0, "zero"), "zero_"),
                data=property(_get_data, _set_data), new_full=new_full, new_zeros=new_zeros, new_ones=new_ones,
                new_tensor=new_tensor)
surface.inplace(__add__="__iadd__", __sub__="__isub__", __mul__="__imul__", __truediv__="__itruediv__")


# -- views: write back into the base, re-make a base's views (see gt.client.views) --------------
def after_inplace(t: Tensor) -> None:
    """``t`` took a new value in place: write it back into its base, re-make its views."""
    link_ = t._data_of
    state = _views.state
    if link_ is not None and not state.remaking:
        if state.writing is None:
            state.writing = []
        state.writing.append(t)
        try:
            with _views.quiet():
                _write_back(t, *link_)
        finally:
            state.writing.pop()
    if t._views is not None:
        remake(t)


def remake(base: Tensor) -> None:
    """Make ``base``'s live views again from its current value (each as an in-place op)."""
    state = _views.state
    writing = state.writing or ()
    alive = []
    for ref in base._views:
        v = ref()
        if v is None:
            continue
        alive.append(ref)
        if any(v is w for w in writing):
            continue
        _, kind, args = v._data_of
        state.remaking += 1
        try:
            with _views.quiet():
                inplace(v, lambda _old, kind=kind, args=args: _replay(base, kind, args))
        finally:
            state.remaking -= 1
    base._views = alive or None


def _replay(base: Tensor, kind: int, args) -> Tensor:
    """The view op that made a view, run again on its base (through Tensor's methods)."""
    if kind == _views.IDENTITY:
        return alias(base)
    if kind == _views.RESHAPE:
        return base.reshape(args)
    if kind == _views.TRANSPOSE:
        return base.transpose(*args)
    if kind == _views.PERMUTE:
        return base.permute(args)
    if kind == _views.EXPAND:
        return base.expand(args)
    if kind == _views.DIAGONAL:
        return base.diagonal(*args)
    return base[args]


def _write_back(view: Tensor, base: Tensor, kind: int, args) -> None:
    if kind == _views.IDENTITY:
        # .data and detach(): the base takes the value, its autograd history untouched.
        prev, _gm.enabled = _gm.enabled, False
        try:
            inplace(base, lambda _old: alias(view))
        finally:
            _gm.enabled = prev
    elif kind == _views.INDEX:
        base[args] = view
    elif kind == _views.RESHAPE:
        inplace(base, _copy_of, (view.reshape(base.shape), "CopySlices"))
    elif kind == _views.TRANSPOSE:
        inplace(base, _copy_of, (view.transpose(*args), "CopySlices"))
    elif kind == _views.PERMUTE:
        inplace(base, _copy_of, (view.permute(inverse_permutation(args)), "CopySlices"))
    elif kind == _views.DIAGONAL:
        inplace(base, lambda old: old.diagonal_scatter(view, *args))
    else:
        raise RuntimeError(_views.EXPANDED)
