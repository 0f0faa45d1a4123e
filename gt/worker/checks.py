"""Host-side range checks of index inputs, for ops run eagerly on CUDA.

On the CPU torch checks an index or class target on the host and raises a
clear error.  On CUDA its kernels check on the device: a bad value fails a
device-side assert, which leaves the whole process's CUDA context unusable
(every later CUDA call fails).  So before such an op runs eagerly on CUDA, the
worker reads its index's smallest and largest value (one small reduction and
one sync) and, when one is out of range, runs the op on CPU copies of its
inputs instead: the user gets torch's own CPU error, naming the op's problem
and the bad value, and the CUDA context stays whole.  Compiled graphs are not
checked (a sync per step would cost the graph its speed); there a bad index
loses the context, and the worker says so (``Worker``'s lost-context error).

``wrap(funcs, device)`` returns the eager dispatch table with the checked
ops wrapped; each check gets the kernel's arguments as the kernel does.
"""
from __future__ import annotations

from typing import Callable

import torch

from gt import ops as _ops


def _range(idx: torch.Tensor) -> tuple[int, int] | None:
    """(min, max) of an integer tensor, None when it is empty."""
    if idx.numel() == 0:
        return None
    lo, hi = torch.aminmax(idx)
    return tuple(torch.stack((lo, hi)).tolist())


def _within(idx: torch.Tensor, lo: int, hi: int) -> bool:
    """Every value of ``idx`` lies in [lo, hi)."""
    r = _range(idx)
    return r is None or (lo <= r[0] and r[1] < hi)


def _size(x: torch.Tensor, dim: int) -> int:
    return x.shape[dim] if x.dim() else 1


def _one_hot(x, num_classes):
    return _within(x, 0, num_classes)


def _class_target(x, target, *rest):
    """nll_loss / cross_entropy: class indices in [0, C), or the ignored index."""
    if target.dtype.is_floating_point:   # cross_entropy's class probabilities
        return True
    ignore_index = rest[-1]
    classes = x.shape[1] if x.dim() > 1 else x.shape[0]
    return _within(torch.where(target == ignore_index, 0, target), 0, classes)


def _embedding(weight, indices, *params):
    return _within(indices, 0, weight.shape[0])


def _along_dim(x, idx, *rest):
    """index_select, gather, scatter, scatter_value: indices along ``dim`` (the last argument)."""
    return _within(idx, 0, _size(x, rest[-1]))


def _index(x, *args):
    """Advanced indexing: each integer index tensor within [-size, size) of its dim."""
    *tensors, layout = args
    if any(t.dtype is torch.bool for t in tensors):
        return True   # masks are checked against the shape on the host by torch itself
    it = iter(tensors)
    return all(_within(next(it), -x.shape[d], x.shape[d]) for d, take in enumerate(layout) if take)


CHECKS: dict[str, Callable[..., bool]] = {
    "one_hot": _one_hot, "nll_loss": _class_target, "cross_entropy": _class_target, "embedding": _embedding,
    "index_select": _along_dim, "gather": _along_dim, "scatter": _along_dim, "scatter_value": _along_dim,
    "index": _index,
}


def _on_cpu(arg):
    return arg.cpu() if isinstance(arg, torch.Tensor) else arg


def _checked(name: str, kernel: Callable, check: Callable[..., bool]) -> Callable:
    def run(*args):
        if check(*args):
            return kernel(*args)
        kernel(*map(_on_cpu, args))   # raises torch's own error for the bad value
        raise IndexError(f"{name}: an index is out of range")  # torch's CPU kernel took it: still refuse
    run.__name__ = getattr(kernel, "__name__", name)
    return run


def wrap(funcs: tuple, device: torch.device) -> tuple:
    """The eager dispatch table for ``device``: on CUDA, the ops of ``CHECKS`` check their indices first."""
    if device.type != "cuda":
        return funcs
    funcs = list(funcs)
    for name, check in CHECKS.items():
        code = _ops.OPCODE[name]
        funcs[code] = _checked(name, funcs[code], check)
    return tuple(funcs)
