"""Tests for gt.worker._batcher (csrc/_batcher.c): the pending-instruction buffer."""
import gc
import os
import random
import struct
import sys

import pytest

from gt.worker import _batcher
from gt.worker._batcher import Batcher, canonicalize, decode

from leakcheck import n_iter, traced_growth




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
    growth = traced_growth(_workload, n_iter(50000))
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


# --- flush_ops: whole batches as lists ------------------------------------------------

def typed_key(x):
    """Model of flush_ops' interning key: equal values with identical types, recursively."""
    t = type(x)
    if isinstance(x, tuple) and t.__hash__ is tuple.__hash__ and t.__eq__ is tuple.__eq__:
        return (t, tuple(typed_key(i) for i in x))
    return (t, x)


class RefInterner:
    """Pure-Python model of the Batcher's params -> param code table."""

    def __init__(self, limit=65536):
        self.codes, self.next, self.limit = {}, 0, limit

    def code(self, params):
        k = typed_key(params)
        c = self.codes.get(k)
        if c is None:
            if len(self.codes) >= self.limit:
                self.codes.clear()
            c = self.codes[k] = self.next
            self.next += 1
        return c


def via_append(ops, frees, interner, num_opcodes=8):
    """What append-all + free-all + flush gives for the worker's op tuples."""
    b = Batcher(10**9, num_opcodes)
    for opcode, rid, ins, params, scalars in ops:
        b.append(opcode, interner.code(params), rid, ins)
    for f in frees:
        b.free(f)
    return b.flush()


class Sub(tuple):
    """A tuple subclass keeping tuple's __eq__/__hash__ (like torch.Size)."""


class Point(tuple):
    """A tuple subclass with its own __eq__: compared as a leaf."""

    def __eq__(self, other):
        return tuple.__eq__(self, other)

    __hash__ = tuple.__hash__


def fresh(t):
    """An equal params tuple that is a different object (no identity shortcut)."""
    return tuple(fresh(i) if type(i) is tuple else i for i in t) + ()


PARAM_POOL = [(), (1,), (True,), (1.0,), (0,), (False,), (0.0,), ((1,),), ((True,),), ((1.0,),),
              ((4, 3),), ((4, 3), 1), ((4, 3), True), (1, True), (True, 1), ("mean",), (None,),
              (Sub((4, 3)),), (Sub((4, True)),), ((1, (2, (3, (4,)))),), ((1, (2, (3, (True,)))),),
              (Point((1, 2)),), (b"x",), (-0.0,), (2**70,), (slice(1, 2, None) if sys.version_info >= (3, 12)
                                                            else (1, 2, None),)]


def random_batch(rng, base, n_ext=6):
    """Random valid ops and frees; result ids base.., externals 1..n_ext."""
    ops, produced = [], []
    for j in range(rng.randrange(0, 30)):
        ins = []
        for _ in range(rng.randrange(4)):
            if produced and rng.random() < 0.6:
                ins.append(rng.choice(produced))
            else:
                ins.append(1 + rng.randrange(n_ext))
        params = rng.choice(PARAM_POOL)
        if rng.random() < 0.5:
            params = fresh(params)
        ops.append((rng.randrange(8), base + j, tuple(ins), params, rng.choice([(), (0.5,), (2,)])))
        produced.append(base + j)
    frees = []
    for _ in range(rng.randrange(0, 12)):
        r = rng.random()
        if r < 0.4 and produced:
            frees.append(rng.choice(produced))          # internal: result becomes dead
        elif r < 0.7:
            frees.append(1 + rng.randrange(n_ext))      # external (maybe unused by this batch)
        elif r < 0.85 and frees:
            frees.append(rng.choice(frees))             # repeated free
        else:
            frees.append(10**6 + rng.randrange(100))    # held by the worker, unknown here
    return ops, frees


def test_flush_ops_matches_append_free_flush_on_random_batches():
    rng = random.Random(2024)
    b, interner = Batcher(16, 8), RefInterner()
    for it in range(n_iter(3000)):
        ops, frees = random_batch(rng, 1000 * (it + 1))
        got = b.flush_ops(ops, frees)
        want = via_append(ops, frees, interner)
        assert got == want
        if got is not None:
            assert all(type(x) is int for part in got[1:] for x in part)
        assert b.param_code_count == len(interner.codes)
        assert len(b) == 0 and b.flush() is None


