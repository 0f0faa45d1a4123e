"""``gt.accelerator``: the device-neutral questions of ``torch.accelerator``, answered for
the worker's device (the device every GT tensor lives on)."""
from __future__ import annotations

import torch

from gt.client import runtime as _rt


def is_available() -> bool:
    return current_accelerator() is not None


def current_accelerator(check_available: bool = False) -> torch.device | None:
    """The worker's device type as a device (``cuda``), or None for a CPU worker."""
    kind = _rt.get_worker().device.type
    return None if kind == "cpu" else torch.device(kind)


def device_count() -> int:
    return 1 if is_available() else 0


def current_device_index() -> int:
    device = _rt.get_worker().device
    return device.index or 0 if device.type != "cpu" else -1


def synchronize(device=None) -> None:
    from gt import flush
    flush()
