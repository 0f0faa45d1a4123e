"""Op entries for data-parallel training: collectives between the workers of one client.

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


ENTRIES = (
    Op("all_reduce_mean", all_reduce_mean, "reduction", ("x",)),
)
