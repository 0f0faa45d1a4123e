"""The math surface: arithmetic, elementwise functions, clamp/where, matmul, linear, casts.

The functions whose arguments need more than a signature (``alpha=``, tensor or
number operands, matmul's 1-D rules, device names in ``to``).  The table's
elementwise, broadcasting and signature entries are made by ``gt.client.generate``;
these are declared to ``gt.client.surface`` at the bottom.
"""
from __future__ import annotations

import math
import torch

from gt.client import surface
from gt.client.autograd import backward as _backward, grad_mode as _gm, note_rebinding, renamed
from gt.client.emit import alias, apply, emit, number, operand, record, send
from gt.client.generate import arith, pair, reflected
from gt.client.shapes import FLOATING, as_dtype, broadcast, matmul_shape
from gt.client.tensor import Tensor
from gt.client.views import IDENTITY, link
from gt.ops import OPCODE

_OP = OPCODE


def _pow(self, other):
    if isinstance(other, Tensor):
        return arith(self, other, _OP["pow"], _OP["pow_scalar"])
    s = number(other)
    if type(s) is int and s < 0 and self.dtype not in FLOATING:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return arith(self, other, _OP["pow"], _OP["pow_scalar"])


def add(a, b, *, alpha=1):
    """``a + alpha * b`` (torch.add)."""
    if alpha == 1:
        return a + b
    return add_scaled(a, b, alpha)


def add_scaled(a: Tensor, b, alpha) -> Tensor:
    if not isinstance(b, Tensor):
        raise TypeError(f"add/sub with alpha needs a Tensor operand, got {type(b).__name__}")
    s = number(alpha)
    if s is None or type(s) is bool:
        raise TypeError(f"alpha must be a number, got {type(alpha).__name__}")
    if a.shape == b.shape and a.dtype is b.dtype:  # an optimizer's update: no inference needed
        shape, dtype = a.shape, a.dtype
    else:
        shape, dtype = pair(a, b, _ADD)
    if type(s) is float:
        if dtype not in FLOATING:
            raise RuntimeError("For integral input tensors, argument alpha must not be a floating point number.")
        return send(_ADD_SCALED, (a, b), (a._id, b._id), shape, dtype, (), (s,))
    return send(_ADD_SCALED, (a, b), (a._id, b._id), shape, dtype, (s,))


_ADD, _ADD_SCALED = _OP["add"], _OP["add_scaled"]


def sub(a, b, *, alpha=1):
    return a - b if alpha == 1 else add_scaled(a, b, -alpha)


def mul(a, b):
    return a * b


def div(a, b, *, rounding_mode=None):
    if rounding_mode is not None:
        raise NotImplementedError("GT does not support torch.div(rounding_mode=...) yet")
    return a / b


def _tensor_operand(x, like: Tensor) -> Tensor:
    """A Python number as a 0-d tensor, with the dtype torch gives a wrapped number."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, torch.Tensor):
        return operand(x)
    s = number(x)
    if s is None:
        raise TypeError(f"expected a gt Tensor or a number, got {type(x).__name__}")
    dtype = torch.bool if type(s) is bool else torch.int64 if type(s) is int else (
        like.dtype if like.dtype in FLOATING else torch.get_default_dtype())
    return emit(_OP["full"], (), (), dtype, ((), s, dtype))


def pow(x, exponent):
    if isinstance(x, Tensor):
        return _pow(x, exponent)
    return exponent.__rpow__(x)


def where(condition: Tensor, input=None, other=None) -> Tensor:
    """torch.where(condition, input, other); numbers become 0-d tensors as torch wraps them."""
    if input is None and other is None:
        raise NotImplementedError("GT does not support torch.where(condition) (nonzero) yet")
    like = input if isinstance(input, Tensor) else other
    return apply(_OP["where"], (condition, _tensor_operand(input, like), _tensor_operand(other, like)))


def clamp(x: Tensor, min=None, max=None) -> Tensor:
    """torch.clamp with number or tensor bounds."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        lo = _tensor_operand(min, x) if min is not None else _bound_like(x, max, True)
        hi = _tensor_operand(max, x) if max is not None else _bound_like(x, min, False)
        return apply(_OP["clamp_tensor"], (x, lo, hi))
    lo, hi = (None if v is None else number(v) for v in (min, max))
    if (min is not None and lo is None) or (max is not None and hi is None):
        raise TypeError("clamp(): min and max must be numbers or gt Tensors")
    return apply(_OP["clamp"], (x,), (lo, hi))


