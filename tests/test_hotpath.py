"""Tests for gt.worker._hotpath (csrc/_hotpath.c): signatures and the pattern table."""
import gc
import math
import os
import random
import struct
import sys

import pytest

from gt.worker import _hotpath
from gt.worker._batcher import Batcher, canonicalize
from gt.worker._hotpath import COLD, COMPILED, FAILED, HOT, PatternTable, signature

from leakcheck import n_iter, traced_growth

MASK = (1 << 64) - 1
ENTRY_KEYS = {"entry_id", "signature", "n_ops", "count", "state", "eager_runs", "eager_seconds",
              "compiled_runs", "compiled_seconds"}
STATS_KEYS = {"total_batches", "hot_batches_executed", "unique_patterns", "hot_paths",
              "hot_threshold", "evictions", "collisions", "capacity"}



def pack(ws):
    return struct.pack("<%di" % len(ws), *ws)


def ref_signature(canon, metas):
    """The documented hash: FNV-1a 64 over the uint32 words, then each meta's low and high
    halves, then murmur3 fmix64."""
    h = 0xCBF29CE484222325
    for (w,) in struct.iter_unpack("<I", canon):
        h = ((h ^ w) * 0x100000001B3) & MASK
    for m in metas:
        h = ((h ^ (m & 0xFFFFFFFF)) * 0x100000001B3) & MASK
        h = ((h ^ (m >> 32)) * 0x100000001B3) & MASK
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK
    h ^= h >> 33
    return h


def step(base, weights=(1, 2, 3), free_mid=True, param=7):
    """Canonical form of one 'training step' with fresh result ids starting at base."""
    b = Batcher(100, 4)
    b.append(0, param, base + 1, (weights[0], weights[1]))
    b.append(1, 0, base + 2, (base + 1, weights[2]))
    b.append(2, 3, base + 3, (base + 2, base + 1))
    if free_mid:
        b.free(base + 2)
    return b.flush()


def pattern(k):
    """A distinct valid pattern for every k (n_ext = 1)."""
    return canonicalize([(0, k, 10, (1,))], 1)[0], (0,)


# --- signature -------------------------------------------------------------------------

def test_signature_matches_reference_fnv1a():
    for base in (100, 5000):
        canon, ext, _, _ = step(base)
        assert signature(canon, (4, 5, 6)) == ref_signature(canon, (4, 5, 6))
    canon = pack([1, 1, 0, 0, 1, -1, 1])
    big = 2**63 - 1
    assert signature(canon, (big,)) == ref_signature(canon, (big,))
    assert signature(pack([0, 0]), ()) == ref_signature(pack([0, 0]), ())


def test_signature_is_unsigned_64_bit_int():
    sigs = [signature(pattern(k)[0], (0,)) for k in range(200)]
    assert all(isinstance(s, int) and 0 <= s <= MASK for s in sigs)
    assert any(s >= 2**63 for s in sigs)
    assert len(set(sigs)) == 200


def test_fresh_ids_hash_the_same():
    a, b = step(100), step(98765)
    assert a[0] == b[0]
    assert signature(a[0], (1, 1, 2)) == signature(b[0], (1, 1, 2))


def test_different_wiring_changes_signature():
    a = canonicalize([(0, 0, 10, (1, 2)), (1, 0, 11, (10, 1))], 2)[0]
    b = canonicalize([(0, 0, 10, (1, 2)), (1, 0, 11, (1, 10))], 2)[0]
    c = canonicalize([(0, 0, 10, (2, 1)), (1, 0, 11, (10, 2))], 2)[0]
    assert a == c                        # same structure, externals named differently
    assert signature(a, (0, 0)) != signature(b, (0, 0))


def test_different_param_code_changes_signature():
    assert signature(step(100, param=7)[0], (0, 0, 0)) != signature(step(100, param=8)[0], (0, 0, 0))


def test_different_opcode_changes_signature():
    a = canonicalize([(0, 0, 10, (1,))], 2)[0]
    b = canonicalize([(1, 0, 10, (1,))], 2)[0]
    assert signature(a, (0,)) != signature(b, (0,))


