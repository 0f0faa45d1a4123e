"""Compile scopes (gt.signal): configuration, batching at scope edges, compile on first sight."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import gt
from gt import signal as gt_signal
from gt.config import ConfigError
from gt.worker import engine as engine_mod


@pytest.fixture
def scopes(monkeypatch):
    """Scope configuration starts empty and is restored after the test."""
    monkeypatch.setattr(gt_signal, "_configs", {})
    yield gt_signal
    assert gt_signal._stack == [], "a test left a scope open"


@pytest.fixture
def compiles(monkeypatch):
    """Record every compile; the 'compiled' function runs the graph (no Inductor in these tests)."""
    seen = []

    def fake_compile(gm, inputs):
        seen.append(len(inputs))
        return lambda args: gm(*args)

    monkeypatch.setattr(engine_mod, "_compile_graph", fake_compile)
    return seen


def _body(x):
    return ((x + 1.0) * 2.0).exp().sum()


def test_compile_scope_compiles_on_first_sight_and_reuses_the_graph(scopes, compiles, use_worker):
    w = use_worker(batch_size=1)                 # no GT_* switches: ops outside scopes run one by one
    gt.register_config("fwd", gt.SignalConfig(compile=True))
    x = gt.tensor([0.5, -1.0, 2.0])
    outs = []
    for _ in range(3):
        with gt.signal.context("fwd"):
            y = _body(x)
        outs.append(y.item())
        z = x * 3.0                              # outside the scope: eager, at once
    np.testing.assert_allclose(outs, [np.exp((np.array([0.5, -1.0, 2.0]) + 1) * 2).sum()] * 3, rtol=1e-6)
    np.testing.assert_allclose(z.numpy(), [1.5, -3.0, 6.0])
    assert compiles == [3]                       # x and two scalars; compiled once
    stats = w.get_stats()
    assert stats["compilation"]["cache_hits"] == 2
    assert stats["operations"]["compiled"] == 3 * 4 and stats["operations"]["eager"] == 3


def test_unconfigured_scope_changes_nothing(scopes, compiles, use_worker):
    w = use_worker(batch_size=1024)
    x = gt.tensor([1.0, 2.0])
    with gt.signal.context("plain"):
        y = x + 1.0
        z = y * 2.0
    assert len(w.pending_operations) == 2        # no cut at the scope's edges
    np.testing.assert_allclose(z.numpy(), [4.0, 6.0])
    assert compiles == [] and w.get_stats()["batches"] == 1


def test_enter_and_exit_cut_batches_at_the_scope_edges(scopes, compiles, use_worker):
    w = use_worker(batch_size=1024)
    gt.register_config("mid", gt.SignalConfig(compile=True))
    x = gt.tensor([1.0, 2.0])
    a = x + 1.0
    gt.signal.enter("mid")
    b = a * 2.0
    c = b - 1.0
    gt.signal.exit("mid")
    d = c / 2.0
    np.testing.assert_allclose(d.numpy(), [1.5, 2.5])
    assert w.get_stats()["batches"] == 3         # before, inside, after
    assert compiles == [3]                       # only the scope's batch: a and its two scalars


def test_a_compile_false_scope_never_compiles_nor_joins_a_merged_step(scopes, compiles, use_worker):
    """The loop's other batch compiles alone; the scope's batch, as hot as it, runs eagerly,
    and the two are not merged into one graph per step (as they are without the setting)."""
    w = use_worker(batch_size=1024, auto_compile=True, threshold=2)
    gt.register_config("eval", gt.SignalConfig(compile=False))
    x = gt.tensor([0.5, -1.0, 2.0])
    got = []
    for _ in range(8):
        y = _body(x)
        with gt.signal.context("eval"):
            z = (x * 3.0).tanh().sum()
        got.append((y.item(), z.item()))
    base = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(got, [(np.exp((base + 1) * 2).sum(), np.tanh(base * 3).sum())] * 8, rtol=1e-6)
    stats = w.get_stats()
    assert compiles == [3]                       # _body's batch only: x and two scalars
    assert stats["hotpath"]["cycle_period"] == 0 and stats["hotpath"]["merged_batches"] == 0
    assert stats["operations"]["compiled"] == 4 * stats["compilation"]["cache_hits"] + 4


def test_dynamic_settings_make_a_scopes_sizes_symbolic_at_once_or_keep_them_exact(scopes, use_worker,
                                                                                   monkeypatch, rng):
    symbolic = []

    def stand_in(gm, inputs, dynamic):
        symbolic.append(dynamic)
        return None, None, lambda args: gm(*args)

    monkeypatch.setattr(engine_mod, "_compile_symbolic", stand_in)
    monkeypatch.setattr(engine_mod, "_compile_graph", lambda gm, inputs: lambda args: gm(*args))
    gt.register_config("dyn", gt.SignalConfig(compile=True, dynamic=True))
    gt.register_config("exact", gt.SignalConfig(dynamic=False))
    w = use_worker(batch_size=1024, auto_compile=True, threshold=1)
    for n in (5, 3, 4, 3, 6, 4, 3, 4):        # no cycle of batches forms
        a = rng.standard_normal(n).astype(np.float32)
        with gt.signal.context("dyn"):
            y = (gt.from_numpy(a) * 2.0).exp()
        with gt.signal.context("exact"):
            z = (gt.from_numpy(a) + 1.0).tanh()
        np.testing.assert_allclose(y.numpy(), np.exp(a * 2), rtol=1e-6)
        np.testing.assert_allclose(z.numpy(), np.tanh(a + 1), rtol=1e-6)
    stats = w.get_stats()
    # "dyn": symbolic from its first (compiled) sight, one graph for every size; "exact": a
    # pattern per size (3 and 4 compile, once each), never symbolic.
    assert symbolic == [(frozenset({0}),)]
    assert stats["hotpath"]["symbolic_patterns"] == 1
    assert stats["compilation"]["cache_misses"] == 3


def test_exit_must_name_the_innermost_scope(scopes):
    gt.signal.enter("outer")
    with pytest.raises(RuntimeError, match="innermost open scope is 'outer'"):
        gt.signal.exit("inner")
    gt.signal.exit("outer")
    with pytest.raises(RuntimeError, match="no scope is open"):
        gt.signal.exit("outer")


def test_signal_tensor_returns_the_tensor_and_checks_its_arguments(scopes):
    x = gt.tensor([1.0])
    assert gt.signal.tensor(x, "layer1") is x
    with pytest.raises(TypeError, match="expected a gt Tensor"):
        gt.signal.tensor([1.0], "layer1")
    with pytest.raises(TypeError, match="non-empty str"):
        gt.signal.tensor(x, "")


def test_shard_settings_are_validated_and_backward_refused(scopes):
    with pytest.raises(ValueError, match="non-empty list"):
        gt.ShardConfig(axis=0, workers=[])
    with pytest.raises(ValueError, match="lists a worker twice"):
        gt.ShardConfig(axis=0, workers=[0, 0])
    with pytest.raises(TypeError, match="axis must be an int"):
        gt.ShardConfig(axis="0", workers=[0])
    with pytest.raises(TypeError, match="compile must be True, False or None"):
        gt.SignalConfig(compile="yes")
    with pytest.raises(TypeError, match="dynamic must be True, False or None, got 1"):
        gt.SignalConfig(dynamic=1)
    with pytest.raises(TypeError, match="must be a SignalConfig"):
        gt.register_config("dp", {"compile": True})
    with pytest.raises(TypeError, match="must be a ShardConfig"):
        gt.SignalConfig(shard={"axis": 0})
    shard = gt.ShardConfig(axis=0, workers=[0, 1])
    assert shard.workers == (0, 1)
    gt.register_config("fsdp", gt.SignalConfig(shard=shard))
    x0 = gt.ones(4, 2)
    # One embedded worker: a shard scope or tensor has no group to split over (test_data_parallel has one)
    for use in (lambda: gt.signal.enter("fsdp"), lambda: gt.signal.tensor(x0, "fsdp")):
        with pytest.raises(RuntimeError, match=r"ShardConfig\(axis=0, workers=\(0, 1\)\) of scope 'fsdp': sharding "
                                               r"needs a data-parallel group .*gt.gpu_workers\(n, shard=True\)"):
            use()
    with pytest.raises(NotImplementedError, match=r"SignalConfig\(backward_signal='dp_bwd'\): "
                                                  "GT does not support backward signals"):
        gt.SignalConfig(compile=True, backward_signal="dp_bwd")
    assert gt_signal.get_config("dp") is None
    x = gt.ones(2)
    with pytest.raises(NotImplementedError, match=r"gt.signal.context\('dp', 'dp_bwd'\): GT does not support "
                                                  "backward signals"):
        with gt.signal.context("dp", backward="dp_bwd"):
            pass
    with pytest.raises(NotImplementedError, match=r"gt.signal.enter\('dp', 'dp_bwd'\)"):
        gt.signal.enter("dp", "dp_bwd")
    with pytest.raises(NotImplementedError, match=r"gt.signal.tensor\('dp', 'dp_bwd'\)"):
        gt.signal.tensor(x, "dp", "dp_bwd")
    assert gt.signal.tensor(x, "dp") is x


def test_gt_auto_shard_is_checked():
    """GT_AUTO_SHARD=1 acts in gt.gpu_workers(n) (test_data_parallel); a bad value stops ``import gt``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GT_")}
    env["GT_AUTO_SHARD"] = "yes"
    proc = subprocess.run([sys.executable, "-c", "import gt"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "GT_AUTO_SHARD='yes': expected 0 or 1" in proc.stderr, proc.stderr
    for value in ("0", "1"):
        env["GT_AUTO_SHARD"] = value
        proc = subprocess.run([sys.executable, "-c", "import gt"], env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr


def test_yaml_config_is_loaded_and_checked(scopes, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("fwd:\n  compile: true\nplain:\neval:\n  compile: false\n  dynamic: true\n")
    gt_signal.load_config(str(good))
    assert gt_signal.get_config("fwd") == gt.SignalConfig(compile=True)
    assert gt_signal.get_config("eval") == gt.SignalConfig(compile=False, dynamic=True)
    assert gt_signal.get_config("plain") == gt.SignalConfig()
    refused = tmp_path / "refused.yaml"
    refused.write_text("layer1:\n  compile: true\n  backward: layer1_bwd\n")
    with pytest.raises(NotImplementedError, match=r"GT_CONFIG=.*refused.yaml.*scope 'layer1': "
                                                  r"SignalConfig\(backward_signal="):
        gt_signal.load_config(str(refused))
    assert gt_signal.get_config("layer1") is None
    sharded = tmp_path / "sharded.yaml"
    sharded.write_text("layer1:\n  shard: {axis: 1, workers: [0, 1]}\n")
    gt_signal.load_config(str(sharded))
    assert gt_signal.get_config("layer1") == gt.SignalConfig(shard=gt.ShardConfig(axis=1, workers=[0, 1]))
    bad = tmp_path / "bad.yaml"
    bad.write_text("fwd:\n  compile: true\n  fuse: 3\n")
    with pytest.raises(ConfigError, match=r"GT_CONFIG=.*bad.yaml.*'fwd' has unknown settings \['fuse'\]"):
        gt_signal.load_config(str(bad))
    with pytest.raises(ConfigError, match="cannot read it"):
        gt_signal.load_config(str(tmp_path / "missing.yaml"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("fwd: [compile\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        gt_signal.load_config(str(broken))


def test_bad_gt_config_stops_import(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("fwd:\n  shard: {axis: 0, workers: []}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GT_")}
    env["GT_CONFIG"] = str(bad)
    proc = subprocess.run([sys.executable, "-c", "import gt"], env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "GT_CONFIG=" in proc.stderr and "non-empty list" in proc.stderr


def test_compile_demo_runs():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GT_")}
    # this checkout's gt, whatever is installed (and what PYTHONPATH already reaches: zmq may live there)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, os.path.join(root, "examples", "compile_demo.py")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "compiled graphs: 3, compiled runs reused: 39" in proc.stdout
