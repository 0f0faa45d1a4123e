"""Does a training loop hold flat memory?  GPU memory and worker tensors over 10,000 steps.

    python benchmarks/bench_memory.py [--steps N] [--model tiny|medium|cnn|transformer] [--loop optimizer|manual]
                                      [--device cpu|cuda]

Trains the model of benchmarks/bench_mlp.py in GT eager and GT auto-compile (one compiled graph per step,
captured as a CUDA graph on a GPU) and prints at steps 100, 1000, 5000 and N ``gt.cuda.memory_allocated()``
(the worker's figure) and the worker's tensor count, and at the end ``gt.cuda.max_memory_allocated()``
(since the mode's start).  Flat means equal figures at 1000, 5000 and N (the read at step 100 moves the
step's cycle, so auto-compile compiles one more graph after it; a CPU worker reports no GPU memory: its
tensor count is the measure).
"""
from __future__ import annotations

import argparse
import logging

import torch

import gt
from bench_mlp import build, use_gt_worker

CHECKPOINTS = (100, 1000, 5000)


def run(label, step, steps, count):
    rows = []
    for i in range(1, steps + 1):
        loss = step()
        if i in CHECKPOINTS or i == steps:
            loss.item()
            rows.append(f"{i}: {gt.cuda.memory_allocated() / 2 ** 20:.3f} MiB{count()}")
    peak = gt.cuda.max_memory_allocated()
    print(f"{label:16} " + "; ".join(rows) + f"; peak {peak / 2 ** 20:.3f} MiB, last loss {loss.item():.5f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--model", default="medium")
    ap.add_argument("--loop", default="optimizer")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    logging.getLogger("gt").setLevel(logging.WARNING)
    print(f"torch {torch.__version__}, device {args.device}: {args.model} {args.loop} step, {args.steps} steps")
    for label, auto, batch in (("GT eager", False, 1), ("GT auto-compile", True, 1024)):
        worker = use_gt_worker(args.device, auto_compile=auto, batch_size=batch)
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        step = build(gt, gt.nn, args.model, args.loop)
        run(label, step, args.steps, lambda: f" ({len(worker.tensors)} tensors)")
        del step


if __name__ == "__main__":
    main()
