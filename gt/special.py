"""``gt.special``: torch.special's functions, generated from the op table (entries exported to "gt.special")."""
from __future__ import annotations

from gt.client.surface import FUNCTIONS as _FUNCTIONS, missing_from as _missing_from

globals().update(_FUNCTIONS["gt.special"])
__getattr__ = _missing_from("special")
__all__ = sorted(_FUNCTIONS["gt.special"])
