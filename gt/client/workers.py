"""``gt.gpu_workers(n)``: a GT server and n workers on this machine, used by this process;
``gt.connect_group(address, n=n)``: n workers of a server, on any hosts, grouped by the server.

Above the runtime (which keeps the connection) and data parallel mode (which ``shard=True`` starts).
"""
from __future__ import annotations

import time

from gt import config
from gt.client import data_parallel
from gt.client import runtime as _rt
from gt.transport import launch


def gpu_workers(n: int, shard: bool | None = None) -> str:
    """Start a GT server with ``n`` workers on this machine (one per visible GPU, else CPU
    workers) and use it; they are stopped when this process exits.  Returns the address.
    ``shard=True``: the n workers train this one script data-parallel (gt.client.data_parallel);
    unset, ``GT_AUTO_SHARD=1`` asks for it whenever n > 1."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"gpu_workers(n) needs a positive number of workers, got {n!r}")
    if shard is None:
        shard = n > 1 and config.auto_shard()
    if type(shard) is not bool:
        raise TypeError(f"gpu_workers(shard=...) must be True or False, got {shard!r}")
    devices = launch.local_devices(n)
    server = launch.start_server()
    _rt._servers.append(server)
    for device, env, args in data_parallel.launches(devices) if shard else [(d, e, ()) for d, e in devices]:
        server.add_worker(device, env, args)
    conn = _rt.connect_server(server.address)
    deadline = time.monotonic() + conn.cfg.connect_timeout * 4  # n workers import torch concurrently
    while len(conn.get_all_stats()) < n:
        dead = [p.returncode for p in server.workers if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            raise RuntimeError(f"gpu_workers({n}): only {len(conn.get_all_stats())} worker(s) came up"
                               + (f"; {len(dead)} exited with status {dead}" if dead else ""))
        time.sleep(0.1)
    if shard:
        data_parallel.start(server.address, _rt._remote[1], n)
    return server.address


def connect_group(address: str, group: str | None = None, n: int | None = None) -> None:
    """Train this script data-parallel on ``n`` workers of the GT server at ``address``.

    Without ``group``: the server groups n of its idle workers (plain ``python -m gt.worker``
    processes, on any hosts) for this process, giving each its rank and the rendezvous; fewer
    idle workers than n for ``GT_CONNECT_TIMEOUT`` (15 s), or a rank that fails to join, raise
    RuntimeError.  With ``group``: the workers named ``<group>-rank0`` .. ``<group>-rank<n-1>``,
    started with ``GT_DP_RANK``, ``GT_DP_WORLD_SIZE`` and ``GT_DP_INIT`` (one rendezvous address
    for all).  Call it before the first tensor is made."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"connect_group(n) needs a positive number of workers, got {n!r}")
    if group is not None and (not isinstance(group, str) or not group):
        raise TypeError(f"connect_group(group) must be a non-empty str or None, got {group!r}")
    conn = _rt.connect_server(address)
    if group is None:
        data_parallel.start(address, _rt._remote[1], n, workers=_server_group(conn, address, n))
        return
    names = {data_parallel.rank_name(r, group) for r in range(n)}
    deadline = time.monotonic() + conn.cfg.connect_timeout
    while missing := sorted(names - set(conn.get_all_stats())):   # a group joins the server once it has formed
        if time.monotonic() > deadline:
            raise RuntimeError(f"connect_group: worker(s) {missing} did not join the GT server at {address} within "
                               f"{conn.cfg.connect_timeout:.0f} s")
        time.sleep(0.1)
    data_parallel.start(address, _rt._remote[1], n, group)


def _server_group(conn, address: str, n: int) -> list[str]:
    """The names, in rank order, of n workers the server at ``address`` grouped for this process."""
    deadline = time.monotonic() + conn.cfg.connect_timeout
    while True:
        answer = conn.request_group(n)
        if answer.workers:
            return list(answer.workers)
        if not answer.retry:
            raise RuntimeError(f"connect_group: the GT server at {address} could not form a group of {n}: "
                               f"{answer.error}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"connect_group: {answer.error}, still after {conn.cfg.connect_timeout:.0f} s: "
                               f"start more workers (python -m gt.worker) or ask for fewer")
        time.sleep(0.2)