def test_flush_ops_hand_built_batch():
    b = Batcher(16, 4)
    ops = [(1, 100, (10, 11), ((4, 3),), ()),
           (2, 101, (100, 10), (), (0.5,)),
           (0, 102, (), (1, True), ())]
    canon, ext, live, freed = b.flush_ops(ops, [101, 7, 101, 7])
    assert words(canon) == [3, 2,
                            1, 0, 2, -1, -2, 1,
                            2, 1, 2, 0, -1, 0,
                            0, 2, 0, 1]
    assert (ext, live, freed) == ((10, 11), (100, 102), (7,))


def test_flush_ops_empty_lists_and_frees_only():
    b = Batcher(4, 2)
    assert b.flush_ops([], []) is None
    assert b.flush_ops([], [5, 3, 5]) == (pack([0, 0]), (), (), (5, 3))
    assert b.param_code_count == 0


def test_flush_ops_does_not_modify_the_lists():
    b = Batcher(4, 2)
    ops, frees = [(0, 10, (1,), (), ())], [10, 1]
    snap = (list(ops), list(frees))
    b.flush_ops(ops, frees)
    assert (ops, frees) == snap


def test_flush_ops_returns_the_callers_int_objects_or_plain_ints():
    b = Batcher(4, 2)
    rid, inp, dead = 10**12, 10**13, 10**14
    canon, ext, live, freed = b.flush_ops([(0, rid, (inp,), (), ())], [dead])
    assert live[0] is rid and ext[0] is inp and freed[0] is dead
    # bool / int subclasses are ints here, but come back as plain ints, as with append()
    canon, ext, live, freed = b.flush_ops([(True, True, (False,), (), ())], [False, False])
    assert (ext, live, freed) == ((0,), (1,), (0,))
    assert all(type(x) is int for x in ext + live + freed)


def test_params_interning_distinguishes_types():
    b = Batcher(64, 1)
    groups = [[(1,), (True,), (1.0,), (Sub((1,)),)],
              [((1,),), ((True,),), ((1.0,),), ((Sub((1,)),),), (((1,),),)],
              [(0,), (False,), (0.0,), (0j,)],
              [((4, 3),), (Sub((4, 3)),), (Point((4, 3)),), (((4, 3),),)],
              [(1, 2), (1, 2.0), (True, 2), (1, (2,))]]
    for g in groups:
        ops = [(0, 100 + j, (), p, ()) for j, p in enumerate(g)]
        codes = [d[1] for d in decode(b.flush_ops(ops, [])[0])]
        assert len(set(codes)) == len(g), (g, codes)
    # equal values of the same types share a code, whatever the objects
    ops = [(0, 100 + j, (), p, ()) for j, p in enumerate([((4, 3), True), fresh(((4, 3), True)),
                                                          ((4, 3), True), (-0.0,), (0.0,)])]
    codes = [d[1] for d in decode(b.flush_ops(ops, [])[0])]
    assert codes[0] == codes[1] == codes[2] and codes[3] == codes[4] and codes[0] != codes[3]


def test_same_params_same_code_across_batches():
    b = Batcher(64, 4)
    canons = set()
    first = None
    for it in range(50):
        base = 10**6 * (it + 1)
        ops = [(0, base, (1, 2), fresh(((4, 3),)), ()),
               (1, base + 1, (base, 3), (1, True), (0.5,)),
               (2, base + 2, (base + 1,), (), ()),
               (3, base + 3, (base + 2, base), (Sub((4, 3)), 1.0), ())]
        canon, ext, live, freed = b.flush_ops(ops, [base + 1, 3])
        canons.add(canon)
        first = first or canon
        assert ext == (1, 2, 3) and live == (base, base + 2, base + 3) and freed == (3,)
    assert canons == {first}
    assert b.param_code_count == 4
    assert [d[1] for d in decode(first)] == [0, 1, 2, 3]