def test_different_metas_change_signature():
    canon = step(100)[0]
    sigs = {signature(canon, m) for m in [(0, 0, 0), (0, 0, 1), (1, 0, 0), (0, 1, 0), (2**32, 0, 0)]}
    assert len(sigs) == 5


def test_different_live_set_changes_signature():
    live = step(100, free_mid=False)[0]
    dead = step(100, free_mid=True)[0]
    assert live != dead
    assert signature(live, (0, 0, 0)) != signature(dead, (0, 0, 0))


def test_signature_requires_one_meta_per_external():
    canon = step(100)[0]          # 3 externals
    with pytest.raises(ValueError, match="metas"):
        signature(canon, (0, 0))
    with pytest.raises(ValueError, match="metas"):
        signature(canon, (0, 0, 0, 0))


@pytest.mark.parametrize("canon", [b"", b"\x00" * 5, pack([1]), pack([-1, 0]), pack([0, -1]),
                                   pack([1, 0, 0, 0, 1, 0, 1]), pack([1, 1, 0, 0, 1, -2, 1]),
                                   pack([1, 0, 0, 0, 0, 3]), pack([0, 0, 0]),
                                   pack([1, 0, 0, 0, 2**31 - 1, 1]), pack([2**31 - 1, 0])])
def test_signature_and_record_reject_malformed_canon(canon):
    with pytest.raises(ValueError, match="canon"):
        signature(canon, ())
    t = PatternTable(2)
    with pytest.raises(ValueError, match="canon"):
        t.record(canon, ())
    assert t.stats()["total_batches"] == 0 and len(t) == 0


@pytest.mark.parametrize("args, exc, match", [
    ((bytearray(8), ()), TypeError, "canon"),
    ((None, ()), TypeError, "canon"),
    (("abc", ()), TypeError, "canon"),
    ((pack([0, 0]), [0]), TypeError, "metas"),
    ((pack([0, 0]), None), TypeError, "metas"),
    ((pack([1, 1, 0, 0, 1, -1, 1]), (1.0,)), TypeError, r"metas\[0\]"),
    ((pack([1, 1, 0, 0, 1, -1, 1]), ("1",)), TypeError, r"metas\[0\]"),
    ((pack([1, 1, 0, 0, 1, -1, 1]), (-1,)), ValueError, r"metas\[0\]"),
    ((pack([1, 1, 0, 0, 1, -1, 1]), (2**63,)), ValueError, r"metas\[0\]"),
])
def test_signature_and_record_reject_bad_arguments(args, exc, match):
    with pytest.raises(exc, match=match):
        signature(*args)
    with pytest.raises(exc, match=match):
        PatternTable(2).record(*args)


@pytest.mark.parametrize("n", [0, 1, 3])
def test_signature_and_record_reject_wrong_argument_count(n):
    with pytest.raises(TypeError, match="2 arguments"):
        signature(*([pack([0, 0])] * n))
    with pytest.raises(TypeError, match="2 arguments"):
        PatternTable(1).record(*([pack([0, 0])] * n))


def test_signature_with_many_metas():
    ops = [(0, 0, 10**6 + j, (j,)) for j in range(100)]
    canon, ext, _, _ = canonicalize(ops, 1)
    metas = tuple(range(100))
    assert signature(canon, metas) == ref_signature(canon, metas)


# --- PatternTable: counting and states ----------------------------------------------------

def test_record_counts_and_turns_hot_after_threshold():
    t = PatternTable(3)
    canon, metas = pattern(0)
    got = [t.record(canon, metas) for _ in range(6)]
    eid = got[0][0]
    assert got == [(eid, 1, COLD), (eid, 2, COLD), (eid, 3, COLD), (eid, 4, HOT), (eid, 5, HOT),
                   (eid, 6, HOT)]


def test_100_identical_batches_threshold_10():
    t = PatternTable(10)
    metas = (3, 3, 4)
    for it in range(100):
        canon = step(1000 * (it + 1))[0]
        t.record(canon, metas)
    assert t.stats() == {"total_batches": 100, "hot_batches_executed": 90, "unique_patterns": 1,
                         "hot_paths": 1, "hot_threshold": 10, "evictions": 0, "collisions": 0,
                         "capacity": 1024}
    assert len(t) == 1


