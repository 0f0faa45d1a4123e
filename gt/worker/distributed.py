"""A worker's place in its client's data-parallel group (``gt.gpu_workers(n, shard=True)``).

Two ways in.  The launcher (or a user, by hand) gives each worker ``GT_DP_RANK``,
``GT_DP_WORLD_SIZE`` and ``GT_DP_INIT`` (the rendezvous address, ``tcp://host:port``); the
worker joins that group before it offers itself to the server, so a server that lists all n
workers has a formed group.  Or a plain worker joins the group the server forms when a client
asks for n workers (``join``): rank 0 opens the rendezvous on a free port of its own and reports
it, the server hands it to the other ranks, and the group lasts until the client leaves
(``leave``).  Gloo on CPU, NCCL on CUDA.  ``GT_DP_TIMEOUT`` (seconds, default 10) bounds a
collective whose peer died, and a rendezvous a rank never reaches, so the client gets an error
instead of a hang.
"""
from __future__ import annotations

import datetime
import logging
import os
import socket

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives  # noqa: F401  (loaded once here for gt.ops.distributed)

from gt.config import positive_int

log = logging.getLogger(__name__)


_joined: str | None = None   # the server-formed group this worker is in


def _timeout() -> datetime.timedelta:
    return datetime.timedelta(seconds=positive_int("GT_DP_TIMEOUT", 10))


def _backend(device: str | None) -> str:
    return "nccl" if device is not None and torch.device(device).type == "cuda" else "gloo"


def init_from_env(device: str | None) -> bool:
    """Join the process group the environment names; False when it names none."""
    world = positive_int("GT_DP_WORLD_SIZE", None)
    if world is None:
        return False
    rank = int(os.environ["GT_DP_RANK"])
    backend = _backend(device)
    dist.init_process_group(backend, init_method=os.environ["GT_DP_INIT"], rank=rank, world_size=world,
                            timeout=_timeout())
    log.info("[worker] data-parallel rank %d of %d (%s)", rank, world, backend)
    return True


def rendezvous_host(server_host: str, server_port: int) -> str:
    """This machine's address on the route to the server: where the other ranks reach rank 0."""
    family, _, _, _, addr = socket.getaddrinfo(server_host, server_port, type=socket.SOCK_DGRAM)[0]
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect(addr)   # no packet is sent: this only picks the outgoing interface
        return s.getsockname()[0]


def join(group: str, rank: int, world: int, init: str, device: str, server: tuple[str, int], report) -> None:
    """Join the server-formed process group ``group``: rank 0 opens the rendezvous (a free port) and
    reports ``init=tcp://host:port``; every rank reports ``ready=True`` once the group has formed, or
    ``error=...`` (a peer that never comes fails after ``GT_DP_TIMEOUT``)."""
    global _joined
    if dist.is_initialized():
        report(error="this worker is already in a process group (started with GT_DP_WORLD_SIZE, or still in "
                     f"group {_joined})")
        return
    timeout = _timeout()
    try:
        if rank == 0:
            host = rendezvous_host(*server)
            store = dist.TCPStore(host, 0, world, True, timeout, wait_for_workers=False)
            report(init=f"tcp://{f'[{host}]' if ':' in host else host}:{store.port}")
        else:
            host, port = init.removeprefix("tcp://").rsplit(":", 1)
            store = dist.TCPStore(host.strip("[]"), int(port), world, False, timeout)
        dist.init_process_group(_backend(device), store=store, rank=rank, world_size=world, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - reported to the server, which tells the client
        log.warning("[worker] could not join process group %s as rank %d of %d: %s", group, rank, world, exc)
        report(error=f"{type(exc).__name__}: {exc}")
        return
    _joined = group
    log.info("[worker] data-parallel rank %d of %d in group %s (%s)", rank, world, group, _backend(device))
    report(ready=True)


def leave(group: str | None = None) -> None:
    """Leave the server-formed group ``group`` (its client is gone; None: whichever this worker is in,
    as when the server is lost): the worker is free again."""
    global _joined
    if _joined is not None and group in (None, _joined):
        log.info("[worker] left process group %s", _joined)
        _joined = None
        dist.destroy_process_group()
