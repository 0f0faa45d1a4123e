"""The math surface: arithmetic, elementwise functions, clamp/where, matmul, linear, casts.

Each function infers its result from the op table's rule and emits through
``gt.client.emit``.  Arithmetic and the elementwise functions share one path
each, with their inference cached per (op, shapes, dtypes), because they are the
ops every training step is made of.  ``gt.<name>`` and ``Tensor.<name>`` are
bound here (``bind`` at the bottom).
"""
from __future__ import annotations

import math
import torch

from gt.client import runtime as _rt
from gt.client.autograd import backward as _backward, grad_mode as _gm
from gt.client.emit import alias, apply, elementwise_dtype, emit, emit_number, make, number, operand, record
from gt.client.shapes import FLOATING, as_dtype, broadcast, matmul_shape
from gt.client.tensor import Tensor
from gt.client.views import IDENTITY, link
from gt.ops import OPCODE, OPS

_OP = OPCODE
_binary_cache: dict = {}
_scalar_dtypes: dict = {}  # (op, dtype, type of the number) -> result dtype; bounded by the few dtypes


def _pair(a: Tensor, b: Tensor, code: int) -> tuple:
    """(shape, dtype) of a broadcasting binary op, cached per op, shapes and dtypes."""
    key = (code, a.shape, b.shape, a.dtype, b.dtype)
    return _binary_cache.get(key) or _pair_inferred(key, a, b)


def _pair_inferred(key: tuple, a: Tensor, b: Tensor) -> tuple:
    sa, sb = a.shape, b.shape
    hit = (sa if sa == sb else broadcast(sa, sb), elementwise_dtype(key[0], (a, b)))
    if len(_binary_cache) >= 8192:
        _binary_cache.clear()
    _binary_cache[key] = hit
    return hit


def _arith(a: Tensor, b, code_t: int, code_s: int):
    """``a <op> b`` for a Tensor ``a`` and a Tensor or Python/numpy number ``b``."""
    if isinstance(b, Tensor):
        key = (code_t, a.shape, b.shape, a.dtype, b.dtype)  # _pair, inlined: the most frequent op path
        shape, dtype = _binary_cache.get(key) or _pair_inferred(key, a, b)
        out = make(shape, dtype)
        _rt.submit(code_t, out._id, (a._id, b._id), (), (), out.shape)
        if (a.requires_grad or b.requires_grad) and _gm.enabled:
            record(code_t, out, (a, b))
        return out
    return _arith_number(a, b, code_s)


def _arith_number(a: Tensor, b, code_s: int):
    """``a <op> b`` for a Python/numpy number ``b`` (NotImplemented for anything else)."""
    s = b if b.__class__ is float else number(b)   # a float (a learning rate) is the common case
    if s is None:
        if isinstance(b, torch.Tensor):   # a torch operand (a DataLoader's batch)
            return _arith(a, operand(b), _TENSOR_FORM[code_s], code_s)
        return NotImplemented
    dtype = _scalar_dtypes.get((code_s, a.dtype, s.__class__))
    if dtype is None:
        dtype = elementwise_dtype(code_s, (a,), s)
        _scalar_dtypes[(code_s, a.dtype, s.__class__)] = dtype
    if s.__class__ is float:   # emit_number's float case, inlined: a graph input, not a param
        out = make(a.shape, dtype)
        _rt.submit(code_s, out._id, (a._id,), (), (s,), out.shape)
    else:
        out = emit_number(code_s, (a._id,), a.shape, dtype, s)
    if a.requires_grad and _gm.enabled:
        record(code_s, out, (a,), (s,))
    return out


# Arithmetic whose result keeps its operands' floating dtype and, for equal shapes, their
# shape: the common training-loop case skips the inference cache (a tuple key and its hash).
_SAME_AS_OPERANDS = frozenset(("add", "sub", "mul", "div"))


# A scalar opcode -> the opcode of its two-tensor form (``x + torch_tensor``).
_TENSOR_FORM = {_OP[e.name + "_scalar"]: _OP[e.name] for e in OPS if e.kind == "broadcast"
                and e.name + "_scalar" in _OP}


