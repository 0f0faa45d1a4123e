"""A local worker's settings side by side in one run: its OpenMP wait policy and the client's sends.

    python benchmarks/bench_local_worker.py [--models tiny,medium] [--loops optimizer,manual] [--path unix|tcp|routed]
                                            [--device cpu]

One server and one auto-compile worker per OpenMP policy (a CPU worker's threads as gt.gpu_workers(1)
sets them), three connections to each: one sending at the first batch boundary after ``COALESCE_SECONDS``
(1 ms) and, after a read, its first ``EARLY_ITEMS`` items at once (the default), one without those early
sends, one at every boundary; and the embedded worker.  ms per MLP step (bench_mlp.py's models
and loop styles), reading the loss every step and once per window, the median of windows in alternating order,
each window's first half as many steps again untimed (bench_remote.py's ``--settle``).
gt.transport.launch.cpu_devices, RemoteWorker.COALESCE_SECONDS and EARLY_ITEMS are chosen from these figures.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gt  # noqa: E402,F401
from bench_remote import bench_steps, embedded, remote, worker_env  # noqa: E402
from gt.transport import launch  # noqa: E402

POLICIES = {"default spin": {}, "sleeping": {"OMP_WAIT_POLICY": "PASSIVE"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="tiny,medium")
    ap.add_argument("--loops", default="optimizer,manual", help="bench_mlp.py's loop styles")
    ap.add_argument("--path", choices=("unix", "tcp", "routed"), default="unix")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    logging.getLogger("gt").setLevel(logging.WARNING)
    base = worker_env(args.device, {k: v for k, v in os.environ.items()
                                    if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")})
    policies = POLICIES if args.device == "cpu" else {"default spin": {}}
    servers, targets = [], {}
    try:
        for name, policy in policies.items():
            srv = launch.start_server(env=dict(base, **policy), args=("--heartbeat-interval", "1"),
                                      output=open(os.devnull, "wb"))
            servers.append(srv)
            srv.add_worker(args.device, args=("--auto-compile", "1"), output=open(os.devnull, "wb"))
            for sends, seconds, early in (("1 ms", 0.001, True), ("no early", 0.001, False), ("each", 0.0, True)):
                conn = targets[f"{name}, {sends}"] = remote(srv, args.path != "routed", tcp=args.path == "tcp")
                conn.COALESCE_SECONDS = seconds
                if not early:
                    conn.EARLY_ITEMS = conn.MAX_ITEMS
        targets["embedded"] = embedded(args.device, True)
        print(f"{os.cpu_count()} CPUs, device {args.device}, path {args.path}; ms/step, median of {args.rounds} "
              "windows in alternating order; columns: worker threads' wait policy, client sends (after 1 ms "
              "and early after a read, after 1 ms only, or at each boundary)")
        width = {name: max(14, len(name) + 2) for name in targets}
        print(f"{'model, loop, reads':34}" + "".join(f"{name:>{width[name]}}" for name in targets))
        for model in args.models.split(","):
            for loop in args.loops.split(","):
                for every_step in (True, False):
                    steps = 200 if model == "tiny" else 40
                    res = bench_steps(targets, model, steps, 30, args.rounds, every_step, loop, settle=steps // 2)
                    label = f"{model}, {loop}, {'read each' if every_step else 'read once'}"
                    print(f"{label:34}" + "".join(f"{res[name]:{width[name]}.4f}" for name in targets), flush=True)
    finally:
        for target in targets.values():
            if hasattr(target, "close"):
                target.close()
        for srv in servers:
            srv.stop()


if __name__ == "__main__":
    main()