def test_compiled_counts_as_hot_and_failed_does_not():
    t = PatternTable(1)
    ca, ma = pattern(1)
    cb, mb = pattern(2)
    ea = t.record(ca, ma)[0]
    eb = t.record(cb, mb)[0]
    assert t.record(ca, ma)[2] == HOT and t.record(cb, mb)[2] == HOT
    t.set_state(ea, COMPILED)
    t.set_state(eb, FAILED)
    assert t.record(ca, ma) == (ea, 3, COMPILED)
    assert t.record(cb, mb) == (eb, 3, FAILED)
    s = t.stats()
    assert s["hot_paths"] == 1 and s["hot_batches_executed"] == 3 and s["total_batches"] == 6


def test_set_state_back_to_cold_is_not_overridden():
    t = PatternTable(1)
    c, m = pattern(0)
    eid = t.record(c, m)[0]
    assert t.record(c, m)[2] == HOT
    t.set_state(eid, COLD)
    assert t.record(c, m)[2] == COLD      # only the transition at count threshold+1 is automatic
    assert t.stats()["hot_paths"] == 0


def test_set_state_errors():
    t = PatternTable(2)
    eid = t.record(*pattern(0))[0]
    with pytest.raises(KeyError):
        t.set_state(eid + 1, HOT)
    with pytest.raises(KeyError):
        t.set_state(-1, HOT)
    with pytest.raises(KeyError):
        t.set_state(2**70, HOT)
    for bad in (-1, 4, 2**64):
        with pytest.raises(ValueError, match="state"):
            t.set_state(eid, bad)
    with pytest.raises(TypeError, match="state"):
        t.set_state(eid, 1.0)
    with pytest.raises(TypeError, match="entry_id"):
        t.set_state("0", HOT)
    with pytest.raises(TypeError, match="2 arguments"):
        t.set_state(eid)
    assert t.entry(eid)["state"] == COLD


def test_entry_ids_are_unique_and_never_reused():
    t = PatternTable(1, 4)
    ids = [t.record(*pattern(k))[0] for k in range(50)]
    assert len(set(ids)) == 50 and ids == sorted(ids)
    t.clear()
    assert t.record(*pattern(0))[0] > max(ids)


def test_entry_reports_all_fields():
    t = PatternTable(2)
    canon, _, _, _ = step(100)
    eid, _, _ = t.record(canon, (0, 0, 0))
    t.record(canon, (0, 0, 0))
    e = t.entry(eid)
    assert set(e) == ENTRY_KEYS
    assert e["entry_id"] == eid
    assert e["signature"] == signature(canon, (0, 0, 0))
    assert e["n_ops"] == 3 and e["count"] == 2 and e["state"] == COLD
    assert (e["eager_runs"], e["eager_seconds"], e["compiled_runs"], e["compiled_seconds"]) == (0, 0.0, 0, 0.0)
    with pytest.raises(KeyError):
        t.entry(eid + 100)
    with pytest.raises(TypeError, match="entry_id"):
        t.entry(None)


def test_add_time_accumulates_per_mode():
    t = PatternTable(2)
    eid = t.record(*pattern(0))[0]
    t.add_time(eid, 0.5, False)
    t.add_time(eid, 0.25, False)
    t.add_time(eid, 1, True)
    t.add_time(entry_id=eid, seconds=0.125, compiled=True)
    e = t.entry(eid)
    assert (e["eager_runs"], e["eager_seconds"]) == (2, 0.75)
    assert (e["compiled_runs"], e["compiled_seconds"]) == (2, 1.125)
    t.add_time(eid + 999, 1.0, True)      # unknown (e.g. evicted): ignored
    t.add_time(-5, 1.0, True)
    t.add_time(2**80, 1.0, True)
    assert t.entry(eid)["compiled_runs"] == 2


