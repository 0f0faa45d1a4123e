"""gt.worker._hotpath (csrc/_hotpath.c): the bounded pattern table and the cycle detector."""
import os
import random
import struct

import pytest

from gt.worker import _hotpath
from gt.worker._hotpath import COLD, COMPILED, FAILED, HOT, MAX_PERIOD, PatternTable

from leakcheck import n_iter, traced_growth


def canon(n_ops, *body, n_ext=0):
    """Canonical bytes: the table reads only the header (n_ops, n_ext) and compares the rest."""
    return struct.pack("<%di" % (2 + len(body)), n_ops, n_ext, *body)


def patterns(n):
    return [canon(1, k) for k in range(n)]


# -- counting and states ----------------------------------------------------------------------

def test_pattern_turns_hot_after_threshold_and_keeps_set_states():
    t = PatternTable(2)
    c = canon(3, 7, n_ext=2)
    seen = [t.record(c, (4, 5)) for _ in range(3)]
    eid, sig = seen[0][0], seen[0][3]
    assert [s[:3] for s in seen] == [(eid, 1, COLD), (eid, 2, COLD), (eid, 3, HOT)]
    assert all(s[3] == sig for s in seen) and 0 <= sig < 2**64
    t.set_state(eid, COMPILED)
    assert t.state(eid) == COMPILED
    assert t.record(c, (4, 5))[1:3] == (4, COMPILED)
    t.set_state(eid, FAILED)
    assert t.record(c, (4, 5))[2] == FAILED
    assert t.entries() == [(eid, sig, 3, 5, FAILED)]


def test_other_metas_or_canon_is_another_pattern():
    t = PatternTable(5)
    a = t.record(canon(1, 0, n_ext=1), (1,))
    b = t.record(canon(1, 0, n_ext=1), (2,))
    c = t.record(canon(1, 1, n_ext=1), (1,))
    assert len({a[0], b[0], c[0]}) == 3 and len({a[3], b[3], c[3]}) == 3 and len(t) == 3
    assert PatternTable(5).record(canon(1, 0, n_ext=1), (1,))[3] == a[3]   # the signature is a pure function


def test_patterns_sharing_a_bucket_never_return_each_others_entry():
    # capacity 8 -> 8 buckets, chosen by signature % 8: find three patterns in one bucket.
    probe = PatternTable(1, 1024)
    by_bucket = {}
    for c in patterns(200):
        by_bucket.setdefault(probe.record(c, ())[3] % 8, []).append(c)
    same = next(cs for cs in by_bucket.values() if len(cs) >= 3)[:3]
    t = PatternTable(10, 8)
    ids = [t.record(c, ())[0] for c in same]
    for rnd in range(2, 5):
        for c, eid in zip(same, ids):
            assert t.record(c, ())[:2] == (eid, rnd)
    assert len(set(ids)) == 3


# -- bounded table, LRU eviction ----------------------------------------------------------------

def test_full_table_evicts_least_recently_used_cold_entries_first():
    t = PatternTable(1, 3)
    a, b, c, d, e, f = patterns(6)
    ida, idb, idc = (t.record(x, ())[0] for x in (a, b, c))
    t.record(a, ())                          # a: most recent, and hot
    idd = t.record(d, ())[0]
    assert t.take_evicted() == (idb,) and t.take_evicted() == ()
    ide = t.record(e, ())[0]
    assert t.take_evicted() == (idc,)        # c is older than d; a is hot, kept
    t.set_state(ida, COLD)                   # evictable again, as the most recent cold entry
    t.record(f, ())
    assert t.take_evicted() == (idd,)
    assert len(t) == 3 and t.evictions == 3
    idb2 = t.record(b, ())[0]
    assert t.take_evicted() == (ide,)
    assert idb2 not in (ida, idb, idc, idd, ide)   # ids are never reused
    assert t.record(b, ())[1:3] == (2, HOT)   # b starts over as a new pattern


def test_using_a_cold_entry_saves_it_from_eviction():
    t = PatternTable(10, 2)
    a, b, c = patterns(3)
    t.record(a, ())
    idb = t.record(b, ())[0]
    t.record(a, ())
    t.record(c, ())
    assert t.take_evicted() == (idb,)


def test_all_hot_table_evicts_the_least_recently_used_hot_entry():
    t = PatternTable(1, 2)
    a, b, c = patterns(3)
    ida = [t.record(a, ()) for _ in range(2)][0][0]
    idb = [t.record(b, ()) for _ in range(2)][0][0]
    t.record(a, ())
    t.record(c, ())
    assert t.take_evicted() == (idb,)
    with pytest.raises(KeyError, match="no pattern with entry_id"):
        t.set_state(idb, COMPILED)
    with pytest.raises(KeyError, match="no pattern with entry_id"):
        t.state(idb)
    assert [e[0] for e in t.entries()][-1] == ida


def test_table_memory_is_bounded_under_endless_new_patterns():
    t = PatternTable(2, 16)
    state = {"i": 0}

    def workload():
        state["i"] += 1
        t.record(canon(1, state["i"], n_ext=2), (state["i"], 3))
        t.take_evicted()
    assert traced_growth(workload, n_iter(20000)) < 4096
    assert len(t) == 16


# -- cycle detector ------------------------------------------------------------------------------

def naive_period(seq):
    """The definition: smallest P with the last 2P keys two equal runs of length P."""
    for p in range(1, MAX_PERIOD + 1):
        if len(seq) >= 2 * p and seq[-p:] == seq[-2 * p:-p]:
            return p
    return 0


