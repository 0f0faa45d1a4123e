"""The example scripts: GT trains like PyTorch, and the seed's variables compile its hot batches."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(**env_vars):
    """This environment without GT's settings (and without the persistent cache), plus ``env_vars``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GT_")}
    env.update(GT_CACHE_DIR="", **env_vars)
    return env


def _run(script, **env_vars):
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / script)], env=_env(**env_vars), capture_output=True,
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


_STATS_CODE = (
    "import json, runpy, gt, gt.worker.policy as policy; policy.REVERT_SAMPLES = 0; "
    "runpy.run_path('examples/train_mlp_gt.py', run_name='__main__'); "
    "s = gt.debug.get_worker_stats()['worker_0']; "
    "print('STATS', json.dumps({'ops': s['operations'], 'comp': s['compilation'], 'hot': s['hotpath'], "
    "'batches': s['batches']}))")


def _run_stats(**env_vars):
    # The counts below assume no pattern is judged (REVERT_SAMPLES = 0): the judgement's
    # interleaved eager runs, and its outcome, depend on this machine's timings.
    proc = subprocess.run([sys.executable, "-c", _STATS_CODE], env=_env(**env_vars), capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr, json.loads(re.search(r"STATS (.*)", proc.stdout).group(1))


def _assert_one_graph_per_step(stats, first_batches=1):
    # Creating the model (4 ops) cuts no batch, so epoch 0's forward batch carries it and
    # is a pattern of its own (``first_batches``: 2 where the batch size cuts it).  Epochs
    # run as forward, backward and update batches (7, 8 and 4 ops); the cycle turns hot at
    # epoch 11's forward, the rest of epoch 11 runs as a short merged batch (aligned on the
    # reads, which come after the update), epoch 12 merged and eager (first sight), epoch
    # 13 compiles, and epochs 14-99 are one call of that graph each (86 hits).  The
    # evaluation after the loop is one more merged batch.
    assert stats["comp"]["cache_misses"] == 1 and stats["comp"]["cache_size"] == 1
    assert stats["comp"]["cache_hits"] == 86 and stats["comp"]["compile_failures"] == 0
    assert stats["hot"]["hot_batches_executed"] == 87 and stats["hot"]["reverted"] == 0
    assert stats["hot"]["cycle_period"] == 3 and stats["hot"]["merged_batches"] == 90
    assert stats["batches"] == first_batches + 2 + 3 * 10 + 2 + 1 + 87 + 1
    assert stats["ops"]["compiled"] == 87 * 19 and stats["ops"]["total"] == 4 + 19 * 100 + 9


def test_example_under_seed_variables_runs_one_compiled_graph_per_step():
    ref, _ = _run("train_mlp_pytorch.py")
    out, err, stats = _run_stats(GT_WORKER_BATCH_SIZE="10", GT_AUTO_COMPILE="1")
    assert "Worker worker_0: Hot path detection enabled (threshold=10)" in err
    assert "Worker worker_0: Message batching enabled (batch_size=10)" in err
    assert re.search(r"\[HotPath\] Worker detected hot batch after 10 repetitions: Batch\([0-9a-f]{6}:\d+ops\)", err)
    assert "failed" not in err
    _assert_one_graph_per_step(stats, first_batches=2)      # 11 ops at batch size 10: 10 + 1
    losses, ref_losses = _losses(out), _losses(ref)
    assert len(losses) == len(ref_losses)
    for a, b in zip(losses, ref_losses):
        assert abs(a - b) < 1e-3
    assert abs(_accuracy(out) - _accuracy(ref)) <= 0.01


def test_example_under_auto_compile_alone_batches_at_boundaries():
    _, err, stats = _run_stats(GT_AUTO_COMPILE="1")
    assert "Message batching enabled (batch_size=1024)" in err
    _assert_one_graph_per_step(stats)
