"""A cold run against a warm run: the same training script twice, in fresh processes, on one cache.

    python benchmarks/bench_warmstart.py [--steps N] [--models tiny,medium] [--threads T]

Each model trains ``--steps`` steps (nn.MSELoss, optim.SGD with momentum; the loss
read every step, as a script that prints it) with GT_AUTO_COMPILE=1 and a fresh
temporary GT_CACHE_DIR: first run (nothing known), second run (the first run's
patterns, cycle and Inductor code on disk), and PyTorch eager for reference.
Prints, per run: the step of the first compiled step, GT's compile seconds, the
wall time of the first 100 steps, the steady state (median ms/step of the last
half) and the first 100 steps against 100 steady steps; and the break-even step
of the second run against PyTorch eager (its cumulative time no longer behind).
Models: tiny (16x4 -> 8 -> 1), medium (256x128 -> 256 -> 256 -> 1), Tanh MLPs; transformer
(bench_mlp.py's: one causal TransformerEncoderLayer, d_model 64, 4 heads, batch 8 x 16 tokens,
and a linear head).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

MODELS = {"tiny": (16, 4, (8,)), "medium": (256, 128, (256, 256))}
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_mlp import LAYER_MODELS  # noqa: E402 - benchmarks/ is not a package


def child(lib_name: str, model_name: str, steps: int, threads: int) -> None:
    """One run: prints the per-step times (s), GT's compile seconds and its first compiled step."""
    import torch
    torch.set_num_threads(threads)
    if lib_name == "gt":
        import gt as lib
    else:
        lib = torch
    lib.manual_seed(0)
    rng = np.random.default_rng(0)
    if model_name in LAYER_MODELS:
        model, x_shape, y_shape, forward = LAYER_MODELS[model_name](lib.nn, None)
    else:
        batch, n_in, hidden = MODELS[model_name]
        x_shape, y_shape = (batch, n_in), (batch, 1)
        layers, prev = [], n_in
        for h in hidden:
            layers += [lib.nn.Linear(prev, h), lib.nn.Tanh()]
            prev = h
        model = forward = lib.nn.Sequential(*layers, lib.nn.Linear(prev, 1))
    x = lib.tensor(rng.standard_normal(x_shape).astype(np.float32))
    y = lib.tensor(rng.standard_normal(y_shape).astype(np.float32))
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = lib.nn.MSELoss()
    worker = lib.debug.get_worker() if lib_name == "gt" else None
    times, first_compiled = [], None
    start = time.perf_counter()
    for step in range(steps):
        opt.zero_grad()
        loss = loss_fn(forward(x), y)
        loss.backward()
        opt.step()
        loss.item()
        times.append(time.perf_counter() - start)
        if worker is not None and first_compiled is None and worker.stats["hot_batches"]:
            first_compiled = step
    compile_s = worker.engine.compile_seconds if worker is not None else 0.0
    print(json.dumps({"times": times, "compile_s": compile_s, "first_compiled": first_compiled,
                      "from_disk": worker.get_stats()["hotpath"]["from_disk"] if worker is not None else 0}))


def run(args: list, env: dict) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", *args], env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def summarise(label: str, result: dict, steady_ms: float | None = None) -> float:
    t = np.array(result["times"])
    per_step = np.diff(np.concatenate([[0.0], t]))
    steady = float(np.median(per_step[len(per_step) // 2:])) * 1e3
    first100 = t[min(99, len(t) - 1)]
    ratio = first100 / (100 * steady / 1e3)
    first = result["first_compiled"]
    print(f"  {label:<12} first compiled step {str(first):>5}   compile {result['compile_s']:6.2f} s   "
          f"first 100 steps {first100:7.2f} s   steady {steady:7.3f} ms/step   "
          f"first 100 / 100 steady {ratio:6.1f}x   from disk {result['from_disk']}")
    return steady


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--models", default="tiny,medium")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        lib_name, model_name, steps, threads = args.child
        child(lib_name, model_name, int(steps), int(threads))
        return
    from gt.worker.aot_graphs import wait_for_builds

    root = os.path.dirname(HERE)
    for model_name in args.models.split(","):
        with tempfile.TemporaryDirectory(prefix="gt-warmstart-") as cache:
            env = dict(os.environ, GT_AUTO_COMPILE="1", GT_CACHE_DIR=cache,
                       PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
            env.pop("TORCHINDUCTOR_CACHE_DIR", None)
            common = [model_name, str(args.steps), str(args.threads)]
            print(f"{model_name}{'' if model_name in LAYER_MODELS else ' MLP'}, {args.steps} steps:")
            first = run(["gt", *common], env)
            t0 = time.perf_counter()
            built = wait_for_builds(cache, 900)
            print(f"  ahead-of-time builds after the first run: {time.perf_counter() - t0:.1f} s more"
                  + ("" if built else " (not finished: the second run compiles with Inductor)"))
            second = run(["gt", *common], env)
            torch_eager = run(["torch", *common], env)
        summarise("first run", first)
        summarise("second run", second)
        summarise("torch eager", torch_eager)
        behind = np.array(second["times"]) - np.array(torch_eager["times"])
        even = next((k for k in range(len(behind)) if (behind[k:] <= 0).all()), None)
        print(f"  second run breaks even with torch eager at step {even}" if even is not None else
              "  second run does not break even with torch eager in this run")


if __name__ == "__main__":
    main()
