"""Views: handles that share their base's value, as torch's views share its memory.

Every GT value is its own (the worker sees each id written once), and an in-place
op rebinds its handle to a new value (``gt.client.inplace``).  A view op (reshape
and the ops made of it, transpose, permute and movedim, expand, basic indexing, diagonal,
``detach``, ``.data``) links its result to its base as ``(base, kind, args)``:

- after an in-place op on a view, the view's new value is written back into its
  base as an in-place op of the base (``base[key] = v``, ``base.copy_(v.t())``, ...),
  which goes on up a chain of views;
- after an in-place op on a base, its live views are made again from its new value.

So ``v = x[1:3]; v.add_(1)`` changes ``x``, and ``x.mul_(2)`` changes ``v``, as in
torch.  This module keeps the links; ``gt.client.inplace`` writes back and re-makes
(through Tensor's methods, so no view op is imported here).  Where torch's answer depends on memory layout (``reshape`` views or copies,
``view`` refuses, ``contiguous`` copies), the layout a view would have in torch is
found by replaying its chain of view ops on a meta tensor shaped as its root.

Views made while autograd's backward runs, and the temporaries of writing back
and re-making, are not linked: a gradient reshaped for one leaf must not write
into another leaf's.
"""
from __future__ import annotations

import threading
import weakref

import torch

from gt.client.modes import grad_mode

IDENTITY, RESHAPE, TRANSPOSE, PERMUTE, EXPAND, INDEX, DIAGONAL = range(7)


class _State(threading.local):
    """Per thread, as the ops that set it run in one thread."""
    quiet = 0       # > 0: view ops do not link (backward, writing back, re-making)
    remaking = 0    # > 0: the in-place op re-makes a view; it writes nothing back
    writing = None  # views whose new value is being written back (not re-made from their base)


state = _State()

EXPANDED = ("unsupported operation: more than one element of the written-to tensor refers to a single memory "
             "location. Please clone() the tensor before performing the operation.")


_layouts: dict = {}   # (root shape, chain of (kind, args)) -> meta tensor with torch's layout


def _key_part(args):
    if type(args) is slice:
        return (slice, args.start, args.stop, args.step)
    if type(args) is tuple:
        return tuple(_key_part(a) for a in args)
    return args


def layout(t) -> torch.Tensor:
    """A meta tensor with the strides ``t`` would have in torch (its root taken as contiguous)."""
    chain = []
    while t._data_of is not None:
        t, kind, args = t._data_of
        chain.append((kind, args))
    key = (t.shape, _key_part(tuple(chain)))
    m = _layouts.get(key)
    if m is None:
        m = torch.empty(t.shape, device="meta")
        for kind, args in reversed(chain):
            if kind == RESHAPE:
                m = m.reshape(args)
            elif kind == TRANSPOSE:
                m = m.transpose(*args)
            elif kind == PERMUTE:
                m = m.permute(args)
            elif kind == EXPAND:
                m = m.expand(args)
            elif kind == INDEX:
                m = m[args]
            elif kind == DIAGONAL:
                m = m.diagonal(*args)
        if len(_layouts) >= 4096:
            _layouts.clear()
        _layouts[key] = m
    return m


def viewable(t, shape: tuple) -> bool:
    """Would torch's ``t.view(shape)`` work (so ``reshape`` gives a view, not a copy)?"""
    try:
        layout(t).view(shape)
    except RuntimeError:
        return False
    return True


def link(view, base, kind: int, args=None):
    """Make ``view`` (just made from ``base`` by a view op) share ``base``'s value."""
    if state.quiet or view is base:
        return view
    view._data_of = (base, kind, args)
    views = base._views
    if views is None:
        base._views = [weakref.ref(view)]
    else:
        if not len(views) & 15:  # every 16: drop the views that are gone
            views[:] = [r for r in views if r() is not None]
        views.append(weakref.ref(view))
    return view


class quiet:
    """``with views.quiet():`` view ops make values of their own (autograd's backward)."""

    def __enter__(self):
        state.quiet += 1

    def __exit__(self, *exc):
        state.quiet -= 1


def check_writable(t) -> None:
    """Refuse, before anything changes, the in-place writes into a view that torch refuses:
    into an expanded view (its elements share memory), and, with gradients on, into a
    view of a leaf that requires grad."""
    link_ = t._data_of
    if link_[1] == EXPAND:
        raise RuntimeError(EXPANDED)
    if not grad_mode.enabled:
        return
    while link_ is not None and link_[1] != IDENTITY:   # detach() and .data cut the autograd chain
        base = link_[0]
        if base.requires_grad and base._grad_fn is None:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an in-place "
                               "operation.")
        link_ = base._data_of
