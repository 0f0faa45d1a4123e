"""``gt.save`` / ``gt.load`` in PyTorch's file format.

``gt.save`` writes what ``torch.save`` writes for the same object with every GT tensor
replaced by a CPU torch tensor of its value, so ``torch.load`` reads it; ``gt.load`` reads
any file ``torch.save`` wrote and gives torch tensors back as GT tensors.  Whole objects
(a Module, a training checkpoint holding one) are pickled as torch pickles them, each GT
tensor inside as a call of ``_rebuild`` on its torch value; loading them takes
``weights_only=False`` (or their classes in ``add_safe_globals``), as in torch, whose
``weights_only`` unpickler does the refusing.
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


add_safe_globals = torch.serialization.add_safe_globals
safe_globals = torch.serialization.safe_globals
get_safe_globals = torch.serialization.get_safe_globals
clear_safe_globals = torch.serialization.clear_safe_globals


class _Pickler(pickle.Pickler):
    """Pickles a GT tensor inside another object (a whole Module) as ``_rebuild(its torch value)``:
    pickled as is it would hold only a worker id."""

    def reducer_override(self, obj):
        if isinstance(obj, Tensor):
            return _rebuild, (_to_torch(obj, {}),)
        return NotImplemented


def _rebuild(value: torch.Tensor) -> Tensor:
    """A GT tensor (or Parameter) from the torch value ``gt.save`` wrote for it."""
    return _to_gt(value, {})


_pickle_module = types.ModuleType("gt_pickle")
_pickle_module.Pickler = _Pickler


def save(obj: Any, f: FileLike, pickle_protocol: int = 2) -> None:
    """Write ``obj`` (tensors, state dicts, nested dicts/lists/tuples of them, whole modules) to ``f``.

    Reading the values is a sync point.  A tensor that appears twice is stored once, as
    ``torch.save`` stores a shared tensor."""
    memo: dict[int, torch.Tensor] = {}
    torch.save(_convert(obj, Tensor, lambda t: _to_torch(t, memo)), f, pickle_module=_pickle_module,
               pickle_protocol=pickle_protocol)


def load(f: FileLike, map_location=None, weights_only: bool = True, **kwargs) -> Any:
    """Read a file written by ``gt.save`` or ``torch.save``; its torch tensors become GT tensors.

    ``weights_only=True`` (the default) is torch's safe unpickler: tensors, containers,
    numbers and the classes given to ``add_safe_globals``; ``False`` unpickles anything
    (only for files you trust), such as a whole model.  ``map_location`` is accepted for
    torch's signature: GT tensors live on the worker's device whatever the file says."""
    memo: dict[int, Tensor] = {}
    obj = torch.load(f, map_location="cpu", weights_only=weights_only, **kwargs)
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
