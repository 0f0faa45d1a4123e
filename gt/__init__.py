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
from gt.client.runtime import connect_server as connect  # noqa: E402  (remote mode)
from gt.client.workers import connect_group, gpu_workers  # noqa: E402
from gt.client.autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402
from gt.client.tensor import Tensor  # noqa: E402
from gt.client.surface import FUNCTIONS as _FUNCTIONS  # noqa: E402
from gt import debug, fft, linalg, special  # noqa: E402
from gt import distributions, sparse  # noqa: E402
from gt.sparse import sparse_coo_tensor, spmm  # noqa: E402
from gt.serialization import load, save  # noqa: E402
from gt import signal  # noqa: E402  (reads GT_CONFIG)
from gt.signal import ShardConfig, SignalConfig, register_config  # noqa: E402

from gt import accelerator, autograd, backends, cuda, utils  # noqa: E402  (torch's namespaces, for the worker)
from gt import serialization  # noqa: E402
from gt.amp import GradScaler, autocast  # noqa: E402
from gt.client.creation import as_tensor  # noqa: E402
from gt.client.devices import legacy_constructor as _legacy  # noqa: E402
from gt.compiling import compile  # noqa: E402

globals().update(_FUNCTIONS["gt"])  # every op: gt.exp, gt.sum, gt.cat ... (gt.client.surface)

float32 = float = _torch.float32
float64 = double = _torch.float64
float16 = half = _torch.float16
bfloat16 = _torch.bfloat16
int64 = long = _torch.int64
int32 = int = _torch.int32
int16 = short = _torch.int16
int8 = _torch.int8
uint8 = _torch.uint8
bool = _torch.bool
dtype = _torch.dtype
Size = _torch.Size
device = _torch.device


# Defaults that live on the client (creation reads the default dtype; printing fetches the
# value and prints it with torch) or, for the embedded worker, in this same process.
set_default_dtype = _torch.set_default_dtype
get_default_dtype = _torch.get_default_dtype
set_printoptions = _torch.set_printoptions
set_float32_matmul_precision = _torch.set_float32_matmul_precision
get_float32_matmul_precision = _torch.get_float32_matmul_precision
FloatTensor, DoubleTensor, HalfTensor, BFloat16Tensor = (_legacy(d) for d in (float32, float64, float16, bfloat16))
LongTensor, IntTensor, ShortTensor, CharTensor = (_legacy(d) for d in (int64, int32, int16, int8))
ByteTensor, BoolTensor = _legacy(uint8), _legacy(bool)


def __getattr__(name: str):
    if hasattr(_torch, name):
        raise AttributeError(f"module 'gt' has no attribute '{name}': GT does not support torch.{name} yet")
    raise AttributeError(f"module 'gt' has no attribute '{name}'")


def flush() -> None:
    """Run everything the worker has pending."""
    _runtime.get_worker()._flush_batch()


_runtime.get_worker()  # the embedded worker starts with the package

__all__ = ["Tensor", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "inference_mode", "nn",
           "optim", "distributions", "sparse", "sparse_coo_tensor", "spmm", "debug", "fft", "linalg", "special",
           "flush", "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
           "device", "save", "load", "signal", "SignalConfig", "ShardConfig", "register_config", "connect",
           "gpu_workers", "connect_group", "accelerator", "autograd", "backends", "cuda", "utils", "serialization",
           "GradScaler",
           "autocast", "as_tensor", "compile", "set_default_dtype", "get_default_dtype", "set_printoptions",
           "set_float32_matmul_precision", "get_float32_matmul_precision", "FloatTensor", "DoubleTensor",
           "HalfTensor", "BFloat16Tensor", "LongTensor", "IntTensor", "ShortTensor", "CharTensor", "ByteTensor",
           "BoolTensor", *sorted(_FUNCTIONS["gt"])]