@pytest.mark.parametrize("args, exc, match", [
    ((0, -1.0, True), ValueError, "seconds"),
    ((0, math.nan, True), ValueError, "seconds"),
    ((0, math.inf, True), ValueError, "seconds"),
    ((0, 10**400, True), ValueError, "seconds"),
    ((0, "1", True), TypeError, "seconds"),
    ((0, None, True), TypeError, "seconds"),
    ((0, 1.0, 1), TypeError, "compiled"),
    ((0, 1.0, None), TypeError, "compiled"),
    (("0", 1.0, True), TypeError, "entry_id"),
    ((0, 1.0), TypeError, None),
])
def test_add_time_rejects_bad_arguments(args, exc, match):
    t = PatternTable(2)
    t.record(*pattern(0))
    with pytest.raises(exc, match=match):
        t.add_time(*args)
    assert t.entry(0)["eager_runs"] == 0 and t.entry(0)["compiled_runs"] == 0


def test_top_orders_by_count():
    t = PatternTable(100)
    for k, n in [(0, 3), (1, 7), (2, 1), (3, 7), (4, 5)]:
        for _ in range(n):
            t.record(*pattern(k))
    top = t.top(3)
    assert [e["count"] for e in top] == [7, 7, 5]
    assert top[0]["entry_id"] < top[1]["entry_id"]
    assert all(set(e) == ENTRY_KEYS for e in top)
    assert len(t.top(100)) == 5
    assert t.top(0) == []
    assert len(t.top(2**62)) == 5
    with pytest.raises(ValueError, match="n does not fit"):
        t.top(2**70)
    with pytest.raises(ValueError, match="n"):
        t.top(-1)
    with pytest.raises(TypeError, match="n"):
        t.top(1.0)
    assert PatternTable(1).top(5) == []


def test_stats_keys_and_clear():
    t = PatternTable(1, 3)
    for k in range(5):
        t.record(*pattern(k))
        t.record(*pattern(k))
    s = t.stats()
    assert set(s) == STATS_KEYS
    assert s["unique_patterns"] == 3 and s["evictions"] == 2 and s["capacity"] == 3
    t.clear()
    assert len(t) == 0
    assert t.take_evicted() == ()
    assert t.stats() == {"total_batches": 0, "hot_batches_executed": 0, "unique_patterns": 0,
                         "hot_paths": 0, "hot_threshold": 1, "evictions": 0, "collisions": 0,
                         "capacity": 3}
    assert t.record(*pattern(0))[1:] == (1, COLD)


# --- eviction -------------------------------------------------------------------------------

def test_eviction_keeps_table_bounded():
    t = PatternTable(2, 8)
    for k in range(1000):
        t.record(*pattern(k))
        assert len(t) <= 8
    s = t.stats()
    assert len(t) == 8 and s["unique_patterns"] == 8 and s["evictions"] == 992
    evicted = t.take_evicted()
    assert len(evicted) == 992 and len(set(evicted)) == 992
    assert evicted == tuple(range(992))          # LRU order: oldest first
    assert t.take_evicted() == ()


def test_hot_entries_survive_cold_ones():
    t = PatternTable(2, 8)
    hot = []
    for k in range(3):
        c, m = pattern(10**6 + k)
        for _ in range(3):
            eid, _, state = t.record(c, m)
        assert state == HOT
        hot.append(eid)
    t.set_state(hot[1], COMPILED)
    for k in range(1000):
        t.record(*pattern(k))
    assert len(t) == 8
    for eid in hot:
        t.entry(eid)                 # still present
    assert set(hot).isdisjoint(t.take_evicted())
    assert t.stats()["hot_paths"] == 3


def test_failed_entries_are_evicted_like_cold_ones():
    t = PatternTable(1, 2)
    ca, ma = pattern(1)
    cb, mb = pattern(2)
    ea = t.record(ca, ma)[0]
    t.record(ca, ma)
    t.set_state(ea, FAILED)
    eb = t.record(cb, mb)[0]
    t.record(cb, mb)                   # HOT, and more recently used than nothing else
    t.record(ca, ma)                   # a is now the most recently used, but FAILED
    t.record(*pattern(3))
    assert t.take_evicted() == (ea,)
    t.entry(eb)


def test_lru_order_among_cold_entries():
    t = PatternTable(10, 3)
    ids = [t.record(*pattern(k))[0] for k in range(3)]
    t.record(*pattern(0))              # touch entry 0: entry 1 is now least recent
    t.record(*pattern(3))
    assert t.take_evicted() == (ids[1],)
    t.record(*pattern(4))
    assert t.take_evicted() == (ids[2],)


