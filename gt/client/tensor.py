"""The client's Tensor: a handle (id, shape, dtype) whose ops become instructions.

Each op infers its result's shape and dtype here (``gt.client.shapes``), takes
a fresh id, sends one instruction to the worker and, when gradients are being
recorded, links an autograd node.  Nothing waits for the worker except reading
data.  In-place ops are functional underneath: the handle is rebound to the
new result's id, so the instruction stream stays in SSA form.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
import torch

from gt.client import runtime as _rt
from gt.client.autograd import Node, backward as _backward, grad_mode as _gm
from gt.client.shapes import (FLOATING, broadcast, fmt, index_shape, matmul_shape, norm_dim, norm_dims,
                              promote, promote_scalar, reduce_shape, reshape_shape, to_float)
from gt.worker.ops import OPCODE as _OP

SUPPORTED_DTYPES = (torch.float32, torch.float64, torch.float16, torch.int64, torch.int32, torch.bool)
_new_object = object.__new__
_Size = torch.Size
_new_id = _rt.new_id

MaxResult = namedtuple("max", ["values", "indices"])

# opcodes used on the per-op path
_ADD, _SUB, _MUL, _DIV, _POW, _MATMUL = (_OP[n] for n in ("add", "sub", "mul", "div", "pow", "matmul"))
_ADD_S, _RSUB_S, _MUL_S, _DIV_S, _RDIV_S, _POW_S, _RPOW_S = (
    _OP[n] for n in ("add_scalar", "rsub_scalar", "mul_scalar", "div_scalar", "rdiv_scalar",
                     "pow_scalar", "rpow_scalar"))


def _make(shape: tuple, dtype: torch.dtype) -> "Tensor":
    t = _new_object(Tensor)
    t._id = _new_id()
    t.shape = shape if type(shape) is _Size else _Size(shape)
    t.dtype = dtype
    t.requires_grad = False
    t.grad = None
    t._grad_fn = None
    t._data_of = None
    return t


def _emit(opcode: int, inputs: tuple, shape: tuple, dtype: torch.dtype, params: tuple = (),
          scalars: tuple = ()) -> "Tensor":
    out = _make(shape, dtype)
    _rt.submit(opcode, out._id, inputs, params, scalars)
    return out


def _emit_with_scalar(opcode: int, inputs: tuple, shape: tuple, dtype: torch.dtype, s) -> "Tensor":
    """Emit an op taking a Python number: a float is a graph input (a learning rate may
    change every step without recompiling); an int or bool is a static param, part of
    the batch signature, because it decides result dtypes."""
    if type(s) is float:
        return _emit(opcode, inputs, shape, dtype, (), (s,))
    return _emit(opcode, inputs, shape, dtype, (s,))


def _track(out: "Tensor", rule, inputs: tuple, saved=None, name: str = "") -> "Tensor":
    out.requires_grad = True
    out._grad_fn = Node(rule, inputs, saved, name)
    return out


def _put(value: torch.Tensor, requires_grad: bool = False) -> "Tensor":
    """A tensor created from data: the value goes to the worker now."""
    if value.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"GT does not support dtype {value.dtype} (supported: "
                        + ", ".join(str(d).replace("torch.", "") for d in SUPPORTED_DTYPES) + ")")
    out = _make(tuple(value.shape), value.dtype)
    _rt.get_worker().put(out._id, value)
    if requires_grad:
        out.requires_grad_(True)
    return out


def _scalar(x):
    """A Python number from ``x`` (Python or numpy scalar), or None when ``x`` is not one."""
    t = type(x)
    if t is float or t is int or t is bool:
        return x
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, (int, float)):
        return float(x) if isinstance(x, float) else int(x)
    if isinstance(x, torch.Tensor):
        raise TypeError("cannot combine a gt Tensor with a torch.Tensor: make it a gt tensor first "
                        "(gt.tensor(t) or gt.from_numpy(t.numpy()))")
    return None


# -- op builders -------------------------------------------------------------------
def _check_sub(a, b) -> None:
    """torch refuses ``-`` with a bool operand (a bool tensor or a Python/numpy bool)."""
    if a.dtype is torch.bool or isinstance(b, (bool, np.bool_)) or (isinstance(b, Tensor) and b.dtype is torch.bool):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying "
                           "to invert a mask, use the `~` or `logical_not()` operator instead.")


def _arith(a, b, op_t, op_s, rule_t, rule_s, name, div=False):
    """``a <op> b`` for a Tensor ``a`` and a Tensor or Python/numpy scalar ``b``."""
    if isinstance(b, Tensor):
        sa, sb = a.shape, b.shape
        shape = sa if sa == sb else broadcast(sa, sb)
        dtype = a.dtype if a.dtype is b.dtype else promote(a.dtype, b.dtype, not sa, not sb)
        if div and dtype not in FLOATING:
            dtype = torch.get_default_dtype()
        out = _make(shape, dtype)
        _rt.submit(op_t, out._id, (a._id, b._id), (), ())
        if (a.requires_grad or b.requires_grad) and _gm.enabled:
            _track(out, rule_t, (a, b), None, name)
        return out
    s = _scalar(b)
    if s is None:
        return NotImplemented
    if type(s) is bool:
        if a.dtype is torch.bool:
            return _arith(a, _cr.full((), s, dtype=torch.bool), op_t, op_s, rule_t, rule_s, name, div)
        s = int(s)
    dtype = promote_scalar(a.dtype, s)
    if div and dtype not in FLOATING:
        dtype = torch.get_default_dtype()
    if op_s == _POW_S and type(s) is int and s < 0 and dtype not in FLOATING:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    out = _emit_with_scalar(op_s, (a._id,), a.shape, dtype, s)
    if a.requires_grad and _gm.enabled and rule_s is not None:
        _track(out, rule_s, (a,), s, name)
    return out


def _compare(a, b, name):
    if isinstance(b, Tensor):
        shape = a.shape if a.shape == b.shape else broadcast(a.shape, b.shape)
        return _emit(_OP[name], (a._id, b._id), shape, torch.bool)
    s = _scalar(b)
    if s is None:
        return NotImplemented
    if type(s) is bool:
        s = int(s)
    return _emit_with_scalar(_OP[name + "_scalar"], (a._id,), a.shape, torch.bool, s)


def _unary(x, name, rule, save_out=False, float_result=False):
    out = _make(x.shape, to_float(x.dtype) if float_result else x.dtype)
    _rt.submit(_OP[name], out._id, (x._id,), (), ())
    if rule is not None and x.requires_grad and _gm.enabled:
        _track(out, rule, (x,), out.detach() if save_out else None, name)
    return out


def _reduce(x, name, dim, keepdim, axis, keepdims, mean=False):
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{name}() got both 'dim' and 'axis'")
        dim = axis
    keepdim = keepdim or bool(keepdims)
    if mean and x.dtype not in FLOATING:
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating point "
                           f"or complex dtype. Got: {str(x.dtype).replace('torch.', '').capitalize()}")
    dtype = x.dtype if (x.dtype in FLOATING or mean) else torch.int64
    if dim is None:
        dims = tuple(range(x.ndim))
        out = _emit(_OP[name + "_all"], (x._id,), (), dtype)
        keepdim = False
    else:
        dims = norm_dims(dim, x.ndim)
        out = _emit(_OP[name + "_dim"], (x._id,), reduce_shape(x.shape, dims, keepdim), dtype,
                    (dims, keepdim))
    if x.requires_grad and _gm.enabled:
        scale = math.prod(x.shape[d] for d in dims) if mean else 1
        _track(out, _gr._g_expand_back, (x,), (dims, keepdim, scale), name if dim is None else name + "1")
    return out


class Tensor:
    """A handle to a tensor held by the worker."""

    __slots__ = ("_id", "shape", "dtype", "requires_grad", "grad", "_grad_fn", "_data_of", "__weakref__")
    __array_ufunc__ = None  # make numpy defer to our reflected operators
    __array_priority__ = 1000

    def __new__(cls, *args, **kwargs):  # refuse before an instance exists: __del__ never sees one without _id
        raise TypeError("create GT tensors with gt.tensor(), gt.zeros(), gt.randn(), ...")

    def __del__(self):
        i = self._id
        if i > 0:
            try:
                _rt.free(i)
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass

    # -- metadata ----------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return len(self.shape)

    def size(self, dim: int | None = None):
        if dim is None:
            return torch.Size(self.shape)
        return self.shape[norm_dim(dim, self.ndim)]

    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def grad_fn(self):
        return self._grad_fn

    @property
    def device(self):
        return _rt.get_worker().device

    @property
    def T(self) -> "Tensor":
        if len(self.shape) == 2:
            return _renamed(self.transpose(0, 1), self, "permute")
        return self.permute(*reversed(range(self.ndim)))

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self.dtype not in FLOATING:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        if not requires_grad and self._grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables.")
        self.requires_grad = requires_grad
        return self

    # -- arithmetic --------------------------------------------------------------
    def __add__(self, o):
        return _arith(self, o, _ADD, _ADD_S, _gr._g_add, _gr._g_identity, "add")

    __radd__ = __add__

    def __sub__(self, o):
        _check_sub(self, o)
        return _arith(self, o, _SUB, _ADD_S, _gr._g_sub, _gr._g_identity, "sub") if isinstance(o, Tensor) \
            else self._sub_scalar(o)

    def _sub_scalar(self, o):
        s = _scalar(o)
        if s is None:
            return NotImplemented
        return _arith(self, -int(s) if type(s) is bool else -s, _SUB, _ADD_S, _gr._g_sub, _gr._g_identity, "sub")

    def __rsub__(self, o):
        _check_sub(self, o)
        return _arith(self, o, _SUB, _RSUB_S, None, _gr._g_neg_rule, "rsub1")

    def __mul__(self, o):
        return _arith(self, o, _MUL, _MUL_S, _gr._g_mul, _gr._g_mul_s, "mul")

    __rmul__ = __mul__

    def __truediv__(self, o):
        return _arith(self, o, _DIV, _DIV_S, _gr._g_div, _gr._g_div_s, "div", div=True)

    def __rtruediv__(self, o):
        return _arith(self, o, _DIV, _RDIV_S, None, _gr._g_rdiv_s, "mul", div=True)  # torch: reciprocal() * s

    def __pow__(self, o):
        return _arith(self, o, _POW, _POW_S, _gr._g_pow, _gr._g_pow_s, "pow1" if isinstance(o, Tensor) else "pow")

    def __rpow__(self, o):
        s = _scalar(o)
        if s is None:
            return NotImplemented
        dtype = promote_scalar(self.dtype, s)
        out = _emit_with_scalar(_RPOW_S, (self._id,), self.shape, dtype, s)
        if self.requires_grad and _gm.enabled:
            _track(out, _gr._g_rpow_s, (self,), (s, out.detach()), "pow2")
        return out

    def __matmul__(self, o):
        if not isinstance(o, Tensor):
            return NotImplemented
        shape = matmul_shape(self.shape, o.shape)
        if self.dtype is not o.dtype:
            raise RuntimeError(f"matmul: expected both tensors to have the same dtype, "
                               f"but got {self.dtype} and {o.dtype}")
        if self.dtype is torch.bool:
            raise RuntimeError("matmul: bool tensors are not supported")
        out = _make(shape, self.dtype)
        _rt.submit(_MATMUL, out._id, (self._id, o._id), (), ())
        if (self.requires_grad or o.requires_grad) and _gm.enabled:
            _track(out, _gr._g_matmul, (self, o), None, _matmul_name(self, o))
        return out

    def __rmatmul__(self, o):
        return NotImplemented

    def __neg__(self):
        if self.dtype is torch.bool:
            raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported.")
        return _unary(self, "neg", _gr._g_neg)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    # comparisons give bool tensors, as torch's do
    def __gt__(self, o):
        return _compare(self, o, "gt")

    def __lt__(self, o):
        return _compare(self, o, "lt")

    def __ge__(self, o):
        return _compare(self, o, "ge")

    def __le__(self, o):
        return _compare(self, o, "le")

    def __eq__(self, o):
        return _compare(self, o, "eq")

    __hash__ = object.__hash__

    # -- in place (functional underneath: the handle takes the result's id) ----------
    def _inplace(self, result_fn, other) -> "Tensor":
        if self.requires_grad and self._grad_fn is None and _gm.enabled:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place operation.")
        old = _new_object(Tensor)
        old._id, old.shape, old.dtype = self._id, self.shape, self.dtype
        old.requires_grad, old.grad, old._grad_fn, old._data_of = self.requires_grad, None, self._grad_fn, None
        self._id = -1  # the id now belongs to `old`
        if other is self:  # x *= x: the operand is the old value
            other = old
        try:
            res = result_fn(old, other)
            if res is NotImplemented:
                raise TypeError(f"unsupported operand type for an in-place op: {type(other).__name__}")
            if res.shape != old.shape:
                raise RuntimeError(f"output with shape {list(old.shape)} doesn't match the broadcast shape "
                                   f"{list(res.shape)}")
            if res.dtype is not old.dtype:
                if not torch.can_cast(res.dtype, old.dtype):
                    raise RuntimeError(f"result type {res.dtype} can't be cast to the desired output type "
                                       f"{old.dtype}")
                res = res.to(old.dtype)
        except BaseException:
            self._id, old._id = old._id, -1
            raise
        self._id, res._id = res._id, -1
        if _gm.enabled:
            self.requires_grad, self._grad_fn = res.requires_grad, res._grad_fn
        if self._data_of is not None:
            self._data_of._rebind_to(self)
        return self

    def _rebind_to(self, src: "Tensor") -> None:
        """Make this handle hold (an alias of) ``src``'s value: ``.data`` write-through."""
        alias = _emit(_OP["alias"], (src._id,), src.shape, src.dtype)
        old = self._id
        self._id, alias._id = alias._id, -1
        self.shape, self.dtype = src.shape, src.dtype
        _rt.free(old)

    def __iadd__(self, o):
        return self._inplace(Tensor.__add__, o)

    def __isub__(self, o):
        return self._inplace(Tensor.__sub__, o)

    def __imul__(self, o):
        return self._inplace(Tensor.__mul__, o)

    def __itruediv__(self, o):
        return self._inplace(Tensor.__truediv__, o)

    def add_(self, o, alpha=1):
        if alpha == 1:
            return self._inplace(Tensor.__add__, o)
        return self._inplace(add_scaled, (o, alpha))

    def sub_(self, o, alpha=1):
        if alpha == 1:
            return self._inplace(Tensor.__sub__, o)
        return self._inplace(add_scaled, (o, -alpha))

    def mul_(self, o):
        return self._inplace(Tensor.__mul__, o)

    def div_(self, o):
        return self._inplace(Tensor.__truediv__, o)

    def copy_(self, src) -> "Tensor":
        if not isinstance(src, Tensor):
            src = _cr.tensor(src)
        broadcast(src.shape, self.shape)
        return self._inplace(lambda old, s: _copy_of(s, old), src)

    def fill_(self, value) -> "Tensor":
        return self._inplace(lambda old, v: _cr.full(old.shape, v, dtype=old.dtype), value)

    def zero_(self) -> "Tensor":
        return self.fill_(0)

    # -- unary math ----------------------------------------------------------------
    def exp(self):
        return _unary(self, "exp", _gr._g_exp, save_out=True, float_result=True)

    def log(self):
        return _unary(self, "log", _gr._g_log, float_result=True)

    def sqrt(self):
        return _unary(self, "sqrt", _gr._g_sqrt, save_out=True, float_result=True)

    def abs(self):
        return _unary(self, "abs", _gr._g_abs)

    def sign(self):
        return _unary(self, "sign", None)

    def relu(self):
        return _unary(self, "relu", _gr._g_relu)

    def sigmoid(self):
        return _unary(self, "sigmoid", _gr._g_sigmoid, save_out=True, float_result=True)

    def tanh(self):
        return _unary(self, "tanh", _gr._g_tanh, save_out=True, float_result=True)

    def neg(self):
        return -self

    def pow(self, e):
        return self ** e

    def matmul(self, o):
        return self @ o

    def add(self, o, alpha=1):
        return self + o if alpha == 1 else add_scaled(self, (o, alpha))

    def sub(self, o, alpha=1):
        return self - o if alpha == 1 else add_scaled(self, (o, -alpha))

    def mul(self, o):
        return self * o

    def div(self, o):
        return self / o

    # -- reductions ------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=False, dtype=None):
        out = _reduce(self, "sum", dim, keepdim, axis, keepdims)
        return out if dtype is None else out.to(dtype)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return _reduce(self, "mean", dim, keepdim, axis, keepdims, mean=True)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        if axis is not None:
            dim = axis
        keepdim = keepdim or bool(keepdims)
        if isinstance(dim, Tensor):
            raise TypeError("gt: elementwise max(other) is not supported; use max(dim=...)")
        if self.numel() == 0:
            raise RuntimeError("max(): Expected reduction dim to be specified for input.numel() == 0.")
        if dim is None:
            out = _emit(_OP["max_all"], (self._id,), (), self.dtype)
            if self.requires_grad and _gm.enabled:
                _track(out, _gr._g_max_all, (self,), out.detach(), "max1")
            return out
        d = norm_dim(dim, self.ndim)
        shape = reduce_shape(self.shape, (d,), keepdim)
        idx = _emit(_OP["argmax_dim"], (self._id,), shape, torch.int64, (d, keepdim))
        values = _emit(_OP["amax_dim"], (self._id,), shape, self.dtype, (d, keepdim))
        if self.requires_grad and _gm.enabled:
            _track(values, _gr._g_max_dim, (self,), (idx, d, keepdim), "max")
        return MaxResult(values, idx)

    def argmax(self, dim=None, keepdim=False):
        if dim is None:
            return self.reshape(-1).argmax(0)
        d = norm_dim(dim, self.ndim)
        return _emit(_OP["argmax_dim"], (self._id,), reduce_shape(self.shape, (d,), keepdim), torch.int64,
                     (d, keepdim))

    # -- shapes ----------------------------------------------------------------------
    def reshape(self, *shape):
        shape = reshape_shape(self.shape, shape[0] if len(shape) == 1 and not isinstance(shape[0], int)
                              else shape)
        if shape == self.shape:
            return self
        out = _emit(_OP["reshape"], (self._id,), shape, self.dtype, (shape,))
        if self.requires_grad and _gm.enabled:
            _track(out, _gr._g_reshape, (self,), None, "view")
        return out

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = norm_dim(start_dim, self.ndim), norm_dim(end_dim, self.ndim)
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        return self.reshape(self.shape[:s] + (math.prod(self.shape[s:e + 1]),) + self.shape[e + 1:])

    def unsqueeze(self, dim):
        d = norm_dim(dim, self.ndim + 1)
        return _renamed(self.reshape(self.shape[:d] + (1,) + self.shape[d:]), self, "unsqueeze")

    def squeeze(self, dim=None):
        if dim is None:
            return _renamed(self.reshape(tuple(n for n in self.shape if n != 1)), self, "squeeze")
        d = norm_dim(dim, self.ndim) if self.ndim else 0
        if not self.shape or self.shape[d] != 1:
            return self
        return _renamed(self.reshape(self.shape[:d] + self.shape[d + 1:]), self, "squeeze1")

    def transpose(self, d0, d1):
        n = self.ndim
        a, b = norm_dim(d0, n), norm_dim(d1, n)
        if a == b:
            return self
        shape = list(self.shape)
        shape[a], shape[b] = shape[b], shape[a]
        out = _emit(_OP["transpose"], (self._id,), tuple(shape), self.dtype, (a, b))
        if self.requires_grad and _gm.enabled:
            _track(out, _gr._g_transpose, (self,), (a, b), "transpose")
        return out

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self.transpose(0, 1) if self.ndim == 2 else self

    def permute(self, *dims):
        if len(dims) == 1 and not isinstance(dims[0], int):
            dims = tuple(dims[0])
        if len(dims) != self.ndim:
            raise RuntimeError(f"permute: number of dims don't match in permute: got {len(dims)} dims "
                               f"for a tensor of shape {fmt(self.shape)}")
        dims = tuple(norm_dim(d, self.ndim) for d in dims)
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"permute: repeated dim in {dims}")
        if dims == tuple(range(self.ndim)):
            return self
        out = _emit(_OP["permute"], (self._id,), tuple(self.shape[d] for d in dims), self.dtype, (dims,))
        if self.requires_grad and _gm.enabled:
            _track(out, _gr._g_permute, (self,), dims, "permute")
        return out

    def expand(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = tuple(shape[0])
        lead = len(shape) - self.ndim
        if lead < 0:
            raise RuntimeError(f"expand: the number of sizes provided ({len(shape)}) must be greater or equal "
                               f"to the number of dimensions in the tensor ({self.ndim})")
        target = tuple(self.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
        if broadcast(self.shape, target) != target:
            raise RuntimeError(f"expand: shape {fmt(self.shape)} cannot be expanded to {fmt(target)}")
        if target == self.shape:
            return self
        out = _emit(_OP["expand"], (self._id,), target, self.dtype, (target,))
        if self.requires_grad and _gm.enabled:
            _track(out, _gr._g_expand, (self,), None, "expand")
        return out

    def __getitem__(self, key):
        shape, norm = index_shape(self.shape, key)
        out = _emit(_OP["getitem"], (self._id,), shape, self.dtype, (norm,))
        if self.requires_grad and _gm.enabled:
            _track(out, _gr._g_getitem, (self,), norm, _index_name(key, norm, self.shape))
        return out

    # -- dtype / device --------------------------------------------------------------
    def to(self, *args, **kwargs):
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, torch.dtype):
                dtype = a
        if dtype is None or dtype is self.dtype:
            return self
        if dtype not in SUPPORTED_DTYPES:
            raise TypeError(f"GT does not support dtype {dtype}")
        out = _emit(_OP["cast"], (self._id,), self.shape, dtype, (dtype,))
        if self.requires_grad and _gm.enabled and dtype in FLOATING:
            _track(out, _gr._g_cast, (self,), None, "to_copy")
        return out

    def float(self):
        return self.to(torch.float32)

    def double(self):
        return self.to(torch.float64)

    def long(self):
        return self.to(torch.int64)

    def int(self):
        return self.to(torch.int32)

    def bool(self):
        return self.to(torch.bool)

    def cpu(self):
        return self

    def cuda(self, *args, **kwargs):
        return self

    def contiguous(self):
        return self

    def type_as(self, other):
        return self.to(other.dtype)

    # -- autograd ---------------------------------------------------------------------
    def detach(self) -> "Tensor":
        return _emit(_OP["alias"], (self._id,), self.shape, self.dtype)

    def backward(self, gradient=None, retain_graph=None, create_graph=False) -> None:
        if create_graph:
            raise NotImplementedError("gt: backward(create_graph=True) (higher-order gradients) is not supported")
        _backward(self, gradient, bool(retain_graph))

    @property
    def data(self) -> "Tensor":
        d = self.detach()
        d._data_of = self
        return d

    @data.setter
    def data(self, value: "Tensor") -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a gt Tensor, got {type(value).__name__}")
        self._rebind_to(value)

    # -- reading data (sync points) -------------------------------------------------------
    def _value(self) -> torch.Tensor:
        return _rt.get_worker().fetch(self._id)

    def numpy(self) -> np.ndarray:
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                               "instead.")
        return self._value().detach().cpu().numpy().copy()

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return self._value().item()

    def tolist(self):
        return self._value().tolist()

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype in FLOATING or self.dtype is torch.bool or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __array__(self, dtype=None, copy=None):
        a = self._value().detach().cpu().numpy()
        return a.astype(dtype) if dtype is not None else a

    def __repr__(self) -> str:
        text = repr(self._value().detach().cpu())
        if self._grad_fn is not None:
            suffix = f", grad_fn=<{_grad_fn_label(self._grad_fn.name)}>"
        elif self.requires_grad:
            suffix = ", requires_grad=True"
        else:
            return text
        return text[:-1] + suffix + ")"

    __str__ = __repr__


