"""The example scripts: GT trains like PyTorch, and the seed's variables compile its hot batches."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(script, **env_vars):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GT_")}
    env.update(env_vars)
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / script)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr


def _losses(out):
    return [float(x) for x in re.findall(r"loss (\d+\.\d+)", out)]


def _accuracy(out):
    return float(re.search(r"Final accuracy: (\d+\.\d+)", out).group(1))


def test_gt_example_matches_pytorch_example():
    ref, _ = _run("train_mlp_pytorch.py")
    out, _ = _run("train_mlp_gt.py")
    assert len(_losses(out)) == 11
    assert _losses(out) == _losses(ref)
    assert _accuracy(out) == _accuracy(ref)


def test_example_under_seed_variables_detects_and_compiles_hot_batches():
    ref, _ = _run("train_mlp_pytorch.py")
    code = ("import runpy, gt; runpy.run_path('examples/train_mlp_gt.py', run_name='__main__'); "
            "s = gt.debug.get_worker_stats()['worker_0']; "
            "print('COMPILED', s['operations']['compiled'], 'MISSES', s['compilation']['cache_misses'], "
            "'HOT', s['hotpath']['hot_paths'])")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GT_")}
    env.update(GT_WORKER_BATCH_SIZE="10", GT_AUTO_COMPILE="1")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "Worker worker_0: Hot path detection enabled (threshold=10)" in err
    assert "Worker worker_0: Message batching enabled (batch_size=10)" in err
    assert re.search(r"\[HotPath\] Worker detected hot batch after 10 repetitions: Batch\([0-9a-f]{6}:\d+ops\)", err)
    assert "failed" not in err
    compiled, misses, hot = map(int, re.search(r"COMPILED (\d+) MISSES (\d+) HOT (\d+)", proc.stdout).groups())
    assert compiled > 0
    assert misses == hot                     # each hot pattern compiled exactly once
    losses, ref_losses = _losses(proc.stdout), _losses(ref)
    assert len(losses) == len(ref_losses)
    for a, b in zip(losses, ref_losses):
        assert abs(a - b) < 1e-3
    assert abs(_accuracy(proc.stdout) - _accuracy(ref)) <= 0.01
