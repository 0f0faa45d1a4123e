"""``gt.autograd``: ``grad`` (gradients with respect to any tensors, inputs included),
``backward`` of several tensors, custom ``Function``\\ s with a ``ctx``, and the anomaly
switches (accepted).  The tape itself is ``gt.client.autograd``."""
from __future__ import annotations

import logging

import torch

from gt.autograd.function import Function, FunctionCtx
from gt.client import autograd as _tape
from gt.client.autograd import enable_grad, no_grad, set_grad_enabled
from gt.client.creation import ones_like, zeros_like
from gt.client.emit import operand
from gt.client.tensor import Tensor

log = logging.getLogger(__name__)

__all__ = ["Function", "FunctionCtx", "Variable", "backward", "detect_anomaly", "enable_grad", "grad", "no_grad",
           "set_detect_anomaly", "set_grad_enabled"]


def _tensors(x) -> tuple:
    return (x,) if isinstance(x, (Tensor, torch.Tensor)) else tuple(x)


def _roots(outputs: tuple, grad_outputs, what: str) -> tuple:
    """(output, seed gradient) pairs; a missing seed is ones for a one-element output, as torch."""
    seeds = (None,) * len(outputs) if grad_outputs is None else _tensors(grad_outputs)
    if len(seeds) != len(outputs):
        raise RuntimeError(f"{what}: got {len(seeds)} gradients for {len(outputs)} tensors")
    roots = []
    for i, (out, seed) in enumerate(zip(outputs, seeds)):
        if not isinstance(out, Tensor):
            raise TypeError(f"{what}: expected gt Tensors, got {type(out).__name__}")
        if not out.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if seed is None:
            if out.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            seed = ones_like(out)
        roots.append((out, operand(seed)))
    return tuple(roots)


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None, create_graph: bool = False,
         only_inputs: bool = True, allow_unused: bool | None = None, is_grads_batched: bool = False,
         materialize_grads: bool = False) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs`` (leaves or intermediate
    tensors, e.g. a model's input for an adversarial example); ``.grad`` is left alone."""
    if is_grads_batched:
        raise NotImplementedError("GT does not support torch.autograd.grad(is_grads_batched=True) yet")
    inputs = _tensors(inputs)
    for t in inputs:
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs must be gt Tensors, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    retain_graph = create_graph if retain_graph is None else retain_graph
    found = _tape.propagate(_roots(_tensors(outputs), grad_outputs, "grad"), bool(retain_graph), inputs,
                            create_graph)
    if allow_unused is None:
        allow_unused = materialize_grads
    out = []
    for t, g in zip(inputs, found):
        if g is None:
            if not allow_unused:
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                                   "Set allow_unused=True if this is the desired behavior.")
            if materialize_grads:
                g = zeros_like(t)
        out.append(g)
    return tuple(out)


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None, create_graph: bool = False,
             inputs=None) -> None:
    """Accumulate the gradients of ``tensors`` (seeded by ``grad_tensors``) into the leaves' ``.grad``."""
    if inputs is not None:
        raise NotImplementedError("GT does not support torch.autograd.backward(inputs=...) yet")
    retain_graph = create_graph if retain_graph is None else retain_graph
    _tape.propagate(_roots(_tensors(tensors), grad_tensors, "backward"), bool(retain_graph), None, create_graph)


def Variable(data: Tensor, requires_grad: bool = False) -> Tensor:   # noqa: N802 - torch's name
    """The pre-0.4 wrapper: the tensor itself (with ``requires_grad`` set when asked)."""
    return data.requires_grad_(True) if requires_grad else data


class set_detect_anomaly:   # noqa: N801 - torch's name
    """Accepted (also as a context manager): GT's worker reports a failing op at the next sync point."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        if mode:
            log.debug("gt.autograd: anomaly detection is accepted and not done")

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc) -> bool:
        return False


class detect_anomaly(set_detect_anomaly):   # noqa: N801 - torch's name
    def __init__(self, check_nan: bool = True) -> None:
        super().__init__(True, check_nan)
