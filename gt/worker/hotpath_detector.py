"""Hot-path detection: which batch patterns repeat often enough to compile, and
the cycle that a training loop's batches form.

A thin wrapper over the C pattern table in ``gt.worker._hotpath``: a pattern is
a batch's canonical form (opcodes, exact params, data-flow wiring with tensor
ids renumbered in first-use order, which results stay live) plus each external
input's dtype, shape and strides, with the sizes that already varied for this
structure left symbolic (see _shape_agnostic).  The first ``hot_threshold``
occurrences of a pattern run eagerly; from occurrence ``hot_threshold + 1`` on
it runs compiled.  What happens to a pattern after that (compiled, failed,
reverted) and its run times belong to its policy (``gt.worker.policy``); the
detector counts, and reports the stats.
"""
from __future__ import annotations

import logging
import time

from gt.worker import _batcher, _hotpath
from gt import ops as _ops
from gt.worker.engine import Batch, Operation, _exact, meta_of
from gt.worker.hotpath_cache import PatternCache, canon_without_params
from gt.worker.policy import COMPILED, HOT, STATE_NAMES, HotPathPolicy

log = logging.getLogger(__name__)

_META_CODES_LIMIT = 1 << 16


class _Family:
    """What automatic dynamic knows of one batch structure: the sizes it was first seen with,
    the dims that varied since (per input), its canonical form, and its symbolic params
    ((op, int position in its params, input, dim, c, o) each: the int is c * that size + o)
    with the first params' ints."""

    __slots__ = ("first", "strides", "contiguous", "dynamic", "canon", "sym", "ints")

    def __init__(self, first: tuple, strides: tuple, canon: bytes, operations: list) -> None:
        self.first = first
        self.strides = strides   # the first sight's inputs' strides
        self.contiguous: tuple = ()   # inputs seen with other strides at the same sizes (made contiguous)
        self.dynamic: tuple | None = None
        self.canon = canon
        self.sym: tuple = ()
        self.ints = [_param_ints(op[3]) for op in operations]


def _param_ints(params) -> list:
    """The ints in an op's params (nested tuples, torch.Size), in order."""
    out = []
    for v in params:
        if type(v) is int:
            out.append(v)
        elif isinstance(v, tuple):
            out.extend(_param_ints(v))
    return out


def _contiguous_strides(shape: tuple) -> tuple:
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def _size_function(first: tuple, sizes: tuple, a: int, b: int) -> tuple | None:
    """(input, dim, c, o): a dim whose size went from ``first``'s to ``sizes``' while a param int
    went from a to b, as ``c * size + o`` with whole c != 0 and o (the size itself first; None
    when no dim fits)."""
    fit = None
    for k, (f, n) in enumerate(zip(first, sizes)):
        for d, (was, now) in enumerate(zip(f, n)):
            if was == now:
                continue
            c, rest = divmod(b - a, now - was)
            if rest or not c:
                continue
            if (c, a - c * was) == (1, 0):
                return k, d, 1, 0
            if fit is None:
                fit = (k, d, c, a - c * was)
    return fit


def _param_class(value):
    """An op's params with every int left open: batches that differ only in those ints are one
    structure.  Everything else is kept exactly (float bits, types), as the batcher keys params."""
    if type(value) is int:
        return int
    if isinstance(value, tuple):
        return type(value), tuple(map(_param_class, value))
    return _exact(value)


