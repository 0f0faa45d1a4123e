"""Where a remote step's time goes: the tiny MLP reading its loss every step, over a local worker.

    python benchmarks/profile_remote.py [--device cuda:0] [--mode auto|eager] [--seconds 12] [--out DIR]

Prints the step's wall time and the CPU time per step of the client's and the worker's main threads
(from /proc, unprofiled): where their sum is about the wall time the two run one after the other.
With ``--out``, also records both processes with ``py-spy record --native`` (``$SPY`` or ``py-spy``
on the PATH) into DIR/worker.txt and DIR/client.txt, collapsed stacks, and prints the worker's busiest
frames.
"""
from __future__ import annotations

import argparse
import collections
import logging
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gt  # noqa: E402
from bench_mlp import build  # noqa: E402
from bench_remote import remote, thread_cpu, worker_env  # noqa: E402
from gt.client import runtime  # noqa: E402
from gt.transport import launch  # noqa: E402


def main_thread_cpu(pid: int) -> float:
    """Seconds of CPU the main thread of process ``pid`` has run."""
    return thread_cpu(pid).get("main", 0) / 1e9


def busiest(path: str, n: int = 25) -> None:
    """The frames of GT and torch that the non-idle samples of a collapsed-stack file pass through."""
    counts: collections.Counter = collections.Counter()
    busy = 0
    for line in open(path):
        stack, _, k = line.rstrip().rpartition(" ")
        frames = stack.split(";")
        if frames[-1].startswith(("poll ", "epoll_wait ")):
            continue
        busy += int(k)
        for frame in set(frames):
            if "gt/" in frame or "torch/" in frame:
                counts[frame] += int(k)
    for frame, k in counts.most_common(n):
        print(f"{k / max(busy, 1) * 100:5.1f}%  {frame}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--mode", choices=("auto", "eager"), default="auto")
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    logging.getLogger("gt").setLevel(logging.WARNING)
    env = worker_env(args.device)
    flags = ("--auto-compile", "0", "--batch-size", "1") if args.mode == "eager" else ("--auto-compile", "1")
    srv = launch.start_server(env=env, args=("--heartbeat-interval", "1"), output=open(os.devnull, "wb"))
    worker = srv.add_worker(args.device, args=flags, output=open(os.devnull, "wb"))
    conn = None
    try:
        conn = remote(srv, True)
        runtime.connect(conn)
        step = build(gt, gt.nn, "tiny", "optimizer")
        for _ in range(60):
            step().item()
        spies = []
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            spies = [subprocess.Popen([os.environ.get("SPY", "py-spy"), "record", "-o", f"{args.out}/{name}.txt",
                                       "-f", "raw", "-r", "250", "-d", str(max(1, int(args.seconds) - 2)),
                                       "-p", str(pid), "--native"], stdout=subprocess.DEVNULL)
                     for name, pid in (("worker", worker.pid), ("client", os.getpid()))]
            t0, n = time.perf_counter(), 0
            while time.perf_counter() - t0 < args.seconds:
                step().item()
                n += 1
            for spy in spies:
                spy.wait(timeout=60)
        c0, w0, t0, n = main_thread_cpu(os.getpid()), main_thread_cpu(worker.pid), time.perf_counter(), 0
        while time.perf_counter() - t0 < 4:
            step().item()
            n += 1
        wall = (time.perf_counter() - t0) / n * 1e6
        print(f"{args.device} {args.mode}: {wall:.1f} us/step; CPU per step: client main "
              f"{(main_thread_cpu(os.getpid()) - c0) / n * 1e6:.1f} us, worker main "
              f"{(main_thread_cpu(worker.pid) - w0) / n * 1e6:.1f} us")
        if args.out:
            busiest(f"{args.out}/worker.txt")
    finally:
        if conn is not None:
            conn.close()
        srv.stop()


if __name__ == "__main__":
    main()
