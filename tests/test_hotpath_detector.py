"""HotPathDetector: the seed's semantics and stats (no compiles here)."""
from __future__ import annotations

import pytest
import torch

from gt.worker.engine import Operation
from gt.worker.hotpath_detector import HotPathDetector


def _batch(first_id, a_id=1, b_id=2):
    """A 3-op batch with fresh result ids; the same pattern whatever first_id is."""
    r = first_id
    return [Operation("compute", "add", r, (a_id, b_id)),
            Operation("compute", "mul", r + 1, (r, b_id)),
            Operation("compute", "relu", r + 2, (r + 1,))]


TENSORS = {1: torch.zeros(2, 3), 2: torch.zeros(2, 3), 3: torch.zeros(4, 3), 4: torch.zeros(5), 5: torch.zeros(2, 2, 2)}


def test_hundred_identical_batches_give_the_seed_stats():
    det = HotPathDetector(hot_threshold=10)
    decisions = []
    for i in range(100):
        ops = _batch(100 + 10 * i)
        decisions.append(det.record_batch(ops, tensors=TENSORS))
        det.record_batch_completion(ops)
    assert decisions == [False] * 10 + [True] * 90
    stats = det.get_stats()
    assert {k: stats[k] for k in ("total_batches", "hot_batches_executed", "unique_patterns", "hot_paths",
                                  "hot_threshold")} == {"total_batches": 100, "hot_batches_executed": 90,
                                                        "unique_patterns": 1, "hot_paths": 1, "hot_threshold": 10}
    top = stats["top_patterns"][0]
    assert top["count"] == 100 and top["ops"] == 3 and len(top["signature"]) == 16


def test_other_input_shape_is_another_pattern():
    det = HotPathDetector(hot_threshold=2)
    for i in range(3):
        det.record_batch(_batch(100 + 10 * i), tensors=TENSORS)
    assert not det.record_batch(_batch(200, a_id=3, b_id=3), tensors=TENSORS)
    assert det.get_stats()["unique_patterns"] == 2


def test_detection_message_is_logged_once(caplog):
    import logging
    logger = logging.getLogger("gt")
    logger.addHandler(caplog.handler)
    try:
        det = HotPathDetector(hot_threshold=3)
        for i in range(10):
            det.record_batch(_batch(100 + 10 * i), tensors=TENSORS)
    finally:
        logger.removeHandler(caplog.handler)
    lines = [l for l in caplog.text.splitlines() if "[HotPath]" in l]
    assert len(lines) == 1
    assert "Worker detected hot batch after 3 repetitions: Batch(" in lines[0]
    assert lines[0].rstrip().endswith(":3ops)")


def test_disabled_auto_compile_counts_but_never_compiles():
    det = HotPathDetector(hot_threshold=1, enable_auto_compile=False)
    assert [det.record_batch(_batch(10 * i), tensors=TENSORS) for i in range(1, 5)] == [False] * 4
    assert det.get_stats()["hot_paths"] == 1


@pytest.mark.parametrize("bad", [0, -1, "10", 2.5])
def test_bad_threshold_is_rejected(bad):
    with pytest.raises(ValueError, match="hot_threshold"):
        HotPathDetector(hot_threshold=bad)


def test_unknown_operation_is_rejected():
    with pytest.raises(ValueError, match="unknown operation 'conv9d'"):
        Operation("compute", "conv9d", 1, (2,))


def test_record_batch_works_with_operations_alone():
    det = HotPathDetector(hot_threshold=2)
    assert [det.record_batch(_batch(10 * i)) for i in range(1, 5)] == [False, False, True, True]
    det.record_batch_completion(_batch(50))
    assert det.get_stats()["unique_patterns"] == 1


def _fill(value, result_id=10):
    """full((2, 3), value): the fill value is a static param."""
    return [Operation("compute", "full", result_id, (), ((2, 3), value))]


def test_params_are_keyed_by_exact_value():
    det = HotPathDetector(hot_threshold=5)
    sigs = []
    for value in [-0.0, 0.0, 1, True, 1.0]:
        det.record_batch(_fill(value), tensors=TENSORS)
        sigs.append(det.last_signature)
    assert len(set(sigs)) == 5
    det.record_batch(_fill(-0.0, result_id=99), tensors=TENSORS)
    assert det.last_signature == sigs[0]
    assert det.get_stats()["unique_patterns"] == 5


def test_a_loop_of_three_batches_is_a_cycle_of_period_three():
    det = HotPathDetector(hot_threshold=2)
    shapes = [(1, 2), (4, 4), (5, 5)]        # three patterns: the inputs' ranks differ
    periods = []
    for step in range(4):
        for k, (a, b) in enumerate(shapes):
            det.record_batch(_batch(100 + 1000 * step + 10 * k, a, b), tensors=TENSORS)
            periods.append(det.observe_segment(det.last_signature))
    assert periods == [0] * 5 + [3] * 7
    det.reset_cycle()
    assert det.observe_segment(det.last_signature) == 0


def test_a_structure_seen_with_other_sizes_has_symbolic_dims():
    det = HotPathDetector(hot_threshold=2)
    tensors = {1: torch.zeros(2, 3), 2: torch.zeros(2, 3), 3: torch.zeros(5, 3), 4: torch.zeros(5, 3),
               6: torch.zeros(7, 4), 7: torch.zeros(7, 4)}
    sightings = []
    for i, (a, b) in enumerate([(1, 2), (3, 4), (1, 2), (3, 4), (6, 7)]):
        det.record_batch(_batch(100 + 10 * i, a, b), tensors=tensors)
        sightings.append((det.last_signature, det._current[2].dynamic))
    exact, masked = sightings[0][0], sightings[1][0]
    assert sightings[0][1] is None and exact != masked            # first size: exact
    assert [s for s, _ in sightings[1:4]] == [masked] * 3          # dim 0 symbolic: one pattern
    assert sightings[1][1] == (frozenset({0}), frozenset({0}))
    assert sightings[4][1] == (frozenset({0, 1}), frozenset({0, 1}))   # dim 1 too: widened
    assert sightings[4][0] not in (exact, masked)
    stats = det.get_stats()
    assert stats["symbolic_patterns"] == 2 and stats["hot_paths"] == 1


def test_run_times_and_evictions_show_in_stats():
    det = HotPathDetector(hot_threshold=10, capacity=1)
    ops = _batch(100)
    det.record_batch(ops, tensors=TENSORS)
    det.record_batch_completion(ops)
    top = det.get_stats()["top_patterns"][0]
    assert top["eager_ms_mean"] > 0 and top["compiled_ms_mean"] is None and top["state"] == "cold"
    first = det.table.entries()[0][0]
    det.record_batch(_batch(200, 3, 3), tensors=TENSORS)
    assert det.take_evicted() == (first,)
    stats = det.get_stats()
    assert (stats["evictions"], stats["capacity"], stats["unique_patterns"]) == (1, 1, 1)
    assert first not in det.policy.records
