"""Data-parallel scaling: samples/s of one training step on 1 worker and on n workers.

    python benchmarks/bench_scaling.py [--workers 1,2] [--batch 512] [--width 1024] [--steps 20]

A compute-bound step (an MLP ``width -> width -> width -> 10`` with MSELoss and SGD, batch
``--batch``) runs in a fresh process per configuration: ``gt.gpu_workers(1)`` (one remote worker,
the baseline) and ``gt.gpu_workers(n, shard=True)`` for each n > 1 (the batch split over n
workers, gradients all-reduced through torch.distributed: Gloo on CPU, NCCL on GPUs).  Prints
samples/s and scaling efficiency (samples/s over n times the baseline's).  With CPU workers
the cores are split between the workers (OMP_NUM_THREADS), so on a small machine this
measures correctness and overhead, not speed-up.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

STEP = """
import json, sys, time
import numpy as np
import gt
import gt.nn as nn
n, batch, width, steps = (int(a) for a in sys.argv[1:5])
gt.gpu_workers(n, shard=n > 1)
rng = np.random.default_rng(0)
X = rng.standard_normal((batch, width)).astype("float32")
Y = rng.standard_normal((batch, 10)).astype("float32")
model = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10))
opt = gt.optim.SGD(model.parameters(), lr=0.01)
def step():
    opt.zero_grad()
    loss = nn.functional.mse_loss(model(gt.from_numpy(X)), gt.from_numpy(Y))
    loss.backward()
    opt.step()
    return loss
for _ in range(3):
    step().item()
t0 = time.perf_counter()
for _ in range(steps):
    loss = step()
loss.item()
print(json.dumps({"seconds": time.perf_counter() - t0}))
"""


def run(n: int, args) -> float:
    """Samples per second of ``n`` workers."""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", STEP, str(n), str(args.batch), str(args.width), str(args.steps)],
                          env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode:
        raise RuntimeError(f"{n} worker(s) failed:\n{proc.stderr}")
    seconds = json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]
    return args.batch * args.steps / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts (1 is the baseline)")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    counts = sorted({1, *(int(c) for c in args.workers.split(","))})
    print(f"MLP width {args.width}, batch {args.batch}, {args.steps} steps, {os.cpu_count()} CPU cores")
    base = None
    for n in counts:
        rate = run(n, args)
        base = base or rate
        print(f"{n} worker(s){' (data parallel)' if n > 1 else ''}: {rate:9.1f} samples/s, "
              f"scaling efficiency {rate / (n * base):.2f}")


if __name__ == "__main__":
    main()
