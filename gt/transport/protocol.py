"""Worker commands and responses (the seed's names).

The embedded worker receives instructions as direct calls; these messages carry
the control commands, and are what a remote transport would serialise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Words of the error an op that ran out of the worker's memory raises ("GT worker: operation 'x' ran out
# of memory on cuda:0: ..."): a remote client raises torch.OutOfMemoryError for such a message.
OUT_OF_MEMORY = "ran out of memory on"


@dataclass
class WorkerGetStats:
    """Ask a worker for its statistics."""


@dataclass
class WorkerFlush:
    """Ask a worker to run everything pending."""


@dataclass
class WorkerResponse:
    """A worker's answer: ``data`` on success, ``error`` otherwise."""

    success: bool
    data: Any = None
    error: str | None = None
    extra: dict = field(default_factory=dict)
