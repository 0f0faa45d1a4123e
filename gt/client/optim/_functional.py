"""The optimizers' update arithmetic: ``torch.optim``'s single-tensor code as instructions (one
per torch call, or per short run of calls: ``gt.ops.optim``), with the same Python scalars, so
eager updates equal torch's bit for bit.

Updates run under ``no_grad`` on tensors of one shape and dtype, so these emitters skip
shape inference and autograd.  Every float goes to the worker as a scalar graph input:
a learning-rate schedule changes values, never the compiled graph.
"""
from __future__ import annotations

import struct

from gt.client import runtime as _rt
from gt.client.emit import emit as _emit
from gt.client.inplace import remake
from gt.client.tensor import Tensor
from gt.ops import OPCODE as _OP

_ADD_SCALED, _MUL_S, _NEG, _ALIAS, _FULL = (_OP[n] for n in ("add_scaled", "mul_scalar", "neg", "alias", "full"))
_LERP, _ADDCMUL, _ADDCDIV, _MAXIMUM = (_OP[n] for n in ("lerp", "addcmul", "addcdiv", "maximum"))
_DECAY_ADD, _DECAY_ADDCMUL, _SQRT_DIV_ADD = (_OP[n] for n in ("decay_add", "decay_addcmul", "sqrt_div_add"))
_SIGN, _DIV_S = _OP["sign"], _OP["div_scalar"]


def f32(x: float) -> float:
    """``x`` rounded to float32: the value torch reads back from a 0-d float32 state tensor."""
    return struct.unpack("f", struct.pack("f", x))[0]


def fused(name: str, tensors: tuple, *scalars: float) -> Tensor:
    """One of ``gt.ops.optim``'s fused update entries, shaped as its first tensor."""
    a = tensors[0]
    return _emit(_OP[name], tuple(t._id for t in tensors), a.shape, a.dtype, (), tuple(map(float, scalars)))


def add(a: Tensor, b: Tensor, alpha: float) -> Tensor:
    """``torch.add(a, b, alpha=alpha)``."""
    return _emit(_ADD_SCALED, (a._id, b._id), a.shape, a.dtype, (), (float(alpha),))


def mul(a: Tensor, s: float) -> Tensor:
    return _emit(_MUL_S, (a._id,), a.shape, a.dtype, (), (float(s),))


def div(a: Tensor, s: float) -> Tensor:
    return _emit(_DIV_S, (a._id,), a.shape, a.dtype, (), (float(s),))


def decay_add(buf: Tensor, g: Tensor, decay: float, alpha: float) -> Tensor:
    """``buf.mul_(decay).add_(g, alpha=alpha)``."""
    return _emit(_DECAY_ADD, (buf._id, g._id), buf.shape, buf.dtype, (), (float(decay), float(alpha)))


def decay_addcmul(v: Tensor, g: Tensor, decay: float, value: float) -> Tensor:
    """``v.mul_(decay).addcmul_(g, g, value=value)``."""
    return _emit(_DECAY_ADDCMUL, (v._id, g._id), v.shape, v.dtype, (), (float(decay), float(value)))


def sqrt_div_add(v: Tensor, c: float, eps: float) -> Tensor:
    """``(v.sqrt() / c).add_(eps)``; with ``c`` = 1.0 exactly ``v.sqrt().add_(eps)``."""
    return _emit(_SQRT_DIV_ADD, (v._id,), v.shape, v.dtype, (), (float(c), float(eps)))


def sign(a: Tensor) -> Tensor:
    return _emit(_SIGN, (a._id,), a.shape, a.dtype)


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
    if target._views is not None:   # a view of a parameter (its .data kept, a state_dict entry) follows it
        remake(target)
