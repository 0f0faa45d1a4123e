"""Instruction emission: build a handle, send its op, record its autograd node.

Every op of the client ends here.  ``send`` is the one fast path: it makes the
result's handle, sends the instruction and links the entry's gradient rule when
gradients are recorded (the caller knows the result's shape and dtype);
``apply`` infers them first from the op table (the kernel on meta tensors,
cached).  ``emit`` sends without recording (gradient-free ops, backward's own).
"""
from __future__ import annotations

import operator

import numpy as np
import torch

from gt.client import modes as _modes
from gt.client import runtime as _rt
from gt.client import surface
from gt.client.autograd import RULES, Node
from gt.client.modes import grad_mode
from gt.client.shapes import SUPPORTED_DTYPES, dtype_name
from gt.client.tensor import Tensor
from gt.ops import OP_FUNCS, OP_NAMES, OP_RULES, OPCODE

_new_object = object.__new__
_Size = torch.Size
_new_id = _rt.new_id
_CACHE_LIMIT = 8192


def make(shape: tuple, dtype: torch.dtype) -> Tensor:
    """A handle whose value the op emitted next produces (``send`` builds its own inline:
    a call less on the path every op takes)."""
    t = _new_object(Tensor)
    t._id = _new_id()
    t.shape = shape if type(shape) is _Size else _Size(shape)
    t.dtype = dtype
    t.requires_grad = False
    t.grad = None
    t._grad_fn = None
    t._data_of = None
    t._views = None
    return t


def send(opcode: int, inputs: tuple, ids: tuple, shape: tuple, dtype: torch.dtype, params: tuple = (),
         scalars: tuple = ()) -> Tensor:
    """Send op ``opcode`` on gt tensors ``inputs`` (``ids``: their ids) and record its gradient
    when gradients are on and one of them requires grad: the one send-and-record path of
    every op.  The caller builds ``ids``, as it knows how many inputs there are."""
    out = _new_object(Tensor)
    out._id = i = _new_id()
    out.shape = shape = shape if shape.__class__ is _Size else _Size(shape)
    out.dtype = dtype
    out.requires_grad = False
    out.grad = out._grad_fn = out._data_of = out._views = None
    _rt.submit(opcode, i, ids, params, scalars, shape)
    for t in inputs:   # a thread-local read (grad_mode) only where some thread has gradients off
        if t.requires_grad:
            if (not _modes.disabled_threads or grad_mode.enabled) and (rule := RULES[opcode]) is not None:
                out.requires_grad = True
                out._grad_fn = Node(rule, inputs, (scalars + params if scalars else params,
                                                   alias(out) if rule.uses_out else None), rule.node)
            break
    return out


def emit(opcode: int, inputs: tuple, shape: tuple, dtype: torch.dtype, params: tuple = (),
         scalars: tuple = ()) -> Tensor:
    """Send one instruction (``inputs`` are tensor ids) and return its result's handle."""
    out = make(shape, dtype)
    _rt.submit(opcode, out._id, inputs, params, scalars, out.shape)
    return out


def send_number(opcode: int, inputs: tuple, shape: tuple, dtype: torch.dtype, s, params: tuple = ()) -> Tensor:
    """``send`` an op taking a Python number: a float is a graph input (a learning rate may
    change every step without recompiling); an int or bool is a static param, part of
    the batch signature, because it decides result dtypes."""
    ids = tuple(map(_get_id, inputs))
    if type(s) is float:
        return send(opcode, inputs, ids, shape, dtype, params, (s,))
    return send(opcode, inputs, ids, shape, dtype, (s,) + params)


def alias(src: Tensor) -> Tensor:
    """A new handle on ``src``'s value (no autograd link): detach(), saved results, .data."""
    return emit(_ALIAS, (src._id,), src.shape, src.dtype)


def record(opcode: int, out: Tensor, inputs: tuple, extra: tuple = ()) -> Tensor:
    """Link ``out`` with the table's gradient rule for ``opcode``; ``extra`` are the op's
    non-tensor arguments in kernel order.  The result is saved only when a formula uses it."""
    rule = RULES[opcode]
    if rule is None:
        return out
    out.requires_grad = True
    out._grad_fn = Node(rule, inputs, (extra, alias(out) if rule.uses_out else None), rule.node)
    return out


def put(value: torch.Tensor, requires_grad: bool = False, batch: bool = False) -> Tensor:
    """A tensor created from data: the value goes to the worker now.  ``batch``: the user's data
    (gt.tensor, gt.from_numpy), split over the workers in data-parallel mode."""
    if value.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"GT does not support dtype {value.dtype} (supported: "
                        + ", ".join(dtype_name(d) for d in SUPPORTED_DTYPES) + ")")
    worker = _rt.get_worker()
    if batch and not requires_grad and value.dim() and hasattr(worker, "put_batch"):
        out = make(worker.shard_shape(value), value.dtype)
        worker.put_batch(out._id, value)
        return out
    out = make(tuple(value.shape), value.dtype)
    worker.put(out._id, value)
    if requires_grad:
        out.requires_grad_(True)
    return out


def number(x):
    """A Python number from ``x`` (Python or numpy scalar), or None when ``x`` is not one."""
    t = type(x)
    if t is float or t is int or t is bool:
        return x
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return float(x)
    if isinstance(x, int):
        return int(x)
    return None


