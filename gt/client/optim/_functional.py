"""The optimizers' update arithmetic: one instruction per torch call in ``torch.optim``'s
single-tensor code, with the same Python scalars, so eager updates equal torch's bit for bit.

Updates run under ``no_grad`` on tensors of one shape and dtype, so these emitters skip
shape inference and autograd.  Every float goes to the worker as a scalar graph input:
a learning-rate schedule changes values, never the compiled graph.
"""
from __future__ import annotations

from gt.client import runtime as _rt
from gt.client.emit import emit as _emit
from gt.client.tensor import Tensor
from gt.ops import OPCODE as _OP

_ADD_SCALED, _MUL_S, _DIV_S, _ADD_S = (_OP[n] for n in ("add_scaled", "mul_scalar", "div_scalar", "add_scalar"))
_SQRT, _NEG, _ALIAS, _FULL = (_OP[n] for n in ("sqrt", "neg", "alias", "full"))
_LERP, _ADDCMUL, _ADDCDIV, _MAXIMUM = (_OP[n] for n in ("lerp", "addcmul", "addcdiv", "maximum"))


def add(a: Tensor, b: Tensor, alpha: float) -> Tensor:
    """``torch.add(a, b, alpha=alpha)``."""
    return _emit(_ADD_SCALED, (a._id, b._id), a.shape, a.dtype, (), (float(alpha),))


def mul(a: Tensor, s: float) -> Tensor:
    return _emit(_MUL_S, (a._id,), a.shape, a.dtype, (), (float(s),))


def div(a: Tensor, s: float) -> Tensor:
    return _emit(_DIV_S, (a._id,), a.shape, a.dtype, (), (float(s),))


def add_scalar(a: Tensor, s: float) -> Tensor:
    return _emit(_ADD_S, (a._id,), a.shape, a.dtype, (), (float(s),))


def sqrt(a: Tensor) -> Tensor:
    return _emit(_SQRT, (a._id,), a.shape, a.dtype)


def neg(a: Tensor) -> Tensor:
    return _emit(_NEG, (a._id,), a.shape, a.dtype)


def clone(a: Tensor) -> Tensor:
    """A new handle on ``a``'s value (values are never mutated on the worker, so no copy)."""
    return _emit(_ALIAS, (a._id,), a.shape, a.dtype)


def lerp(a: Tensor, b: Tensor, weight: float) -> Tensor:
    return _emit(_LERP, (a._id, b._id), a.shape, a.dtype, (), (float(weight),))


def addcmul(a: Tensor, t1: Tensor, t2: Tensor, value: float) -> Tensor:
    return _emit(_ADDCMUL, (a._id, t1._id, t2._id), a.shape, a.dtype, (), (float(value),))


def addcdiv(a: Tensor, t1: Tensor, t2: Tensor, value: float) -> Tensor:
    return _emit(_ADDCDIV, (a._id, t1._id, t2._id), a.shape, a.dtype, (), (float(value),))


def maximum(a: Tensor, b: Tensor) -> Tensor:
    return _emit(_MAXIMUM, (a._id, b._id), a.shape, a.dtype)


def full_like(a: Tensor, value: float) -> Tensor:
    """A state buffer filled with ``value`` (a worker op: no data is sent)."""
    return _emit(_FULL, (), a.shape, a.dtype, (a.shape, value, a.dtype))


def assign(target: Tensor, value: Tensor) -> None:
    """Make ``target`` (a parameter or a gradient) hold ``value``: the handle stays the same
    object, as after torch's in-place update, and takes the new value's id."""
    old = target._id
    target._id, value._id = value._id, -1
    _rt.free(old)
