"""Autograd on the client.

Each differentiable op on a tensor that requires grad gets a ``Node`` holding
its gradient rule and inputs (the tape, linked the way torch links grad_fns).
``backward()`` walks the nodes in reverse topological order and emits the
gradient computations as ordinary instructions; the worker never sees
``requires_grad``.
"""
from __future__ import annotations

import functools
import itertools
import weakref
from heapq import heappop, heappush

from gt.client import runtime
from gt.client import views as _views
from gt.client.modes import grad_mode
from gt.client.tensor import Tensor
from gt.ops import NUM_OPCODES

# The gradient rule of every table op, by opcode (None: not differentiable);
# gt.client.gradients fills it from the table's formulas.
RULES: list = [None] * NUM_OPCODES


_next_seq = itertools.count().__next__


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


class inference_mode(_GradContext):
    """``with gt.inference_mode():``: no gradient recording (GT has no separate inference tensors)."""

    def __init__(self, mode: bool = True) -> None:
        self._value = not mode


class set_grad_enabled(_GradContext):
    def __init__(self, mode: bool) -> None:
        self._value = bool(mode)
        self._prev = grad_mode.enabled
        grad_mode.enabled = self._value

    def __enter__(self):
        pass


class Node:
    """One recorded op: ``rule(node, grad) -> grads per input``.

    ``seq`` grows with creation order, so a node always comes after the nodes
    of its inputs: backward visits nodes from the highest ``seq`` down, which is
    a reverse topological order (torch's engine orders by sequence number too).
    """

    __slots__ = ("rule", "inputs", "saved", "name", "seq")

    def __init__(self, rule, inputs: tuple, saved=None, name: str = "") -> None:
        self.rule = rule
        self.inputs = inputs
        self.saved = saved
        self.name = name
        self.seq = _next_seq()


def renamed(out: Tensor, src: Tensor, name: str) -> Tensor:
    """Give ``out``'s new autograd node torch's name for the op that made it (``src``: its input,
    which a no-op returns as is)."""
    if out is not src and out._grad_fn is not None:
        out._grad_fn.name = name
    return out


# Handles rebound by an in-place op while gradients are recorded, by id(handle):
# (weakref to the handle, [(seq, weakref to a handle on the value it held before, or a function
# returning a kept one)]).
# A node made before a rebinding (a smaller seq) reads its input through the older
# handle: its value and its grad_fn as they were then.  Keyed by id, not by the
# handle (Tensor.__eq__ is elementwise); an entry goes when its handle does.  Empty
# unless in-place ops ran under grad mode, so backward pays nothing otherwise.
rebound: dict = {}


def note_rebinding(handle: Tensor, old: Tensor, keep: bool = False) -> None:
    """``handle`` now holds a new value (or history); ``old`` is a handle on what it held until now.
    ``keep``: hold ``old`` as long as ``handle`` lives (nothing in the graph does: ``detach_()``)."""
    key = id(handle)
    entry = rebound.get(key)
    if entry is None:
        entry = rebound[key] = (weakref.ref(handle, lambda _, key=key: rebound.pop(key, None)), [])
    past = entry[1]
    past[:] = [p for p in past if p[1]() is not None]
    past.append((_next_seq(), (lambda: old) if keep else weakref.ref(old)))


def _as_of(t: Tensor, seq: int) -> Tensor:
    """The handle on what ``t`` held when the node numbered ``seq`` was made."""
    entry = rebound.get(id(t))
    if entry is None or entry[0]() is not t:
        return t
    for rebound_at, ref in entry[1]:
        if rebound_at > seq:
            old = ref()
            if old is None:
                raise RuntimeError("one of the variables needed for gradient computation has been modified "
                                   "by an inplace operation, and its old value was already released")
            return old
    return t


def _released(node, g):
    raise RuntimeError("Trying to backward through the graph a second time (or directly access saved tensors "
                       "after they have already been freed). Saved intermediate values of the graph are freed "
                       "when you call .backward(). Specify retain_graph=True if you need to backward through "
                       "the graph a second time.")


def backward(tensor: Tensor, gradient: Tensor, retain_graph: bool = False, create_graph: bool = False) -> None:
    """Accumulate d(tensor)/d(leaf), seeded with ``gradient``, into every leaf's ``.grad``."""
    propagate(((tensor, gradient),), retain_graph, None, create_graph)


