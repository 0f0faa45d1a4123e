"""torch functions of several overloads, each overload an op-table entry with its own signature.

The entries (``export=()``) are made into functions by the generic path
(``generate.from_signature``); the function here only picks the overload a call
means, as torch's argument parser does, and is declared to ``gt.client.surface``.
"""
from __future__ import annotations

import torch

from gt.client import surface
from gt.client.emit import operand
from gt.client.generate import from_signature, with_out
from gt.client.shapes import norm_dim
from gt.client.tensor import Tensor
from gt.ops import OPCODE, OPS


def _overload(name: str):
    return from_signature(OPS[OPCODE[name]])


_searchsorted, _searchsorted_sorter = _overload("searchsorted"), _overload("searchsorted_sorter")
_repeat_int, _repeat_index = _overload("repeat_interleave"), _overload("repeat_interleave_index")


def searchsorted(sorted_sequence, input, *, sorter=None, **kwargs) -> Tensor:
    """torch.searchsorted; ``sorter``: the indices that sort an unsorted ``sorted_sequence``."""
    if sorter is None:
        return _searchsorted(sorted_sequence, input, **kwargs)
    if isinstance(sorter, (Tensor, torch.Tensor)):   # torch's dtype checks, which its meta kernel skips
        torch.searchsorted(torch.empty(0), torch.empty(0), sorter=torch.empty(0, dtype=sorter.dtype))
    return _searchsorted_sorter(sorted_sequence, input, sorter=sorter, **kwargs)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None) -> Tensor:
    """torch.repeat_interleave: ``repeats`` an int, or a tensor (its sum is the result's size
    along ``dim``: read from its values, a sync point, unless ``output_size`` gives it); or, with
    ``input`` alone, each index ``i`` of ``input`` repeated ``input[i]`` times."""
    if repeats is None:
        return _repeat_index(input, output_size=output_size)
    if not isinstance(repeats, (Tensor, torch.Tensor)):
        return _repeat_int(input, repeats, dim, output_size=output_size)
    input, repeats = operand(input), operand(repeats)
    if dim is None:
        input, dim = input.flatten(), 0
    dim = norm_dim(dim, input.ndim)
    if repeats.ndim > 1:
        raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
    if repeats.numel() == 1:
        repeats = repeats.reshape(1).expand(input.shape[dim])
    elif repeats.shape[0] != input.shape[dim]:
        raise RuntimeError(f"repeats must have the same size as input along dim, but got repeats.size(0) = "
                           f"{repeats.shape[0]} and input.size({dim}) = {input.shape[dim]}")
    # as torch: the input's rows picked by the repeated indices (grad_fn IndexSelectBackward0)
    return input.index_select(dim, _repeat_index(repeats, output_size=output_size))


surface.functions(searchsorted=with_out(searchsorted), repeat_interleave=repeat_interleave)
surface.methods(repeat_interleave=repeat_interleave)
