"""Benchmark GT's C hot path against the same algorithm in pure Python.

The worker keeps its pending ops as plain tuples in a Python list: per op it
does ``pending.append((opcode, result_id, input_ids, params, scalars))`` and
per client free ``frees.append(id)``; once per batch it hands both lists to C
with ``Batcher.flush_ops(pending, frees)`` (validation, params interning,
renumbering into the canonical form), records the canonical form with
``PatternTable.record(canon, metas)`` and feeds the batch's signature to the
cycle detector, ``PatternTable.observe_segment(signature)``.  This script
times that path per op (the cost of a whole batch divided by its op count) for

  (a) C:      the worker's list appends + gt.worker._batcher.Batcher.flush_ops
              + gt.worker._hotpath.PatternTable.record + observe_segment
  (b) Python: the same list appends + the same algorithms written here (dict
              interning of params, dict-based id renumbering, the same
              canonical word list, FNV-1a 64 + fmix64 over the words and metas,
              a dict-based pattern table, the same cycle detector)

on a realistic batch: 50 ops with 2 inputs each, 10 external inputs (weights
held by the worker), 16 intermediate results freed by the client, params like
the client's (mostly ``()``, else a dim, a shape or ``(dim, keepdim)``, built
afresh per op as the client does), fresh tensor ids in every iteration, and a
loop of three such batches (a training step: forward, backward, update).  Both
are checked to produce the same canonical bytes, ids, signatures and periods
before timing.  The pure-Python interning uses a plain dict keyed by params
(not exact like the C one: it merges 1, True and 1.0), which only makes Python
look faster.

Usage: python benchmarks/bench_hotpath.py [--iters N] [--repeat R]
"""
import argparse
import gc
import platform
import struct
import sys
import time
from array import array

from gt.worker._batcher import Batcher
from gt.worker._hotpath import MAX_PERIOD, PatternTable

N_OPS = 50
N_EXT = 10
N_OPCODES = 16
STEP = 3                             # batches per training step (the loop's period)
THRESHOLD = 10
PARAM_CODES_LIMIT = 1 << 16
METAS = tuple(range(N_EXT))          # one interned (dtype, shape) code per external

MASK64 = (1 << 64) - 1
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
COLD, HOT, COMPILED, FAILED = 0, 1, 2, 3

SHAPE = (64, 32)                     # a tensor's shape, held by the client


# --- workload -------------------------------------------------------------------------

def make_params(j):
    """Params as the client builds them: a fresh tuple per op, except ()."""
    k = j % 10
    if k < 6:
        return ()
    if k == 6:
        return (1,)                  # dim
    if k == 7:
        return (SHAPE,)              # target shape (sum_to, expand, reshape)
    if k == 8:
        return (1, True)             # (dim, keepdim)
    return (0, 1)                    # transpose dims


def make_batch(base, kind):
    """One batch with fresh result ids base..base+N_OPS-1: (ops, frees); kind
    (0..STEP-1) picks one of the step's batch patterns.

    ops are the worker's tuples (opcode, result_id, input_ids, params, scalars)."""
    ext = list(range(1, N_EXT + 1))
    res = [base + j for j in range(N_OPS)]
    ops, frees = [], []
    for j in range(N_OPS):
        a = ext[j % N_EXT] if j < N_EXT else res[j - 1]
        b = ext[(7 * j + 3) % N_EXT] if j % 3 == 0 or j < 2 else res[j - 2]
        scalars = (0.5,) if j % 7 == 3 else ()
        ops.append(((j + kind) % N_OPCODES, res[j], (a, b), make_params(j), scalars))
        if j >= 3 and j % 3 == 0 and len(frees) < 16:
            frees.append(res[j - 3])
    return ops, frees


# --- pure-Python reference implementation -------------------------------------------------