def propagate(roots, retain_graph: bool = False, targets: tuple | None = None,
              create_graph: bool = False) -> list | None:
    """Run the graph backward from ``roots``, pairs (tensor, its gradient).

    ``targets`` None: accumulate into every leaf's ``.grad`` (``backward()``).  Else return
    the gradients of the tensors in ``targets`` (leaves or not; None where the graph does
    not reach one), leaving every ``.grad`` alone (``gt.autograd.grad``).
    Unless ``retain_graph``, each node lets go of its saved tensors once used, as
    torch frees saved values: the worker can release activations during backward.
    ``create_graph``: the gradient computations are recorded too (a double backward), with
    a node's saved result linked to the node, so formulas using ``out`` differentiate through it.
    """
    for tensor, gradient in roots:
        if not isinstance(gradient, Tensor):
            raise TypeError(f"backward: gradient must be a gt Tensor, got {type(gradient).__name__}")
        if gradient.shape != tensor.shape:
            raise RuntimeError(f"backward: gradient has shape {gradient.shape}, expected {tensor.shape}")
    found = None
    if targets is not None:
        found = [None] * len(targets)
        at_node = {t._grad_fn: i for i, t in enumerate(targets) if t._grad_fn is not None}
        at_leaf = {id(t): i for i, t in enumerate(targets) if t._grad_fn is None}
    runtime.mark_boundary()
    prev = grad_mode.enabled
    grad_mode.enabled = create_graph
    _views.state.quiet += 1   # gradients are values of their own, never views of one another
    # Old values of rebound handles stay alive for this whole pass: releasing a node
    # may drop the last other reference to one that an earlier node still reads.
    pinned = [ref() for _, past in rebound.values() for _, ref in past]  # noqa: F841
    given: set = set()   # ids of the gradient handles leaves received in this pass

    def reach_leaf(leaf, g) -> None:
        if found is None:
            _accumulate(leaf, g, given, create_graph)
            return
        i = at_leaf.get(id(leaf))
        if i is not None:
            found[i] = g if found[i] is None else found[i] + g

    grads: dict = {}
    queue: list = []

    def send(t, g) -> None:
        """Hand ``g`` to ``t``: a leaf takes it, a node sums what it receives until its turn."""
        fn = t._grad_fn
        if fn is None:
            reach_leaf(t, g)
        elif fn in grads:
            grads[fn] = grads[fn] + g
        else:
            grads[fn] = g
            heappush(queue, (-fn.seq, fn))

    try:
        for tensor, gradient in roots:
            send(tensor, gradient)
        while queue:
            node = heappop(queue)[1]
            g = grads.pop(node)
            if found is not None and node in at_node:
                found[at_node[node]] = g
            if rebound:
                node.inputs = tuple(_as_of(t, node.seq) if t is not None else t for t in node.inputs)
            if create_graph and node.saved is not None and node.saved[1] is not None:
                saved_out = node.saved[1]   # the result, as a formula reads it: part of the graph
                saved_out.requires_grad, saved_out._grad_fn = True, node
            inputs, input_grads = node.inputs, node.rule(node, g)
            if not retain_graph:
                node.rule, node.inputs, node.saved = _released, (), None
            for inp, gi in zip(inputs, input_grads):
                if gi is None or inp is None or not inp.requires_grad:
                    continue
                if gi.dtype is not inp.dtype:  # as torch's engine: a gradient has its input's dtype
                    gi = gi.to(inp.dtype)
                send(inp, gi)
        if found is None:
            _finish()
    finally:
        _touched.clear()
        grad_mode.enabled = prev
        _views.state.quiet -= 1
        runtime.mark_boundary()
    return found


_touched: list = []   # the leaves a backward pass gave a gradient, while runtime.after_backward is set


def _finish() -> None:
    if runtime.after_backward is not None:
        runtime.after_backward(_touched[:])


def _accumulate(leaf, g, given: set, create_graph: bool = False) -> None:
    if runtime.after_backward is not None:
        _touched.append(leaf)
    if g.dtype is not leaf.dtype:
        g = g.to(leaf.dtype)
    if leaf.grad is not None:
        leaf.grad.add_(g)   # in place, as torch's AccumulateGrad: a kept reference to .grad sees the sum
        return
    # A rule may hand one gradient handle to several inputs (``a + b``): each leaf gets a
    # handle of its own, so an in-place change of ``a.grad`` leaves ``b.grad`` alone, as in torch.
    if id(g) in given:
        g = g.clone() if create_graph else g.detach()
    given.add(id(g))
    leaf.grad = g
