"""``gt.cuda``: what a script asks ``torch.cuda``, answered for the worker's device.

GT's tensors live on the worker, so ``is_available()`` says whether the worker runs on
a GPU (a remote worker's GPU, not this machine's).  The embedded worker shares this
process, so its answers are torch's own; a remote worker's come with its statistics.
Random numbers are drawn with torch's CPU generator on the client (``gt.manual_seed``),
so ``manual_seed``/``manual_seed_all`` have nothing more to seed.
"""
from __future__ import annotations

import torch

from gt.client import runtime as _rt


# What a failed allocation on the worker raises at the next sync point, as torch.cuda's.
OutOfMemoryError = torch.OutOfMemoryError


def _device() -> torch.device:
    return _rt.get_worker().device


def _embedded() -> bool:
    from gt.worker.worker import Worker
    return isinstance(_rt.get_worker(), Worker)


def _require_gpu() -> torch.device:
    device = _device()
    if device.type != "cuda":
        raise RuntimeError(f"GT's worker runs on {device}: no CUDA GPU is available to it")
    return device


def _worker_stat(key: str):
    """One of the worker's device figures (a remote worker's, through its statistics)."""
    return _rt.get_worker().get_stats()["device_info"][key]


def is_available() -> bool:
    """Whether the worker computes on a CUDA GPU."""
    return _device().type == "cuda"


def is_bf16_supported(including_emulation: bool = True) -> bool:
    if not is_available():
        return False
    return torch.cuda.is_bf16_supported(including_emulation) if _embedded() else _worker_stat("bf16")


def device_count() -> int:
    """GPUs this script's tensors can be on: the worker's one, or none."""
    return 1 if is_available() else 0


def current_device() -> int:
    return _require_gpu().index or 0


def get_device_name(device=None) -> str:
    gpu = _require_gpu()
    return torch.cuda.get_device_name(gpu) if _embedded() else _worker_stat("name")


def get_device_capability(device=None) -> tuple:
    gpu = _require_gpu()
    return torch.cuda.get_device_capability(gpu) if _embedded() else tuple(_worker_stat("capability"))


def synchronize(device=None) -> None:
    """Wait until the worker has run everything sent so far."""
    from gt import flush
    flush()


def manual_seed(seed: int) -> None:
    """Accepted: GT draws random numbers with the CPU generator that ``gt.manual_seed`` seeds."""


manual_seed_all = manual_seed


def empty_cache() -> None:
    if is_available() and _embedded():
        torch.cuda.empty_cache()


def memory_allocated(device=None) -> int:
    """Bytes of GPU memory the worker's tensors hold (0 on a CPU worker)."""
    if not is_available():
        return 0
    return torch.cuda.memory_allocated(_device()) if _embedded() else _worker_stat("memory_allocated")


def max_memory_allocated(device=None) -> int:
    if not is_available():
        return 0
    return torch.cuda.max_memory_allocated(_device()) if _embedded() else _worker_stat("max_memory_allocated")


def reset_peak_memory_stats(device=None) -> None:
    if is_available() and _embedded():
        torch.cuda.reset_peak_memory_stats(_device())


class amp:   # noqa: N801 - torch.cuda.amp, the deprecated spelling of torch.amp with device "cuda"
    @staticmethod
    def autocast(enabled: bool = True, dtype: torch.dtype = torch.float16, cache_enabled: bool = True):
        from gt.amp import autocast
        return autocast("cuda", dtype, enabled)

    @staticmethod
    def GradScaler(init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,  # noqa: N802
                   growth_interval: int = 2000, enabled: bool = True):
        from gt.amp import GradScaler
        return GradScaler("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)


def __getattr__(name: str):
    if hasattr(torch.cuda, name):
        raise AttributeError(f"module 'gt.cuda' has no attribute '{name}': GT does not support "
                             f"torch.cuda.{name} yet")
    raise AttributeError(f"module 'gt.cuda' has no attribute '{name}'")
