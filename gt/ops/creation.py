"""Worker kernels for the deterministic creations GT adds: ``linspace`` and ``eye``."""
from __future__ import annotations

import torch


def linspace(start, end, steps, dtype, device=None):
    return torch.linspace(start, end, steps, dtype=dtype, device=device)


def eye(n, m, dtype, device=None):
    return torch.eye(n, m, dtype=dtype, device=device)


OPS = (
    ("linspace", linspace),
    ("eye", eye),
)