class HotPathDetector:
    """Counts batch patterns, says which ones should run compiled, finds cycles."""

    def __init__(self, hot_threshold: int = 10, enable_auto_compile: bool = True,
                 capacity: int = 1024, cache: PatternCache | None = None) -> None:
        if not isinstance(hot_threshold, int) or hot_threshold < 1:
            raise ValueError(f"hot_threshold must be a positive integer, got {hot_threshold!r}")
        self.hot_threshold = hot_threshold
        self.capacity = capacity
        self.enable_auto_compile = enable_auto_compile
        self.table = _hotpath.PatternTable(hot_threshold, capacity)
        self.policy = HotPathPolicy(self.table, cache)
        self.last_signature = 0   # of the batch last recorded: the key for observe_segment
        self.total_batches = 0
        self.hot_batches_executed = 0
        self._meta_codes: dict = {}
        self._next_meta_code = 0
        self._current: tuple | None = None
        self._batcher: _batcher.Batcher | None = None   # for batches given as operations only
        # Automatic dynamic: (canon, inputs' dtypes and ranks) -> its _Family, which batches
        # differing only in param ints that are input sizes share (found by the loose key).
        self._sizes: dict = {}
        self._loose: dict = {}
        self.symbolic_patterns = 0
        # canon -> (metas, meta codes) of its static pattern last recorded: a batch that repeats
        # it (a steady loop's) skips the size bookkeeping and the interning.  Emptied whenever
        # what it caches could change (a structure turns symbolic, a bounded table is emptied).
        self._static: dict = {}

    def _forget(self, sizes: bool = False) -> None:
        """Empty the static-pattern cache (what it holds may have changed); with ``sizes``, the
        automatic-dynamic size families too (their bounded table is full)."""
        self._static.clear()
        if sizes:
            self._sizes.clear()
            self._loose.clear()

    def meta_code(self, meta: tuple) -> int:
        """Intern an external input's (dtype, shape) as a small integer."""
        code = self._meta_codes.get(meta)
        if code is None:
            if len(self._meta_codes) >= _META_CODES_LIMIT:
                self._meta_codes.clear()   # bounded; codes are never reused
                self._forget()
            code = self._meta_codes[meta] = self._next_meta_code
            self._next_meta_code += 1
        return code

    def _canonical(self, operations: list, tensors: dict) -> Batch:
        if self._batcher is None:
            self._batcher = _batcher.Batcher(_ops.NUM_OPCODES)
        canon, ext_ids, live_ids, _ = self._batcher.flush_ops(list(operations), [])
        # Inputs the table does not hold (a detector used on its own) count as "unknown".
        metas = tuple(meta_of(tensors[i]) if i in tensors else None for i in ext_ids)
        return Batch(canon, ext_ids, live_ids, metas=metas)

    def record_batch(self, operations: list, batch: Batch | None = None,
                     tensors: dict | None = None, dynamic: bool | None = None) -> bool:
        """Count one occurrence of this batch; True when it should run compiled.

        ``batch`` is the canonical form from the worker's batcher; without it the
        operations are canonicalised here (their inputs' shapes read from ``tensors``).
        ``dynamic`` (a region's setting): True, its sizes are symbolic from the first
        sight; False, exact; None, symbolic once they vary.
        """
        if batch is None:
            batch = self._canonical(operations, tensors if tensors is not None else {})
        static = self._static.get(batch.canon) if dynamic is None else None
        if static is not None and static[0] == batch.metas:
            codes = static[1]
        else:
            codes = self._codes(batch, operations, dynamic)
        entry_id, count, state, self.last_signature = self.table.record(batch.canon, codes)
        state = self.policy.seen(entry_id, self.last_signature, state, batch, operations)
        batch.key = entry_id
        self.total_batches += 1
        hot = state == HOT or state == COMPILED
        self.hot_batches_executed += hot
        if count == self.hot_threshold + 1 and state == HOT:
            log.info("[HotPath] Worker detected hot batch after %d repetitions: Batch(%06x:%dops)",
                     self.hot_threshold, self.last_signature >> 40, len(operations))
        self._current = (entry_id, state, batch, time.perf_counter())
        return self.enable_auto_compile and hot

    def _codes(self, batch: Batch, operations: list, dynamic: bool | None) -> tuple:
        """The meta codes of a batch's pattern (its metas made shape-agnostic first)."""
        canon, metas = batch.canon, batch.metas
        if dynamic is not False:
            self._shape_agnostic(batch, operations, dynamic)
        codes = tuple(map(self.meta_code, batch.metas))
        if dynamic is None and batch.dynamic is None and not batch.contiguous and batch.canon == canon:
            if len(self._static) >= _META_CODES_LIMIT:
                self._forget()
            self._static[canon] = (metas, codes)
        return codes

    def _shape_agnostic(self, batch: Batch, operations: list, dynamic: bool | None) -> None:
        """Automatic dynamic, as Dynamo's: once a batch's structure (canonical form, inputs'
        dtypes and ranks) is seen with another size in some dims, those dims are symbolic in
        its pattern (``batch.metas`` keeps no size, only the dims' stride order, there) and
        the engine compiles it once with symbolic sizes (``batch.dynamic``).

        A size may also sit in an op's params (an ``expand`` to the sequence length in a
        backward pass, a ``reshape`` to batch x length x features, the index -1 made
        length - 1): params whose ints vary with a symbolic dim (``c * size + o`` of some
        input's dim, with the same whole c and o at every size) join the family too; the
        batch then takes the family's canonical form and the engine computes those ints
        from the input's size in the graph (``batch.sym_params``).  A batch whose param is
        not that function of its input's size is no member."""
        metas = batch.metas
        if None in metas:
            return
        key = (batch.canon, tuple((m[0], len(m[1])) for m in metas))
        sizes = tuple(m[1] for m in metas)
        strides = tuple(m[2] for m in metas)
        family = self._sizes.get(key)
        if family is None:
            family = self._family(key, batch, operations, sizes, strides)
        if dynamic and family.dynamic is None:    # every size symbolic at once (0 and 1 stay specialised)
            dims = tuple(frozenset(d for d, n in enumerate(m) if n > 1) for m in sizes)
            if any(dims):
                family.dynamic = dims
                self.symbolic_patterns += 1
                self._forget()
        first, dynamic = family.first, family.dynamic
        if family.sym:
            if not all(_param_ints(operations[i][3])[j] == c * sizes[k][d] + o for i, j, k, d, c, o in family.sym):
                return
            batch.canon, batch.sym_params = family.canon, family.sym
        if strides != family.strides:
            # A view whose strides follow another input's size (``out[:, -1]`` of a sequence, kept for the
            # backward pass) at unchanged sizes: the graph takes a contiguous copy of it, for every stride.
            moved = tuple(k for k, (f, n, a, b) in enumerate(zip(first, sizes, family.strides, strides))
                          if f == n and a != b and k not in family.contiguous)
            if moved:
                family.contiguous = tuple(sorted(family.contiguous + moved))
                self._forget()
        if family.contiguous:
            batch.contiguous = family.contiguous
            metas = batch.metas = tuple((m[0], m[1], _contiguous_strides(m[1])) if k in family.contiguous else m
                                        for k, m in enumerate(metas))
        if sizes != first:
            seen = tuple(frozenset(d for d, (a, b) in enumerate(zip(f, n)) if a != b) for f, n in zip(first, sizes))
            if dynamic is None or any(not s <= d for s, d in zip(seen, dynamic)):
                dynamic = family.dynamic = seen if dynamic is None else tuple(map(frozenset.union, dynamic, seen))
                self.symbolic_patterns += 1
                self._forget()
                log.info("[HotPath] Batch(%d ops) seen with other sizes: symbolic dims per input %s",
                         len(operations), [sorted(d) for d in dynamic if d] or "none")
        if dynamic is not None:
            batch.dynamic = dynamic
            batch.metas = tuple(m if not d else (m[0], tuple(None if k in d else n for k, n in enumerate(m[1])),
                                                 tuple(sorted(range(len(m[2])), key=lambda k: -m[2][k])))
                                for m, d in zip(metas, dynamic))

    def _family(self, key: tuple, batch: Batch, operations: list, sizes: tuple, strides: tuple) -> _Family:
        """The sizes record of a batch structure seen for the first time; a batch that differs
        from a known one only in param ints that are input sizes joins that one's record."""
        if len(self._sizes) >= _META_CODES_LIMIT:
            self._forget(sizes=True)
        loose = (canon_without_params(batch.canon), key[1], tuple(map(_param_class, [op[3] for op in operations])))
        family = self._loose.get(loose)
        if family is None:
            family = self._sizes[key] = self._loose[loose] = _Family(sizes, strides, batch.canon, operations)
            return family
        first, sym = family.first, list(family.sym)
        for i, (was, op) in enumerate(zip(family.ints, operations)):
            for j, (a, b) in enumerate(zip(was, _param_ints(op[3]))):
                if a == b or any(s[:2] == (i, j) for s in sym):
                    continue
                source = _size_function(first, sizes, a, b)
                if source is None:   # a structure of its own
                    family = self._sizes[key] = _Family(sizes, strides, batch.canon, operations)
                    return family
                sym.append((i, j, *source))
        family.sym = tuple(sym)
        self._sizes[key] = family
        return family

    def observe_segment(self, key: int) -> int:
        """Feed the key of the next executed batch (its ``last_signature``); return the
        period P (1..16) when the last 2P keys are two equal runs of length P (the
        smallest such P), else 0."""
        return self.table.observe_segment(key)

    def reset_cycle(self) -> None:
        """Forget the sequence of keys seen by observe_segment."""
        self.table.reset_cycle()

    def take_evicted(self) -> tuple:
        """Entry ids evicted from the table since the last call (their graphs can go)."""
        evicted = self.table.take_evicted()
        if evicted:
            self.policy.forget(evicted)
        return evicted

    def record_batch_completion(self, operations: list, seconds: float | None = None,
                                worker_id: str = "") -> bool:
        """Note that the batch last recorded has run: its time (``seconds`` as its caller
        measured it, compiling excluded; else since ``record_batch``), and whether compiling
        worked.  True when the policy reverts the pattern to eager (its graph can go)."""
        if self._current is None:
            return False
        entry_id, _, batch, t0 = self._current
        self._current = None
        if seconds is None:
            seconds = time.perf_counter() - t0 - batch.compile_seconds
        return self.policy.finished(entry_id, batch.compiled, batch.error if batch.failed else "", seconds,
                                    len(operations), worker_id)

    def get_stats(self, top: int = 5) -> dict:
        """The seed's stats keys plus table size, evictions and the most frequent patterns."""
        entries = self.table.entries()   # (entry_id, signature, n_ops, count, state)
        patterns = []
        records = self.policy.records
        for entry_id, sig, n_ops, count, state in sorted(entries, key=lambda e: (-e[3], e[0]))[:top]:
            record = records.get(entry_id)
            patterns.append({
                "signature": f"{sig:016x}",
                "ops": n_ops,
                "count": count,
                "state": STATE_NAMES[state],
                "eager_ms_mean": record.mean_ms(False) if record else None,
                "compiled_ms_mean": record.mean_ms(True) if record else None,
            })
        return {
            "total_batches": self.total_batches,
            "hot_batches_executed": self.hot_batches_executed,
            "unique_patterns": len(entries),
            "hot_paths": sum(1 for e in entries if e[4] in (HOT, COMPILED)),
            "hot_threshold": self.hot_threshold,
            "evictions": self.table.evictions,
            "reverted": self.policy.reverts,
            "from_disk": self.policy.from_disk,
            "symbolic_patterns": self.symbolic_patterns,
            "capacity": self.capacity,
            "top_patterns": patterns,
        }


__all__ = ["HotPathDetector", "Operation"]
