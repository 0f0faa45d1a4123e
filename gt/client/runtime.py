"""The client's link to its worker: id allocation and the instruction channel.

The embedded worker (the default) lives in this process and its methods are
called directly: no threads, no sockets.  The client allocates tensor ids
itself, so no operation waits for the worker; only reading data does.
"""
from __future__ import annotations

import itertools

worker = None
submit = None
_next_id = itertools.count(1).__next__


def connect(new_worker) -> None:
    """Route this client's instructions to ``new_worker``."""
    global worker, submit
    worker = new_worker
    submit = new_worker.submit


def get_worker():
    """The worker this client talks to, started on first use."""
    if worker is None:
        from gt.worker.worker import Worker
        connect(Worker("worker_0"))
    return worker


def new_id() -> int:
    return _next_id()


def free(tensor_id: int) -> None:
    if worker is not None:
        worker.free(tensor_id)


def mark_boundary() -> None:
    if worker is not None:
        worker.mark_boundary()
