"""Training steps whose shapes vary: GT auto-compile against torch eager and torch.compile(dynamic=True).

    python benchmarks/bench_shapes.py [--steps N] [--warmup W] [--cases batch,seq,attn] [--threads T] [--device D]

Cases: ``batch``: an MLP (32 -> 64 -> 1, Tanh) whose batch size is drawn at random
from 8 to 64 every step; ``seq``: an embedding (1000 x 32), mean over the sequence,
then a linear layer, with sequence lengths drawn from 5 to 50 (batch 16); ``attn``: a
transformer encoder layer (d_model 32, 4 heads) read at the last position (``[:, -1]``)
and a linear layer, lengths from 5 to 50 (batch 16).  Each
step: zero_grad, forward, MSE loss, backward, SGD with momentum, the loss read.
Prints, for GT (GT_AUTO_COMPILE=1, no persistent cache): compiled graphs (goal:
at most 3), the share of steps after ``--warmup`` that ran entirely compiled (goal:
at least 90%), and ms/step after the warm-up for GT, torch eager and torch.compile.
Run each in a fresh process (the worker, and Dynamo's caches, start empty).  On CUDA
(``--device cuda``) GT captures a CUDA graph per batch size of a symbolic pattern, up to
8 (gt/worker/engine.py MAX_CUDA_GRAPH_SIZES): the count is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def child(mode: str, case: str, steps: int, threads: int, device: str) -> dict:
    import torch
    torch.set_num_threads(threads)
    lib = torch
    if mode == "gt":
        import gt as lib
        device = None    # the worker's (GT_DEVICE)
    lib.manual_seed(0)
    rng = np.random.default_rng(0)
    if case == "batch":
        model = lib.nn.Sequential(lib.nn.Linear(32, 64), lib.nn.Tanh(), lib.nn.Linear(64, 1))
        shapes = rng.integers(8, 65, size=steps)
        data = [(rng.standard_normal((n, 32)).astype(np.float32), rng.standard_normal((n, 1)).astype(np.float32))
                for n in shapes]
    elif case == "attn":
        class Encoder(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.layer = lib.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
                self.out = lib.nn.Linear(32, 1)

            def forward(self, x):
                return self.out(self.layer(x)[:, -1])
        model = Encoder()
        shapes = rng.integers(5, 51, size=steps)
        data = [(rng.standard_normal((16, t, 32)).astype(np.float32), rng.standard_normal((16, 1)).astype(np.float32))
                for t in shapes]
    else:
        class Pool(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = lib.nn.Embedding(1000, 32)
                self.out = lib.nn.Linear(32, 1)

            def forward(self, idx):
                return self.out(self.emb(idx).mean(dim=1))
        model = Pool()
        shapes = rng.integers(5, 51, size=steps)
        data = [(rng.integers(0, 1000, size=(16, t)), rng.standard_normal((16, 1)).astype(np.float32))
                for t in shapes]
    if device is not None:
        model = model.to(device)
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = lib.nn.MSELoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    if mode == "torch.compile":
        step = torch.compile(step, dynamic=True)
    worker = lib.debug.get_worker() if mode == "gt" else None
    times, compiled_steps = [], []
    for x, y in data:
        t0 = time.perf_counter()
        before = dict(worker.stats) if worker is not None else None
        step(lib.tensor(x, device=device), lib.tensor(y, device=device)).item()
        times.append(time.perf_counter() - t0)
        if worker is not None:
            ran = worker.stats["batches"] - before["batches"]
            compiled_steps.append(ran > 0 and worker.stats["hot_batches"] - before["hot_batches"] == ran)
    graphs = worker.engine.cache_misses if worker is not None else None
    captured = None
    if worker is not None:
        from gt.worker import engine
        captured = sum(len(e.captured or ()) for e in worker.engine._cache.values()
                       if isinstance(e, engine._SymbolicGraphs))
    return {"times": times, "compiled": compiled_steps, "graphs": graphs, "captured": captured}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--cases", default="batch,seq,attn")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        mode, case, steps, threads, device = args.child
        print(json.dumps(child(mode, case, int(steps), int(threads), device)))
        return
    env = dict(os.environ, GT_AUTO_COMPILE="1", GT_CACHE_DIR="", GT_DEVICE=args.device,
               PYTHONPATH=os.path.dirname(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for case in args.cases.split(","):
        results = {}
        for mode in ("gt", "torch", "torch.compile"):
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", mode, case, str(args.steps),
                                  str(args.threads), args.device], env=env, capture_output=True, text=True, check=True).stdout
            results[mode] = json.loads(out.strip().splitlines()[-1])
        ms = {m: 1e3 * float(np.median(r["times"][args.warmup:])) for m, r in results.items()}
        gt_run = results["gt"]
        share = float(np.mean(gt_run["compiled"][args.warmup:]))
        print(f"{case}: {args.steps} steps, after {args.warmup} warm-up steps")
        captured = f"   symbolic-size CUDA graphs {gt_run['captured']}" if args.device != "cpu" else ""
        print(f"  GT compiled graphs {gt_run['graphs']}   steps run compiled {100 * share:.0f}%{captured}")
        print(f"  ms/step (median): GT {ms['gt']:.3f}   torch eager {ms['torch']:.3f} "
              f"({ms['gt'] / ms['torch']:.2f}x)   torch.compile(dynamic=True) {ms['torch.compile']:.3f} "
              f"({ms['gt'] / ms['torch.compile']:.2f}x)")


if __name__ == "__main__":
    main()
