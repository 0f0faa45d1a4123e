"""Gradient rules, built from the op table's gradient functions.

Each table entry's ``grad`` functions become one rule ``rule(node, g) -> grads per
input``, stored in ``autograd.RULES`` by opcode.  They compute with GT tensor
operations, so a backward pass emits ordinary instructions that batch and compile
like forward ones; torch's own backward kernels (relu, sigmoid, softmax, mse_loss
...) are table entries called as ``ops.<name>``.  This module fills ``gt.ops.ops``
(the table's names for the client's emitters) with an emitter per entry and the
helpers below, the vocabulary beyond tensor methods (``gt.ops.table.VOCABULARY``).
"""
from __future__ import annotations

import inspect
import math

from gt.client import emit
from gt.client.autograd import RULES, grad_mode
from gt.client.functional import einsum, where
from gt.client.indexing import read_key
from gt.client.shapes import inverse_permutation, matmul_shape, reduce_shape
from gt.client.tensor import Tensor
from gt.ops import OPCODE, OPS, VJP, ops
from gt.ops.table import VOCABULARY

_SUM_TO, _SUM_DIM, _EXPAND = OPCODE["sum_to"], OPCODE["sum_dim"], OPCODE["expand"]
_sum_to_plans: dict = {}


def sum_to(g: Tensor, shape: tuple) -> Tensor:
    """Sum a gradient down to ``shape`` (undo a broadcast)."""
    if g.shape == shape:
        return g
    key = (g.shape, shape)
    plan = _sum_to_plans.get(key)
    if plan is None:
        lead = len(g.shape) - len(shape)
        inner = tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
        plan = (tuple(range(lead)) + inner, bool(inner))
        if len(_sum_to_plans) < 4096:
            _sum_to_plans[key] = plan
    dims, keep = plan
    if grad_mode.enabled and g.requires_grad:   # a double backward (create_graph): recorded ops
        return g.sum(dims, keepdim=True).reshape(shape) if keep else g.sum(dims)
    if keep:  # some kept size-1 dims are reduced too: sum with keepdim, then view as shape
        return emit.emit(_SUM_TO, (g._id,), shape, g.dtype, (dims, shape))
    return emit.emit(_SUM_DIM, (g._id,), shape, g.dtype, (dims, False))


def expand_back(g: Tensor, x: Tensor, dims: tuple, keepdim: bool) -> Tensor:
    """Spread a reduction's gradient back over ``x``'s shape (``dims`` empty: all of them)."""
    if isinstance(dims, int):
        dims = (dims,)
    if dims and not keepdim:
        g = g.reshape(reduce_shape(x.shape, dims, True))
    if grad_mode.enabled and g.requires_grad:   # a double backward (create_graph): a recorded op
        return g.expand(x.shape)
    return emit.emit(_EXPAND, (g._id,), x.shape, g.dtype, (x.shape,))


def numel_of(x: Tensor, dims: tuple) -> int:
    return math.prod(x.shape[d] for d in dims)


def matmul_grads(g: Tensor, a: Tensor, b: Tensor) -> tuple:
    if a.ndim == 1 and b.ndim == 1:
        return (g * b if a.requires_grad else None), (g * a if b.requires_grad else None)
    a2 = a if a.ndim > 1 else a.unsqueeze(0)
    b2 = b if b.ndim > 1 else b.unsqueeze(-1)
    g2 = g.reshape(matmul_shape(a2.shape, b2.shape))
    ga = gb = None
    if a.requires_grad:
        ga = sum_to(g2 @ b2.transpose(-1, -2), a2.shape).reshape(a.shape)
    if b.requires_grad:
        gb = sum_to(a2.transpose(-1, -2) @ g2, b2.shape).reshape(b.shape)
    return ga, gb


def cat_grads(g: Tensor, inputs: tuple, dim: int) -> tuple:
    out, start = [], 0
    for t in inputs:
        n = t.shape[dim] if t.ndim else 0
        out.append(g.narrow(dim, start, n) if t.requires_grad and t.ndim else None)
        start += n
    return tuple(out)


def stack_grads(g: Tensor, inputs: tuple, dim: int) -> tuple:
    return tuple(g.select(dim, i) if t.requires_grad else None for i, t in enumerate(inputs))


def index_grads(g: Tensor, inputs: tuple, layout: tuple) -> tuple:
    x, idx = inputs[0], inputs[1:]
    gx = emit.apply(OPCODE["index_backward"], (g,) + idx, (layout, x.shape), shape=x.shape, dtype=g.dtype)
    return (gx,) + (None,) * len(idx)


def setitem_grads(g: Tensor, inputs: tuple, key: tuple) -> tuple:
    """x[key] = v: x's gradient is g with the written region zeroed; v's is g[key]."""
    x, rest = inputs[0], inputs[1:]
    has_value = len(rest) > key.count("T")
    idx = rest[:-1] if has_value else rest
    gx = emit.apply(OPCODE["setitem_scalar"], (g,) + idx, (0.0, key), shape=x.shape, dtype=g.dtype) \
        if x.requires_grad else None
    grads = [gx] + [None] * len(idx)
    if has_value:
        v = rest[-1]
        grads.append(sum_to(read_key(g, key, idx), v.shape) if v.requires_grad else None)
    return tuple(grads)


