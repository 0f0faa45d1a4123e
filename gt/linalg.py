"""``gt.linalg``: torch.linalg's functions, generated from the op table (entries exported to "gt.linalg")."""
from __future__ import annotations

from gt.client.surface import FUNCTIONS as _FUNCTIONS, missing_from as _missing_from

globals().update(_FUNCTIONS["gt.linalg"])
__getattr__ = _missing_from("linalg")
__all__ = sorted(_FUNCTIONS["gt.linalg"])
