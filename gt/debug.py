"""Worker statistics: ``get_worker_stats()`` and ``print_worker_stats()``."""
from __future__ import annotations

import json

from gt.client import runtime
from gt.transport.protocol import WorkerGetStats


def get_worker():
    """The embedded worker this process talks to."""
    return runtime.get_worker()


def get_worker_stats() -> dict:
    """``{worker_id: stats}`` for every worker (a sync point: pending work runs first); in data-parallel
    mode every rank of the group."""
    worker = runtime.get_worker()
    if hasattr(worker, "get_all_stats"):  # remote mode: every worker of the server or of the group
        return worker.get_all_stats()
    response = worker.handle(WorkerGetStats())
    if not response.success:
        raise RuntimeError(f"worker {worker.worker_id} could not report stats: {response.error}")
    return {worker.worker_id: response.data}


def print_worker_stats() -> None:
    """Print every worker's statistics readably."""
    for worker_id, stats in get_worker_stats().items():
        print(f"=== GT worker {worker_id} ===")
        print(json.dumps(stats, indent=2, default=str))
