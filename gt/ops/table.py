"""The shape of one op-table entry, and the checks every entry passes."""
from __future__ import annotations

from typing import Callable, NamedTuple

# How the client infers an op's result (the shape-rule kinds):
#   elementwise  one tensor in, same shape; dtype and dtype errors as torch's (asked once per dtype)
#   broadcast    two tensors, broadcast shapes; dtype as above.  ``<name>_scalar`` is its twin
#                taking a Python number as the second operand, if the table has one
#   scalar       a tensor and a Python number, same shape; dtype as above
#   meta         shape and dtype from the kernel run on meta tensors (cached per shapes,
#                dtypes and params): any op whose kernel torch can run on "meta"
#   gradient     a backward helper: inferred as ``meta``, emitted by gradient formulas only
#   reduction, matmul, view, indexing, creation, loss
#                a hand-written client function computes shape and dtype (gt/client/)
KINDS = frozenset({"elementwise", "broadcast", "scalar", "meta", "gradient", "reduction", "matmul", "view",
                   "indexing", "creation", "loss"})


class Op(NamedTuple):
    """One op, defined once.

    ``kernel(*tensor_inputs, *scalars, *params)`` is what the worker runs, eagerly
    or inside an fx graph.  ``args`` names those arguments in that order; gradient
    formulas use the names, plus ``g`` (the incoming gradient) and ``out`` (the
    op's result, saved only when a formula uses it).  ``grad`` holds one formula
    per tensor input ("" where there is none; empty: not differentiable), written
    with GT tensor methods and the names of ``gradient`` entries, which emit those
    kernels: ``"sigmoid_backward(g, out)"``.  A formula starting with ``*``
    returns the gradients of all inputs at once (ops with a variable number of
    inputs).  Broadcasting kinds sum each gradient back to its input's shape.
    ``node`` is torch's grad_fn stem (``"exp"`` -> ``ExpBackward0``; a trailing
    digit is torch's overload number).  ``public`` exposes an elementwise,
    broadcast or meta op as ``gt.<name>`` and ``Tensor.<name>`` without client code.
    """

    name: str
    kernel: Callable
    kind: str
    args: tuple = ("x",)
    grad: tuple = ()
    node: str = ""
    public: bool = False


def check(entries: tuple) -> None:
    """Reject a malformed table at import: unknown kinds, duplicate names, bad grads."""
    seen = set()
    for e in entries:
        if e.name in seen:
            raise ValueError(f"op table: {e.name!r} is defined twice")
        seen.add(e.name)
        if e.kind not in KINDS:
            raise ValueError(f"op table: {e.name!r} has unknown kind {e.kind!r}")
        if not callable(e.kernel):
            raise TypeError(f"op table: {e.name!r} has a kernel that is not callable")
        if not isinstance(e.grad, tuple) or not all(isinstance(f, str) for f in e.grad):
            raise TypeError(f"op table: {e.name!r}: grad must be a tuple of formula strings")