def _binary_method(name: str):
    code_t, code_s = _OP[name], _OP[name + "_scalar"]

    if name not in _SAME_AS_OPERANDS:
        def method(self, other):
            return _arith(self, other, code_t, code_s)
    else:
        def method(self, other):
            if isinstance(other, Tensor):
                shape, dtype = self.shape, self.dtype
                if dtype is other.dtype and dtype in FLOATING and shape == other.shape:
                    out = make(shape, dtype)
                    _rt.submit(code_t, out._id, (self._id, other._id), (), (), out.shape)
                    if (self.requires_grad or other.requires_grad) and _gm.enabled:
                        record(code_t, out, (self, other))
                    return out
                return _arith(self, other, code_t, code_s)
            return _arith_number(self, other, code_s)
    method.__name__ = name
    return method


def _reflected(scalar: str, forward: str):
    code_s = _OP[scalar]

    def method(self, other):
        s = number(other)
        if s is None:
            if isinstance(other, torch.Tensor):   # torch_tensor - gt_tensor
                return getattr(operand(other), forward)(self)
            return NotImplemented
        out = emit_number(code_s, (self._id,), self.shape, elementwise_dtype(code_s, (self,), s), s)
        if self.requires_grad and _gm.enabled:
            record(code_s, out, (self,), (s,))
        return out
    return method


def _pow(self, other):
    if isinstance(other, Tensor):
        return _arith(self, other, _OP["pow"], _OP["pow_scalar"])
    s = number(other)
    if type(s) is int and s < 0 and self.dtype not in FLOATING:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return _arith(self, other, _OP["pow"], _OP["pow_scalar"])


