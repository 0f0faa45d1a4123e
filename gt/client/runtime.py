"""The client's link to its worker: id allocation and the instruction channel.

The embedded worker (the default) lives in this process and its methods are
called directly: no threads, no sockets.  The client allocates tensor ids
itself, so no operation waits for the worker; only reading data does.
"""
from __future__ import annotations

import itertools

worker = None
_next_id = itertools.count(1).__next__


def _not_connected(*args) -> None:
    pass


# The per-op entry points are the worker's bound methods themselves (set by
# connect), so an op or a free costs one Python call into the worker.
submit = free = mark_boundary = _not_connected


def connect(new_worker) -> None:
    """Route this client's instructions to ``new_worker``."""
    global worker, submit, free, mark_boundary
    worker = new_worker
    submit = new_worker.submit
    free = new_worker.free
    mark_boundary = new_worker.mark_boundary


def get_worker():
    """The worker this client talks to, started on first use."""
    if worker is None:
        from gt.worker.worker import Worker
        connect(Worker("worker_0"))
    return worker


def new_id() -> int:
    return _next_id()
