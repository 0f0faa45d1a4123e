"""Milliseconds per training step of two MLPs, four ways, side by side in one run.

    python benchmarks/bench_mlp.py [--steps N] [--device cpu|cuda] [--plot FILE.png]

Modes: plain PyTorch eager, plain ``torch.compile`` of the whole training step,
GT eager (batch size 1: every op runs as it arrives) and GT auto-compile (hot
batches compiled, batches cut at the client's boundaries).  Prints steady-state
ms/step and ratios, the break-even step count of auto-compile against GT eager
and PyTorch eager, and writes a PNG of GT auto-compile's per-step time over the run.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import gt
from gt import config as gt_config
from gt.client import runtime
from gt.worker.worker import Worker

MODELS = {
    # name: (batch, in_features, hidden sizes)
    "tiny": (256, 8, (32,)),
    "medium": (512, 128, (256, 256)),
}


def build(lib, nn, name, device=None):
    batch, n_in, hidden = MODELS[name]
    lib.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, n_in)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    layers, prev = [], n_in
    for h in hidden:
        layers += [nn.Linear(prev, h), nn.ReLU()]
        prev = h
    layers += [nn.Linear(prev, 1), nn.Sigmoid()]
    model = nn.Sequential(*layers)
    X, Y = lib.from_numpy(x), lib.from_numpy(y)
    if device is not None:
        model, X, Y = model.to(device), X.to(device), Y.to(device)
    loss_fn = nn.MSELoss()
    opt = lib.optim.SGD(model.parameters(), lr=0.1)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(X), Y)
        loss.backward()
        opt.step()
        return loss

    return step


def time_steps(step, n, sync):
    """Per-step seconds for n steps (each step synchronised when sync is given)."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return times


def window_ms(step, n, final):
    """ms/step over one window of n steps, synchronised at the window's end."""
    t0 = time.perf_counter()
    for _ in range(n):
        loss = step()
    final(loss)
    return (time.perf_counter() - t0) / n * 1e3


def use_gt_worker(device, auto_compile, batch_size, threshold=10):
    cfg = gt_config.Config(auto_compile=auto_compile, hot_threshold=threshold, batch_size=batch_size,
                           compile=False, device=device)
    w = Worker("bench_auto" if auto_compile else "bench_eager", batch_size=batch_size, config=cfg)
    runtime.connect(w)
    return w


def bench_model(name, device, steps, warm, threshold, rounds):
    """Build the four modes, warm them up, then time them in interleaved windows.

    Windows alternate between modes (round robin) and each mode keeps its best
    window, so a drift in machine speed during the run hits all modes alike.
    """
    cuda = device.startswith("cuda")
    torch_final = lambda loss: loss.item()  # noqa: E731 - item() synchronises
    modes = {}

    step = build(torch, torch.nn, name, device)
    for _ in range(warm):
        step()
    modes["torch eager"] = (None, step)

    cstep = torch.compile(build(torch, torch.nn, name, device))
    t0 = time.perf_counter()
    for _ in range(warm):
        cstep()
    torch_compile_s = time.perf_counter() - t0
    modes["torch.compile"] = (None, cstep)

    eager_worker = use_gt_worker(device, auto_compile=False, batch_size=1)
    step = build(gt, gt.nn, name)
    for _ in range(warm):
        step()
    modes["GT eager"] = (eager_worker, step)

    auto_worker = use_gt_worker(device, auto_compile=True, batch_size=1024, threshold=threshold)
    step = build(gt, gt.nn, name)
    gsync = (lambda: (gt.flush(), torch.cuda.synchronize())) if cuda else None
    trace = time_steps(step, threshold + 1 + warm, gsync)
    modes["GT auto-compile"] = (auto_worker, step)

    best = {mode: float("inf") for mode in modes}
    for _ in range(rounds):
        for mode, (worker, step) in modes.items():
            if worker is not None:
                runtime.connect(worker)
            best[mode] = min(best[mode], window_ms(step, steps, torch_final))
    stats = auto_worker.get_stats()
    return best, trace, stats, torch_compile_s


def break_even(trace, auto_ms, eager_ms):
    """First step count at which auto-compile's total time (compiles included) is below eager's."""
    if auto_ms >= eager_ms:
        return None
    n0 = len(trace)
    excess = sum(trace) * 1e3 - eager_ms * n0
    if excess <= 0:
        return next(i + 1 for i in range(n0) if sum(trace[:i + 1]) * 1e3 <= eager_ms * (i + 1))
    return n0 + int(np.ceil(excess / (eager_ms - auto_ms)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200, help="steps per timing window")
    ap.add_argument("--warm", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=7, help="interleaved timing windows per mode")
    ap.add_argument("--threshold", type=int, default=10)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--models", default="tiny,medium")
    ap.add_argument("--plot", default="benchmarks/bench_mlp.png")
    args = ap.parse_args()
    import logging
    logging.getLogger("gt").setLevel(logging.WARNING)

    print(f"torch {torch.__version__}, device {args.device}")
    traces = {}
    header = (f"{'model':8} {'mode':16} {'ms/step':>9} {'vs torch eager':>15} {'vs torch.compile':>17}")
    rows = []
    for name in args.models.split(","):
        res, trace, stats, tc_s = bench_model(name, args.device, args.steps, args.warm, args.threshold,
                                              args.rounds)
        traces[name] = trace
        for mode, ms in res.items():
            rows.append(f"{name:8} {mode:16} {ms:9.4f} {ms / res['torch eager']:15.2f}x "
                        f"{ms / res['torch.compile']:16.2f}x")
        comp = stats["compilation"]
        hp = stats["hotpath"]
        be_gt = break_even(trace, res["GT auto-compile"], res["GT eager"])
        be_torch = break_even(trace, res["GT auto-compile"], res["torch eager"])
        rows.append(f"{'':8} auto-compile: {hp['hot_paths']} hot patterns, cache_misses {comp['cache_misses']}, "
                    f"compile {comp['compile_seconds']:.1f} s (torch.compile warm-up {tc_s:.1f} s); "
                    f"break-even vs GT eager: {be_gt if be_gt else 'never'} steps, "
                    f"vs torch eager: {be_torch if be_torch else 'never'} steps")
    print(header)
    print("\n".join(rows))
    if args.plot:
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("(matplotlib not installed: no plot)")
            return
        fig, axes = plt.subplots(1, len(traces), figsize=(6 * len(traces), 4), squeeze=False)
        for ax, (name, trace) in zip(axes[0], traces.items()):
            ax.semilogy(np.arange(1, len(trace) + 1), np.array(trace) * 1e3, marker=".")
            ax.axvline(args.threshold + 0.5, color="grey", ls="--", label="threshold: compiles")
            ax.set_title(f"GT auto-compile, {name} MLP")
            ax.set_xlabel("training step")
            ax.set_ylabel("ms per step (log)")
            ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"plot written to {args.plot}")


if __name__ == "__main__":
    main()
