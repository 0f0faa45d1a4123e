"""Op entries for data-parallel training: collectives between the workers of one client.

``all_reduce_mean`` averages gradients; ``shard_of``, ``all_gather`` and ``reduce_scatter_mean``
serve sharded parameters (``gt.ShardConfig``): each worker keeps its shard along ``axis``, gathers
the whole tensor for a use, and receives its shard of the averaged gradient.

The kernel is a traceable functional collective (``torch.distributed._functional_collectives``),
so a compiled hot path can hold it; the process group is the worker process's default group,
formed at start-up (``gt.worker.distributed``).  The client emits these ops with the result's
shape given (``gt.client.data_parallel``): it has no process group to infer them with.
"""
from __future__ import annotations

import torch.distributed as dist

from gt.ops.table import Op


def all_reduce_mean(x):
    """The average of ``x`` over every worker of the group (each worker gets it).  The collectives
    module loads with the group (gt.worker.distributed), not with every ``import gt``."""
    from torch.distributed import _functional_collectives as funcol
    return funcol.all_reduce(x, "sum", dist.group.WORLD) / dist.get_world_size()


def _waited(t):
    from torch.distributed import _functional_collectives as funcol
    return t.wait() if isinstance(t, funcol.AsyncCollectiveTensor) else t


def shard_of(x, axis):
    """This worker's shard of ``x`` along ``axis`` (equal shards, in rank order)."""
    return x.chunk(dist.get_world_size(), axis)[dist.get_rank()].contiguous()


def all_gather(x, axis):
    """Every worker's shard of a tensor sharded along ``axis``, concatenated: the whole tensor."""
    from torch.distributed import _functional_collectives as funcol
    gather = getattr(funcol, "all_gather_single", None) or funcol.all_gather_tensor   # the new name in torch 2.13
    return _waited(gather(x.contiguous(), axis, dist.group.WORLD))


def reduce_scatter_mean(x, axis):
    """This worker's shard along ``axis`` of the average of ``x`` over the workers."""
    from torch.distributed import _functional_collectives as funcol
    scatter = getattr(funcol, "reduce_scatter_single", None) or funcol.reduce_scatter_tensor
    return _waited(scatter(x.contiguous(), "sum", axis, dist.group.WORLD)) / dist.get_world_size()


ENTRIES = (
    Op("all_reduce_mean", all_reduce_mean, "reduction", ("x",)),
    Op("shard_of", shard_of, "reduction", ("x", "axis")),
    Op("all_gather", all_gather, "reduction", ("x", "axis")),
    Op("reduce_scatter_mean", reduce_scatter_mean, "reduction", ("x", "axis")),
)