@pytest.mark.parametrize("period", range(1, MAX_PERIOD + 1))
def test_cycle_of_every_period_is_found_after_two_rounds(period):
    t = PatternTable(1)
    keys = [1000 + k for k in range(period)]
    got = [t.observe_segment(keys[i % period]) for i in range(5 * period)]
    assert got == [0] * (2 * period - 1) + [period] * (3 * period + 1)


def test_period_longer_than_sixteen_is_not_reported():
    t = PatternTable(1)
    assert {t.observe_segment(k % 17) for k in range(100)} == {0}


def test_noise_then_cycle_and_a_period_that_changes_match_the_definition():
    rng = random.Random(8)
    t = PatternTable(1)
    seq = [rng.randrange(2**64) for _ in range(40)] + [5, 6, 7] * 6 + [5, 6] * 6 + [9] * 3
    seq += [rng.randrange(3) for _ in range(n_iter(3000))]     # small alphabet: many short cycles
    assert [t.observe_segment(k) for k in seq] == [naive_period(seq[:i + 1]) for i in range(len(seq))]


def test_reset_cycle_forgets_the_sequence():
    t = PatternTable(1)
    assert [t.observe_segment(k) for k in (1, 2, 1, 2)] == [0, 0, 0, 2]
    t.reset_cycle()
    assert [t.observe_segment(k) for k in (1, 2, 1, 2)] == [0, 0, 0, 2]
    t.reset_cycle()
    assert t.observe_segment(2) == 0          # not matched against the forgotten 2 1 2


def test_keys_span_sixty_four_bits():
    t = PatternTable(1)
    assert [t.observe_segment(2**64 - 1) for _ in range(2)] == [0, 1]


# -- argument checks --------------------------------------------------------------------------------

@pytest.mark.parametrize("args, exc, msg", [
    ((0,), ValueError, r"threshold must be in \[1, 9223372036854775807\], got 0"),
    (("3",), TypeError, "threshold must be int, not str"),
    ((2.5,), TypeError, "threshold must be int, not float"),
    ((1, 0), ValueError, r"capacity must be in \[1, 16777216\], got 0"),
    ((1, 2**24 + 1), ValueError, r"capacity must be in \[1, 16777216\]"),
    ((1, None), TypeError, "capacity must be int, not NoneType"),
])
def test_bad_table_arguments(args, exc, msg):
    with pytest.raises(exc, match=msg):
        PatternTable(*args)


@pytest.mark.parametrize("args, exc, msg", [
    ((canon(1),), TypeError, r"record\(\) takes 2 arguments \(canon, metas\), got 1"),
    ((bytearray(canon(1)), ()), TypeError, "argument 'canon' must be bytes, not bytearray"),
    ((canon(1), [0]), TypeError, "argument 'metas' must be a tuple, not list"),
    ((b"\0" * 4, ()), ValueError, "canon must be int32 words with a 2-word header, got 4 bytes"),
    ((b"\0" * 9, ()), ValueError, "got 9 bytes"),
    ((canon(1, n_ext=2), (1,)), ValueError, "one code per external input: canon has 2, metas 1"),
    ((canon(1, n_ext=1), ("a",)), TypeError, r"metas\[0\] must be int, not str"),
    ((canon(1, n_ext=1), (-1,)), ValueError, r"metas\[0\] must be in \[0, 9223372036854775807\], got -1"),
])
def test_bad_record_arguments(args, exc, msg):
    t = PatternTable(1)
    with pytest.raises(exc, match=msg):
        t.record(*args)
    assert len(t) == 0


@pytest.mark.parametrize("args, exc, msg", [
    ((0,), TypeError, r"set_state\(\) takes 2 arguments \(entry_id, state\), got 1"),
    ((0, 4), ValueError, r"state must be in \[0, 3\], got 4"),
    ((0, "hot"), TypeError, "state must be int, not str"),
    (("0", HOT), TypeError, "entry_id must be int, not str"),
    ((-1, HOT), KeyError, "no pattern with entry_id -1"),
    ((2**70, HOT), KeyError, "no pattern with entry_id 1180591620717411303424"),
    ((1, HOT), KeyError, "no pattern with entry_id 1 "),
])
def test_bad_set_state_arguments(args, exc, msg):
    t = PatternTable(1)
    t.record(canon(1), ())
    with pytest.raises(exc, match=msg):
        t.set_state(*args)
    if len(args) == 2 and args[1] == HOT:     # the same id check
        with pytest.raises(exc, match=msg):
            t.state(args[0])


@pytest.mark.parametrize("key, exc, msg", [
    (-1, ValueError, r"key must be in \[0, 2\*\*64\), got -1"),
    (2**64, ValueError, r"key must be in \[0, 2\*\*64\), got 18446744073709551616"),
    (1.0, TypeError, "key must be int, not float"),
])
def test_bad_cycle_keys(key, exc, msg):
    with pytest.raises(exc, match=msg):
        PatternTable(1).observe_segment(key)


@pytest.mark.skipif(not os.environ.get("GT_EXPECT_EXT_DIR"), reason="set by tests/c/run_*.sh")
def test_extension_under_test_is_the_expected_build():
    assert _hotpath.__file__.startswith(os.environ["GT_EXPECT_EXT_DIR"]), _hotpath.__file__