class PyBatcher:
    """Same algorithm as Batcher.flush_ops in csrc/_batcher.c, with dicts and lists."""

    def __init__(self, param_codes_limit=PARAM_CODES_LIMIT):
        self.param_codes = {}
        self.next_code = 0
        self.limit = param_codes_limit

    def flush_ops(self, ops, frees):
        if not ops and not frees:
            return None
        codes = self.param_codes
        index = {}               # tensor id -> op index (>= 0) or -(ext index + 1)
        words = [0, 0]
        ext = []
        results = []
        live_pos = []
        for opcode, result_id, inputs, params, scalars in ops:
            if result_id in index:
                raise ValueError("duplicate result_id %d" % result_id)
            code = codes.get(params)
            if code is None:
                if len(codes) >= self.limit:
                    codes.clear()
                code = codes[params] = self.next_code
                self.next_code += 1
            words.append(opcode)
            words.append(code)
            words.append(len(scalars))
            words.append(len(inputs))
            for i in inputs:
                r = index.get(i)
                if r is None:
                    r = index[i] = -len(ext) - 1
                    ext.append(i)
                words.append(r)
            live_pos.append(len(words))
            words.append(1)
            index[result_id] = len(results)
            results.append(result_id)
        freed, freed_set = [], set()
        for tensor_id in frees:
            r = index.get(tensor_id)
            if r is not None and r >= 0:
                words[live_pos[r]] = 0
            elif tensor_id not in freed_set:
                freed_set.add(tensor_id)
                freed.append(tensor_id)
        words[0] = len(results)
        words[1] = len(ext)
        canon = struct.pack("<%di" % len(words), *words)
        live = tuple(r for r, p in zip(results, live_pos) if words[p])
        return canon, tuple(ext), live, tuple(freed)


