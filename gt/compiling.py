"""``gt.compile``: accepted, returning the model or function unchanged.

GT compiles without being asked: the worker finds the batches that repeat (a training
step) and runs them through one Inductor graph (README: hot-path compilation).  So
``gt.compile(model)`` gives back ``model`` itself, with its results, parameters and
``state_dict`` keys unchanged (torch's compiled wrapper would add ``_orig_mod.``).
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def compile(model=None, *, fullgraph: bool = False, dynamic=None, backend="inductor", mode=None,  # noqa: A001
            options=None, disable: bool = False):
    """``model`` (a Module or a function) as given: GT's worker compiles the batches that repeat."""
    if model is None:   # @gt.compile(mode=...) as a decorator factory
        return lambda fn: compile(fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode,
                                  options=options, disable=disable)
    if not callable(model):
        raise RuntimeError(f"gt.compile: expected a Module or a callable, got {type(model).__name__}")
    log.debug("gt.compile(%s): returned as is; GT's worker compiles the batches that repeat "
              "(GT_AUTO_COMPILE=1, see README)", getattr(model, "__name__", type(model).__name__))
    return model
