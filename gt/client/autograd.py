"""Autograd on the client.

Each differentiable op on a tensor that requires grad gets a ``Node`` holding
its gradient rule and inputs (the tape, linked the way torch links grad_fns).
``backward()`` walks the nodes in reverse topological order and emits the
gradient computations as ordinary instructions; the worker never sees
``requires_grad``.
"""
from __future__ import annotations

import functools

from gt.client import runtime


class _GradMode:
    enabled = True


grad_mode = _GradMode()


def is_grad_enabled() -> bool:
    return grad_mode.enabled


class _GradContext:
    """Base of ``no_grad``/``enable_grad``: a context manager and a decorator."""

    _value = True

    def __enter__(self):
        self._prev = grad_mode.enabled
        grad_mode.enabled = self._value

    def __exit__(self, *exc):
        grad_mode.enabled = self._prev
        # Leaving no_grad (an optimizer step, an evaluation) is a natural batch boundary.
        runtime.mark_boundary()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradContext):
    """Disable gradient recording (``with gt.no_grad():`` or ``@gt.no_grad()``)."""

    _value = False


class enable_grad(_GradContext):
    """Re-enable gradient recording inside ``no_grad``."""

    _value = True


class set_grad_enabled(_GradContext):
    def __init__(self, mode: bool) -> None:
        self._value = bool(mode)
        self._prev = grad_mode.enabled
        grad_mode.enabled = self._value

    def __enter__(self):
        pass


class Node:
    """One recorded op: ``rule(node, grad) -> grads per input``."""

    __slots__ = ("rule", "inputs", "saved", "name")

    def __init__(self, rule, inputs: tuple, saved=None, name: str = "") -> None:
        self.rule = rule
        self.inputs = inputs
        self.saved = saved
        self.name = name


def _topo_order(root) -> list:
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for t in node.inputs:
            if t is not None and t._grad_fn is not None and id(t._grad_fn) not in seen:
                stack.append((t._grad_fn, False))
    order.reverse()
    return order


def backward(tensor, gradient=None) -> None:
    """Accumulate d(tensor)/d(leaf) into every leaf's ``.grad``."""
    from gt.client.tensor import Tensor, ones_like

    if not tensor.requires_grad:
        raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
    if gradient is None:
        if tensor.numel() != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        gradient = ones_like(tensor)
    elif not isinstance(gradient, Tensor):
        raise TypeError(f"backward: gradient must be a gt Tensor, got {type(gradient).__name__}")
    elif gradient.shape != tensor.shape:
        raise RuntimeError(f"backward: gradient has shape {gradient.shape}, expected {tensor.shape}")
    runtime.mark_boundary()
    prev = grad_mode.enabled
    grad_mode.enabled = False
    try:
        if tensor._grad_fn is None:
            _accumulate(tensor, gradient)
            return
        grads = {id(tensor._grad_fn): gradient}
        for node in _topo_order(tensor._grad_fn):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            for inp, gi in zip(node.inputs, node.rule(node, g)):
                if gi is None or inp is None or not inp.requires_grad:
                    continue
                fn = inp._grad_fn
                if fn is None:
                    _accumulate(inp, gi)
                else:
                    prev_g = grads.get(id(fn))
                    grads[id(fn)] = gi if prev_g is None else prev_g + gi
    finally:
        grad_mode.enabled = prev
        runtime.mark_boundary()


def _accumulate(leaf, g) -> None:
    if g.dtype is not leaf.dtype:
        g = g.to(leaf.dtype)
    leaf.grad = g if leaf.grad is None else leaf.grad + g
