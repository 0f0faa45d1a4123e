"""``gt.autograd.Function``: a custom op whose forward and backward are GT code.

``MyFn.apply(*args)`` runs ``forward(ctx, *args)`` without recording, then links each
output to a tape node whose rule calls ``backward(ctx, *grads)``, so the engine
(``gt.client.autograd``) treats it as any table op.
"""
from __future__ import annotations

from gt.client.autograd import Node, grad_mode, no_grad
from gt.client.creation import zeros_like
from gt.client.emit import alias
from gt.client.tensor import Tensor


class FunctionCtx:
    """The ``ctx`` of a custom Function: saved tensors and flags shared by forward and backward."""

    def __init__(self) -> None:
        self.needs_input_grad: tuple = ()
        self.materialize_grads = True
        self._saved: tuple | None = ()
        self._non_differentiable: set = set()

    def save_for_backward(self, *tensors) -> None:
        self._saved = tensors

    @property
    def saved_tensors(self) -> tuple:
        if self._saved is None:
            raise RuntimeError("Trying to backward through the graph a second time (or directly access saved "
                               "tensors after they have already been freed). Specify retain_graph=True if you "
                               "need to backward through the graph a second time.")
        return self._saved

    def mark_non_differentiable(self, *tensors) -> None:
        self._non_differentiable.update(id(t) for t in tensors)

    def mark_dirty(self, *tensors) -> None:
        """Accepted: GT's in-place ops give their handle a new value, so nothing needs marking."""

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value


class _FunctionRule:
    """The tape rule of one output of a custom Function: calls its ``backward``."""

    __slots__ = ("cls", "ctx", "outputs", "index", "uses_out", "node")

    def __init__(self, cls: type, ctx: FunctionCtx, outputs: tuple, index: int) -> None:
        self.cls, self.ctx, self.outputs, self.index = cls, ctx, outputs, index
        self.uses_out = False
        self.node = cls.__name__

    def __call__(self, node, g) -> tuple:
        # A multi-output Function gets each output's gradient from its own node: the
        # others' are zeros (or None without materialize_grads), as backward is linear in them.
        grads = tuple(g if i == self.index else (zeros_like(o) if self.ctx.materialize_grads else None)
                      for i, o in enumerate(self.outputs))
        result = self.cls.backward(self.ctx, *grads)
        result = result if isinstance(result, tuple) else (result,)
        if len(result) != len(node.inputs):
            raise RuntimeError(f"function {self.cls.__name__}Backward returned an incorrect number of gradients "
                               f"(expected {len(node.inputs)}, got {len(result)})")
        return result


class Function:
    """Subclass with ``forward(ctx, *args)`` and ``backward(ctx, *grads)`` static methods
    (or ``forward(*args)`` with ``setup_context(ctx, inputs, output)``); call ``apply``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented.")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        separate = cls.setup_context is not Function.setup_context
        with no_grad():
            out = cls.forward(*args, **kwargs) if separate else cls.forward(ctx, *args, **kwargs)
            if separate:
                cls.setup_context(ctx, args, out)
        if not (grad_mode.enabled and any(ctx.needs_input_grad)):
            return out
        outputs = out if isinstance(out, tuple) else (out,)
        # An input returned as is becomes a new handle on its value (torch returns a view).
        outputs = tuple(alias(o) if any(o is a for a in args) else o for o in outputs)
        inputs = tuple(a if isinstance(a, Tensor) else None for a in args)
        for i, o in enumerate(outputs):
            if isinstance(o, Tensor) and o.dtype.is_floating_point and id(o) not in ctx._non_differentiable:
                o.requires_grad = True
                o._grad_fn = Node(_FunctionRule(cls, ctx, outputs, i), inputs, None, cls.__name__ + "Backward")
        return outputs if isinstance(out, tuple) else outputs[0]