def test_all_hot_table_evicts_least_recently_used_hot_entry():
    t = PatternTable(1, 3)
    ids = []
    for k in range(3):
        c, m = pattern(k)
        ids.append(t.record(c, m)[0])
        assert t.record(c, m)[2] == HOT
    t.record(*pattern(0))              # entry 1 is now the LRU hot entry
    t.record(*pattern(99))
    assert t.take_evicted() == (ids[1],)
    assert t.stats()["hot_paths"] == 2
    with pytest.raises(KeyError):
        t.entry(ids[1])
    with pytest.raises(KeyError):
        t.set_state(ids[1], COMPILED)
    t.add_time(ids[1], 1.0, True)      # evicted: silently ignored


def test_state_change_keeps_recency_order():
    # An entry that becomes COLD again is placed by its last use, not at the front.
    t = PatternTable(1, 4)
    a = t.record(*pattern(0))[0]
    t.record(*pattern(0))              # a HOT
    b = t.record(*pattern(1))[0]
    c = t.record(*pattern(2))[0]
    d = t.record(*pattern(3))[0]
    t.set_state(a, COLD)               # a is now the least recently used cold entry
    t.record(*pattern(4))
    assert t.take_evicted() == (a,)
    t.record(*pattern(5))
    assert t.take_evicted() == (b,)
    assert {c, d} <= {e["entry_id"] for e in t.top(10)}


def test_capacity_one():
    t = PatternTable(1, 1)
    for k in range(10):
        eid = t.record(*pattern(k))[0]
        assert len(t) == 1
    assert t.take_evicted() == tuple(range(9))
    assert t.entry(eid)["count"] == 1


# --- collisions -------------------------------------------------------------------------------

@pytest.mark.parametrize("bits", [1, 2, 3])
def test_forced_collisions_stay_distinct(bits):
    t = PatternTable(5, 64, hash_bits=bits)
    assert t.hash_bits == bits
    ids = {}
    for rep in range(1, 11):
        for k in range(20):
            eid, count, state = t.record(*pattern(k))
            ids.setdefault(k, eid)
            assert eid == ids[k]           # a collision never returns another pattern's entry
            assert count == rep
            assert state == (HOT if rep > 5 else COLD)
    s = t.stats()
    assert s["unique_patterns"] == 20 and s["hot_paths"] == 20
    assert s["collisions"] >= 20 - 2**bits
    for k, eid in ids.items():
        e = t.entry(eid)
        assert e["count"] == 10
        assert e["signature"] == signature(*pattern(k)) & ((1 << bits) - 1)


def test_collisions_with_same_canon_different_metas():
    t = PatternTable(1, 16, hash_bits=1)
    canon = pattern(0)[0]
    got = [t.record(canon, (m,))[0] for m in range(6)]
    assert len(set(got)) == 6
    assert [t.record(canon, (m,))[0] for m in range(6)] == got


def test_colliding_entries_evict_cleanly():
    t = PatternTable(1, 4, hash_bits=1)
    for k in range(200):
        t.record(*pattern(k % 13))
        assert len(t) <= 4
    remaining = [e["entry_id"] for e in t.top(10)]
    assert len(remaining) == 4
    for eid in remaining:
        t.entry(eid)


def test_no_collisions_with_full_hash():
    t = PatternTable(1, 5000)
    for k in range(3000):
        t.record(*pattern(k))
    assert t.stats()["collisions"] == 0 and len(t) == 3000


# --- constructor and misc ------------------------------------------------------------------

