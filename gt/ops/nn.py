"""Op entries of gt.nn's fused layers and losses (softmax-based losses, layer_norm, ...).

Kept apart from ``gt.ops.core`` so nn's ops are added here without touching the
core list; ``gt.ops`` appends these after the core entries.
"""
from __future__ import annotations

ENTRIES: tuple = ()