def _bound_like(x: Tensor, other: Tensor, low: bool) -> Tensor:
    """An open bound for a tensor clamp: -inf/+inf (or the dtype's extreme for ints)."""
    dtype = torch.promote_types(x.dtype, other.dtype)
    v = (-math.inf if low else math.inf) if dtype in FLOATING else (
        torch.iinfo(dtype).min if low else torch.iinfo(dtype).max)
    return emit(_OP["full"], (), (), dtype, ((), v, dtype))


def clamp_min(x: Tensor, min) -> Tensor:
    return renamed(clamp(x, min=min), x, "clamp_min1" if isinstance(min, Tensor) else "clamp_min")


def clamp_max(x: Tensor, max) -> Tensor:
    return renamed(clamp(x, max=max), x, "clamp_max1" if isinstance(max, Tensor) else "clamp_max")


# -- matmul family -------------------------------------------------------------------------------
_MATMUL = _OP["matmul"]
_matmul_shapes: dict = {}
_MATMUL_NAMES = {(1, 1): "dot", (2, 1): "mv", (1, 2): "squeeze4", (2, 2): "mm"}


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """torch.matmul with its 1-D and batch rules."""
    if not isinstance(a, Tensor):
        a = operand(a)
        if not isinstance(a, Tensor):
            raise TypeError(f"matmul(): argument 'input' must be a gt Tensor, not {type(a).__name__}")
    return _matmul(a, b)


