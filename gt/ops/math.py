"""Op entries of the wider math surface: elementwise functions, ``gt.linalg``, ``gt.fft``,
``gt.special``, and the tensor ops scripts reach for beyond the core.

Each entry carries its signature, so its client function, method and in-place
form are generated (gt/client/generate.py): adding one of these ops is one entry.
"""
from __future__ import annotations

import torch

from gt.ops.table import Op

ENTRIES: tuple = (
)
