"""A local CPU worker's OpenMP wait policy, side by side in one run.

    python benchmarks/bench_worker_threads.py [--models tiny,medium] [--every-step 1] [--path unix|tcp|routed]

One server and one auto-compile CPU worker per policy (all of the machine's threads, as gt.gpu_workers(1)
gives a lone worker on a small machine), plus the embedded worker; ms per MLP step (bench_mlp.py's
models), reading the loss every step or once per window.  gt.transport.launch.local_devices keeps
OpenMP's default from these figures.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gt  # noqa: E402,F401
from bench_remote import bench_steps, embedded, remote  # noqa: E402
from gt.transport import launch  # noqa: E402

POLICIES = {
    "spin 100k": {"GOMP_SPINCOUNT": "100000"},
    "default spin": {},
    "sleeping": {"OMP_WAIT_POLICY": "PASSIVE"},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="tiny,medium")
    ap.add_argument("--every-step", type=int, default=1, help="1: read the loss every step")
    ap.add_argument("--path", choices=("unix", "tcp", "routed"), default="unix")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    logging.getLogger("gt").setLevel(logging.WARNING)
    threads = str(os.cpu_count() or 1)
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    base.update(GT_DEVICE="cpu", OMP_NUM_THREADS=threads)
    servers, targets = [], {}
    try:
        for name, policy in POLICIES.items():
            env = dict(base, **policy)
            srv = launch.start_server(env=env, args=("--heartbeat-interval", "1"), output=open(os.devnull, "wb"))
            servers.append(srv)
            srv.add_worker("cpu", args=("--auto-compile", "1"), output=open(os.devnull, "wb"))
            targets[name] = remote(srv, args.path != "routed", tcp=args.path == "tcp")
        targets["embedded"] = embedded("cpu", True)
        print(f"{os.cpu_count()} CPUs, {threads} worker threads, path {args.path}, "
              f"{'reading every step' if args.every_step else 'one read per window'}; ms/step, best of "
              f"{args.rounds} interleaved windows")
        print(f"{'model':8}" + "".join(f"{name:>14}" for name in targets))
        for model in args.models.split(","):
            res = bench_steps(targets, model, 100 if model == "tiny" else 30, 30, args.rounds, bool(args.every_step))
            print(f"{model:8}" + "".join(f"{res[name]:14.4f}" for name in targets), flush=True)
    finally:
        for target in targets.values():
            if hasattr(target, "close"):
                target.close()
        for srv in servers:
            srv.stop()


if __name__ == "__main__":
    main()
