"""``gt.save`` / ``gt.load`` in PyTorch's file format.

``gt.save`` writes what ``torch.save`` writes for the same object with every GT tensor
replaced by a CPU torch tensor of its value, so ``torch.load`` reads it; ``gt.load`` reads
any file ``torch.save`` wrote with ``weights_only`` semantics (tensors, numbers, strings,
containers: never arbitrary objects, whose unpickling could run code) and gives torch
tensors back as GT tensors.
"""
from __future__ import annotations

import collections
import os
import pickle
import types
from typing import IO, Any, Callable, Union

import torch

from gt.client import runtime as _rt
from gt.client.emit import put as _put
from gt.client.tensor import Tensor

FileLike = Union[str, os.PathLike, IO[bytes]]


class _Pickler(pickle.Pickler):
    """Refuses a GT tensor that ``gt.save`` could not reach (inside another object): pickled as
    is it would hold only a worker id, and the file could never be loaded."""

    def reducer_override(self, obj):
        if isinstance(obj, Tensor):
            raise TypeError("gt.save: a GT tensor inside another object (e.g. a whole Module) cannot be "
                            "written; save its tensors in dicts, lists or tuples, such as model.state_dict()")
        return NotImplemented


_pickle_module = types.ModuleType("gt_pickle")
_pickle_module.Pickler = _Pickler


def save(obj: Any, f: FileLike, pickle_protocol: int = 2) -> None:
    """Write ``obj`` (tensors, state dicts, nested dicts/lists/tuples of them) to ``f``.

    Reading the values is a sync point.  A tensor that appears twice is stored once, as
    ``torch.save`` stores a shared tensor."""
    memo: dict[int, torch.Tensor] = {}
    torch.save(_convert(obj, Tensor, lambda t: _to_torch(t, memo)), f, pickle_module=_pickle_module,
               pickle_protocol=pickle_protocol)


def load(f: FileLike, map_location=None, weights_only: bool = True, **kwargs) -> Any:
    """Read a file written by ``gt.save`` or ``torch.save``; its torch tensors become GT tensors.

    ``map_location`` is accepted for torch's signature: GT tensors live on the worker's
    device whatever the file says."""
    if not weights_only:
        raise ValueError("gt.load reads files with weights_only=True only: unpickling arbitrary objects can run "
                         "code. Load such a file with torch.load(weights_only=False) if you trust it.")
    memo: dict[int, Tensor] = {}
    obj = torch.load(f, map_location="cpu", weights_only=True, **kwargs)
    return _convert(obj, torch.Tensor, lambda t: _to_gt(t, memo))


def _convert(obj: Any, leaf_type: type, convert: Callable) -> Any:
    """``obj`` with every ``leaf_type`` inside dicts, lists and tuples replaced by ``convert(leaf)``."""
    if isinstance(obj, leaf_type):
        return convert(obj)
    if isinstance(obj, dict):
        out = type(obj)() if type(obj) in (dict, collections.OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _convert(v, leaf_type, convert)
        metadata = getattr(obj, "_metadata", None)   # a torch module state dict's version record
        if metadata is not None:
            out._metadata = metadata
        return out
    if isinstance(obj, list):
        return [_convert(v, leaf_type, convert) for v in obj]
    if isinstance(obj, tuple):
        items = [_convert(v, leaf_type, convert) for v in obj]
        return type(obj)._make(items) if hasattr(type(obj), "_fields") else tuple(items)
    return obj


def _to_torch(t: Tensor, memo: dict) -> torch.Tensor:
    out = memo.get(id(t))
    if out is None:
        # A copy: a worker tensor may be a view into a larger buffer, which torch.save would write whole.
        out = _rt.get_worker().fetch(t._id).detach().to("cpu", copy=True)
        if _is_parameter(t):
            out = torch.nn.Parameter(out, requires_grad=t.requires_grad)
        elif t.requires_grad and t.is_leaf:
            out.requires_grad_(True)
        memo[id(t)] = out
    return out


def _to_gt(t: torch.Tensor, memo: dict) -> Tensor:
    out = memo.get(id(t))
    if out is None:
        out = _put(t.detach())
        if isinstance(t, torch.nn.Parameter):
            from gt import nn
            out = nn.Parameter(out, requires_grad=t.requires_grad)
        elif t.requires_grad:
            out.requires_grad_(True)
        memo[id(t)] = out
    return out


def _is_parameter(t: Tensor) -> bool:
    from gt import nn   # gt.nn imports the client; imported here, when both are complete
    return isinstance(t, nn.Parameter)
