"""Start a dispatcher and workers as local subprocesses (``gt.gpu_workers(n)``, tests, benchmarks)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import IO, Sequence

from gt.transport import settings as _settings


class LocalServer:
    """A dispatcher subprocess at ``address`` and the worker subprocesses started for it."""

    def __init__(self, server: subprocess.Popen, address: str, env: dict | None) -> None:
        self.server = server
        self.address = address
        self.workers: list[subprocess.Popen] = []
        self._env = env

    def add_worker(self, device: str = "cpu", env: dict | None = None, args: Sequence[str] = (),
                   output: IO | None = None) -> subprocess.Popen:
        """Start ``python -m gt.worker`` for this server (``env`` is added to the server's environment)."""
        host, port = _settings.parse_address(self.address)
        full_env = dict(self._env if self._env is not None else os.environ)
        full_env.update(env or {})
        proc = subprocess.Popen([sys.executable, "-m", "gt.worker", "--host", host, "-p", str(port), "--device", device,
                                 "--exit-with-parent", str(os.getpid()), *args],
                                env=full_env, stdout=output, stderr=subprocess.STDOUT if output else None)
        self.workers.append(proc)
        return proc

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every process (terminate, then kill what is left after ``timeout``)."""
        procs = [p for p in (*self.workers, self.server) if p.poll() is None]
        for p in procs:
            p.terminate()
        deadline = time.monotonic() + timeout
        for p in procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def start_server(host: str = "127.0.0.1", env: dict | None = None, args: Sequence[str] = (),
                 output: IO | None = None, timeout: float = 60.0, port: int = 0) -> LocalServer:
    """Start ``python -m gt.server`` on ``port`` (0: a free one); returns once it listens."""
    tmp = tempfile.mkdtemp(prefix="gt-server-")
    port_file = os.path.join(tmp, "port")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "gt.server", "--host", host, "-p", str(port), "--port-file",
                                 port_file, "--exit-with-parent", str(os.getpid()), *args],
                                env=env, stdout=output, stderr=subprocess.STDOUT if output else None)
        deadline = time.monotonic() + timeout
        while not os.path.exists(port_file):
            if proc.poll() is not None:
                raise RuntimeError(f"the GT server exited with status {proc.returncode} before listening "
                                   "(its log says why)")
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"the GT server did not start listening within {timeout:.0f} s")
            time.sleep(0.05)
        with open(port_file) as f:
            port = int(f.read())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return LocalServer(proc, _settings.format_address(host, port), env)


def cpu_devices(n: int) -> list[tuple[str, dict]]:
    """(device, extra environment) for ``n`` CPU workers on this machine.

    They share the cores instead of each starting one thread per core: oversubscribed OpenMP teams
    crawl.  Where cores are plenty, two are left to the client and the dispatcher; on a small machine
    those mostly wait, and leaving them a core would halve a lone worker's compute (measured on 2 cores).
    Their OpenMP threads keep OpenMP's default wait policy (spin a while, then sleep): a sleeping
    team (OMP_WAIT_POLICY=PASSIVE) is woken for every parallel region, a small matmul's included
    (113 us for an 8x100x4 mm against 5 us), which made the tiny MLP step up to 1.4x and the
    medium one 1.4-1.7x slower on 2 cores, and a 14-thread worker's tiny step 3-4x slower on 16
    (benchmarks/bench_local_worker.py).  Small ops and graphs run on one of the threads
    (gt.worker.engine.SMALL_GRAPH_ELEMENTS), so that the team does not spin between them.
    """
    cores = os.cpu_count() or 1
    threads = str(max(1, (cores - (2 if cores > 4 else 0)) // n))
    return [("cpu", {"OMP_NUM_THREADS": threads})] * n


def local_devices(n: int) -> list[tuple[str, dict]]:
    """(device, extra environment) for ``n`` workers: one per visible GPU, else CPU workers (cpu_devices)."""
    import torch
    gpus = torch.cuda.device_count()
    if gpus == 0:
        return cpu_devices(n)
    if n > gpus:
        raise ValueError(f"gpu_workers({n}): only {gpus} GPU(s) visible (one worker per GPU)")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = visible.split(",") if visible else [str(i) for i in range(gpus)]
    return [("cuda:0", {"CUDA_VISIBLE_DEVICES": ids[i]}) for i in range(n)]
