"""The persistent hot-path cache (gt/worker/hotpath_cache.py): second processes, damaged
entries, concurrent writers, the size bound, invalidation.

Each run is a fresh process (tests/cache_run.py) with its own temporary GT_CACHE_DIR;
most runs stand in for Inductor (the fx graph runs as it is), one uses Inductor itself.
"""
from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from gt import config as gt_config
from gt.worker.hotpath_cache import PatternCache

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _start(cache_dir, workload="mlp", steps=6, compiler="graph", threshold=10, aot=False):
    env = dict(os.environ, GT_CACHE_DIR=str(cache_dir), GT_AUTO_COMPILE="1", GT_HOTPATH_THRESHOLD=str(threshold),
               GT_CACHE_AOT=str(int(aot)), PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("GT_WORKER_BATCH_SIZE", None)
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    return subprocess.Popen([sys.executable, os.path.join(HERE, "cache_run.py"), workload, str(steps), compiler],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc):
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    result["log"] = err
    return result


def _run(cache_dir, **kwargs):
    return _finish(_start(cache_dir, **kwargs))


@pytest.fixture(scope="module")
def learnt(tmp_path_factory):
    """A cache directory after a first run of the MLP: its cycle of three batches was merged and compiled."""
    cache = tmp_path_factory.mktemp("learnt")
    first = _run(cache, steps=14)
    assert first["hotpath"]["from_disk"] == 0 and first["first_compiled"] >= 11
    return cache, first


@pytest.fixture
def cache_copy(learnt, tmp_path):
    cache, first = learnt
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    return copy, first


def _entries(cache_dir):
    folder = os.path.join(cache_dir, "patterns")
    return sorted(os.path.join(folder, name) for name in os.listdir(folder))


def test_a_second_process_compiles_a_known_cycle_from_its_first_round(cache_copy):
    cache, first = cache_copy
    second = _run(cache, steps=6)
    # Step 0 differs (no gradients yet); at step 1 the first sight of the cycle's first segment
    # (its record names the cycle, it first) holds it with the next two: step 1 already runs
    # as the merged cycle, known compiled, with no threshold wait and no round of segments.
    assert second["first_compiled"] == 1
    assert second["log"].count("known from an earlier run starts") == 1
    assert second["hotpath"]["from_disk"] >= 2 and second["hotpath"]["cycle_period"] == 3
    assert second["graphs"] == first["graphs"][:1]     # the same one graph
    np.testing.assert_allclose(second["losses"], first["losses"][:6], rtol=1e-6)   # compiled == eager
    assert second["log"].count("taken from the cache") == 1
    assert first["log"].count("taken from the cache") == 0


def test_a_known_first_segment_followed_by_other_batches_is_learnt_as_a_new_cycle(cache_copy):
    """The script changed after its first segment (SGD without momentum: another update batch): the
    cycle held from the first segment's sight is a new merged pattern; it runs eagerly, then compiles
    at its second sight, as any merged cycle, and the numbers stay torch's."""
    cache, first = cache_copy
    second = _run(cache, workload="mlp_plain", steps=6)
    torch.manual_seed(0)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    want = []
    for _ in range(6):
        opt.zero_grad()
        loss = torch.nn.MSELoss()(model(x), y)
        loss.backward()
        opt.step()
        want.append(loss.item())
    np.testing.assert_allclose(second["losses"], want, rtol=1e-6)
    assert second["log"].count("known from an earlier run starts") == 1
    assert second["first_compiled"] == 2 and len(second["graphs"]) == 1 and second["graphs"] != first["graphs"][:1]
    assert second["hotpath"]["cycle_period"] == 3


def test_corrupt_truncated_and_foreign_entries_are_ignored_with_one_warning(cache_copy):
    cache, first = cache_copy
    paths = _entries(cache)
    assert len(paths) >= 4
    for k, path in enumerate(paths):
        with open(path) as f:
            text = f.read()
        if k % 3 == 0:
            text = text[:len(text) // 2]                       # truncated
        elif k % 3 == 1:
            text = "\x00garbage{"                               # corrupt
        else:
            entry = json.loads(text)
            entry["env"]["torch"] = "0.0.1"                   # foreign: another torch wrote it
            text = json.dumps(entry)
        with open(path, "w") as f:
            f.write(text)
    second = _run(cache, steps=14)
    assert second["hotpath"]["from_disk"] == 0
    assert second["log"].count("ignoring an unusable hot-path cache entry") == 1
    np.testing.assert_allclose(second["losses"], first["losses"], rtol=1e-6)
    assert second["first_compiled"] == first["first_compiled"]   # learnt again as in a first run
    third = _run(cache, steps=4)                                 # ... and written again
    assert third["hotpath"]["from_disk"] >= 2 and third["first_compiled"] == 1
    assert "ignoring" not in third["log"]


def test_two_processes_writing_at_once_leave_a_sound_cache(tmp_path):
    procs = [_start(tmp_path, steps=14) for _ in range(2)]
    results = [_finish(p) for p in procs]
    np.testing.assert_allclose(results[0]["losses"], results[1]["losses"], rtol=1e-6)
    assert not [p for p in _entries(tmp_path) if not p.endswith(".json") or "tmp" in os.path.basename(p)]
    third = _run(tmp_path, steps=4)
    assert third["first_compiled"] == 1 and "ignoring" not in third["log"]


def test_a_pattern_reverted_in_one_run_stays_eager_in_the_next(tmp_path):
    first = _run(tmp_path, workload="tiny", steps=26, compiler="slow", threshold=2)
    assert first["hotpath"]["reverted"] == 1 and len(first["graphs"]) == 1
    records = [json.load(open(p))["record"] for p in _entries(tmp_path)]
    reverted = [r for r in records if r["state"] == "reverted"]
    assert len(reverted) == 1 and reverted[0]["reverts"] == 1 and reverted[0]["ratio"] > 10   # the evidence
    second = _run(tmp_path, workload="tiny", steps=6, compiler="slow", threshold=2)
    assert second["graphs"] == [] and second["first_compiled"] is None
    assert second["hotpath"]["from_disk"] == 1
    np.testing.assert_allclose(second["losses"], first["losses"][:6], rtol=1e-6)


def test_a_second_process_loads_inductors_compiled_code(tmp_path):
    first = _run(tmp_path, workload="tiny", steps=5, compiler="inductor", threshold=3)
    second = _run(tmp_path, workload="tiny", steps=5, compiler="inductor", threshold=3)
    assert first["compilation"]["cache_misses"] == second["compilation"]["cache_misses"] == 1
    assert first["fxgraph_cache_hit"] == 0 and second["fxgraph_cache_hit"] == 1
    # Step 0's batch is its own pattern (the loop's read of y.sum() joins the next step's
    # batch); the steady pattern, first seen at step 1, is looked up and compiled at that
    # first sight in the second run, after the threshold in the first.
    assert first["first_compiled"] == 4 and second["first_compiled"] == 1
    assert os.path.isdir(tmp_path / "inductor")
    want = torch.exp(torch.tensor([1.0, 2.0, 3.0]) * 2 + 1).sum().item()
    np.testing.assert_allclose(second["losses"], [want] * 5, rtol=1e-6)


def test_a_script_whose_batches_never_repeat_does_not_import_inductor(learnt):
    cache, _ = learnt
    once = _run(cache, workload="tiny", steps=1)
    assert not once["inductor_imported"]


# -- in-process: the store itself -----------------------------------------------------------------

RECORD = {"state": "compiled", "cycle": None, "eager_s": 0.002, "compiled_s": 0.001}


def _digest(k):
    return f"{k:032x}"


@pytest.mark.parametrize("change", ["torch", "device model", "inductor config"])
def test_a_changed_torch_version_device_or_codegen_config_finds_nothing(tmp_path, monkeypatch, change):
    from torch._inductor import config as inductor_config

    PatternCache(str(tmp_path), 16, torch.device("cpu")).store(_digest(1), RECORD)
    assert PatternCache(str(tmp_path), 16, torch.device("cpu")).load(_digest(1)) == RECORD
    if change == "torch":
        monkeypatch.setattr(torch, "__version__", "9.9.9")
    elif change == "device model":
        monkeypatch.setattr(platform, "machine", lambda: "another-cpu")
    else:
        monkeypatch.setattr(inductor_config, "max_autotune", not inductor_config.max_autotune)
    assert PatternCache(str(tmp_path), 16, torch.device("cpu")).load(_digest(1)) is None


@pytest.mark.parametrize("record", [
    {"state": "runs-everything"},
    {"state": "compiled", "cycle": ["../../etc/passwd"]},
    {"state": "compiled", "eager_s": "0.1"},
    {"state": "compiled", "eager_s": -1.0},
    ["compiled"],
])
def test_entries_holding_anything_but_a_pattern_record_are_refused(tmp_path, record, caplog):
    cache = PatternCache(str(tmp_path), 16, torch.device("cpu"))
    cache.store(_digest(1), RECORD)
    path = _entries(tmp_path)[0]
    with open(path) as f:
        entry = json.load(f)
    entry["record"] = record
    with open(path, "w") as f:
        json.dump(entry, f)
    gt_logger = logging.getLogger("gt")
    gt_logger.addHandler(caplog.handler)
    try:
        assert cache.load(_digest(1)) is None and cache.load(_digest(1)) is None
    finally:
        gt_logger.removeHandler(caplog.handler)
    assert caplog.text.count("ignoring an unusable hot-path cache entry") == 1
    with pytest.raises(ValueError):
        cache.store(_digest(2), record)


def test_the_directory_is_bounded_least_recently_used_first(tmp_path):
    cache = PatternCache(str(tmp_path), 1, torch.device("cpu"))   # 1 MB
    cache.store(_digest(1), RECORD)
    cache.store(_digest(2), RECORD)
    a, b = (cache._path(_digest(k)) for k in (1, 2))
    now = time.time()
    os.utime(a, (now - 100, now - 100))
    os.utime(b, (now - 50, now - 50))
    assert cache.load(_digest(1)) == RECORD             # a use: a is now the most recent
    big = tmp_path / "inductor" / "blob"
    big.parent.mkdir()
    big.write_bytes(b"\0" * (1 << 20))
    os.utime(big, (now - 10, now - 10))
    cache.store(_digest(3), RECORD)                     # over the bound: b, then the blob go
    assert not os.path.exists(b) and not big.exists()
    assert cache.load(_digest(1)) == RECORD and cache.load(_digest(3)) == RECORD


def test_cache_dir_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("GT_CACHE_DIR", "")
    assert gt_config.from_env().cache_dir is None
    monkeypatch.delenv("GT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert gt_config.from_env().cache_dir == os.path.join(str(tmp_path), "gt")
    monkeypatch.setenv("GT_CACHE_MAX_MB", "0")
    with pytest.raises(gt_config.ConfigError, match="GT_CACHE_MAX_MB"):
        gt_config.from_env()


def test_the_suite_itself_runs_without_a_cache():
    assert os.environ["GT_CACHE_DIR"] == "" and gt_config.from_env().cache_dir is None