@pytest.mark.parametrize("args, kwargs, exc, match", [
    ((0,), {}, ValueError, "threshold"),
    ((-1,), {}, ValueError, "threshold"),
    ((2**63 - 1,), {}, ValueError, "threshold"),
    ((2**64,), {}, ValueError, "threshold"),
    ((1.5,), {}, TypeError, "threshold"),
    (("1",), {}, TypeError, "threshold"),
    ((1, 0), {}, ValueError, "capacity"),
    ((1, -5), {}, ValueError, "capacity"),
    ((1, 2**62), {}, ValueError, "capacity"),
    ((1, None), {}, TypeError, "capacity"),
    ((1, 4), {"hash_bits": 0}, ValueError, "hash_bits"),
    ((1, 4), {"hash_bits": 65}, ValueError, "hash_bits"),
    ((1, 4), {"hash_bits": 2.0}, TypeError, "hash_bits"),
    ((1, 4, 8), {}, TypeError, None),
    ((), {}, TypeError, None),
])
def test_constructor_rejects_bad_arguments(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        PatternTable(*args, **kwargs)


def test_properties_and_defaults():
    t = PatternTable(7)
    assert (t.threshold, t.capacity, t.hash_bits) == (7, 1024, 64)
    t = PatternTable(threshold=2, capacity=5)
    assert (t.threshold, t.capacity) == (2, 5)
    for name in ("threshold", "capacity", "hash_bits"):
        with pytest.raises(AttributeError):
            setattr(t, name, 3)
    assert "PatternTable" in repr(t)
    assert (COLD, HOT, COMPILED, FAILED) == (0, 1, 2, 3)
    with pytest.raises(TypeError):
        type("Sub", (PatternTable,), {})


def test_take_evicted_returns_tuple_and_empties_queue():
    t = PatternTable(1, 2)
    for k in range(5):
        t.record(*pattern(k))
    assert t.take_evicted() == (0, 1, 2)
    assert t.take_evicted() == ()


# --- fuzzing ------------------------------------------------------------------------------------

JUNK = [None, 0, 1, -1, 2, 3, 4, 2**31, 2**63, 2**64, -2**63, 10**30, 0.5, -0.5, math.nan, math.inf,
        "x", b"", b"\x00" * 8, pack([0, 0]), pack([1, 1, 0, 0, 1, -1, 1]), bytearray(8), (), (0,),
        (0, 0), (-1,), (2**64,), ("a",), [0], {}, object(), True, False, PatternTable]


def test_fuzz_random_arguments_only_raise_python_exceptions():
    rng = random.Random(4321)
    t = PatternTable(2, 6, hash_bits=2)
    goods = [canonicalize([(rng.randrange(3), rng.randrange(3), 100 + j, (rng.randrange(4),))
                           for j in range(rng.randrange(1, 4))], 3) for _ in range(12)]
    for _ in range(n_iter(20000)):
        what = rng.randrange(9)
        try:
            if what == 0:
                g = rng.choice(goods)
                metas = tuple(rng.randrange(3) for _ in g[1])
                args = [g[0], metas] if rng.random() < 0.7 else \
                    [rng.choice(JUNK) for _ in range(rng.choice((1, 2, 2, 3)))]
                eid, count, state = t.record(*args)
                assert count >= 1 and state in (0, 1, 2, 3)
            elif what == 1:
                t.set_state(rng.choice(JUNK + [rng.randrange(40)]), rng.choice(JUNK + [rng.randrange(4)]))
            elif what == 2:
                t.add_time(rng.choice(JUNK + [rng.randrange(40)]), rng.choice(JUNK + [rng.random()]),
                           rng.choice(JUNK))
            elif what == 3:
                t.entry(rng.choice(JUNK + [rng.randrange(40)]))
            elif what == 4:
                t.top(rng.choice(JUNK + [rng.randrange(10)]))
            elif what == 5:
                t.take_evicted()
                t.stats()
            elif what == 6:
                signature(rng.choice(JUNK), rng.choice(JUNK))
            elif what == 7:
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 48)))
                signature(data, tuple(rng.randrange(3) for _ in range(rng.randrange(3))))
            else:
                PatternTable(rng.choice(JUNK), rng.choice(JUNK))
        except (TypeError, ValueError, KeyError):
            pass
        assert len(t) <= 6


