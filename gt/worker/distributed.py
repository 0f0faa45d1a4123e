"""A worker's place in its client's data-parallel group (``gt.gpu_workers(n, shard=True)``).

The launcher gives each worker ``GT_DP_RANK``, ``GT_DP_WORLD_SIZE`` and ``GT_DP_INIT`` (the
rendezvous address, ``tcp://host:port``); the worker joins the group before it offers itself
to the server, so a server that lists all n workers has a formed group.  Gloo on CPU, NCCL on
CUDA.  ``GT_DP_TIMEOUT`` (seconds, default 10) bounds a collective whose peer died, so the
client gets an error instead of a hang.
"""
from __future__ import annotations

import datetime
import logging
import os

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives  # noqa: F401  (loaded once here for gt.ops.distributed)

from gt.config import positive_int

log = logging.getLogger(__name__)


def init_from_env(device: str | None) -> bool:
    """Join the process group the environment names; False when it names none."""
    world = positive_int("GT_DP_WORLD_SIZE", None)
    if world is None:
        return False
    rank = int(os.environ["GT_DP_RANK"])
    timeout = datetime.timedelta(seconds=positive_int("GT_DP_TIMEOUT", 10))
    backend = "nccl" if device is not None and torch.device(device).type == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=os.environ["GT_DP_INIT"], rank=rank, world_size=world,
                            timeout=timeout)
    log.info("[worker] data-parallel rank %d of %d (%s)", rank, world, backend)
    return True