def add_scaled(a: Tensor, other_alpha: tuple) -> Tensor:
    """``a + alpha * b`` as one op (``torch.add(a, b, alpha=alpha)``)."""
    b, alpha = other_alpha
    if not isinstance(b, Tensor):
        raise TypeError(f"add/sub with alpha needs a Tensor operand, got {type(b).__name__}")
    s = _scalar(alpha)
    if s is None or type(s) is bool:
        raise TypeError(f"alpha must be a number, got {type(alpha).__name__}")
    shape = a.shape if a.shape == b.shape else broadcast(a.shape, b.shape)
    dtype = a.dtype if a.dtype is b.dtype else promote(a.dtype, b.dtype, not a.shape, not b.shape)
    if type(s) is float and dtype not in FLOATING:
        raise RuntimeError("For integral input tensors, argument alpha must not be a floating point number.")
    out = _emit_with_scalar(_OP["add_scaled"], (a._id, b._id), shape, dtype, s)
    if (a.requires_grad or b.requires_grad) and _gm.enabled:
        _track(out, _gr._g_add_scaled, (a, b), s, "add")
    return out


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` as one op, as torch.nn.functional.linear."""
    if bias is None:
        return x @ weight.T
    if not x.shape or x.shape[-1] != weight.shape[-1]:
        raise RuntimeError(f"linear: input of shape {fmt(x.shape)} does not match weight of shape "
                           f"{fmt(weight.shape)}")
    if not (x.dtype is weight.dtype is bias.dtype):
        raise RuntimeError(f"linear: expected input, weight and bias of one dtype, got {x.dtype}, "
                           f"{weight.dtype}, {bias.dtype}")
    shape = x.shape[:-1] + weight.shape[:1]
    broadcast(shape, bias.shape)
    out = _emit(_OP["linear"], (x._id, weight._id, bias._id), shape, x.dtype)
    if (x.requires_grad or weight.requires_grad or bias.requires_grad) and _gm.enabled:
        _track(out, _gr._g_linear, (x, weight, bias), None, "addmm")
    return out


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error as one op, as torch.nn.functional.mse_loss."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if not isinstance(input, Tensor) or not isinstance(target, Tensor):
        raise TypeError("mse_loss expects two gt Tensors")
    if input.shape != target.shape:
        raise RuntimeError(f"mse_loss: input shape {fmt(input.shape)} and target shape "
                           f"{fmt(target.shape)} differ")
    dtype = input.dtype if input.dtype is target.dtype else promote(input.dtype, target.dtype)
    shape = input.shape if reduction == "none" else ()
    out = _emit(_OP["mse_loss"], (input._id, target._id), shape, dtype, (reduction,))
    if (input.requires_grad or target.requires_grad) and _gm.enabled:
        _track(out, _gr._g_mse_loss, (input, target), reduction, "mse_loss")
    return out


def _grad_fn_label(name: str) -> str:
    """torch's grad_fn class name for a node name: 'mse_loss' -> MseLossBackward0, 'sum1' -> SumBackward1."""
    version = name[-1] if name[-1:].isdigit() else "0"
    stem = name[:-1] if name[-1:].isdigit() else name
    return "".join(part.capitalize() for part in stem.split("_")) + "Backward" + version


def _renamed(out: Tensor, src: Tensor, name: str) -> Tensor:
    """Give ``out``'s new autograd node torch's name for the op that made it."""
    if out is not src and out._grad_fn is not None:
        out._grad_fn.name = name
    return out


_MATMUL_NAMES = {(1, 1): "dot", (2, 1): "mv", (1, 2): "squeeze4", (2, 2): "mm"}


def _matmul_name(a: Tensor, b: Tensor) -> str:
    """torch's last op in ``a @ b``, which names the result's grad_fn."""
    na, nb = len(a.shape), len(b.shape)
    name = _MATMUL_NAMES.get((na, nb))
    if name is None:
        name = "clone" if na == 2 and a.requires_grad else "unsafe_view"
    return name


def _index_name(key, norm: tuple, shape: tuple) -> str:
    """torch's last view op in basic indexing (a lone slice is always sliced; in a tuple key,
    whole-dimension slices are skipped, and a key that does nothing gives an alias)."""
    if type(key) is slice:
        return "slice"
    name, dim = "alias", 0
    for k in norm:
        if k is None:
            name = "unsqueeze"
        elif type(k) is tuple:
            if k[0] is not None and not (k[0] == 0 and k[1] >= shape[dim] and k[2] == 1):
                name = "slice"
            dim += 1
        else:
            name = "select"
            dim += 1
    return name


def _copy_of(src: Tensor, like: Tensor) -> Tensor:
    if src.shape != like.shape:
        src = src.expand(*like.shape)
    src = src.to(like.dtype)
    return _emit(_OP["alias"], (src._id,), src.shape, src.dtype)


# Gradient rules and creation functions live in their own modules; they use
# this module's op machinery, so they are imported once it is defined.
from gt.client import creation as _cr  # noqa: E402
from gt.client import gradients as _gr  # noqa: E402
