"""The client's own cost per op, with the worker stubbed out (submit and free do nothing).

Runs the same cases on the code before the op table (main at 2c7f693, checked out
with ``git worktree`` into a temporary folder) and on this tree, in one run, and
prints microseconds per op and the after/before ratio.  Times are the thread's CPU
time, so other processes of a shared machine do not count in them.

    python benchmarks/bench_client.py [--reps 20000] [--rounds 3] [--before-rev 2c7f693]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ["add", "mul_scalar", "matmul", "relu", "sum", "index", "linear", "cross_entropy", "sgd_step_per_param"]


def _calls(fn, n: int = 100) -> float:
    """Function calls (Python and C) per call of ``fn``: a cost measure the machine's load cannot blur."""
    import cProfile
    import pstats
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        fn()
    prof.disable()
    return pstats.Stats(prof).total_calls / n


def _child(reps: int) -> dict:
    """Time every case in this interpreter (the ``gt`` on sys.path): {case: (µs per op, calls per op)}."""
    import numpy as np

    import gt
    from gt.client import runtime

    class StubWorker:
        device = "cpu"

        def submit(self, *args):
            pass

        def free(self, *args):
            pass

        def mark_boundary(self):
            pass

        def put(self, *args):
            pass

    gt.flush()
    runtime.connect(StubWorker())
    F = gt.nn.functional
    a = gt.from_numpy(np.ones((32, 64), np.float32), requires_grad=True)
    b = gt.from_numpy(np.ones((32, 64), np.float32))
    w = gt.from_numpy(np.ones((64, 16), np.float32), requires_grad=True)
    lw = gt.from_numpy(np.ones((16, 64), np.float32), requires_grad=True)
    lb = gt.from_numpy(np.ones(16, np.float32), requires_grad=True)
    target = gt.from_numpy(np.zeros(32, np.int64))
    params = [gt.from_numpy(np.ones(8, np.float32), requires_grad=True) for _ in range(50)]
    for p in params:
        p.grad = gt.from_numpy(np.ones(8, np.float32))
    opt = gt.optim.SGD(params, lr=0.1)
    cases = {
        "add": lambda: a + b,
        "mul_scalar": lambda: a * 2.0,
        "matmul": lambda: a @ w,
        "relu": lambda: a.relu(),
        "sum": lambda: a.sum(),
        "index": lambda: a[:, 1:3],
        "linear": lambda: F.linear(a, lw, lb),
    }
    if hasattr(F, "cross_entropy"):
        logits = a[:, :16]
        cases["cross_entropy"] = lambda: F.cross_entropy(logits, target)
    out = {}
    for name, fn in cases.items():
        fn()
        out[name] = (min(timeit.repeat(fn, number=reps, repeat=5, timer=time.thread_time)) / reps * 1e6,
                     _calls(fn))
    n = max(1, reps // 200)
    out["sgd_step_per_param"] = (min(timeit.repeat(opt.step, number=n, repeat=5, timer=time.thread_time))
                                 / n / len(params) * 1e6,
                                 _calls(opt.step, 10) / len(params))
    return out


def _run(tree: Path, reps: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    res = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", "--reps", str(reps)],
                         cwd=tree, env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _before_tree(rev: str) -> Path:
    """A checkout of ``rev`` with its own C extensions built (once)."""
    path = Path(tempfile.gettempdir()) / f"gt_before_{rev}"
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], cwd=ROOT, check=True,
                       capture_output=True)
    if not list((path / "gt" / "worker").glob("_*.so")):
        subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=path, check=True,
                       capture_output=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before-rev", default="2c7f693")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.reps)))
        return
    before_tree = _before_tree(args.before_rev)
    before, after = {}, {}
    for _ in range(args.rounds):  # alternate the two trees: a busy machine slows both alike
        for tree, best in ((before_tree, before), (ROOT, after)):
            for name, (us, calls) in _run(tree, args.reps).items():
                best[name] = (min(us, best.get(name, (us,))[0]), calls)
    print(f"client cost per op, worker stubbed ({args.reps} reps, best of 5 x {args.rounds} rounds; "
          f"calls = Python and C function calls per op)")
    print(f"{'op':<22}{'µs before':>10}{'µs after':>10}{'ratio':>8}{'calls before':>14}{'calls after':>12}")
    for name in CASES:
        if name not in after:
            print(f"{name:<22}   skipped: gt.nn.functional has no {name} yet")
            continue
        (a, ca), (b, cb) = after[name], before.get(name, (float("nan"), float("nan")))
        print(f"{name:<22}{b:10.3f}{a:10.3f}{a / b:8.2f}{cb:14.1f}{ca:12.1f}")
    for label, res in (("after", after), ("before", before)):
        print(f"median {label}: {statistics.median(us for us, _ in res.values()):.3f} µs/op")


if __name__ == "__main__":
    main()
