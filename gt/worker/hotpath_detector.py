"""Hot-path detection: which batch patterns repeat often enough to compile.

A thin wrapper over the C pattern table in ``gt.worker._hotpath``: the
signature of a batch covers its opcodes, static parameters, data-flow wiring
(tensor ids renumbered in first-use order), which results stay live, and each
external input's dtype and shape.  The first ``hot_threshold`` occurrences of a
pattern run eagerly; from occurrence ``hot_threshold + 1`` on it runs compiled.
"""
from __future__ import annotations

import logging
import time

from gt.worker import _hotpath
from gt.worker.engine import Batch, Operation, _canonical_batch

log = logging.getLogger(__name__)

COLD, HOT, COMPILED, FAILED = 0, 1, 2, 3
_STATE_NAMES = ("cold", "hot", "compiled", "failed")
_META_CODES_LIMIT = 1 << 16
MAX_PERIOD = 16


class HotPathDetector:
    """Counts batch patterns and says which ones should run compiled."""

    def __init__(self, hot_threshold: int = 10, enable_auto_compile: bool = True,
                 capacity: int = 1024) -> None:
        if not isinstance(hot_threshold, int) or hot_threshold < 1:
            raise ValueError(f"hot_threshold must be a positive integer, got {hot_threshold!r}")
        self.hot_threshold = hot_threshold
        self.enable_auto_compile = enable_auto_compile
        self.table = _hotpath.PatternTable(hot_threshold, capacity)
        self._meta_codes: dict = {}
        self._next_meta_code = 0
        self._current: tuple | None = None
        self.last_signature = 0
        self._keys: list[int] = []   # cycle detection; moves into the C table next

    def meta_code(self, meta: tuple) -> int:
        """Intern an external input's (dtype, shape) as a small integer."""
        code = self._meta_codes.get(meta)
        if code is None:
            if len(self._meta_codes) >= _META_CODES_LIMIT:
                self._meta_codes.clear()   # bounded; codes are never reused (see Worker.submit)
            code = self._meta_codes[meta] = self._next_meta_code
            self._next_meta_code += 1
        return code

    def record_batch(self, operations: list, batch: Batch | None = None,
                     tensors: dict | None = None) -> bool:
        """Count one occurrence of this batch; True when it should run compiled.

        ``batch`` is the canonical form from the worker's batcher; without it the
        operations are canonicalised here (their inputs' shapes read from ``tensors``).
        """
        if batch is None:
            batch = _canonical_batch(operations, tensors if tensors is not None else {})
        codes = tuple(self.meta_code(m) for m in batch.metas)
        entry_id, count, state = self.table.record(batch.canon, codes)
        batch.key = entry_id
        self.last_signature = self.table.entry(entry_id)["signature"]
        if count == self.hot_threshold + 1 and state == HOT:
            sig = self.table.entry(entry_id)["signature"]
            log.info("[HotPath] Worker detected hot batch after %d repetitions: Batch(%06x:%dops)",
                     self.hot_threshold, sig >> 40, len(operations))
        self._current = (entry_id, state, batch, time.perf_counter())
        return self.enable_auto_compile and state in (HOT, COMPILED)

    def observe_segment(self, key: int) -> int:
        """Feed the key of the next executed batch; the period P (1..16) when the last
        2P keys are two equal runs of length P (the smallest such P), else 0."""
        keys = self._keys
        keys.append(key)
        del keys[:-2 * MAX_PERIOD]
        for p in range(1, min(MAX_PERIOD, len(keys) // 2) + 1):
            if keys[-p:] == keys[-2 * p:-p]:
                return p
        return 0

    def reset_cycle(self) -> None:
        """Forget the sequence of keys seen by observe_segment."""
        self._keys.clear()

    def take_evicted(self) -> tuple:
        """Entry ids evicted from the table since the last call (their graphs can go)."""
        return self.table.take_evicted()

    def record_batch_completion(self, operations: list) -> None:
        """Note that the batch last recorded has run: its time, and whether compiling worked."""
        if self._current is None:
            return
        entry_id, state, batch, t0 = self._current
        self._current = None
        run_seconds = time.perf_counter() - t0 - batch.compile_seconds
        self.table.add_time(entry_id, run_seconds, batch.compiled)
        try:
            if batch.failed and state != FAILED:
                self.table.set_state(entry_id, FAILED)
                log.warning("[HotPath] Compiling Batch(%d ops) failed; it runs eagerly from now on: %s",
                            len(operations), batch.error)
            elif batch.compiled and state == HOT:
                self.table.set_state(entry_id, COMPILED)
        except KeyError:  # evicted meanwhile
            pass

    def get_stats(self, top: int = 5) -> dict:
        """The seed's stats keys plus the most frequent patterns."""
        stats = self.table.stats()
        patterns = []
        for e in self.table.top(top):
            patterns.append({
                "signature": f"{e['signature']:016x}",
                "ops": e["n_ops"],
                "count": e["count"],
                "state": _STATE_NAMES[e["state"]],
                "eager_ms_mean": 1e3 * e["eager_seconds"] / e["eager_runs"] if e["eager_runs"] else None,
                "compiled_ms_mean": (1e3 * e["compiled_seconds"] / e["compiled_runs"]
                                     if e["compiled_runs"] else None),
            })
        stats["top_patterns"] = patterns
        return stats


__all__ = ["HotPathDetector", "Operation"]
