"""``gt.fft``: torch.fft's functions, generated from the op table (entries exported to "gt.fft")."""
from __future__ import annotations

from gt.client.surface import FUNCTIONS as _FUNCTIONS, missing_from as _missing_from

globals().update(_FUNCTIONS["gt.fft"])
__getattr__ = _missing_from("fft")
__all__ = sorted(_FUNCTIONS["gt.fft"])