def _unary(name: str) -> tuple:
    """(``gt.<name>``, ``Tensor.<name>``): the method skips the function's argument check."""
    code = _OP[name]
    dtypes: dict = {}  # input dtype -> result dtype

    def method(x: Tensor) -> Tensor:
        dtype = dtypes.get(x.dtype)
        if dtype is None:
            dtype = dtypes[x.dtype] = elementwise_dtype(code, (x,))
        out = make(x.shape, dtype)
        _rt.submit(code, out._id, (x._id,), (), (), out.shape)
        if x.requires_grad and _gm.enabled:
            record(code, out, (x,))
        return out

    def fn(x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = operand(x)
            if not isinstance(x, Tensor):
                raise TypeError(f"{name}(): argument 'input' must be a gt Tensor, not {type(x).__name__}")
        return method(x)
    fn.__name__ = method.__name__ = name
    fn.__doc__ = method.__doc__ = f"torch.{name}, elementwise."
    return fn, method


def _meta_op(name: str):
    code = _OP[name]

    def fn(*inputs: Tensor) -> Tensor:
        return apply(code, inputs)
    fn.__name__ = name
    return fn


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
        shape, dtype = _pair(a, b, _ADD)
    if type(s) is float:
        if dtype not in FLOATING:
            raise RuntimeError("For integral input tensors, argument alpha must not be a floating point number.")
        out = emit(_ADD_SCALED, (a._id, b._id), shape, dtype, (), (s,))
    else:
        out = emit(_ADD_SCALED, (a._id, b._id), shape, dtype, (s,))
    if (a.requires_grad or b.requires_grad) and _gm.enabled:
        record(_ADD_SCALED, out, (a, b), (s,))
    return out


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


def _elementwise_pair(name: str):
    """A broadcasting op of two tensors only (torch.maximum refuses Python numbers)."""
    code = _OP[name]

    def fn(a: Tensor, b: Tensor) -> Tensor:
        if not isinstance(a, Tensor) or not isinstance(b, Tensor):
            a, b = operand(a), operand(b)
            if not isinstance(a, Tensor) or not isinstance(b, Tensor):
                raise TypeError(f"{name}(): argument 'other' must be a gt Tensor, not {type(b).__name__}")
        shape, dtype = _pair(a, b, code)
        return apply(code, (a, b), shape=shape, dtype=dtype)
    fn.__name__ = name
    return fn


maximum, minimum = _elementwise_pair("maximum"), _elementwise_pair("minimum")


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
    return clamp(x, min=min)


def clamp_max(x: Tensor, max) -> Tensor:
    return clamp(x, max=max)


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
        shape = matmul_shape(a.shape, b.shape)
        if len(_matmul_shapes) < 4096:
            _matmul_shapes[key] = shape
    if a.dtype is not b.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {a.dtype} != {b.dtype}")
    if a.dtype is torch.bool:
        raise RuntimeError("\"addmm_impl_cpu_\" not implemented for 'Bool'")
    out = make(shape, a.dtype)
    _rt.submit(_MATMUL, out._id, (a._id, b._id), (), (), out.shape)
    if (a.requires_grad or b.requires_grad) and _gm.enabled:
        record(_MATMUL, out, (a, b))
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


mm, bmm, outer = _meta_op("mm"), _meta_op("bmm"), _meta_op("outer")


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
    out = emit(_LINEAR, (x._id, weight._id, bias._id), shape, x.dtype)
    if (x.requires_grad or weight.requires_grad or bias.requires_grad) and _gm.enabled:
        record(_LINEAR, out, (x, weight, bias))
    return out


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
    out = emit(_CAST, (self._id,), self.shape, dtype, (dtype,))
    if self.requires_grad and _gm.enabled and dtype in FLOATING:
        record(_CAST, out, (self,), (dtype,))
    return out


_CAST = _OP["cast"]


def _is_device_name(s: str) -> bool:
    return s.split(":")[0] in ("cpu", "cuda", "mps", "meta")


def detach(self: Tensor) -> Tensor:
    """A handle on ``self``'s value without autograd history, sharing it as torch's does."""
    return link(alias(self), self, IDENTITY)


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


_unary_pairs = {e.name: _unary(e.name) for e in OPS if e.kind == "elementwise" and e.public}
_unary_fns = {name: pair[0] for name, pair in _unary_pairs.items()}
_unary_methods = {name: pair[1] for name, pair in _unary_pairs.items()}
_meta_fns = {e.name: _meta_op(e.name) for e in OPS if e.kind == "meta" and e.public}
_binary_fns = {e.name: _binary_method(e.name) for e in OPS if e.kind == "broadcast" and e.public
               and e.name + "_scalar" in OPCODE}
globals().update(_unary_fns, **_meta_fns, **_binary_fns)
# Every op the table marks public, as gt.<name> (gt/__init__ exports them).
PUBLIC = tuple(_unary_fns) + tuple(_meta_fns) + tuple(_binary_fns) + ("maximum", "minimum")


def bind(cls: type) -> None:
    """Make the math surface Tensor methods (``x.exp()``, ``x + y`` ...)."""
    methods = dict(_unary_methods, **_meta_fns, **_binary_fns)
    methods.update(
        __add__=_binary_method("add"), __radd__=_binary_method("add"),
        __sub__=_binary_method("sub"), __rsub__=_reflected("rsub_scalar", "__sub__"),
        __mul__=_binary_method("mul"), __rmul__=_binary_method("mul"),
        __truediv__=_binary_method("div"), __rtruediv__=_reflected("rdiv_scalar", "__truediv__"),
        __pow__=_pow, __rpow__=_reflected("rpow_scalar", "__pow__"),
        __matmul__=_matmul, __rmatmul__=_rmatmul,
        __eq__=_binary_fns["eq"], __ne__=_binary_fns["ne"], __lt__=_binary_fns["lt"], __le__=_binary_fns["le"],
        __gt__=_binary_fns["gt"], __ge__=_binary_fns["ge"],
        __and__=_binary_fns["bitwise_and"], __or__=_binary_fns["bitwise_or"], __xor__=_binary_fns["bitwise_xor"],
        __rand__=_binary_fns["bitwise_and"], __ror__=_binary_fns["bitwise_or"],
        __rxor__=_binary_fns["bitwise_xor"],
        __invert__=_unary_methods["bitwise_not"],
        __mod__=_binary_fns["remainder"], __floordiv__=_binary_fns["floor_divide"],
        __neg__=_unary_methods["neg"], __abs__=_unary_methods["abs"], __pos__=lambda self: self,
        __hash__=object.__hash__,
        add=add, sub=sub, mul=mul, div=div, pow=_pow, maximum=maximum, minimum=minimum,
        clamp=clamp, clip=clamp, clamp_min=clamp_min, clamp_max=clamp_max,
        matmul=_matmul, to=to, detach=detach, clone=clone, backward=backward,
        float=lambda self: to(self, torch.float32), double=lambda self: to(self, torch.float64),
        half=lambda self: to(self, torch.float16), bfloat16=lambda self: to(self, torch.bfloat16),
        long=lambda self: to(self, torch.int64), int=lambda self: to(self, torch.int32),
        bool=lambda self: to(self, torch.bool), type_as=lambda self, other: to(self, other.dtype),
        cpu=lambda self: self, cuda=lambda self, *a, **k: self,
    )
    for name, fn in methods.items():
        setattr(cls, name, fn)
