"""Tests for gt.worker._batcher (csrc/_batcher.c): the pending-instruction buffer."""
import gc
import os
import random
import struct
import sys
import tracemalloc

import pytest

from gt.worker import _batcher
from gt.worker._batcher import Batcher, canonicalize, decode

# tests/c/run_valgrind.sh sets GT_VALGRIND=1: loops shrink so the run stays short.
SCALE = 0.02 if os.environ.get("GT_VALGRIND") else 1.0


def n_iter(n):
    return max(1, int(n * SCALE))


def words(canon):
    assert len(canon) % 4 == 0
    return list(struct.unpack("<%di" % (len(canon) // 4), canon))


def pack(ws):
    return struct.pack("<%di" % len(ws), *ws)


class RefBatcher:
    """Pure-Python model of the documented flush() semantics."""

    def __init__(self):
        self.ops, self.producer, self.freed, self.freed_set = [], {}, [], set()

    def append(self, opcode, param, rid, inputs):
        self.producer[rid] = len(self.ops)
        self.ops.append([opcode, param, rid, tuple(inputs), 1])

    def free(self, tid):
        if tid in self.producer:
            self.ops[self.producer[tid]][4] = 0
        elif tid not in self.freed_set:
            self.freed_set.add(tid)
            self.freed.append(tid)

    def flush(self):
        if not self.ops and not self.freed:
            return None
        ext, ext_index, ws = [], {}, [len(self.ops), 0]
        for opcode, param, rid, inputs, live in self.ops:
            ws += [opcode, param, len(inputs)]
            for i in inputs:
                if i in self.producer:
                    ws.append(self.producer[i])
                else:
                    if i not in ext_index:
                        ext_index[i] = len(ext)
                        ext.append(i)
                    ws.append(-ext_index[i] - 1)
            ws.append(live)
        ws[1] = len(ext)
        res = (pack(ws), tuple(ext), tuple(op[2] for op in self.ops if op[4]), tuple(self.freed))
        self.__init__()
        return res


def loop_body(b, base, weights=(1, 2, 3)):
    """A small 'training step': 4 ops over 3 persistent externals, fresh result ids."""
    x = base
    b.append(0, 7, x + 1, (weights[0], weights[1]))
    b.append(1, 0, x + 2, (x + 1, weights[2]))
    b.append(2, 3, x + 3, (x + 2, x + 1))
    b.append(1, 0, x + 4, (x + 3, weights[0]))
    b.free(x + 2)


# --- canonical form -----------------------------------------------------------

def test_canonical_form_of_hand_built_batch():
    b = Batcher(16, 4)
    assert b.append(1, 5, 100, (10, 11)) is False
    assert b.append(2, 0, 101, (100, 10)) is False
    assert b.append(0, 3, 102, ()) is False
    b.free(101)
    canon, ext, live, freed = b.flush()
    assert words(canon) == [3, 2,
                            1, 5, 2, -1, -2, 1,
                            2, 0, 2, 0, -1, 0,
                            0, 3, 0, 1]
    assert ext == (10, 11)
    assert live == (100, 102)
    assert freed == ()


def test_canon_is_little_endian_int32_bytes():
    canon, _, _, _ = canonicalize([(1, 2, 50, (7,))], 4)
    assert isinstance(canon, bytes)
    assert canon == struct.pack("<7i", 1, 1, 1, 2, 1, -1, 1)


def test_external_ids_dedup_in_first_use_order():
    b = Batcher(100, 3)
    b.append(0, 0, 100, (9, 5, 9))
    b.append(0, 0, 101, (5, 100, 7))
    b.append(0, 0, 102, (7, 9, 3))
    canon, ext, live, _ = b.flush()
    assert ext == (9, 5, 7, 3)
    assert words(canon) == [3, 4,
                            0, 0, 3, -1, -2, -1, 1,
                            0, 0, 3, -2, 0, -3, 1,
                            0, 0, 3, -3, -1, -4, 1]
    assert live == (100, 101, 102)


def test_internal_refs_point_to_producing_op():
    ops = [(0, 0, 10 + j, (10 + j - 1,) if j else (1,)) for j in range(20)]
    canon, ext, live, freed = canonicalize(ops, 1)
    dec = decode(canon)
    assert dec[0][2] == (-1,)
    assert all(dec[j][2] == (j - 1,) for j in range(1, 20))
    assert ext == (1,) and live == tuple(range(10, 30)) and freed == ()


def test_fresh_ids_give_identical_canon():
    b = Batcher(1000, 4)
    outs = []
    for it in range(5):
        loop_body(b, 1000 * (it + 1))
        outs.append(b.flush())
    assert len({o[0] for o in outs}) == 1
    assert all(o[1] == (1, 2, 3) for o in outs)
    assert [o[2] for o in outs] == [(1000 * (i + 1) + 1, 1000 * (i + 1) + 3, 1000 * (i + 1) + 4)
                                    for i in range(5)]


def test_different_wiring_param_or_live_set_changes_canon():
    base = canonicalize([(0, 0, 10, (1, 2)), (1, 0, 11, (10, 1))], 2)[0]
    swapped = canonicalize([(0, 0, 10, (1, 2)), (1, 0, 11, (1, 10))], 2)[0]
    param = canonicalize([(0, 1, 10, (1, 2)), (1, 0, 11, (10, 1))], 2)[0]
    assert len({base, swapped, param}) == 3
    b = Batcher(10, 2)
    b.append(0, 0, 10, (1, 2))
    b.append(1, 0, 11, (10, 1))
    b.free(10)
    dead = b.flush()[0]
    assert dead != base


# --- append / flush / free / clear ---------------------------------------------

def test_append_returns_true_when_max_size_reached():
    b = Batcher(3, 2)
    assert [b.append(0, 0, i + 10, ()) for i in range(4)] == [False, False, True, True]
    assert len(b) == 4


def test_flush_returns_none_when_nothing_pending():
    b = Batcher(4, 2)
    assert b.flush() is None
    b.append(0, 0, 1, ())
    assert b.flush() is not None
    assert b.flush() is None
    assert len(b) == 0


def test_flush_resets_buffer_and_map():
    b = Batcher(4, 2)
    b.append(0, 0, 5, (1,))
    b.free(1)
    b.flush()
    # ids of the previous batch are forgotten: 5 is now an external input,
    # and the result id 1 is no longer "already used".
    b.append(1, 0, 1, (5,))
    canon, ext, live, freed = b.flush()
    assert words(canon) == [1, 1, 1, 0, 1, -1, 1]
    assert ext == (5,) and live == (1,) and freed == ()


def test_free_of_pending_result_marks_it_dead():
    b = Batcher(10, 2)
    b.append(0, 0, 10, (1,))
    b.append(0, 0, 11, (10,))
    b.free(10)
    canon, ext, live, freed = b.flush()
    assert words(canon)[-1] == 1 and words(canon)[6] == 0
    assert live == (11,)
    assert freed == ()
    assert [d[3] for d in decode(canon)] == [False, True]


def test_freed_external_ids_are_reported_in_free_order():
    b = Batcher(10, 2)
    b.append(0, 0, 10, (1, 2))
    b.free(2)
    b.free(99)        # held in the worker's table, not used by this batch
    b.free(1)
    b.free(99)        # repeated free: reported once
    canon, ext, live, freed = b.flush()
    assert ext == (1, 2)
    assert freed == (2, 99, 1)
    assert live == (10,)


def test_frees_alone_are_flushed_with_empty_canon():
    b = Batcher(10, 2)
    b.free(42)
    canon, ext, live, freed = b.flush()
    assert words(canon) == [0, 0]
    assert (ext, live, freed) == ((), (), (42,))
    assert decode(canon) == []
    assert b.flush() is None


def test_freed_id_later_used_as_input_becomes_external():
    b = Batcher(10, 2)
    b.free(7)
    b.append(0, 0, 10, (7,))
    canon, ext, live, freed = b.flush()
    assert ext == (7,) and freed == (7,)
    assert words(canon) == [1, 1, 0, 0, 1, -1, 1]


def test_duplicate_result_id_raises_and_keeps_batch_intact():
    b = Batcher(10, 2)
    b.append(0, 0, 10, (1,))
    with pytest.raises(ValueError, match="result_id"):
        b.append(1, 0, 10, (2,))
    with pytest.raises(ValueError, match="result_id"):
        b.append(1, 0, 1, ())          # 1 is already an input of this batch
    with pytest.raises(ValueError, match="inputs"):
        b.append(1, 0, 11, (2, 11))    # an op cannot consume its own result
    assert len(b) == 1
    canon, ext, live, freed = b.flush()
    assert words(canon) == [1, 1, 0, 0, 1, -1, 1] and ext == (1,) and live == (10,)


def test_clear_drops_pending_ops_and_frees():
    b = Batcher(10, 2)
    b.append(0, 0, 10, (1,))
    b.free(3)
    b.clear()
    assert len(b) == 0
    assert b.flush() is None
    b.append(0, 0, 10, (1,))       # the same ids are accepted again
    assert b.flush()[1] == (1,)


def test_properties_are_read_only():
    b = Batcher(8, 3)
    assert (b.max_size, b.num_opcodes) == (8, 3)
    with pytest.raises(AttributeError):
        b.max_size = 9
    with pytest.raises(AttributeError):
        b.num_opcodes = 9
    assert "Batcher" in repr(b)


def test_batcher_is_not_subclassable():
    with pytest.raises(TypeError):
        type("Sub", (Batcher,), {})


def test_large_batch_grows_buffers_and_map():
    n = n_iter(20000) + 50
    b = Batcher(n, 5)
    ref = RefBatcher()
    rng = random.Random(1)
    for j in range(n):
        ins = tuple(rng.choice((rng.randrange(5000), 10**6 + rng.randrange(j + 1) if j else 7))
                    for _ in range(rng.randrange(4)))
        ins = tuple(i for i in ins if i != 10**6 + j)
        b.append(j % 5, j % 3, 10**6 + j, ins)
        ref.append(j % 5, j % 3, 10**6 + j, ins)
    assert b.flush() == ref.flush()


def test_bool_and_int_subclasses_are_ints():
    class MyInt(int):
        pass
    b = Batcher(4, 2)
    b.append(True, MyInt(3), MyInt(10), (MyInt(4), False))
    canon, ext, live, _ = b.flush()
    assert words(canon) == [1, 2, 1, 3, 2, -1, -2, 1] and ext == (4, 0) and live == (10,)


def test_canonicalize_matches_batcher():
    ops = [(0, 1, 10, (1, 2)), (2, 0, 11, (10,)), (1, 4, 12, (11, 2, 10))]
    b = Batcher(10, 3)
    for op in ops:
        b.append(*op)
    assert canonicalize(ops, 3) == b.flush()
    assert canonicalize(tuple(ops), 3) == canonicalize(ops, 3)


def test_canonicalize_reports_duplicate_result_id_with_op_index():
    with pytest.raises(ValueError, match=r"ops\[1\]: duplicate result_id"):
        canonicalize([(0, 0, 5, ()), (0, 0, 5, ())], 1)


# --- decode ------------------------------------------------------------------

def test_decode_round_trip():
    b = Batcher(10, 4)
    loop_body(b, 100)
    canon = b.flush()[0]
    assert decode(canon) == [
        (0, 7, (-1, -2), True),
        (1, 0, (0, -3), False),
        (2, 3, (1, 0), True),
        (1, 0, (2, -1), True),
    ]


MALFORMED = {
    "not a multiple of 4": b"\x00" * 9,
    "too short": pack([1]),
    "empty": b"",
    "negative n_ops": pack([-1, 0]),
    "negative n_ext": pack([0, -1]),
    "truncated header of op": pack([1, 0, 0, 0]),
    "truncated inputs": pack([1, 1, 0, 0, 3, -1, 1]),
    "trailing words": pack([0, 0, 5]),
    "trailing op": pack([1, 0, 0, 0, 0, 1, 0, 0, 0, 1]),
    "forward ref": pack([2, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1]),
    "self ref": pack([1, 0, 0, 0, 1, 0, 1]),
    "external out of range": pack([1, 1, 0, 0, 1, -2, 1]),
    "external with n_ext 0": pack([1, 0, 0, 0, 1, -1, 1]),
    "int32 min ref": pack([1, 1, 0, 0, 1, -2**31, 1]),
    "live flag 2": pack([1, 0, 0, 0, 0, 2]),
    "live flag -1": pack([1, 0, 0, 0, 0, -1]),
    "negative opcode": pack([1, 0, -1, 0, 0, 1]),
    "negative param": pack([1, 0, 0, -5, 0, 1]),
    "negative n_inputs": pack([1, 0, 0, 0, -1, 1]),
    "huge n_inputs": pack([1, 0, 0, 0, 2**31 - 1, 1]),
    "huge n_ops": pack([2**31 - 1, 0, 0, 0, 0, 1]),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_decode_rejects_malformed_canon(name):
    with pytest.raises(ValueError, match="canon"):
        decode(MALFORMED[name])


@pytest.mark.parametrize("bad", [None, "abc", bytearray(8), memoryview(b"\0" * 8), 5, [0, 0]])
def test_decode_requires_bytes(bad):
    with pytest.raises(TypeError, match="canon must be bytes"):
        decode(bad)


# --- argument checking ----------------------------------------------------------

@pytest.mark.parametrize("args, exc, match", [
    ((0, 4), ValueError, "max_size"),
    ((-3, 4), ValueError, "max_size"),
    ((4, 0), ValueError, "num_opcodes"),
    ((4, -1), ValueError, "num_opcodes"),
    ((4, 2**31), ValueError, "num_opcodes"),
    ((2**63, 4), ValueError, "max_size"),
    ((2**80, 4), ValueError, "max_size"),
    ((4.0, 4), TypeError, "max_size"),
    (("4", 4), TypeError, "max_size"),
    ((4, None), TypeError, "num_opcodes"),
    ((4,), TypeError, None),
    ((4, 4, 4), TypeError, None),
])
def test_constructor_rejects_bad_arguments(args, exc, match):
    with pytest.raises(exc, match=match):
        Batcher(*args)


def test_constructor_accepts_keywords():
    b = Batcher(max_size=2, num_opcodes=3)
    assert (b.max_size, b.num_opcodes) == (2, 3)


@pytest.mark.parametrize("args, exc, match", [
    ((4, 0, 10, ()), ValueError, "opcode"),
    ((-1, 0, 10, ()), ValueError, "opcode"),
    ((2**70, 0, 10, ()), ValueError, "opcode"),
    ((1.0, 0, 10, ()), TypeError, "opcode"),
    ((None, 0, 10, ()), TypeError, "opcode"),
    ((0, -1, 10, ()), ValueError, "param_code"),
    ((0, 2**31, 10, ()), ValueError, "param_code"),
    ((0, "x", 10, ()), TypeError, "param_code"),
    ((0, 0, -1, ()), ValueError, "result_id"),
    ((0, 0, 2**63, ()), ValueError, "result_id"),
    ((0, 0, -2**64, ()), ValueError, "result_id"),
    ((0, 0, 1.5, ()), TypeError, "result_id"),
    ((0, 0, 10, [1, 2]), TypeError, "inputs"),
    ((0, 0, 10, None), TypeError, "inputs"),
    ((0, 0, 10, 5), TypeError, "inputs"),
    ((0, 0, 10, (1, "2")), TypeError, r"inputs\[1\]"),
    ((0, 0, 10, (1, 2.0)), TypeError, r"inputs\[1\]"),
    ((0, 0, 10, (-1,)), ValueError, r"inputs\[0\]"),
    ((0, 0, 10, (1, 2**63)), ValueError, r"inputs\[1\]"),
    ((0, 0, 10, (10,)), ValueError, r"inputs\[0\]"),
])
def test_append_rejects_bad_arguments(args, exc, match):
    b = Batcher(4, 4)
    b.append(0, 0, 5, (1,))
    with pytest.raises(exc, match=match):
        b.append(*args)
    assert len(b) == 1
    assert b.flush()[1] == (1,)


@pytest.mark.parametrize("n", [0, 1, 3, 5])
def test_append_rejects_wrong_argument_count(n):
    with pytest.raises(TypeError, match="4 arguments"):
        Batcher(4, 4).append(*([0] * n))


def test_append_rejects_keywords():
    with pytest.raises(TypeError):
        Batcher(4, 4).append(opcode=0, param_code=0, result_id=1, inputs=())


@pytest.mark.parametrize("arg, exc", [(-1, ValueError), (2**63, ValueError), (1.0, TypeError),
                                      ("1", TypeError), (None, TypeError)])
def test_free_rejects_bad_ids(arg, exc):
    b = Batcher(4, 4)
    with pytest.raises(exc, match="tensor_id"):
        b.free(arg)
    assert b.flush() is None


@pytest.mark.parametrize("args, exc, match", [
    (([], 4), ValueError, "ops must not be empty"),
    (((), 4), ValueError, "ops must not be empty"),
    ((None, 4), TypeError, "ops"),
    (({(0, 0, 1, ())}, 4), TypeError, "ops"),
    (([(0, 0, 1, ())], 0), ValueError, "num_opcodes"),
    (([(0, 0, 1, ())], "4"), TypeError, "num_opcodes"),
    (([[0, 0, 1, ()]], 4), TypeError, r"ops\[0\]"),
    (([(0, 0, 1, ()), (0, 0, 2)], 4), ValueError, r"ops\[1\]"),
    (([(0, 0, 1, ()), (5, 0, 2, ())], 4), ValueError, r"ops\[1\]: opcode"),
    (([(0, 0, 1, ()), (0, 0, 2, [1])], 4), TypeError, r"ops\[1\]: inputs"),
    (([(0, 0, 1, (3, -3))], 4), ValueError, r"ops\[0\]: inputs\[1\]"),
])
def test_canonicalize_rejects_bad_arguments(args, exc, match):
    with pytest.raises(exc, match=match):
        canonicalize(*args)


def test_canonicalize_rejects_wrong_argument_count():
    with pytest.raises(TypeError):
        canonicalize([(0, 0, 1, ())])


# --- fuzzing ---------------------------------------------------------------------

JUNK = [None, 0, 1, -1, 2**31, 2**63, -2**63, 2**64, 10**40, 1.5, float("nan"), "x", b"\x00",
        bytearray(b"12345678"), (), (1,), (1, 2, 3, 4), [1], {1: 2}, object(), True, False,
        (None,), (2**70,), (-5,), (1.0,), Batcher, sys]


def test_fuzz_random_arguments_only_raise_python_exceptions():
    rng = random.Random(1234)
    b = Batcher(8, 4)
    for _ in range(n_iter(20000)):
        what = rng.randrange(7)
        try:
            if what == 0:
                args = [rng.choice(JUNK + [rng.randrange(5), rng.randrange(100), (rng.randrange(50),)])
                        for _ in range(rng.choice((4, 4, 4, 3, 5)))]
                b.append(*args)
            elif what == 1:
                b.free(rng.choice(JUNK + [rng.randrange(100)]))
            elif what == 2:
                r = b.flush()
                if r is not None:
                    assert isinstance(decode(r[0]), list)
            elif what == 3:
                decode(rng.choice(JUNK + [bytes(rng.randrange(256) for _ in range(rng.randrange(40)))]))
            elif what == 4:
                ops = [tuple(rng.choice(JUNK + [rng.randrange(4)]) for _ in range(rng.choice((3, 4, 4))))
                       for _ in range(rng.randrange(4))]
                canonicalize(rng.choice([ops, rng.choice(JUNK)]), rng.choice([4, rng.choice(JUNK)]))
            elif what == 5:
                Batcher(rng.choice(JUNK + [3]), rng.choice(JUNK + [3]))
            else:
                b.clear()
        except (TypeError, ValueError):
            pass


def test_fuzz_mutated_canon_is_validated_or_rejected():
    rng = random.Random(99)
    good = []
    for k in range(20):
        ops = []
        for j in range(rng.randrange(1, 8)):
            ins = tuple(rng.choice([rng.randrange(5), 100 + rng.randrange(j)] if j else [rng.randrange(5)])
                        for _ in range(rng.randrange(3)))
            ops.append((rng.randrange(3), rng.randrange(3), 100 + j, ins))
        good.append(canonicalize(ops, 3)[0])
    for _ in range(n_iter(20000)):
        ws = words(rng.choice(good))
        for _ in range(rng.randrange(1, 4)):
            r = rng.randrange(4)
            if r == 0 and ws:
                ws[rng.randrange(len(ws))] = rng.choice([0, 1, -1, 2, -2, 7, 2**31 - 1, -2**31])
            elif r == 1 and ws:
                del ws[rng.randrange(len(ws))]
            elif r == 2:
                ws.insert(rng.randrange(len(ws) + 1), rng.randrange(-3, 4))
            else:
                ws = ws[:rng.randrange(len(ws) + 1)]
        data = pack(ws)
        if rng.random() < 0.1 and data:
            data = data[:-rng.randrange(1, 4)]
        try:
            dec = decode(data)
        except ValueError:
            continue
        # Anything accepted must satisfy the documented invariants.
        n_ops, n_ext = ws[0], ws[1]
        assert len(dec) == n_ops
        for j, (opcode, param, refs, live) in enumerate(dec):
            assert opcode >= 0 and param >= 0 and isinstance(live, bool)
            assert all((0 <= r < j) or (-n_ext <= r < 0) for r in refs)


def test_differential_against_python_model():
    rng = random.Random(7)
    b, ref = Batcher(10**9, 6), RefBatcher()
    next_id = 1000
    produced = []
    for _ in range(n_iter(30000)):
        r = rng.random()
        if r < 0.6:
            ins = []
            for _ in range(rng.randrange(4)):
                if produced and rng.random() < 0.6:
                    ins.append(rng.choice(produced))
                else:
                    ins.append(rng.randrange(40))     # ids held by the worker
            op = (rng.randrange(6), rng.randrange(4), next_id, tuple(ins))
            produced.append(next_id)
            next_id += 1
            assert (b.append(*op)) is False
            ref.append(*op)
        elif r < 0.85:
            tid = rng.choice(produced) if produced and rng.random() < 0.5 else rng.randrange(40)
            b.free(tid)
            ref.free(tid)
        else:
            assert b.flush() == ref.flush()
            produced = []
    assert b.flush() == ref.flush()


def test_reentrant_calls_from_finalizers_during_flush_do_not_crash():
    b = Batcher(10**6, 2)
    seen = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda u: seen.append(u.exc_type)

    class Trap:
        def __init__(self, k):
            self.me = self
            self.k = k

        def __del__(self):
            try:
                b.append(0, 0, 10**9 + self.k, (1,))
                b.free(self.k)
                b.clear()
                b.flush()
            except RuntimeError:
                seen.append(RuntimeError)

    old = gc.get_threshold()
    try:
        for rnd in range(n_iter(40)):
            for j in range(50):
                b.append(0, 0, 10**6 * rnd + j + 100, (j,))
            gc.disable()
            for k in range(20):
                Trap(10**7 * (rnd + 1) + k)
            gc.set_threshold(1)
            gc.enable()
            b.flush()
            gc.collect()
    finally:
        gc.set_threshold(*old)
        gc.enable()
        sys.unraisablehook = old_hook
    if sys.version_info < (3, 12):
        # 3.11 collects inside the allocation of flush()'s tuples, so the
        # finalizers above really ran during flush() and were refused.
        assert RuntimeError in seen
    b.clear()
    assert b.flush() is None


# --- leaks ---------------------------------------------------------------------------

def _traced_growth(fn, n):
    for _ in range(max(10, n // 20)):
        fn()
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(max(10, n // 20)):
            fn()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(n):
            fn()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return after - before


def _workload():
    b = _workload.b
    base = _workload.counter = _workload.counter + 10
    loop_body(b, base)
    canon, ext, live, freed = b.flush()
    decode(canon)
    canonicalize([(0, 0, 5, (1, 2)), (1, 1, 6, (5,))], 2)
    for bad in ((9, 0, base, ()), (0, 0, base + 1, [1]), (0, 0, base + 2, (1, "x")),
                (0, 0, base + 1, (2**64,))):
        try:
            b.append(*bad)
        except (TypeError, ValueError):
            pass
    for bad in (b"\x01", pack([1, 0, 0, 0, 1, 0, 1])):
        try:
            decode(bad)
        except ValueError:
            pass
    try:
        canonicalize([(0, 0, 5, ()), (0, 0, 5, ())], 1)
    except ValueError:
        pass
    Batcher(4, 4)
    b.clear()


_workload.b = Batcher(64, 4)
_workload.counter = 10**6


def test_no_memory_growth_over_many_iterations():
    growth = _traced_growth(_workload, n_iter(50000))
    assert growth < 64 * 1024, growth


def test_refcounts_of_shared_objects_are_balanced():
    b = Batcher(64, 4)
    objs = [True, False, None, 1, 2, 7, -1, ()]
    loop_body(b, 10)
    b.flush()
    gc.collect()
    before = [sys.getrefcount(o) for o in objs]
    for i in range(1000):
        loop_body(b, 100 + 10 * i)
        decode(b.flush()[0])
        try:
            b.append(1, 1, 2, (7, "x"))
        except TypeError:
            pass
    gc.collect()
    after = [sys.getrefcount(o) for o in objs]
    assert after == before


def test_module_metadata():
    assert _batcher.Batcher is Batcher
    assert "Add one op" in Batcher.append.__doc__
    assert Batcher.append.__text_signature__ == "($self, opcode, param_code, result_id, inputs, /)"


def test_module_instances_are_independent():
    import importlib.util
    spec = importlib.util.find_spec("gt.worker._batcher")
    m2 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m2)
    assert m2 is not _batcher and m2.Batcher is not Batcher
    b = m2.Batcher(2, 2)
    del m2, spec
    gc.collect()
    b.append(0, 0, 5, (1,))
    assert b.flush()[1] == (1,)


@pytest.mark.skipif(not os.environ.get("GT_EXPECT_EXT_DIR"), reason="set by tests/c/run_*.sh")
def test_extension_under_test_is_the_expected_build():
    assert _batcher.__file__.startswith(os.environ["GT_EXPECT_EXT_DIR"]), _batcher.__file__