def test_param_codes_are_never_reused_when_the_table_is_bounded():
    b = Batcher(64, 1, param_codes_limit=4)
    assert b.param_codes_limit == 4
    interner = RefInterner(limit=4)
    seen = {}                       # code -> typed key: a code must never name two params
    rng = random.Random(5)
    pool = [(i,) for i in range(10)] + [(bool(i % 2),) for i in range(2)] + [(float(i),) for i in range(3)]
    last_max = -1
    for it in range(max(60, n_iter(400))):
        ps = [rng.choice(pool) for _ in range(rng.randrange(1, 6))]
        ops = [(0, 100 + j, (), fresh(p), ()) for j, p in enumerate(ps)]
        got = b.flush_ops(ops, [])
        assert got == via_append(ops, [], interner, num_opcodes=1)
        for p, (_, code, _, _) in zip(ps, decode(got[0])):
            assert seen.setdefault(code, typed_key(p)) == typed_key(p)
            if code > last_max:
                assert code == last_max + 1      # new codes come from a counter
                last_max = code
        assert b.param_code_count <= 4
    assert last_max > 20          # the table was emptied many times, codes kept counting


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"param_codes_limit": 0}, ValueError, "param_codes_limit"),
    ({"param_codes_limit": -1}, ValueError, "param_codes_limit"),
    ({"param_codes_limit": 2**31}, ValueError, "param_codes_limit"),
    ({"param_codes_limit": "8"}, TypeError, "param_codes_limit"),
    ({"param_codes_limit": 8.0}, TypeError, "param_codes_limit"),
    ({"bogus": 1}, TypeError, None),
])
def test_param_codes_limit_is_validated(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Batcher(4, 4, **kwargs)


def test_param_codes_limit_is_keyword_only_with_default():
    with pytest.raises(TypeError):
        Batcher(4, 4, 16)
    b = Batcher(4, 4)
    assert (b.param_codes_limit, b.param_code_count) == (65536, 0)
    with pytest.raises(AttributeError):
        b.param_code_count = 3
    with pytest.raises(AttributeError):
        b.param_codes_limit = 3


def _deep(n):
    p = ()
    for _ in range(n):
        p = (p,)
    return p


OK_OP = (0, 50, (1,), (), ())
FLUSH_OPS_BAD = [
    # (ops, frees, exception, message regex)
    ((OK_OP,), [], TypeError, r"^ops must be a list, not tuple"),
    (None, [], TypeError, r"^ops must be a list"),
    ([OK_OP], (1,), TypeError, r"^frees must be a list, not tuple"),
    ([OK_OP], None, TypeError, r"^frees must be a list"),
    ([OK_OP, [0, 51, (), (), ()]], [], TypeError, r"^ops\[1\] must be a tuple"),
    ([OK_OP, None], [], TypeError, r"^ops\[1\] must be a tuple"),
    ([OK_OP, (0, 51, (), ())], [], ValueError, r"^ops\[1\] must have 5 items .* got 4"),
    ([OK_OP, (0, 51, (), (), (), ())], [], ValueError, r"^ops\[1\] must have 5 items .* got 6"),
    ([(4, 51, (), (), ())], [], ValueError, r"^ops\[0\]\[0\] \(opcode\) must be in range \[0, 3\], got 4"),
    ([(-1, 51, (), (), ())], [], ValueError, r"^ops\[0\]\[0\] \(opcode\)"),
    ([(2**70, 51, (), (), ())], [], ValueError, r"^ops\[0\]\[0\] \(opcode\) does not fit"),
    ([(1.0, 51, (), (), ())], [], TypeError, r"^ops\[0\]\[0\] \(opcode\) must be int, not float"),
    ([(None, 51, (), (), ())], [], TypeError, r"^ops\[0\]\[0\] \(opcode\)"),
    ([(0, -1, (), (), ())], [], ValueError, r"^ops\[0\]\[1\] \(result_id\) must be >= 0, got -1"),
    ([(0, 2**63, (), (), ())], [], ValueError, r"^ops\[0\]\[1\] \(result_id\)"),
    ([(0, "51", (), (), ())], [], TypeError, r"^ops\[0\]\[1\] \(result_id\) must be int, not str"),
    ([(0, 51, [1], (), ())], [], TypeError, r"^ops\[0\]\[2\] \(input_ids\) must be a tuple"),
    ([(0, 51, 1, (), ())], [], TypeError, r"^ops\[0\]\[2\] \(input_ids\)"),
    ([OK_OP, (0, 51, (), (), ()), (0, 52, (), (), ()), (0, 53, (1, "2"), (), ())], [], TypeError,
     r"^ops\[3\]\[2\]\[1\] \(input id\) must be int, not str"),
    ([(0, 51, (1, 2.0), (), ())], [], TypeError, r"^ops\[0\]\[2\]\[1\] \(input id\)"),
    ([(0, 51, (-1,), (), ())], [], ValueError, r"^ops\[0\]\[2\]\[0\] \(input id\) must be >= 0"),
    ([(0, 51, (1, 2**64), (), ())], [], ValueError, r"^ops\[0\]\[2\]\[1\] \(input id\) does not fit"),
    ([(0, 51, (1, 51), (), ())], [], ValueError, r"^ops\[0\]\[2\]\[1\] \(input id\) is the op's own result_id"),
    ([(0, 51, (), [1], ())], [], TypeError, r"^ops\[0\]\[3\] \(params\) must be a tuple, not list"),
    ([(0, 51, (), None, ())], [], TypeError, r"^ops\[0\]\[3\] \(params\) must be a tuple"),
    ([(0, 51, (), ([1],), ())], [], TypeError, r"^ops\[0\]\[3\] \(params\): unhashable type: 'list'"),
    ([OK_OP, (0, 51, (), ((1, {}),), ())], [], TypeError, r"^ops\[1\]\[3\] \(params\): unhashable"),
    ([(0, 51, (), _deep(150), ())], [], ValueError, r"^ops\[0\]\[3\] \(params\): is nested more than"),
    ([(0, 51, (), (), [])], [], TypeError, r"^ops\[0\]\[4\] \(scalars\) must be a tuple, not list"),
    ([(0, 51, (), (), None)], [], TypeError, r"^ops\[0\]\[4\] \(scalars\)"),
    ([OK_OP, (1, 50, (), (), ())], [], ValueError, r"^ops\[1\]\[1\] \(result_id\): duplicate result_id 50, "
                                                   r"already produced by ops\[0\]"),
    ([OK_OP, (1, 1, (), (), ())], [], ValueError, r"^ops\[1\]\[1\] \(result_id\): 1 is already used as an input"),
    ([OK_OP], ["7"], TypeError, r"^frees\[0\] must be int, not str"),
    ([OK_OP], [7, 8, -1], ValueError, r"^frees\[2\] must be >= 0, got -1"),
    ([OK_OP], [2**64], ValueError, r"^frees\[0\] does not fit in int64"),
    ([], [None], TypeError, r"^frees\[0\]"),
]


@pytest.mark.parametrize("case", range(len(FLUSH_OPS_BAD)))
def test_flush_ops_rejects_bad_input_and_drops_the_batch(case):
    ops, frees, exc, match = FLUSH_OPS_BAD[case]
    b = Batcher(4, 4)
    with pytest.raises(exc, match=match):
        b.flush_ops(ops, frees)
    assert len(b) == 0 and b.flush() is None
    # the Batcher is usable afterwards, with the same ids
    assert b.flush_ops([OK_OP], [50]) == (pack([1, 1, 0, 0, 1, -1, 0]), (1,), (), ())


def test_flush_ops_unhashable_params_error_keeps_the_cause():
    b = Batcher(4, 4)
    with pytest.raises(TypeError) as ei:
        b.flush_ops([(0, 1, (), ([],), ())], [])
    assert isinstance(ei.value.__cause__, TypeError)


@pytest.mark.parametrize("n", [0, 1, 3])
def test_flush_ops_rejects_wrong_argument_count(n):
    with pytest.raises(TypeError, match="2 arguments"):
        Batcher(4, 4).flush_ops(*([[]] * n))


def test_flush_ops_rejects_keywords():
    with pytest.raises(TypeError):
        Batcher(4, 4).flush_ops(ops=[], frees=[])


def test_flush_ops_refuses_to_mix_with_pending_appends():
    b = Batcher(8, 4)
    b.append(0, 0, 10, (1,))
    with pytest.raises(RuntimeError, match="pending from append"):
        b.flush_ops([(0, 11, (10,), (), ())], [])
    with pytest.raises(RuntimeError, match="pending from append"):
        b.flush_ops([], [])
    assert len(b) == 1
    assert b.flush() == canonicalize([(0, 0, 10, (1,))], 4)   # pending state untouched
    b.free(3)
    with pytest.raises(RuntimeError, match="pending from append"):
        b.flush_ops([], [4])
    assert b.flush()[3] == (3,)
    assert b.flush_ops([(0, 11, (10,), (), ())], [])[1] == (10,)


def test_flush_ops_then_append_api_still_works():
    b = Batcher(8, 4)
    b.flush_ops([(0, 11, (10,), (5,), ())], [11])
    b.append(0, 0, 11, (10,))
    b.free(11)
    assert b.flush() == (pack([1, 1, 0, 0, 1, -1, 0]), (10,), (), ())


class HashBomb:
    """A params item whose __hash__/__eq__ run Python code against the Batcher or the list."""

    def __init__(self, action, h=1):
        self.action, self.h = action, h

    def __hash__(self):
        if self.action == "hash-raise":
            raise ValueError("boom")
        if self.action == "hash-reenter":
            self.b.flush_ops([], [])
        return self.h

    def __eq__(self, other):
        if self.action == "eq-shrink":
            del self.ops[1:]
        if self.action == "eq-grow":
            self.ops.append((0, 999, (), (), ()))
        if self.action == "eq-reenter":
            self.b.append(0, 0, 1, ())
        return False


def test_params_hash_and_eq_running_python_code():
    b = Batcher(64, 4)
    # __hash__ raising ValueError: named and chained
    with pytest.raises(ValueError, match=r"ops\[0\]\[3\] \(params\): boom") as ei:
        b.flush_ops([(0, 1, (), (HashBomb("hash-raise"),), ())], [])
    assert str(ei.value.__cause__) == "boom"
    # re-entrant calls are refused; the RuntimeError propagates and the batch is dropped
    bomb = HashBomb("hash-reenter")
    bomb.b = b
    with pytest.raises(RuntimeError, match="re-entrantly"):
        b.flush_ops([(0, 1, (), (), ()), (0, 2, (), (bomb,), ())], [])
    assert len(b) == 0 and b.flush() is None
    first, second = HashBomb("eq-reenter", h=7), HashBomb("eq-reenter", h=7)
    first.b = second.b = b
    b.flush_ops([(0, 1, (), (first,), ())], [])          # interned; no __eq__ call yet
    with pytest.raises(RuntimeError, match="re-entrantly"):
        b.flush_ops([(0, 2, (), (second,), ())], [])      # same hash: __eq__ runs
    assert len(b) == 0 and b.flush() is None
    # the ops list shrinks / grows while it is read: no out-of-bounds read
    for action, n_ops in (("eq-shrink", 2), ("eq-grow", 4)):
        a1, a2 = HashBomb(action, h=11), HashBomb(action, h=11)
        ops = [(0, 1, (), (a1,), ()), (0, 2, (), (a2,), ()), (0, 3, (), (), ())]
        a1.ops = a2.ops = ops
        canon, ext, live, freed = b.flush_ops(ops, [])
        assert len(decode(canon)) == n_ops
    assert b.flush() is None


def test_batcher_holding_params_is_collected_in_a_cycle():
    import weakref

    class Holder:
        __hash__ = object.__hash__

    b = Batcher(4, 4)
    h = Holder()
    h.b = b                      # params -> h -> b -> interning table -> params
    b.flush_ops([(0, 1, (), (h,), ())], [])
    assert b.param_code_count == 1
    ref = weakref.ref(h)
    del b, h
    gc.collect()
    assert ref() is None


JUNK_OPS = JUNK + [(0, 5, (), (), ()), (0, 5, (1,), (), ()), (9, 5, (), (), ()), (0, 5, (5,), (), ()),
                   (0, 6, (), ([],), ()), (0, 6, (), (), []), (0, 6, [1], (), ()), (0, 7, (1,), (True,), (1.5,))]


def test_fuzz_flush_ops_only_raises_python_exceptions_and_never_reuses_codes():
    rng = random.Random(77)
    b = Batcher(8, 4, param_codes_limit=16)
    code_owner = {}
    pool = PARAM_POOL + [(i,) for i in range(30)]
    for it in range(n_iter(20000)):
        ops = []
        for j in range(rng.randrange(6)):
            if rng.random() < 0.15:
                ops.append(rng.choice(JUNK_OPS))
                continue
            op = [rng.randrange(4), 1000 * it + j, tuple(rng.randrange(20) for _ in range(rng.randrange(3))),
                  fresh(rng.choice(pool)), ()]
            if rng.random() < 0.1:
                op[rng.randrange(5)] = rng.choice(JUNK)
            ops.append(tuple(op) if rng.random() < 0.97 else tuple(op[:rng.randrange(6)]))
        frees = [rng.choice(JUNK) if rng.random() < 0.05 else rng.randrange(30) for _ in range(rng.randrange(4))]
        if rng.random() < 0.03:
            ops = rng.choice(JUNK)
        try:
            res = b.flush_ops(ops, frees)
        except (TypeError, ValueError):
            assert len(b) == 0
            continue
        if res is not None:
            for op, (opcode, code, refs, live) in zip(ops, decode(res[0])):
                assert code_owner.setdefault(code, typed_key(op[3])) == typed_key(op[3])
        assert b.param_code_count <= 16
    assert b.flush() is None


def _flush_ops_workload():
    b = _flush_ops_workload.b
    base = _flush_ops_workload.counter = _flush_ops_workload.counter + 10
    ops = [(0, base, (1, 2), ((4, 3),), ()), (1, base + 1, (base, 3), (1, True), (0.5,)),
           (2, base + 2, (base + 1,), (), ()), (3, base + 3, (base + 2,), (Sub((4, 3)), 1.0), ())]
    b.flush_ops(ops, [base + 1, 3, 3, 10**9])
    for bad_ops, bad_frees in (([ops[0], (9, base + 5, (), (), ())], []),
                               ([(0, base + 5, (1, "x"), (), ())], []),
                               ([(0, base + 5, (), ([],), ())], []),
                               ([(0, base + 5, (), (HashBomb("hash-raise"),), ())], []),
                               ([ops[0], ops[0]], []),
                               (ops, [1, -1])):
        try:
            b.flush_ops(bad_ops, bad_frees)
        except (TypeError, ValueError):
            pass
    # new params every call: the bounded table keeps emptying itself
    b.flush_ops([(0, base + 7, (), (base,), ())], [])
    b.append(0, 0, base + 8, ())
    try:
        b.flush_ops([], [])
    except RuntimeError:
        pass
    b.clear()
    Batcher(4, 4, param_codes_limit=8).flush_ops([(0, 1, (), (1.5,), ())], [1])


_flush_ops_workload.b = Batcher(64, 4, param_codes_limit=64)
_flush_ops_workload.counter = 10**6


def test_flush_ops_no_memory_growth_over_many_iterations():
    growth = traced_growth(_flush_ops_workload, n_iter(30000))
    assert growth < 64 * 1024, growth


def test_flush_ops_refcounts_are_balanced():
    b = Batcher(64, 4)
    params = ((4, 3), True)
    rid, ext, dead = 10**12, 10**13, 10**14
    objs = [True, False, None, 1, 2, 3, (), params, rid, ext, dead, params[0]]
    ops = [(0, rid, (ext, 2), params, ()), (1, rid + 1, (rid,), (), ())]
    b.flush_ops(ops, [rid + 1, dead])
    gc.collect()
    before = [sys.getrefcount(o) for o in objs]
    for i in range(1000):
        b.flush_ops(ops, [rid + 1, dead])
        for bad in ([ops[0], (1, rid + 1, (rid, "x"), params, ())], [ops[0], ops[0]],
                    [ops[0], (1, rid + 1, (), ([],), ())]):
            try:
                b.flush_ops(bad, [dead])
            except (TypeError, ValueError):
                pass
        try:
            b.flush_ops(ops, [dead, None])
        except TypeError:
            pass
    del bad                     # the loop variable holds a tuple with the int 1 in it
    gc.collect()
    after = [sys.getrefcount(o) for o in objs]
    assert after == before


def test_flush_ops_metadata():
    assert Batcher.flush_ops.__text_signature__ == "($self, ops, frees, /)"
    assert "param code" in Batcher.flush_ops.__doc__


@pytest.mark.skipif(not os.environ.get("GT_EXPECT_EXT_DIR"), reason="set by tests/c/run_*.sh")
def test_extension_under_test_is_the_expected_build():
    assert _batcher.__file__.startswith(os.environ["GT_EXPECT_EXT_DIR"]), _batcher.__file__
