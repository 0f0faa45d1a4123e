"""The client functions made from the op table: one maker per way an entry is called.

- elementwise entries: ``gt.<name>(x)`` and ``x.<name>()``, their result dtype asked of
  torch once per input dtype;
- broadcast entries with a ``<name>_scalar`` twin: ``gt.<name>(a, b)``, ``a.<name>(b)`` and
  the operators, ``b`` a tensor or a Python number;
- entries with a signature: arguments bound and checked by the signature's names, types
  and defaults, then one ``emit.apply`` (an op of several results: one per result, returned
  as a named tuple; a "data" op: run on the values read, a sync point).  Each signature gets
  a function of its own, made from source once, whose parameters are the signature's: Python
  binds the common calls, the generic binder the rest (and words the errors);
- in-place forms and ``out=`` of any of these, from the entry's ``variants``.

``generate(OPS)`` declares them all in ``gt.client.surface``; ``install`` then puts
every declared method on ``Tensor``.
"""
from __future__ import annotations

import functools
import inspect
import keyword
import operator
from collections import namedtuple

import torch

from gt.client import surface
from gt.client.emit import apply, elementwise_dtype, number, operand, put, send, send_number
from gt.client.modes import grad_mode as _gm
from gt.client.shapes import FLOATING, as_dtype, broadcast
from gt.client.tensor import Tensor
from gt.ops import OPCODE
from gt.ops.table import Op, parse_signature

_binary_cache: dict = {}
_scalar_dtypes: dict = {}  # (op, dtype, type of the number) -> result dtype; bounded by the few dtypes
_TENSOR_FORM: dict = {}   # a scalar opcode -> the opcode of its two-tensor form (``x + torch_tensor``)


# -- broadcasting binary ops ----------------------------------------------------------------------
def pair(a: Tensor, b: Tensor, code: int) -> tuple:
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


def arith(a: Tensor, b, code_t: int, code_s: int):
    """``a <op> b`` for a Tensor ``a`` and a Tensor or Python/numpy number ``b``."""
    if isinstance(b, Tensor):
        key = (code_t, a.shape, b.shape, a.dtype, b.dtype)  # pair, inlined: the most frequent op path
        shape, dtype = _binary_cache.get(key) or _pair_inferred(key, a, b)
        return send(code_t, (a, b), (a._id, b._id), shape, dtype)
    return _arith_number(a, b, code_s)


def _arith_number(a: Tensor, b, code_s: int):
    """``a <op> b`` for a Python/numpy number ``b`` (NotImplemented for anything else).  A float
    (a learning rate) is a graph input; an int or bool a static param (it decides dtypes)."""
    s = b if b.__class__ is float else number(b)
    if s is None:
        if isinstance(b, torch.Tensor):   # a torch operand (a DataLoader's batch)
            return arith(a, operand(b), _TENSOR_FORM[code_s], code_s)
        return NotImplemented
    dtype = _scalar_dtypes.get((code_s, a.dtype, s.__class__))
    if dtype is None:
        dtype = elementwise_dtype(code_s, (a,), s)
        _scalar_dtypes[(code_s, a.dtype, s.__class__)] = dtype
    if s.__class__ is float:   # send_number's float case, inlined: the common case
        return send(code_s, (a,), (a._id,), a.shape, dtype, (), (s,))
    return send_number(code_s, (a,), a.shape, dtype, s)


# Arithmetic whose result keeps its operands' floating dtype and, for equal shapes, their
# shape: the common training-loop case skips the inference cache (a tuple key and its hash).
_SAME_AS_OPERANDS = frozenset(("add", "sub", "mul", "div"))


def binary(name: str):
    """``Tensor.<name>(other)`` (and its operator) for a broadcast entry with a scalar twin."""
    code_t, code_s = OPCODE[name], OPCODE[name + "_scalar"]

    if name not in _SAME_AS_OPERANDS:
        def method(self, other):
            return arith(self, other, code_t, code_s)
    else:
        def method(self, other):
            if isinstance(other, Tensor):
                dtype = self.dtype
                if dtype is other.dtype and dtype in FLOATING and self.shape == other.shape:
                    return send(code_t, (self, other), (self._id, other._id), self.shape, dtype)
                return arith(self, other, code_t, code_s)
            return _arith_number(self, other, code_s)
    method.__name__ = name
    return method


