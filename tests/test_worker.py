"""The worker: batching, flush points, frees, boundaries, errors, config and stats."""
from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pytest
import torch

import gt
from gt import config as gt_config
from gt.client import runtime
from gt.transport.protocol import WorkerGetStats, WorkerResponse
from gt.worker.worker import Worker


def test_ops_wait_in_the_batch_until_it_is_full(use_worker):
    w = use_worker(batch_size=3)
    x = gt.tensor([1.0, 2.0])
    a = x + 1
    b = a * 2
    assert len(w.pending_operations) == 2
    assert a._id not in w.tensors and b._id not in w.tensors
    c = b - 3                      # third op: the batch is full and runs
    assert not w.pending_operations
    assert c._id in w.tensors
    np.testing.assert_allclose(c.numpy(), (np.array([1.0, 2.0]) + 1) * 2 - 3)


def test_data_read_is_a_sync_point(use_worker):
    w = use_worker(batch_size=100)
    x = gt.tensor([3.0])
    y = (x * x).exp()
    assert w.pending_operations
    assert y.item() == pytest.approx(float(np.exp(9.0)))
    assert not w.pending_operations


def test_free_of_a_pending_result_never_reaches_the_table(use_worker):
    w = use_worker(batch_size=100)
    x = gt.tensor([1.0, 2.0, 3.0])
    tmp = x * 2
    tmp_id = tmp._id
    out = tmp + 1
    del tmp                          # freed while its producer is pending: a dead intermediate
    assert tmp_id not in w.tensors
    out.numpy()
    assert tmp_id not in w.tensors
    assert out._id in w.tensors


def test_free_of_an_input_waits_for_the_pending_batch(use_worker):
    w = use_worker(batch_size=100)
    x = gt.tensor([1.0, 2.0])
    y = x + 10
    x_id = x._id
    del x                            # y's pending op still needs x
    assert x_id in w.tensors
    np.testing.assert_allclose(y.numpy(), [11.0, 12.0])
    assert x_id not in w.tensors


def test_boundaries_align_batches_with_a_loop_whose_op_count_is_not_a_multiple(use_worker):
    # 37 ops per iteration (a mul, add, sub cycle), batch size 10: cut at 10, 20, 30 and
    # at the no_grad exit, so each iteration gives the same 4 distinct batches
    # (10, 10, 10, 7 ops, starting at different phases of the cycle).
    w = use_worker(batch_size=10, auto_compile=True, threshold=10)
    w.hotpath_detector.enable_auto_compile = False   # count patterns only: no compiles here
    x = gt.randn(4, 4)
    for _ in range(30):
        with gt.no_grad():
            y = x
            for i in range(37):
                y = y * 0.5 if i % 3 == 0 else y + 1.0 if i % 3 == 1 else y - 0.25
    hp = w.get_stats()["hotpath"]
    assert hp["unique_patterns"] == 4
    assert hp["total_batches"] == 4 * 30
    assert hp["hot_paths"] == 4
    assert hp["hot_batches_executed"] == 0        # hot, but none ran as a hot path: compiling is off
    sizes = sorted(p["ops"] for p in hp["top_patterns"])
    assert sizes == [7, 10, 10, 10]
    expected = x.numpy()
    for i in range(37):
        expected = expected * 0.5 if i % 3 == 0 else expected + 1.0 if i % 3 == 1 else expected - 0.25
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6)


def test_worker_error_surfaces_at_the_next_sync_point_naming_the_op(use_worker):
    w = use_worker(batch_size=100)
    x = gt.tensor([1.0, 2.0])
    funcs = list(w._funcs)

    def broken(*args):
        raise ValueError("kernel exploded")

    from gt.ops import OPCODE
    funcs[OPCODE["exp"]] = broken
    w._funcs = w.engine.funcs = tuple(funcs)
    y = x.exp()                      # no error yet: nothing waits for the worker
    with pytest.raises(RuntimeError, match="exp.*kernel exploded"):
        y.numpy()
    z = x + 1                        # the session keeps working
    np.testing.assert_allclose(z.numpy(), [2.0, 3.0])


@pytest.mark.parametrize("var,value,needle", [
    ("GT_WORKER_BATCH_SIZE", "abc", "GT_WORKER_BATCH_SIZE='abc'"),
    ("GT_WORKER_BATCH_SIZE", "0", "GT_WORKER_BATCH_SIZE='0'"),
    ("GT_HOTPATH_THRESHOLD", "-3", "GT_HOTPATH_THRESHOLD='-3'"),
    ("GT_AUTO_COMPILE", "yes", "GT_AUTO_COMPILE='yes'"),
    ("GT_COMPILE", "2", "GT_COMPILE='2'"),
])
def test_bad_environment_values_name_the_variable(monkeypatch, var, value, needle):
    monkeypatch.setenv(var, value)
    with pytest.raises(gt_config.ConfigError) as info:
        gt_config.from_env()
    assert needle in str(info.value)


