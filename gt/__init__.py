"""GT: a PyTorch-like front end whose operations run on a batching, compiling worker.

``import gt as torch`` runs an ordinary training script.  Operations become
instructions for a worker, which by default runs in this same process.
"""
from __future__ import annotations

import logging as _logging

import torch as _torch

from gt import config as _config

_log = _logging.getLogger("gt")
if not _log.handlers:
    # The seed's messages are visible by default; silence with
    # logging.getLogger("gt").setLevel(logging.WARNING).
    _handler = _logging.StreamHandler()
    _handler.setFormatter(_logging.Formatter("%(message)s"))
    _log.addHandler(_handler)
    _log.setLevel(_logging.INFO)
    _log.propagate = False

_config.from_env()  # bad GT_* values stop here, naming the variable

from gt import nn, optim  # noqa: E402
from gt.client import runtime as _runtime  # noqa: E402
from gt.client.runtime import connect_server as connect, gpu_workers  # noqa: E402  (remote mode)
from gt.client.nn import relu, sigmoid, tanh  # noqa: E402
from gt.client.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402
from gt.client.tensor import Tensor  # noqa: E402
from gt.client.creation import (arange, from_numpy, full, manual_seed, ones, ones_like, rand,  # noqa: E402
                                randn, tensor, zeros, zeros_like)
from gt import debug  # noqa: E402
from gt import signal  # noqa: E402  (reads GT_CONFIG)
from gt.signal import ShardConfig, SignalConfig, register_config  # noqa: E402

float32 = float = _torch.float32
float64 = double = _torch.float64
float16 = half = _torch.float16
int64 = long = _torch.int64
int32 = int = _torch.int32
bool = _torch.bool
dtype = _torch.dtype
Size = _torch.Size


def exp(x: Tensor) -> Tensor:
    return x.exp()


def log(x: Tensor) -> Tensor:
    return x.log()


def sqrt(x: Tensor) -> Tensor:
    return x.sqrt()


def abs(x: Tensor) -> Tensor:
    return x.abs()


def matmul(a: Tensor, b: Tensor) -> Tensor:
    return a @ b


def sum(x: Tensor, dim=None, keepdim=False, **kw) -> Tensor:
    return x.sum(dim, keepdim, **kw)


def mean(x: Tensor, dim=None, keepdim=False, **kw) -> Tensor:
    return x.mean(dim, keepdim, **kw)


def max(x: Tensor, dim=None, keepdim=False, **kw):
    return x.max(dim, keepdim, **kw)


def reshape(x: Tensor, shape) -> Tensor:
    return x.reshape(shape)


def transpose(x: Tensor, d0: int, d1: int) -> Tensor:
    return x.transpose(d0, d1)


def flush() -> None:
    """Run everything the worker has pending."""
    _runtime.get_worker()._flush_batch()


_runtime.get_worker()  # the embedded worker starts with the package

__all__ = ["Tensor", "arange", "from_numpy", "full", "manual_seed", "ones", "ones_like", "rand", "randn",
           "tensor", "zeros", "zeros_like", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "nn", "optim", "debug", "relu", "sigmoid", "tanh", "exp", "log", "sqrt", "abs", "matmul", "sum",
           "mean", "max", "reshape", "transpose", "float32", "float64", "int64", "int32", "bool", "flush",
           "signal", "SignalConfig", "ShardConfig", "register_config", "connect", "gpu_workers"]
