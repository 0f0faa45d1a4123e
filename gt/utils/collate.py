"""Batching GT tensors in ``torch.utils.data``'s ``default_collate``: its registry of element
types gets GT's Tensor, stacked into one GT tensor (one instruction per batch)."""
from __future__ import annotations

from torch.utils.data._utils.collate import default_collate_fn_map

from gt.client.movement import stack
from gt.client.tensor import Tensor


def collate_gt(batch, *, collate_fn_map=None) -> Tensor:
    """A list of equal-shaped GT tensors as one, stacked along a new first dimension."""
    return stack(batch, 0)


def register() -> None:
    default_collate_fn_map[Tensor] = collate_gt