def _matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` (Tensor.__matmul__ and Tensor.matmul, where ``a`` is a Tensor)."""
    if not isinstance(b, Tensor):
        b = operand(b)
        if not isinstance(b, Tensor):
            raise TypeError(f"matmul(): expected gt Tensors, got {type(a).__name__} and {type(b).__name__}")
    key = (a.shape, b.shape)
    shape = _matmul_shapes.get(key)
    if shape is None:
        shape = torch.Size(matmul_shape(a.shape, b.shape))   # a Size: send takes it as it is
        if len(_matmul_shapes) < 4096:
            _matmul_shapes[key] = shape
    if a.dtype is not b.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {a.dtype} != {b.dtype}")
    if a.dtype is torch.bool:
        raise RuntimeError("\"addmm_impl_cpu_\" not implemented for 'Bool'")
    out = send(_MATMUL, (a, b), (a._id, b._id), shape, a.dtype)
    if out._grad_fn is not None:
        out._grad_fn.name = _matmul_name(a, b)
    return out


def _matmul_name(a: Tensor, b: Tensor) -> str:
    """torch's last op in ``a @ b``, which names the result's grad_fn."""
    na = len(a.shape)
    name = _MATMUL_NAMES.get((na, len(b.shape)))
    if name is None:
        name = "clone" if na == 2 and a.requires_grad else "unsafe_view"
    return name


def _rmatmul(self, other):
    if isinstance(other, torch.Tensor):   # torch_tensor @ gt_tensor
        return _matmul(operand(other), self)
    return NotImplemented


def einsum(equation: str, *operands) -> Tensor:
    """torch.einsum; an equation without ``->`` gets torch's implicit output."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    equation = equation.replace(" ", "")
    if "->" not in equation:
        letters = equation.replace(",", "").replace(".", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
        equation += "->" + ("..." if "..." in equation else "") + out
    return apply(_OP["einsum"], tuple(operands), (equation,))


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` as one op, as torch.nn.functional.linear."""
    if bias is None:
        return x @ weight.T
    key = (x.shape, weight.shape, bias.shape)
    shape = _linear_shapes.get(key)
    if shape is None:
        if not x.shape or weight.ndim != 2 or x.shape[-1] != weight.shape[-1]:
            raise RuntimeError(f"linear: input of shape {tuple(x.shape)} does not match weight of shape "
                               f"{tuple(weight.shape)}")
        shape = x.shape[:-1] + weight.shape[:1]
        broadcast(shape, bias.shape)
        if len(_linear_shapes) < 4096:
            _linear_shapes[key] = shape
    if not (x.dtype is weight.dtype is bias.dtype):
        raise RuntimeError(f"linear: expected input, weight and bias of one dtype, got {x.dtype}, "
                           f"{weight.dtype}, {bias.dtype}")
    return send(_LINEAR, (x, weight, bias), (x._id, weight._id, bias._id), shape, x.dtype)


_LINEAR = _OP["linear"]
_linear_shapes: dict = {}


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error as one op, as torch.nn.functional.mse_loss."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        input, target = operand(input), operand(target)
        if not isinstance(input, Tensor) or not isinstance(target, Tensor):
            raise TypeError("mse_loss expects two gt Tensors")
    if input.shape != target.shape:
        raise RuntimeError(f"mse_loss: input shape {tuple(input.shape)} and target shape "
                           f"{tuple(target.shape)} differ")
    return apply(_OP["mse_loss"], (input, target), (reduction,))


# -- dtype, copies, autograd ----------------------------------------------------------------------
def to(self: Tensor, *args, **kwargs) -> Tensor:
    """A copy in another dtype (device arguments are accepted: the worker owns the device)."""
    dtype = kwargs.get("dtype")
    for a in args:
        if isinstance(a, (torch.dtype, str)) and not (isinstance(a, str) and _is_device_name(a)):
            dtype = a
        elif isinstance(a, Tensor):
            dtype = a.dtype
    dtype = as_dtype(dtype)
    if dtype is None or dtype is self.dtype:
        return self
    if dtype not in FLOATING:
        return emit(_CAST, (self._id,), self.shape, dtype, (dtype,))
    return send(_CAST, (self,), (self._id,), self.shape, dtype, (dtype,))


_CAST = _OP["cast"]


def _is_device_name(s: str) -> bool:
    return s.split(":")[0] in ("cpu", "cuda", "mps", "meta")


def detach(self: Tensor) -> Tensor:
    """A handle on ``self``'s value without autograd history, sharing it as torch's does."""
    return link(alias(self), self, IDENTITY)


def detach_(self: Tensor) -> Tensor:
    """Make ``self`` a leaf without autograd history, in place (the view of a view op refuses, as in torch)."""
    if self._data_of is not None and self._data_of[1] != IDENTITY:
        raise RuntimeError("Can't detach views in-place. Use detach() instead.")
    if self._grad_fn is not None:   # nodes made before read the history it had, as torch's keep theirs
        old = alias(self)
        old.requires_grad, old._grad_fn = True, self._grad_fn
        note_rebinding(self, old, keep=True)
    self.requires_grad, self._grad_fn = False, None
    return self


def clone(self: Tensor) -> Tensor:
    out = alias(self)
    if self.requires_grad and _gm.enabled:
        record(_OP["alias"], out, (self,))
        out._grad_fn.name = "clone"
    return out


def backward(self: Tensor, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
    if inputs is not None:
        raise NotImplementedError("GT does not support torch.Tensor.backward(inputs=...) yet")
    if not self.requires_grad:
        raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    if gradient is None:
        if self.numel() != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        gradient = emit(_OP["full"], (), self.shape, self.dtype, (self.shape, 1, self.dtype))
    _backward(self, gradient, bool(create_graph if retain_graph is None else retain_graph), bool(create_graph))


def allclose(a: Tensor, b: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """A sync point: both values are read."""
    return torch.allclose(a._value(), b._value(), rtol, atol, equal_nan)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(x: Tensor) -> int:
    return x.numel()


surface.functions(add=add, allclose=allclose, clamp=clamp, clip=clamp, clamp_max=clamp_max, clamp_min=clamp_min,
                  div=div, einsum=einsum, is_tensor=is_tensor, matmul=matmul, mul=mul, numel=numel, pow=pow, sub=sub,
                  where=where)
surface.methods(
    __rsub__=reflected("rsub_scalar", "__sub__"), __rtruediv__=reflected("rdiv_scalar", "__truediv__"),
    __pow__=_pow, __rpow__=reflected("rpow_scalar", "__pow__"), __matmul__=_matmul, __rmatmul__=_rmatmul,
    __invert__=lambda self: self.bitwise_not(), __neg__=lambda self: self.neg(), __abs__=lambda self: self.abs(),
    __pos__=lambda self: self, __hash__=object.__hash__,
    add=add, sub=sub, mul=mul, div=div, pow=_pow, clamp=clamp, clip=clamp, clamp_min=clamp_min, clamp_max=clamp_max,
    matmul=_matmul, to=to, detach=detach, detach_=detach_, clone=clone, backward=backward,
    float=lambda self: to(self, torch.float32), double=lambda self: to(self, torch.float64),
    half=lambda self: to(self, torch.float16), bfloat16=lambda self: to(self, torch.bfloat16),
    long=lambda self: to(self, torch.int64), int=lambda self: to(self, torch.int32),
    bool=lambda self: to(self, torch.bool), type_as=lambda self, other: to(self, other.dtype),
    cpu=lambda self: self, cuda=lambda self, *a, **k: self,
)
surface.inplace("mul", "div", "clamp", "clamp_min", "clamp_max", "pow")
