"""GT's environment variables, read and checked once at start-up."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch


class ConfigError(ValueError):
    """A GT_* environment variable holds a value GT cannot use."""


def flag(name: str, default: str = "0") -> bool:
    raw = os.environ.get(name, default).strip()
    if raw in ("0", "1"):
        return raw == "1"
    raise ConfigError(f"{name}={raw!r}: expected 0 or 1")


def positive_int(name: str, default: int | None) -> int | None:
    """The positive integer in environment variable ``name``, or ``default`` when it is unset or empty."""
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
    batch_size: int | None   # None: not given (the worker picks by the compile settings)
    compile: bool
    device: str | None
    cache_dir: str | None = None   # the persistent hot-path cache; None: off
    cache_max_mb: int = 2048
    cuda_graphs: bool = True   # capture compiled graphs as CUDA graphs on a CUDA worker
    cache_aot: bool = True     # build hot graphs ahead of time into the cache (gt.worker.aot_graphs)


def _device(name: str) -> str | None:
    """A device string torch accepts and this machine has: cpu, cuda, cuda:N."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        device = torch.device(raw)
    except RuntimeError:
        raise ConfigError(f"{name}={raw!r}: not a device (expected cpu, cuda or cuda:N)") from None
    if device.type == "cpu":
        return raw
    if device.type != "cuda":
        raise ConfigError(f"{name}={raw!r}: GT's worker runs on cpu or cuda")
    if not torch.cuda.is_available():
        raise ConfigError(f"{name}={raw!r}: CUDA is not available on this machine")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"{name}={raw!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return raw


def _cache_dir(name: str) -> str | None:
    """GT_CACHE_DIR: unset, the user's cache directory (``$XDG_CACHE_HOME/gt``, ``~/.cache/gt``);
    empty, no cache."""
    raw = os.environ.get(name)
    if raw is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "gt")
    raw = raw.strip()
    return os.path.abspath(os.path.expanduser(raw)) if raw else None


def auto_shard() -> bool:
    """GT_AUTO_SHARD=1: ``gt.gpu_workers(n)`` (n > 1) trains data-parallel, as ``shard=True``."""
    return flag("GT_AUTO_SHARD")


def from_env() -> Config:
    """Read GT_AUTO_COMPILE, GT_HOTPATH_THRESHOLD, GT_WORKER_BATCH_SIZE, GT_COMPILE, GT_DEVICE,
    GT_CACHE_DIR, GT_CACHE_MAX_MB, GT_CACHE_AOT and GT_CUDA_GRAPHS; check GT_AUTO_SHARD."""
    auto_shard()
    return Config(
        auto_compile=flag("GT_AUTO_COMPILE"),
        hot_threshold=positive_int("GT_HOTPATH_THRESHOLD", 10),
        batch_size=positive_int("GT_WORKER_BATCH_SIZE", None),
        compile=flag("GT_COMPILE"),
        device=_device("GT_DEVICE"),
        cache_dir=_cache_dir("GT_CACHE_DIR"),
        cache_max_mb=positive_int("GT_CACHE_MAX_MB", 2048),
        cuda_graphs=flag("GT_CUDA_GRAPHS", "1"),
        cache_aot=flag("GT_CACHE_AOT", "1"),
    )