def test_signature_and_decode_accept_the_same_canons():
    from gt.worker._batcher import decode
    rng = random.Random(5)
    for _ in range(n_iter(20000)):
        n_ops = rng.randrange(4)
        ws = [n_ops, rng.randrange(3)]
        for j in range(n_ops):
            n_in = rng.randrange(3)
            ws += [rng.randrange(-1, 3), rng.randrange(-1, 3), n_in]
            ws += [rng.randrange(-4, j + 1) for _ in range(n_in)]
            ws.append(rng.choice((0, 1, 1, 1, 2)))
        if rng.random() < 0.2:
            ws.append(0)
        if rng.random() < 0.2 and len(ws) > 2:
            ws.pop(rng.randrange(2, len(ws)))
        canon = pack(ws)
        try:
            decode(canon)
            ok = True
        except ValueError:
            ok = False
        try:
            s = signature(canon, (0,) * ws[1])
            assert ok and s == ref_signature(canon, (0,) * ws[1])
        except ValueError:
            assert not ok


def test_reentrant_finalizers_during_top_do_not_crash():
    t = PatternTable(1, 64)

    class Trap:
        def __init__(self):
            self.me = self

        def __del__(self):
            t.clear()
            for k in range(5):
                t.record(*pattern(1000 + k))

    old = gc.get_threshold()
    try:
        for _ in range(n_iter(40)):
            for k in range(40):
                t.record(*pattern(k))
            gc.disable()
            for _ in range(10):
                Trap()
            gc.set_threshold(1)
            gc.enable()
            res = t.top(40)
            assert all(set(e) == ENTRY_KEYS for e in res)
            t.stats()
            gc.collect()
    finally:
        gc.set_threshold(*old)
        gc.enable()


# --- leaks ----------------------------------------------------------------------------------------



_T = PatternTable(3, 16)
_PATS = [pattern(k) for k in range(40)]
_STATE = {"i": 0}


def _workload():
    i = _STATE["i"] = _STATE["i"] + 1
    c, m = _PATS[i % 40]
    eid, _, _ = _T.record(c, m)
    signature(c, m)
    _T.add_time(eid, 0.001, bool(i & 1))
    _T.set_state(eid, i % 4)
    _T.entry(eid)
    if i % 50 == 0:
        _T.top(5)
        _T.stats()
    _T.take_evicted()
    for bad in ((c, ()), (b"\x00", ()), (c, (1.0,)), (None, m)):
        try:
            _T.record(*bad)
        except (TypeError, ValueError):
            pass
    try:
        _T.entry(-1)
    except KeyError:
        pass
    if i % 1000 == 0:
        PatternTable(1, 4, hash_bits=3)


def test_no_memory_growth_over_many_iterations():
    growth = traced_growth(_workload, n_iter(100000))
    assert growth < 64 * 1024, growth


def test_refcounts_of_shared_objects_are_balanced():
    t = PatternTable(2, 8)
    objs = [True, False, None, 0, 1, 2, 3, ()]
    pats = [pattern(k) for k in range(20)]
    for c, m in pats:
        t.record(c, m)
    gc.collect()
    before = [sys.getrefcount(o) for o in objs]
    for i in range(2000):
        c, m = pats[i % 20]
        eid = t.record(c, m)[0]
        t.entry(eid)
        t.add_time(eid, 0.0, True)
        try:
            t.set_state(eid, 7)
        except ValueError:
            pass
        t.top(3)
        t.take_evicted()
    del c, m, eid
    gc.collect()
    after = [sys.getrefcount(o) for o in objs]
    assert after == before


def test_module_metadata():
    assert _hotpath.PatternTable is PatternTable
    assert signature.__text_signature__ == "($module, canon, metas, /)"


def test_module_instances_are_independent():
    import importlib.util
    spec = importlib.util.find_spec("gt.worker._hotpath")
    m2 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m2)
    assert m2 is not _hotpath and m2.PatternTable is not PatternTable
    t = m2.PatternTable(1, 4)
    del m2, spec
    gc.collect()
    eid = t.record(*pattern(0))[0]
    assert t.entry(eid)["count"] == 1 and t.stats()["total_batches"] == 1 and len(t.top(1)) == 1


@pytest.mark.skipif(not os.environ.get("GT_EXPECT_EXT_DIR"), reason="set by tests/c/run_*.sh")
def test_extension_under_test_is_the_expected_build():
    assert _hotpath.__file__.startswith(os.environ["GT_EXPECT_EXT_DIR"]), _hotpath.__file__