def test_bad_environment_value_stops_import():
    env = {"GT_WORKER_BATCH_SIZE": "ten", "PATH": "/usr/bin:/bin"}
    import os
    env.update({k: v for k, v in os.environ.items() if k not in env and not k.startswith("GT_")})
    proc = subprocess.run([sys.executable, "-c", "import gt"], env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "GT_WORKER_BATCH_SIZE='ten'" in proc.stderr


@pytest.mark.parametrize("value,needle", [
    ("mps", "GT's worker runs on cpu or cuda"),
    ("tpu", "not a device"),
    ("banana", "not a device"),
    ("cuda:7", "CUDA"),
])
def test_bad_device_names_the_variable_and_value(monkeypatch, value, needle):
    if value == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 CUDA devices")
    monkeypatch.setenv("GT_DEVICE", value)
    with pytest.raises(gt_config.ConfigError) as info:
        gt_config.from_env()
    assert f"GT_DEVICE={value!r}" in str(info.value) and needle in str(info.value)


def test_bad_device_stops_import():
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith("GT_")}
    env["GT_DEVICE"] = "tpu"
    proc = subprocess.run([sys.executable, "-c", "import gt"], env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "GT_DEVICE='tpu'" in proc.stderr


def _env_worker(monkeypatch, **env):
    for var in ("GT_AUTO_COMPILE", "GT_COMPILE", "GT_WORKER_BATCH_SIZE", "GT_HOTPATH_THRESHOLD", "GT_DEVICE"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    return Worker("env_worker", device="cpu")


def test_gt_compile_without_a_batch_size_batches_at_boundaries_and_compiles(monkeypatch, use_worker):
    from gt.worker import engine as engine_mod
    from gt.worker.worker import AUTO_COMPILE_BATCH_SIZE
    compiled = []
    monkeypatch.setattr(engine_mod, "_compile_graph",
                        lambda gm, inputs: compiled.append(gm) or (lambda args: gm(*args)))
    w = _env_worker(monkeypatch, GT_COMPILE="1")
    assert w.batch_size == AUTO_COMPILE_BATCH_SIZE
    runtime.connect(w)
    x = gt.tensor([1.0, 2.0])
    for _ in range(3):
        with gt.no_grad():
            y = x * 2.0 + 1.0            # one batch per no_grad block (its exit is a boundary)
    np.testing.assert_allclose(y.numpy(), [3.0, 5.0])
    stats = w.get_stats()
    assert len(compiled) == 1
    assert stats["operations"]["compiled"] == 6 and stats["compilation"]["cache_hits"] == 2


def test_auto_compile_with_batch_size_one_warns_once(monkeypatch, caplog):
    gt_logger = logging.getLogger("gt")
    gt_logger.addHandler(caplog.handler)
    try:
        w = _env_worker(monkeypatch, GT_AUTO_COMPILE="1", GT_WORKER_BATCH_SIZE="1")
    finally:
        gt_logger.removeHandler(caplog.handler)
    assert w.batch_size == 1
    assert caplog.text.count("single-op batches never compile") == 1
    caplog.clear()
    _env_worker(monkeypatch, GT_AUTO_COMPILE="1")
    assert "single-op batches never compile" not in caplog.text


def test_seed_messages_are_logged(caplog, use_worker):
    gt_logger = logging.getLogger("gt")   # GT's logger prints on its own handler, not the root's
    gt_logger.addHandler(caplog.handler)
    try:
        use_worker(batch_size=10, auto_compile=True, worker_id="w7")
    finally:
        gt_logger.removeHandler(caplog.handler)
    assert "Worker w7: Hot path detection enabled (threshold=10)" in caplog.text
    assert "Worker w7: Message batching enabled (batch_size=10)" in caplog.text


def test_stats_keys_and_counts(use_worker):
    w = use_worker(batch_size=4)
    x = gt.tensor([1.0])
    for _ in range(3):
        x = x + 1                    # 3 ops in one batch, flushed by the stats call
    stats = gt.debug.get_worker_stats()
    assert list(stats) == ["test_worker"]
    ops = stats["test_worker"]["operations"]
    assert ops["total"] == 3 and ops["batched"] == 3 and ops["eager"] == 3 and ops["compiled"] == 0
    comp = stats["test_worker"]["compilation"]
    for key in ("cache_size", "cache_hits", "cache_misses", "hit_rate", "compile_seconds"):
        assert key in comp
    assert "hotpath" not in stats["test_worker"]
    resp = w.handle(WorkerGetStats())
    assert isinstance(resp, WorkerResponse) and resp.success and resp.data["operations"]["total"] == 3
    resp = w._handle_get_stats(WorkerGetStats())      # the seed's endpoint
    assert isinstance(resp, WorkerResponse) and resp.success and resp.data["batches"] == 1


def test_immediate_mode_counts_every_op_as_eager(use_worker):
    w = use_worker(batch_size=1)
    x = gt.tensor([1.0, 2.0])
    y = (x * 3).sum()
    assert y.item() == pytest.approx(9.0)
    ops = w.get_stats()["operations"]
    assert ops["total"] == 2 and ops["eager"] == 2 and ops["batched"] == 0


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="backend"):
        Worker("w", backend="jax")


def test_embedded_worker_uses_cpu_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA machine")
    assert str(runtime.get_worker().device) == "cpu"
