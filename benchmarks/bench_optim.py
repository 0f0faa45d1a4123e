"""An optimizer step's cost per parameter: GT's client (worker stubbed out, so this is the
cost of emitting the update) and its instructions per parameter, beside torch.optim's own
eager single-tensor step on small CPU tensors.  The ``gt`` first on ``PYTHONPATH`` is the one
measured, so two trees compare by running it twice (optimizers a tree lacks are skipped).

    PYTHONPATH=. python benchmarks/bench_optim.py [--params 200] [--steps 50] [--rounds 5]
"""
from __future__ import annotations

import argparse
import time

import torch

import gt
from gt.client import runtime

CONFIGS = [("SGD", {"lr": 0.1}), ("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.1}),
           ("AdamW", {"lr": 0.1}), ("RMSprop", {"lr": 0.01}), ("Adagrad", {"lr": 0.1}), ("Adadelta", {}),
           ("Adamax", {"lr": 0.01}), ("NAdam", {"lr": 0.01}), ("RAdam", {"lr": 0.01}), ("ASGD", {"lr": 0.01}),
           ("Rprop", {"lr": 0.01})]


class _CountingWorker:
    """Stands in for the worker: counts instructions, runs nothing."""
    device = "cpu"

    def __init__(self) -> None:
        self.ops = 0

    def submit(self, *args) -> None:
        self.ops += 1

    def free(self, *args) -> None:
        pass

    def mark_boundary(self) -> None:
        pass

    def put(self, *args) -> None:
        pass


def _per_param(opt, n_params: int, steps: int, rounds: int) -> float:
    opt.step()          # state buffers exist from here on
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(steps):
            opt.step()
        best = min(best, (time.perf_counter() - t0) / steps / n_params)
    return best * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=int, default=200)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    gt_params = [gt.nn.Parameter(gt.ones(8)) for _ in range(args.params)]
    torch_params = [torch.nn.Parameter(torch.ones(8)) for _ in range(args.params)]
    for p in gt_params:
        p.grad = gt.ones(8)
    for p in torch_params:
        p.grad = torch.ones(8)
    real = runtime.get_worker()
    print(f"optimizer step per parameter (µs; {args.params} params of 8 floats, best of {args.rounds})")
    print(f"{'optimizer':<34}{'gt client':>10}{'instr':>7}{'torch eager':>13}{'gt/torch':>10}")
    for name, kw in CONFIGS:
        label = f"{name} {kw}"
        if not hasattr(gt.optim, name):
            print(f"{label:<34}   skipped: this gt has no optim.{name}")
            continue
        g_opt = getattr(gt.optim, name)(gt_params, **kw)
        counter = _CountingWorker()
        runtime.connect(counter)
        try:
            g_us = _per_param(g_opt, args.params, args.steps, args.rounds)
            counter.ops = 0
            g_opt.step()
            per_param = counter.ops / args.params
        finally:
            runtime.connect(real)
        t_us = _per_param(getattr(torch.optim, name)(torch_params, foreach=False, **kw), args.params, args.steps,
                          args.rounds)
        print(f"{label:<34}{g_us:10.2f}{per_param:7.0f}{t_us:13.2f}{g_us / t_us:10.2f}")


if __name__ == "__main__":
    main()
