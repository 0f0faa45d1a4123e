"""``gt.utils.checkpoint``: activation checkpointing is accepted and not done.

GT's worker keeps the saved activations of the forward pass; ``checkpoint(fn, *args)``
runs ``fn(*args)`` once with gradients recorded as usual, so results and gradients equal
torch's and memory use equals running without checkpointing (README).
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)
_told = False


def _tell_once() -> None:
    global _told
    if not _told:
        _told = True
        log.debug("gt.utils.checkpoint: the function runs without checkpointing (activations are kept)")


def checkpoint(function, *args, use_reentrant: bool | None = None, context_fn=None, determinism_check=None,
               debug=None, preserve_rng_state: bool = True, **kwargs):
    """``function(*args, **kwargs)``, as torch.utils.checkpoint.checkpoint returns it."""
    _tell_once()
    return function(*args, **kwargs)


def checkpoint_sequential(functions, segments: int, input, use_reentrant: bool | None = None, **kwargs):
    """The modules of ``functions`` (a Sequential or a list) applied in turn to ``input``."""
    _tell_once()
    modules = list(functions.children()) if hasattr(functions, "children") else list(functions)
    for module in modules:
        input = module(input)
    return input