def operand(x):
    """``x`` as a GT tensor where it is a torch tensor (a DataLoader's batch), else ``x`` itself.

    The value goes to the worker once: the handle stays cached on the torch tensor while
    neither changes (torch's version counter, the handle's id).  The embedded worker takes
    the tensor itself unless it would share the caller's memory, which a later in-place
    change of the torch tensor would alter under the worker's feet."""
    if not isinstance(x, torch.Tensor):
        return x
    cached = x.__dict__.get("_gt_operand")
    if cached is not None and cached[0] == x._version and cached[1]._id == cached[2]:
        return cached[1]
    if x.requires_grad:
        raise RuntimeError("a torch.Tensor that requires grad cannot be used in GT operations: its gradient "
                           "would never reach its .grad; make it a GT tensor instead "
                           "(gt.tensor(t, requires_grad=True))")
    value = x.detach()
    if value.device.type == _rt.get_worker().device.type:   # the worker's .to(device) would not copy
        value = value.clone()
    out = put(value)
    x.__dict__["_gt_operand"] = (x._version, out, out._id)
    return out


def operands(items: tuple) -> tuple:
    """``items`` with every torch tensor in it made a GT tensor (``operand``)."""
    return tuple(operand(x) for x in items)


# -- inference from the table ----------------------------------------------------------
_dtype_cache: dict = {}
_meta_cache: dict = {}
# C-level reads for the cache keys and id tuples (no generator per call)
_get_id, _shape_dtype = operator.attrgetter("_id"), operator.attrgetter("shape", "dtype")


def elementwise_dtype(opcode: int, inputs: tuple, s=None) -> torch.dtype:
    """The result dtype torch gives ``op(*inputs[, s])``, raising torch's own error for a
    dtype it refuses: the kernel runs on one-element tensors, once per dtype combination
    it accepts (a refusal may depend on the number's value, as ``int ** -1``: not kept)."""
    key = (opcode, s.__class__) + tuple((t.dtype, not t.shape) for t in inputs)
    out = _dtype_cache.get(key)
    if out is None:
        probes = [torch.ones(() if not t.shape else (1,), dtype=t.dtype) for t in inputs]
        out = OP_FUNCS[opcode](*probes, *(() if s is None else (s,))).dtype
        if len(_dtype_cache) >= _CACHE_LIMIT:
            _dtype_cache.clear()
        _dtype_cache[key] = out
    return out


def infer(opcode: int, inputs: tuple, params: tuple = (), scalars: tuple = ()) -> tuple:
    """(shape, dtype) of an op's result: the entry's shape rule where it answers, else its kernel
    on meta tensors; cached per op, input shapes and dtypes, params and scalar types.  torch's
    errors come out unchanged."""
    key = (opcode, params, tuple(map(type, scalars)), tuple(map(_shape_dtype, inputs)))
    out = _meta_cache.get(key)
    if out is None:
        rule = OP_RULES[opcode]
        res = rule(inputs, params) if rule is not None else None
        if res is None:
            metas = [torch.empty(t.shape, dtype=t.dtype, device="meta") for t in inputs]
            res = OP_FUNCS[opcode](*metas, *scalars, *params)
            if res.dtype not in SUPPORTED_DTYPES:
                raise NotImplementedError(f"{OP_NAMES[opcode]}: its result would be a {res.dtype} tensor; GT does "
                                          f"not support dtype {res.dtype} yet")
            res = (res.shape, res.dtype)
        out = (_Size(res[0]), res[1])
        if len(_meta_cache) >= _CACHE_LIMIT:
            _meta_cache.clear()
        _meta_cache[key] = out
    return out


def apply(opcode: int, inputs: tuple, params: tuple = (), scalars: tuple = (), shape=None, dtype=None) -> Tensor:
    """Emit table op ``opcode`` on gt tensors ``inputs``: infer (unless ``shape`` and
    ``dtype`` are given), emit, and record its gradient when gradients are on."""
    try:
        ids = tuple(map(_get_id, inputs))
    except AttributeError:   # a torch tensor among them: the slow path, here alone
        inputs = operands(inputs)
        for t in inputs:
            if not isinstance(t, Tensor):
                raise TypeError(f"{OP_NAMES[opcode]}(): expected gt or torch Tensors, got {type(t).__name__}") \
                    from None
        ids = tuple(map(_get_id, inputs))
    if shape is None:
        shape, dtype = infer(opcode, inputs, params, scalars)
    return send(opcode, inputs, ids, shape, dtype, params, scalars)


def deepcopy(self: Tensor, memo: dict) -> Tensor:
    """``copy.deepcopy``: as torch, only graph leaves copy.  A new handle on the same worker
    value is a copy, because worker values are never written in place (SSA)."""
    if self._grad_fn is not None:
        raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                           "protocol at the moment.")
    out = alias(self)   # a value of its own, not a view
    out.requires_grad = self.requires_grad
    memo[id(self)] = out
    if self.grad is not None:
        out.grad = deepcopy(self.grad, memo)
    return out


_ALIAS = OPCODE["alias"]
surface.methods(__deepcopy__=deepcopy)
