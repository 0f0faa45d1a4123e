"""GT's environment variables, read and checked once at start-up."""
from __future__ import annotations

import os
from dataclasses import dataclass


class ConfigError(ValueError):
    """A GT_* environment variable holds a value GT cannot use."""


def _flag(name: str, default: str = "0") -> bool:
    raw = os.environ.get(name, default).strip()
    if raw in ("0", "1"):
        return raw == "1"
    raise ConfigError(f"{name}={raw!r}: expected 0 or 1")


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a positive integer") from None
    if value < 1:
        raise ConfigError(f"{name}={raw!r}: must be at least 1")
    return value


@dataclass(frozen=True)
class Config:
    """The worker settings that the GT_* variables control."""

    auto_compile: bool
    hot_threshold: int
    batch_size: int
    compile: bool
    device: str | None


def from_env() -> Config:
    """Read GT_AUTO_COMPILE, GT_HOTPATH_THRESHOLD, GT_WORKER_BATCH_SIZE, GT_COMPILE, GT_DEVICE."""
    device = os.environ.get("GT_DEVICE", "").strip() or None
    return Config(
        auto_compile=_flag("GT_AUTO_COMPILE"),
        hot_threshold=_positive_int("GT_HOTPATH_THRESHOLD", 10),
        batch_size=_positive_int("GT_WORKER_BATCH_SIZE", 1),
        compile=_flag("GT_COMPILE"),
        device=device,
    )
