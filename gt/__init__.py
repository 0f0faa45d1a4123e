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
from gt.client.autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402
from gt.client.tensor import Tensor  # noqa: E402
from gt.client.creation import (Generator, arange, bernoulli, empty, empty_like, eye, from_numpy,  # noqa: E402
                                full, full_like, get_rng_state, initial_seed, linspace, manual_seed, multinomial,
                                normal, ones, ones_like, rand, rand_like, randint, randn, randn_like, randperm,
                                seed, set_rng_state, tensor, zeros, zeros_like)
from gt.client.functional import (PUBLIC, add, allclose, bmm, clamp, clamp_max, clamp_min, div,  # noqa: E402
                                  einsum, is_tensor, matmul, maximum, minimum, mm, mul, numel, outer, pow, sub,
                                  where)
from gt.client.reductions import (all, any, argmax, argmin, cumsum, log_softmax, max, mean, min, norm,  # noqa: E402
                                  softmax, std, sum, var)
from gt.client.functional import __dict__ as _functional  # noqa: E402
from gt.client.indexing import argsort, gather, index_select, masked_fill, scatter, sort, topk  # noqa: E402
from gt.client.movement import (cat, chunk, concat, concatenate, expand, flatten, narrow, permute,  # noqa: E402
                                repeat, reshape, select, split, squeeze, stack, swapaxes, t, transpose, tril,
                                triu, unbind, unflatten, unsqueeze)
from gt import debug  # noqa: E402
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

globals().update({name: _functional[name] for name in PUBLIC})  # gt.exp, gt.eq, gt.mm ... from the op table
clip = clamp

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

__all__ = ["Tensor", "Generator", "arange", "bernoulli", "empty", "empty_like", "eye", "from_numpy", "full",
           "full_like", "get_rng_state", "initial_seed", "linspace", "manual_seed", "multinomial", "normal", "ones",
           "ones_like", "rand", "rand_like", "randint", "randn", "randn_like", "randperm", "seed", "set_rng_state",
           "tensor", "zeros", "zeros_like", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "nn", "optim", "distributions", "sparse", "sparse_coo_tensor", "spmm", "debug", "flush", "float32", "float64", "float16", "bfloat16", "int64", "int32",
           "int16", "int8", "uint8", "bool", "device", "save", "load", "signal", "SignalConfig", "ShardConfig",
           "register_config", "connect", "gpu_workers", "accelerator", "autograd", "backends", "cuda", "utils",
           "serialization", "GradScaler", "autocast", "as_tensor", "compile", "set_default_dtype",
           "get_default_dtype", "set_printoptions", "set_float32_matmul_precision", "get_float32_matmul_precision",
           "FloatTensor", "DoubleTensor", "HalfTensor", "BFloat16Tensor", "LongTensor", "IntTensor", "ShortTensor",
           "CharTensor", "ByteTensor", "BoolTensor", *PUBLIC]
