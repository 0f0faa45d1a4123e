"""The device the tests' worker runs on, and torch references made there.

The embedded worker runs on ``cuda:0`` where a GPU is (``GT_DEVICE`` picks another);
every reference torch computes in a test runs on that same device, so a GPU run
compares GPU kernels with GPU kernels (CPU and GPU kernels round differently, and
treat edge values such as relu(-0.0) differently).  TF32 is off for both, as in
torch's own tests: GT's worker lives in this process and shares the switch.
"""
from __future__ import annotations

import numpy as np
import torch

from gt import config as _config
from gt.worker.worker import default_device

DEVICE = torch.device(_config.from_env().device or default_device())
ON_GPU = DEVICE.type != "cpu"

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def twin(a, requires_grad: bool = False, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A torch tensor on DEVICE holding ``a`` (an array, or a CPU torch tensor) as a fresh copy."""
    if isinstance(a, torch.Tensor):
        t = a.detach().to(DEVICE, dtype=dtype, copy=True)
    else:
        t = torch.tensor(np.asarray(a).copy(), device=DEVICE, dtype=dtype)
    return t.requires_grad_(requires_grad)


def on_device(module: torch.nn.Module) -> torch.nn.Module:
    """A torch module (built on the CPU, under the test's seed) moved to DEVICE."""
    return module.to(DEVICE)


class _TorchOnDevice:
    """torch, with the data that code written for both frameworks makes (``lib.tensor(x)``,
    ``lib.ones(...)``) on DEVICE."""

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def tensor(a):
        return twin(a)

    @staticmethod
    def ones(*shape):
        return torch.ones(*shape, device=DEVICE)


TORCH = _TorchOnDevice()


def host(t) -> np.ndarray:
    """A gt or torch tensor's values as a numpy array."""
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t.detach().numpy()
