"""``gt.backends``: the flags scripts set on ``torch.backends`` (``cudnn.benchmark``,
``cudnn.deterministic``, ``cudnn.allow_tf32``, ``cuda.matmul.allow_tf32``), and
``mps.is_available()``.

The embedded worker runs in this process, so ``cudnn`` and ``cuda`` are torch's own
modules and a flag set here is the worker's flag.  A remote worker keeps its own
process's defaults (README: what GT does with torch's names).
"""
from __future__ import annotations

import types

import torch.backends

from gt.client import runtime as _rt

cudnn = torch.backends.cudnn
cuda = torch.backends.cuda


def _on_mps() -> bool:
    return _rt.get_worker().device.type == "mps"


mps = types.SimpleNamespace(is_available=_on_mps, is_built=_on_mps)