def py_signature(canon, metas):
    h = FNV_OFFSET
    for w in array("I", canon) if sys.byteorder == "little" else struct.unpack("<%dI" % (len(canon) // 4), canon):
        h = ((h ^ w) * FNV_PRIME) & MASK64
    for m in metas:
        h = ((h ^ (m & 0xFFFFFFFF)) * FNV_PRIME) & MASK64
        h = ((h ^ (m >> 32)) * FNV_PRIME) & MASK64
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK64
    return h ^ (h >> 33)


class PyPatternTable:
    """Dict-based pattern table (signature -> entries confirmed by content) and
    the cycle detector of csrc/_hotpath.c, as observe_segment."""

    def __init__(self, threshold):
        self.threshold = threshold
        self.by_sig = {}
        self.next_id = 0
        self.keys = []
        self.runs = [0] * (MAX_PERIOD + 1)

    def record(self, canon, metas):
        sig = py_signature(canon, metas)
        chain = self.by_sig.setdefault(sig, [])
        for e in chain:
            if e[3] == canon and e[4] == metas:
                break
        else:
            e = [self.next_id, 0, COLD, canon, metas]
            self.next_id += 1
            chain.append(e)
        e[1] += 1
        if e[1] > self.threshold and e[2] == COLD:
            e[2] = HOT
        return e[0], e[1], e[2], sig

    def observe_segment(self, key):
        keys, runs, period = self.keys, self.runs, 0
        for p in range(1, MAX_PERIOD + 1):
            runs[p] = min(runs[p] + 1, p) if p <= len(keys) and keys[-p] == key else 0
            if not period and runs[p] == p:
                period = p
        keys.append(key)
        del keys[:-MAX_PERIOD]
        return period


# --- timing ------------------------------------------------------------------------------------
# Every timed loop does the worker's per-op Python work the same way: unpack the
# client's call into a fresh pending tuple, append it to the batch's list.

def run_lists(stream, batcher, table):
    """(a) and (b): the path as the worker uses it, with the C or the Python core."""
    flush_ops, record, observe, metas = batcher.flush_ops, table.record, table.observe_segment, METAS
    t0 = time.perf_counter_ns()
    for ops, frees in stream:
        pending, freed = [], []
        pa, fa = pending.append, freed.append
        for opcode, rid, ins, params, scalars in ops:
            pa((opcode, rid, ins, params, scalars))
        for f in frees:
            fa(f)
        observe(record(flush_ops(pending, freed)[0], metas)[3])
    return time.perf_counter_ns() - t0, table


def run_c(stream):
    """(a) the path as the worker uses it."""
    return run_lists(stream, Batcher(N_OPCODES), PatternTable(THRESHOLD))


def run_py(stream):
    """(b) the same algorithms in pure Python."""
    return run_lists(stream, PyBatcher(), PyPatternTable(THRESHOLD))


def run_loop_only(stream):
    """The worker's per-op Python work of (a) and (b), without the batch step."""
    t0 = time.perf_counter_ns()
    for ops, frees in stream:
        pending, freed = [], []
        pa, fa = pending.append, freed.append
        for opcode, rid, ins, params, scalars in ops:
            pa((opcode, rid, ins, params, scalars))
        for f in frees:
            fa(f)
    return time.perf_counter_ns() - t0, None


def timer_overhead():
    """What one timed interval adds by itself: the median of back-to-back
    perf_counter_ns() differences (subtracted from the batch-only timings)."""
    clock = time.perf_counter_ns
    samples = sorted(clock() - clock() for _ in range(20001))
    return -samples[len(samples) // 2]


def batch_only(stream, batcher, table):
    """Time only the once-per-batch step (inside the same loop, so its inputs are
    as warm as in the worker)."""
    flush_ops, record, observe, metas = batcher.flush_ops, table.record, table.observe_segment, METAS
    clock = time.perf_counter_ns
    total = 0
    for ops, frees in stream:
        pending, freed = [], []
        pa, fa = pending.append, freed.append
        for opcode, rid, ins, params, scalars in ops:
            pa((opcode, rid, ins, params, scalars))
        for f in frees:
            fa(f)
        t0 = clock()
        observe(record(flush_ops(pending, freed)[0], metas)[3])
        total += clock() - t0
    return total - len(stream) * timer_overhead.value, None


def best(fn, stream, repeat):
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        return min(fn(stream)[0] for _ in range(repeat))
    finally:
        if was:
            gc.enable()


def check_equivalence(stream):
    cb, pb = Batcher(N_OPCODES), PyBatcher()
    ct, pt = PatternTable(THRESHOLD), PyPatternTable(THRESHOLD)
    for ops, frees in stream[:50]:
        c_out, p_out = cb.flush_ops(list(ops), list(frees)), pb.flush_ops(list(ops), list(frees))
        assert c_out == p_out, "C and Python flush_ops disagree"
        c_rec, p_rec = ct.record(c_out[0], METAS), pt.record(p_out[0], METAS)
        assert c_rec[1:] == p_rec[1:], "C and Python record disagree"   # ids are numbered differently
        assert ct.observe_segment(c_rec[3]) == pt.observe_segment(p_rec[3]), "cycle detectors disagree"
    assert cb.interned == len(pb.param_codes) == 5
    assert pt.observe_segment(p_rec[3] ^ 1) == 0 and pt.observe_segment(p_rec[3] ^ 2) == 0
    assert [pt.observe_segment(k) for k in (1, 2, 3, 1, 2, 3)][-1] == 3 == STEP


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iters", type=int, default=4000, help="batches per timed run (default 4000)")
    ap.add_argument("--repeat", type=int, default=7, help="timed runs; the best is reported (default 7)")
    args = ap.parse_args()

    stream = [make_batch(10**6 * (i + 1), i % STEP) for i in range(args.iters)]
    py_stream = stream[: max(60, args.iters // 10)]
    ops_per_run = N_OPS * args.iters
    py_ops_per_run = N_OPS * len(py_stream)
    check_equivalence(stream)
    timer_overhead.value = timer_overhead()

    c_ns = best(run_c, stream, args.repeat) / ops_per_run
    py_ns = best(run_py, py_stream, args.repeat) / py_ops_per_run
    loop_ns = best(run_loop_only, stream, args.repeat) / ops_per_run
    c_batch_ns = best(lambda s: batch_only(s, Batcher(N_OPCODES), PatternTable(THRESHOLD)),
                      stream, args.repeat) / ops_per_run
    py_batch_ns = best(lambda s: batch_only(s, PyBatcher(), PyPatternTable(THRESHOLD)),
                       py_stream, args.repeat) / py_ops_per_run

    print("GT hot path: %d ops/batch, 2 inputs/op, %d externals, %d frees/batch, a step of %d batches, "
          "threshold %d" % (N_OPS, N_EXT, len(stream[0][1]), STEP, THRESHOLD))
    print("Python %s on %s; best of %d runs of %d batches (Python: %d), gc disabled while timing"
          % (platform.python_version(), platform.processor() or platform.machine(), args.repeat, args.iters,
             len(py_stream)))
    print()
    print("%-66s %8s %10s" % ("per op: pending.append; per batch: flush_ops + record + observe", "ns/op",
                              "us/batch"))
    print("%-66s %8.1f %10.2f" % ("(a) C", c_ns, c_ns * N_OPS / 1e3))
    print("%-66s %8.1f %10.2f" % ("(b) pure Python, same algorithms", py_ns, py_ns * N_OPS / 1e3))
    print("%-66s %7.1fx" % ("speedup (b)/(a)", py_ns / c_ns))
    print()
    print("per op, split into the worker's Python part and the once-per-batch part:")
    print("  %-64s %8.1f ns" % ("worker's Python: build pending tuple + list.append (a, b)", loop_ns))
    print("  %-64s %8.1f ns  (%.2f us/batch)" % ("C only: flush_ops + record + observe_segment", c_batch_ns,
                                                 c_batch_ns * N_OPS / 1e3))
    print("  %-64s %8.1f ns  (%.2f us/batch)" % ("Python only: the same", py_batch_ns, py_batch_ns * N_OPS / 1e3))
    print("  %-64s %7.1fx" % ("speedup of the batch step, Python only / C only", py_batch_ns / c_batch_ns))


if __name__ == "__main__":
    main()
