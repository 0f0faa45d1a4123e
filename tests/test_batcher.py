"""gt.worker._batcher (csrc/_batcher.c): Batcher.flush_ops, the canonical form of a batch."""
import os
import random
import struct

import pytest

from gt.worker import _batcher
from gt.worker._batcher import Batcher

from leakcheck import n_iter, traced_growth

I64 = 2**63 - 1


def words(canon):
    return list(struct.unpack("<%di" % (len(canon) // 4), canon))


def op(opcode, rid, inputs, params=(), scalars=()):
    return (opcode, rid, inputs, params, scalars)


def reference(ops, frees):
    """The documented canonical form, written plainly; params coded by first appearance."""
    codes, index, ext, ws, live_at = [], {}, [], [len(ops), 0], {}
    for opcode, rid, inputs, params, scalars in ops:
        code = next((i for i, p in enumerate(codes) if repr(p) == repr(params)), None)
        if code is None:
            code = len(codes)
            codes.append(params)
        ws += [opcode, code, len(scalars), len(inputs)]
        for i in inputs:
            if i not in index:
                ext.append(i)
                index[i] = -len(ext)
            ws.append(index[i])
        index[rid] = len(live_at)
        live_at[rid] = len(ws)
        ws.append(1)
    freed = []
    for i in frees:
        if i in live_at:
            ws[live_at[i]] = 0
        elif i not in freed:
            freed.append(i)
    ws[1] = len(ext)
    live = tuple(r for r, at in live_at.items() if ws[at])
    return ws, tuple(ext), live, tuple(freed)


def check(ops, frees):
    canon, ext, live, freed = Batcher(16).flush_ops(ops, frees)
    assert (words(canon), ext, live, freed) == reference(ops, frees)
    return canon


# -- canonical form ------------------------------------------------------------------------

def test_tricky_batch_has_the_documented_words():
    ops = [op(0, 10, (1, 2)), op(1, 11, (10, 1), (1,), (0.5,)), op(2, 12, (11, 11)), op(3, 13, ())]
    canon, ext, live, freed = Batcher(16).flush_ops(ops, [10, 5, 5, 1, 1, 10])
    assert words(canon) == [4, 2,
                            0, 0, 0, 2, -1, -2, 0,      # 10 is freed inside the batch: dead
                            1, 1, 1, 2, 0, -1, 1,       # params (1,) -> code 1; one scalar
                            2, 0, 0, 2, 1, 1, 1,        # duplicate input: the same ref twice
                            3, 0, 0, 0, 1]              # no inputs
    assert (ext, live, freed) == ((1, 2), (11, 12, 13), (5, 1))   # each freed id once


def test_fresh_ids_give_the_same_canon():
    b = Batcher(16)
    canons = {b.flush_ops([op(0, base, (1, 2)), op(1, base + 1, (base, 7), (0,))], [base])[0]
              for base in (100, 200, 10**12)}
    assert len(canons) == 1


def test_empty_batch_and_frees_only():
    assert Batcher(4).flush_ops([], []) == (struct.pack("<2i", 0, 0), (), (), ())
    assert Batcher(4).flush_ops([], [3, 3, 4]) == (struct.pack("<2i", 0, 0), (), (), (3, 4))


def test_random_batches_match_the_reference():
    rng = random.Random(8)
    pool = [(), (0,), (1,), ((2, 3),), (1, True)]
    for _ in range(n_iter(2000)):
        ops, made = [], []
        for j in range(rng.randint(0, 12)):
            inputs = tuple(rng.choice(made + [1, 2, 3, 2**62]) for _ in range(rng.randint(0, 3)))
            rid = 1000 + j
            ops.append(op(rng.randrange(16), rid, inputs, rng.choice(pool), (0.5,) * rng.randint(0, 2)))
            made.append(rid)
        frees = [rng.choice(made + [1, 5, 9]) for _ in range(rng.randint(0, 6))] if made else []
        check(ops, frees)


# -- params: exact keys --------------------------------------------------------------------

def codes_of(b, *params):
    canon = b.flush_ops([op(0, 10 + k, (1,), p) for k, p in enumerate(params)], [])[0]
    return [words(canon)[3 + 6 * k] for k in range(len(params))]


def test_params_of_equal_value_but_other_type_or_bits_differ():
    class Dims(tuple):
        pass
    b = Batcher(4)
    params = [(1,), (True,), (1.0,), (0.0,), (-0.0,), ((0.0,),), ((-0.0,),), (0j,), (-0j,), Dims((1,))]
    codes = codes_of(b, *params)
    assert len(set(codes)) == len(params)
    assert codes_of(b, *params) == codes            # the same params keep their codes
    assert codes_of(b, (float("-0"),), (1,)) == [codes[4], codes[0]]


def test_params_table_is_bounded_and_codes_are_never_reused():
    b = Batcher(4, params_limit=2)
    first = codes_of(b, (1,), (2,))
    assert b.interned == 2
    third = codes_of(b, (3,))                      # full: emptied, then (3,) interned
    assert b.interned == 1
    again = codes_of(b, (1,))
    assert len(set(first + third + again)) == 4


def test_params_comparison_errors_propagate():
    class Boom:
        def __hash__(self):
            return 7

        def __eq__(self, other):
            raise ZeroDivisionError("boom")
    b = Batcher(4)
    b.flush_ops([op(0, 10, (), (Boom(),))], [])
    with pytest.raises(ZeroDivisionError, match="boom"):
        b.flush_ops([op(0, 10, (), (Boom(),))], [])


def test_reentrant_flush_is_refused():
    b = Batcher(4)

    class Reenter:
        def __hash__(self):
            return 7

        def __eq__(self, other):
            b.flush_ops([], [])
            return True
    b.flush_ops([op(0, 10, (), (Reenter(),))], [])
    with pytest.raises(RuntimeError, match="while it runs"):
        b.flush_ops([op(0, 10, (), (Reenter(),))], [])
    assert b.flush_ops([op(0, 10, (1,))], [])[1] == (1,)   # usable afterwards


# -- argument checks -----------------------------------------------------------------------

@pytest.mark.parametrize("ops, frees, exc, msg", [
    ((), [], TypeError, "argument 'ops' must be a list, not tuple"),
    ([], (), TypeError, "argument 'frees' must be a list, not tuple"),
    ([[0, 10, (), (), ()]], [], TypeError, r"ops\[0\] must be a tuple, not list"),
    ([(0, 10, (), ())], [], ValueError, r"ops\[0\] must have 5 items .* not 4"),
    ([("0", 10, (), (), ())], [], TypeError, r"ops\[0\]\[0\] \(opcode\) must be int, not str"),
    ([(16, 10, (), (), ())], [], ValueError, r"ops\[0\]\[0\] \(opcode\) must be in \[0, 15\], got 16"),
    ([(-1, 10, (), (), ())], [], ValueError, r"ops\[0\]\[0\] \(opcode\) must be in \[0, 15\], got -1"),
    ([(0, 1.0, (), (), ())], [], TypeError, r"ops\[0\]\[1\] \(result_id\) must be int, not float"),
    ([(0, -1, (), (), ())], [], ValueError, r"ops\[0\]\[1\] \(result_id\) must be in \[0, 9223372036854775807\]"),
    ([(0, 2**63, (), (), ())], [], ValueError, r"ops\[0\]\[1\] \(result_id\) .* got 9223372036854775808"),
    ([(0, 10, [1], (), ())], [], TypeError, r"ops\[0\]\[2\] must be a tuple, not list"),
    ([(0, 10, (1,), [], ())], [], TypeError, r"ops\[0\]\[3\] must be a tuple, not list"),
    ([(0, 10, (1,), (), [])], [], TypeError, r"ops\[0\]\[4\] must be a tuple, not list"),
    ([(0, 10, (1, None), (), ())], [], TypeError, r"ops\[0\]\[2\]\[1\] \(input id\) must be int, not NoneType"),
    ([(0, 10, (1, -5), (), ())], [], ValueError, r"ops\[0\]\[2\]\[1\] \(input id\) .* got -5"),
    ([(0, 10, (), ([1],), ())], [], TypeError, r"ops\[0\]\[3\] \(params\) must be hashable"),
    ([(0, 10, (), (), ()), (0, 10, (), (), ())], [], ValueError, r"ops\[1\]\[1\] \(result_id\) 10 is not fresh"),
    ([(0, 10, (3,), (), ()), (0, 3, (), (), ())], [], ValueError, r"ops\[1\]\[1\] \(result_id\) 3 is not fresh"),
    ([(0, 10, (10,), (), ())], [], ValueError, r"ops\[0\]\[1\] \(result_id\) 10 is not fresh"),
    ([], [1, "2"], TypeError, r"frees\[1\] must be int, not str"),
    ([], [2**64], ValueError, r"frees\[0\] must be in \[0, 9223372036854775807\]"),
])
def test_bad_batches_raise_naming_the_item(ops, frees, exc, msg):
    b = Batcher(16)
    with pytest.raises(exc, match=msg):
        b.flush_ops(ops, frees)
    assert b.flush_ops([op(0, 10, (1,))], [])[1] == (1,)    # nothing left behind


def test_flush_ops_takes_exactly_two_arguments():
    with pytest.raises(TypeError, match=r"flush_ops\(\) takes 2 arguments \(ops, frees\), got 1"):
        Batcher(4).flush_ops([])


@pytest.mark.parametrize("args, kwargs, exc, msg", [
    ((0,), {}, ValueError, r"num_opcodes must be in \[1, 2147483647\], got 0"),
    ((2**31,), {}, ValueError, r"num_opcodes must be in \[1, 2147483647\]"),
    (("4",), {}, TypeError, "num_opcodes must be int, not str"),
    ((4,), {"params_limit": 0}, ValueError, r"params_limit must be in \[1, "),
    ((4, 5), {}, TypeError, "at most 1 positional"),
])
def test_bad_constructor_arguments(args, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        Batcher(*args, **kwargs)


# -- memory ----------------------------------------------------------------------------------

def test_no_leak_on_success_and_error_paths():
    b = Batcher(16, params_limit=4)    # 8 params in turn: the params table fills and empties
    state = {"i": 0}

    def workload():
        i = state["i"] = state["i"] + 1
        base = 1000 + 10 * (i % 1000)
        b.flush_ops([op(0, base, (1, 2), (i % 8,)), op(1, base + 1, (base, base), (), (0.5,))],
                    [base, 7, 7])
        for bad in ([op(0, base, (1, -1))], [op(0, base, (), ([],))], [op(0, base, ()), op(0, base, ())]):
            with pytest.raises((TypeError, ValueError)):
                b.flush_ops(bad, [])
    assert traced_growth(workload, n_iter(20000)) < 4096


@pytest.mark.skipif(not os.environ.get("GT_EXPECT_EXT_DIR"), reason="set by tests/c/run_*.sh")
def test_extension_under_test_is_the_expected_build():
    assert _batcher.__file__.startswith(os.environ["GT_EXPECT_EXT_DIR"]), _batcher.__file__