def einsum_grads(g: Tensor, inputs: tuple, equation: str) -> tuple:
    """Each operand's gradient is an einsum of ``g`` with the other operands."""
    lhs, out_subs = equation.split("->")
    subs = lhs.split(",")
    grads = []
    for i, t in enumerate(inputs):
        if not t.requires_grad:
            grads.append(None)
            continue
        if len(set(subs[i])) != len(subs[i]) or "." in subs[i]:
            raise NotImplementedError(f"GT does not support the gradient of torch.einsum {equation!r} "
                                      f"(repeated or '...' subscripts in operand {i}) yet")
        others = [s for j, s in enumerate(subs) if j != i]
        present = set(out_subs).union(*others)
        kept = "".join(c for c in subs[i] if c in present)
        gi = einsum(",".join([out_subs] + others) + "->" + kept, g, *(inputs[j] for j in range(len(inputs))
                                                                      if j != i))
        if kept != subs[i]:  # letters only this operand has: their gradient is broadcast along them
            shape = tuple(t.shape[subs[i].index(c)] if c in kept else 1 for c in subs[i])
            gi = gi.reshape(shape).expand(t.shape) if shape != gi.shape else gi.expand(t.shape)
        grads.append(gi)
    return tuple(grads)


def unflatten_grads(flat: Tensor, inputs: tuple) -> tuple:
    """Each input's gradient from ``flat``: those of the inputs that need one, flattened and concatenated."""
    grads, start = [], 0
    for t in inputs:
        if t.requires_grad:
            n = t.numel()
            grads.append(flat.narrow(0, start, n).view(t.shape))
            start += n
        else:
            grads.append(None)
    return tuple(grads)


def _emitter(opcode: int):
    """A formula's call of a table op by name: tensors first, then params."""
    def call(*args):
        tensors = tuple(a for a in args if isinstance(a, Tensor))
        return emit.apply(opcode, tensors, tuple(a for a in args if not isinstance(a, Tensor)))
    return call


def vjp(g: Tensor, inputs: tuple, code: int, extra: tuple) -> tuple:
    """The gradients of a ``VJP`` entry: its ``<name>_vjp`` entry (torch's own backward of the
    kernel) once per input that needs one."""
    return tuple(emit.apply(code, (g,) + inputs, extra + (i,), shape=t.shape, dtype=t.dtype)
                 if t.requires_grad else None for i, t in enumerate(inputs))


vars(ops).update({e.name: _emitter(i) for i, e in enumerate(OPS)})
vars(ops).update(sum_to=sum_to, expand_back=expand_back, numel_of=numel_of, inverse_permutation=inverse_permutation,
                 matmul_grads=matmul_grads, cat_grads=cat_grads, stack_grads=stack_grads, index_grads=index_grads,
                 setitem_grads=setitem_grads, einsum_grads=einsum_grads, unflatten_grads=unflatten_grads,
                 where=where, log=math.log)
if not VOCABULARY <= vars(ops).keys():
    raise ImportError(f"gt.client.gradients lacks the gradient vocabulary {sorted(VOCABULARY - vars(ops).keys())}")


class Rule:
    """One entry's gradient: ``rule(node, g)``; node.saved is (non-tensor args, saved result).

    Each gradient function is called with the values of the names it takes, looked up
    once here: ``g``, ``out``, ``inputs`` or the entry's ``args``."""

    __slots__ = ("fns", "all_at_once", "uses_out", "node", "vjp")

    def __init__(self, entry) -> None:
        self.node = entry.node or entry.name
        self.vjp = OPCODE[entry.name + "_vjp"] if entry.grad == (VJP,) else None
        if self.vjp is not None:
            self.fns, self.all_at_once, self.uses_out = (), True, False
            return
        fns = [(fn, tuple(inspect.signature(fn).parameters) if fn else ()) for fn in entry.grad]
        self.all_at_once = "inputs" in fns[0][1] if fns[0][0] else False
        names = ("g", "out") + (("inputs",) if self.all_at_once else ()) + tuple(entry.args)
        self.uses_out = any("out" in params for fn, params in fns if fn)
        self.fns = tuple((fn, tuple(names.index(p) for p in params)) if fn else None for fn, params in fns)

    def __call__(self, node, g) -> tuple:
        extra, out = node.saved
        inputs = node.inputs
        if self.vjp is not None:
            return vjp(g, inputs, self.vjp, extra)
        if self.all_at_once:
            fn, where = self.fns[0]
            values = (g, out, inputs) + extra
            return fn(*[values[i] for i in where])
        values = (g, out) + inputs + extra
        grads = []
        for f, t in zip(self.fns, inputs):
            if f is None or not t.requires_grad:
                grads.append(None)
                continue
            fn, where = f
            gi = fn(*[values[i] for i in where])
            grads.append(gi if gi.shape == t.shape else sum_to(gi, t.shape))
        return grads


class FusedKernelRule:
    """The rule of a backward kernel (a ``gradient`` entry without formulas): reached only by a
    double backward (``create_graph=True``), which GT cannot differentiate through it yet."""

    __slots__ = ("name", "uses_out", "node")

    def __init__(self, entry) -> None:
        self.name = self.node = entry.name
        self.uses_out = False

    def __call__(self, node, g) -> tuple:
        raise NotImplementedError(f"GT does not support double backward (create_graph=True) through torch's "
                                  f"fused backward kernel {self.name} yet")


for _code, _entry in enumerate(OPS):
    if _entry.grad:
        RULES[_code] = Rule(_entry)
    elif _entry.kind == "gradient" and _entry.name != "zeros_like":   # zeros depend on nothing
        RULES[_code] = FusedKernelRule(_entry)