def reflected(scalar: str, forward: str):
    """``number <op> tensor`` (``__rsub__``, ``__rtruediv__``, ``__rpow__``) through a scalar entry;
    ``torch_tensor <op> tensor`` through the method ``forward`` of the torch operand made a GT one."""
    code_s = OPCODE[scalar]

    def method(self, other):
        s = number(other)
        if s is None:
            if isinstance(other, torch.Tensor):
                return getattr(operand(other), forward)(self)
            return NotImplemented
        return send_number(code_s, (self,), self.shape, elementwise_dtype(code_s, (self,), s), s)
    return method


def _tensor_pair(name: str):
    """A broadcasting op of two tensors only (torch.maximum refuses Python numbers)."""
    code = OPCODE[name]

    def fn(a: Tensor, b: Tensor) -> Tensor:
        if not isinstance(a, Tensor) or not isinstance(b, Tensor):
            a, b = operand(a), operand(b)
        if not isinstance(a, Tensor) or not isinstance(b, Tensor):
            raise TypeError(f"{name}(): argument 'other' must be a gt Tensor, not {type(b).__name__}")
        shape, dtype = pair(a, b, code)
        return send(code, (a, b), (a._id, b._id), shape, dtype)
    fn.__name__ = name
    return fn


# -- elementwise --------------------------------------------------------------------------------
def unary(name: str) -> tuple:
    """(``gt.<name>``, ``Tensor.<name>``): the method skips the function's argument check."""
    code = OPCODE[name]
    dtypes: dict = {}  # input dtype -> result dtype

    def method(x: Tensor) -> Tensor:
        dtype = dtypes.get(x.dtype)
        if dtype is None:
            dtype = dtypes[x.dtype] = elementwise_dtype(code, (x,))
        return send(code, (x,), (x._id,), x.shape, dtype)

    def fn(x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            x = operand(x)
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be a gt Tensor, not {type(x).__name__}")
        return method(x)
    fn.__name__ = method.__name__ = name
    fn.__doc__ = method.__doc__ = f"torch.{name}, elementwise."
    return fn, method


# -- from a signature -----------------------------------------------------------------------------
_MISSING = object()


def _sequence_of_ints(v) -> tuple:
    return (operator.index(v),) if not isinstance(v, (tuple, list, torch.Size)) else tuple(map(operator.index, v))


def _scalar(v):
    s = number(v)
    if s is None:
        raise TypeError(f"expected a number, got {type(v).__name__}")
    return s


def _string(v) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {type(v).__name__}")
    return v


def _frozen(v):
    """A number, string, None or (nested) sequence of them, hashable (it keys the inference cache)."""
    if isinstance(v, (list, tuple, torch.Size)):
        return tuple(_frozen(x) for x in v)
    if v is None or isinstance(v, str):
        return v
    return _scalar(v)


_CONVERT = {"Scalar": _scalar, "int": operator.index, "int[]": _sequence_of_ints, "float": float, "bool": bool,
            "str": _string, "dtype": as_dtype, "Any": _frozen}


def _converter(kind: str):
    """The check-and-convert function of one argument type (an optional type lets None through)."""
    base = kind.rstrip("?")
    convert = _CONVERT[base]
    if kind.endswith("?"):
        return lambda v: None if v is None else convert(v)
    return convert


def from_signature(e: Op):
    """``gt.<name>`` for an entry with a signature: bind, check, emit (once per result).  The
    function made for the signature (``_specialised``) takes the usual calls; ``bind`` the rest."""
    code = OPCODE[e.name]
    sig = parse_signature(e.name, e.sig)
    params, name = sig.params, e.name
    index = {p.name: i for i, p in enumerate(params)}
    n_positional = sum(1 for p in params if not p.keyword)
    defaults = [_MISSING if p.default is inspect.Parameter.empty else p.default for p in params]
    steps = [(i, p.name, p.type.startswith("Tensor"), None if p.type.startswith("Tensor") else _converter(p.type))
             for i, p in enumerate(params)]
    # ``x.flip(0, 1)``: a last positional list of ints also takes the rest of the arguments
    packs = n_positional if n_positional and params[n_positional - 1].type.startswith("int[]") else 0
    steps = [s for s in steps if s[2]] + [s for s in steps if not s[2]]   # kernel order: tensors first
    results = namedtuple(name, sig.outputs) if sig.outputs else None
    data = e.kind == "data"

    def finish(tensors: tuple, rest: tuple):
        if data:
            return _on_values(e, tensors, rest)
        if results is None:
            return apply(code, tensors, rest)
        return results(*(apply(code, tensors, (*rest, i)) for i in range(len(sig.outputs))))

    def bind(*args, **kwargs):
        if packs and len(args) > packs:
            args = args[:packs - 1] + (args[packs - 1:],)
        if len(args) > n_positional:
            raise TypeError(f"{name}() takes {n_positional} positional arguments but {len(args)} were given")
        values = list(args) + defaults[len(args):]
        for k, v in kwargs.items():
            i = index.get(k)
            if i is None:
                raise TypeError(f"{name}() got an unexpected keyword argument '{k}'")
            if i < len(args):
                raise TypeError(f"{name}() got multiple values for argument '{k}'")
            values[i] = v
        tensors, rest = [], []
        for i, arg, is_tensor, convert in steps:
            v = values[i]
            if v is _MISSING:
                raise TypeError(f"{name}() missing required argument '{arg}'")
            if is_tensor:
                if isinstance(v, torch.Tensor):   # a torch operand (a DataLoader's batch)
                    v = operand(v)
                if not isinstance(v, Tensor) and not (v is None and data):
                    raise TypeError(f"{name}(): argument '{arg}' must be a gt Tensor, not {type(v).__name__}")
                tensors.append(v)
            else:
                try:
                    rest.append(convert(v))
                except (TypeError, ValueError) as exc:
                    raise TypeError(f"{name}(): argument '{arg}': {exc}") from None
        return finish(tuple(tensors), tuple(rest))
    bind.__name__ = name
    fast_finish = functools.partial(apply, code) if results is None and not data else finish
    fn = _specialised(name, params, steps, bind, fast_finish)
    fn.__doc__ = f"torch.{name}{'(' + e.sig + ')'}"
    return fn


def _specialised(name: str, params: tuple, steps: list, bind, finish):
    """The function of one signature, made once from source: its parameters are the signature's,
    so Python binds the arguments (no per-call dict, list or loop), then one check per argument
    and ``finish(tensors, converted rest)``.  A call it does not take as it stands (an argument
    missing, extra or to pack, a tensor argument that is no gt Tensor, a conversion failing)
    goes to ``bind``, which takes it or says what is wrong."""
    if any(keyword.iskeyword(p.name) or p.name.startswith("_") for p in params):
        return bind
    ns = {"__name__": __name__, "_M": _MISSING, "_T": Tensor, "_bind": bind, "_finish": finish}
    head, irregular, slow = [], ["_extra", "_kw"], []
    for i, p in enumerate(params):
        if p.keyword and "*_extra" not in head:
            head.append("*_extra")
            slow.append("*_extra")
        ns[f"_d{i}"] = _MISSING if p.default is inspect.Parameter.empty else p.default
        head.append(f"{p.name}=_d{i}")
        slow.append(f"{p.name}={p.name}" if p.keyword else p.name)
        if p.default is inspect.Parameter.empty and not p.type.startswith("Tensor"):
            irregular.append(f"{p.name} is _M")
    if "*_extra" not in head:
        head.append("*_extra")
        slow.append("*_extra")
    tensors, rest = [], []
    for i, arg, is_tensor, convert in steps:
        if is_tensor:
            tensors.append(arg)
            irregular.append(f"not isinstance({arg}, _T)")
        else:
            ns[f"_c{i}"] = convert
            rest.append(f"_c{i}({arg})")
    slow_call = f"_bind({', '.join(slow)}, **_kw)"
    source = (f"def {name}({', '.join(head)}, **_kw):\n"
              f"    if {' or '.join(irregular)}:\n"
              f"        return {slow_call}\n"
              f"    try:\n"
              f"        _rest = ({''.join(r + ', ' for r in rest)})\n"
              f"    except (TypeError, ValueError):\n"
              f"        return {slow_call}\n"
              f"    return _finish(({''.join(t + ', ' for t in tensors)}), _rest)\n")
    exec(compile(source, f"<gt.client.generate: {name}>", "exec"), ns)   # noqa: S102 - source made above
    return ns[name]


def _on_values(e: Op, tensors: tuple, rest: tuple):
    """A "data" op: its result's shape depends on the values, so they are read (a sync point),
    the kernel runs here on them, and the result goes to the worker."""
    out = e.kernel(*(None if t is None else t._value() for t in tensors), *rest)
    return type(out)([put(o) for o in out]) if isinstance(out, tuple) else put(out)


def with_out(fn):
    """``fn`` taking torch's ``out=``: the result is written into ``out`` (refused, as by torch,
    where gradients would be recorded)."""
    def call(*args, out=None, **kwargs):
        res = fn(*args, **kwargs)
        if out is None:
            return res
        if res.requires_grad and _gm.enabled:
            raise RuntimeError(f"{fn.__name__}(): functions with out=... arguments don't support automatic "
                               f"differentiation, but one of the arguments requires grad.")
        if out.shape != res.shape:
            raise RuntimeError(f"{fn.__name__}(): out= has shape {list(out.shape)}, the result {list(res.shape)}")
        return out.copy_(res)
    call.__name__, call.__doc__ = fn.__name__, fn.__doc__
    return call


# -- the table's functions, methods and operators ----------------------------------------------
_OPERATORS = {"add": ("__add__", "__radd__"), "sub": ("__sub__",), "mul": ("__mul__", "__rmul__"),
              "div": ("__truediv__",), "eq": ("__eq__",), "ne": ("__ne__",), "lt": ("__lt__",), "le": ("__le__",),
              "gt": ("__gt__",), "ge": ("__ge__",), "bitwise_and": ("__and__", "__rand__"),
              "bitwise_or": ("__or__", "__ror__"), "bitwise_xor": ("__xor__", "__rxor__"),
              "remainder": ("__mod__",), "floor_divide": ("__floordiv__",)}


def generate(entries: tuple) -> None:
    """Declare in ``surface`` every function, method and in-place form the table's entries ask for."""
    for e in entries:
        if e.kind == "broadcast" and e.name + "_scalar" in OPCODE:
            _TENSOR_FORM[OPCODE[e.name + "_scalar"]] = OPCODE[e.name]
            method = binary(e.name)
            for op in _OPERATORS.get(e.name, ()):
                surface.methods(**{op: method})
            fn = method
        elif e.kind == "broadcast" and e.variants:
            fn = method = _tensor_pair(e.name)
        elif e.kind == "elementwise" and e.variants:
            fn, method = unary(e.name)
        elif e.sig or (e.kind == "meta" and e.variants):
            fn = method = from_signature(e) if e.sig else _positional(e)
        else:
            continue
        if "out" in e.variants:
            fn = with_out(fn)
        if "function" in e.variants:
            for namespace in e.export:
                surface.functions(namespace, **{exported_name(e.name, namespace): fn})
        if "method" in e.variants:
            surface.methods(**{e.name: method})
        if "inplace" in e.variants:
            surface.inplace(e.name)


def exported_name(name: str, namespace: str) -> str:
    """An entry's name in ``namespace``, as torch's native functions are named: the entry
    ``linalg_inv`` is ``gt.linalg.inv``, ``fft_irfft`` is ``gt.fft.irfft``."""
    prefix = namespace.rpartition(".")[2] + "_"
    return name[len(prefix):] if namespace != "gt" and name.startswith(prefix) else name


def _positional(e: Op):
    """``gt.<name>(*tensors)`` for a public meta entry of tensors only (mm, bmm, outer)."""
    code = OPCODE[e.name]

    def fn(*inputs: Tensor) -> Tensor:
        return apply(code, inputs)
    fn.__name__ = e.name
    return fn


def install(cls: type, inplace_method) -> None:
    """Put every declared method on ``cls``, then the in-place forms made by ``inplace_method``."""
    for name, fn in surface.METHODS.items():
        setattr(cls, name, fn)
    for name, inplace_name in surface.INPLACE.items():
        if inplace_name not in surface.METHODS:
            setattr(cls, inplace_name, inplace_method(getattr(cls, name), inplace_name))

