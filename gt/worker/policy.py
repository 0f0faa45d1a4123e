"""The one owner of a hot pattern's state: what runs eagerly, what compiles, what goes back.

The C pattern table counts occurrences and turns a pattern HOT past the
threshold; every other state change (promoted early, COMPILED, FAILED,
reverted) is made here, and nowhere else.  The policy is told the facts (the
table's count and state at each sight, each run's time, whether it ran
compiled, a compile error) and answers with decisions: run eager or compiled,
revert.  The worker carries them out; the engine only compiles and runs.

One timing table: per pattern its eager and compiled runs, their sums (the
means in the stats) and their best.

Revert without following the machine's noise: once a pattern runs compiled,
the policy judges it.  After one warm-up call it interleaves eager and compiled
runs (E C E C ...: each pair ran under the same load) and, after
``REVERT_SAMPLES`` pairs, reverts the pattern to eager only if the median of
the pairs' compiled/eager ratios exceeds ``1 + REVERT_MARGIN``: a burst during
some runs moves a few ratios, not the median.  A reverted pattern is examined
again after ``RECHECK_BATCHES`` batches, twice as many after each further
revert.

With a persistent cache (``gt.worker.hotpath_cache``) the policy saves these
records and, at a pattern's first sight in a later process, loads them: a
pattern known compiled compiles at once, a known cycle is merged from the first
sight of its first segment, a failed or reverted one stays eager, and a compiled one whose record
holds the evidence that it pays (the judged ratio) is not judged again.
"""
from __future__ import annotations

import logging
from statistics import median

from gt.worker import _hotpath
from gt.worker.hotpath_cache import PatternCache, pattern_digest

log = logging.getLogger(__name__)

COLD, HOT, COMPILED, FAILED = _hotpath.COLD, _hotpath.HOT, _hotpath.COMPILED, _hotpath.FAILED
STATE_NAMES = ("cold", "hot", "compiled", "failed")
# Interleaved (eager, compiled) pairs of runs that judge a compiled pattern; 0: never judged.
REVERT_SAMPLES = 10
# Revert when the median compiled/eager ratio of the pairs is above 1 + this.
REVERT_MARGIN = 0.05
# Batches (of any pattern) before a reverted pattern is judged again; doubled at each revert.
RECHECK_BATCHES = 200
# Failed patterns remembered without a pattern table (GT_COMPILE=1: every batch compiles).
_FAILED_KEYS_LIMIT = 256


def _log_failed(batch: str, error: str) -> None:
    """A compile failure's warning names its error's first line; the whole text (an Inductor
    traceback, say) is logged at debug level, to diagnose it."""
    first = error.splitlines()[0][:300] if error else ""
    log.warning("[HotPath] Compiling %s failed; it runs eagerly from now on: %s", batch, first)
    if first != error:
        log.debug("[HotPath] Compiling %s failed, the whole error:\n%s", batch, error)


class Record:
    """One pattern's runs: [eager, compiled] counts, summed seconds and best seconds, and its judgement."""

    __slots__ = ("signature", "runs", "seconds", "best", "judging", "next_compiled", "pending", "ratios",
                 "reverts", "recheck_at", "digest", "cycle", "saved", "from_disk", "ratio", "opens")

    def __init__(self, signature: int) -> None:
        self.signature = signature
        self.runs = [0, 0]
        self.seconds = [0.0, 0.0]
        self.best: list = [None, None]
        self.judging = False    # interleaving eager and compiled runs to judge the graph
        self.next_compiled = True
        self.pending = None     # (compiled, seconds): the first run of an unfinished pair; "warm-up"
        self.ratios: list = []  # compiled/eager per pair
        self.reverts = 0
        self.recheck_at = 0     # the policy's batch count at which a reverted pattern is judged again
        self.digest = ""        # the pattern's digest in the persistent cache ("": not looked up)
        self.cycle = None       # the digests of the cycle it is a segment of, as last merged
        self.saved = ""         # the state last saved to (or loaded from) the cache
        self.from_disk = False
        self.ratio = None       # the median compiled/eager ratio an earlier run judged it by
        self.opens = 0          # the period of the known cycle it is the first segment of (asked once)

    def add(self, compiled: bool, seconds: float) -> None:
        k = int(compiled)
        self.runs[k] += 1
        self.seconds[k] += seconds
        if self.best[k] is None or seconds < self.best[k]:
            self.best[k] = seconds

    def mean_ms(self, compiled: bool) -> float | None:
        k = int(compiled)
        return 1e3 * self.seconds[k] / self.runs[k] if self.runs[k] else None


class HotPathPolicy:
    """Decides, per pattern of ``table`` (a ``_hotpath.PatternTable``), eager or compiled."""

    def __init__(self, table, cache: PatternCache | None = None) -> None:
        self.table = table
        self.cache = cache
        self.records: dict = {}        # entry id (or a batch key without a table) -> Record
        self.reverted: dict = {}       # signature -> reverts: a reverted pattern stays eager after eviction too
        self.reverts = 0
        self.clock = 0                 # batches seen
        self.from_disk = 0             # patterns whose record came from the persistent cache
        self._failed_keys: dict = {}   # without a table: batch keys whose compile failed (an ordered set)

    # -- facts in ------------------------------------------------------------------
    def seen(self, entry_id: int, signature: int, state: int, batch, operations: list) -> int:
        """The table recorded a sight of ``entry_id`` (``batch``, canonical, of ``operations``);
        its state as the policy has it."""
        self.clock += 1
        record = self.records.get(entry_id)
        if record is not None:
            if state == FAILED and self.recheck_due(entry_id):
                return self._recheck(entry_id, record, len(operations))
            return state
        record = self.records[entry_id] = Record(signature)
        if signature in self.reverted and state != FAILED:
            self._reverted(entry_id, record, self.reverted[signature])
            return FAILED
        if self.cache is None:
            return state
        return self._look_up(entry_id, record, state, batch, operations)

    def _look_up(self, entry_id: int, record: Record, state: int, batch, operations: list) -> int:
        record.digest = pattern_digest(batch.canon, operations, batch.metas)
        disk = self.cache.load(record.digest)
        return state if disk is None else self._restore(entry_id, record, disk, state)

    def _restore(self, entry_id: int, record: Record, disk: dict, state: int) -> int:
        """A pattern known from an earlier run: its record, and the state it starts in."""
        if not self.from_disk:
            log.info("[HotPath] patterns known from an earlier run are taken from the cache in %s: "
                     "they compile without waiting for the threshold", self.cache.root)
        self.from_disk += 1
        record.from_disk = True
        record.saved = disk["state"]
        cycle = record.cycle = disk.get("cycle")
        if cycle and len(cycle) > 1 and cycle[0] == record.digest:
            record.opens = len(cycle)
        record.best = [disk.get("eager_s"), disk.get("compiled_s")]
        record.ratio = disk.get("ratio")
        if disk["state"] == "compiled" and state == COLD:
            state = HOT
        elif disk["state"] == "reverted":
            self._reverted(entry_id, record, disk.get("reverts", 1))
            return FAILED
        elif disk["state"] == "failed":
            state = FAILED
        else:
            return state
        self.table.set_state(entry_id, state)
        return state

    def _reverted(self, entry_id: int, record: Record, reverts: int) -> None:
        """The pattern runs eagerly until its next judgement is due."""
        record.reverts = reverts
        record.recheck_at = self.clock + RECHECK_BATCHES * 2 ** (reverts - 1)
        self.reverted[record.signature] = reverts
        self.table.set_state(entry_id, FAILED)

    def _recheck(self, entry_id: int, record: Record, n_ops: int) -> int:
        log.info("[HotPath] Batch(%d ops), reverted to eager %d time(s), is judged again", n_ops, record.reverts)
        record.recheck_at = 0
        self.reverted.pop(record.signature, None)
        self.table.set_state(entry_id, HOT)
        return HOT

    def _save(self, record: Record, state: str) -> None:
        if record.digest:
            record.saved = state
            ratio = median(record.ratios) if record.ratios else record.ratio
            self.cache.store(record.digest, {"state": state, "cycle": record.cycle, "eager_s": record.best[0],
                                             "compiled_s": record.best[1], "ratio": ratio,
                                             "reverts": record.reverts})

    def note_cycle(self, entry_ids: tuple) -> None:
        """These segments, in this order, are now run as one merged cycle: remember it."""
        records = [self.records.get(k) for k in entry_ids]
        if None in records or not all(r.digest for r in records):
            return
        cycle = [r.digest for r in records]
        for record in records:
            if record.cycle != cycle:
                record.cycle = cycle
                self._save(record, record.saved or "hot")

    def forget(self, entry_ids) -> None:
        """Patterns evicted from the table."""
        for entry_id in entry_ids:
            self.records.pop(entry_id, None)

    def finished(self, key, compiled: bool, error: str, seconds: float, n_ops: int, worker_id: str = "") -> bool:
        """A run of pattern ``key`` ended (``error``: its compile failed).  True: revert it, drop its graph."""
        record = self.records.get(key)
        if record is None:   # evicted meanwhile, or no table
            if error:
                self._note_failed_key(key, error, n_ops)
            return False
        try:
            state = self.table.state(key)
        except KeyError:
            return False
        record.add(compiled, seconds)
        if error:
            if state != FAILED:
                self.table.set_state(key, FAILED)
                self._save(record, "failed")
                _log_failed("Batch(%06x:%d ops)" % (record.signature >> 40, n_ops), error)
            return False
        if compiled and state == HOT:
            self.table.set_state(key, COMPILED)
            # A graph judged in an earlier run (its record holds the evidence that it pays) is not judged again.
            judged = record.from_disk and record.ratio is not None and record.ratio <= 1 + REVERT_MARGIN
            record.judging, record.pending, record.ratios = REVERT_SAMPLES > 0 and not judged, "warm-up", []
            if record.saved != "compiled":
                self._save(record, "compiled")
        if not record.judging:
            return False
        record.next_compiled = not compiled
        pending, record.pending = record.pending, None
        if pending == "warm-up" or pending is None or pending[0] == compiled:
            record.pending = None if pending == "warm-up" else (compiled, seconds)
            return False
        record.ratios.append(seconds / pending[1] if compiled else pending[1] / seconds)
        if len(record.ratios) < REVERT_SAMPLES:
            return False
        record.judging, record.next_compiled = False, True
        ratio = record.ratio = median(record.ratios)
        if ratio <= 1 + REVERT_MARGIN:
            self._save(record, "compiled")   # with the evidence that it pays
            return False
        self._reverted(key, record, record.reverts + 1)
        self._save(record, "reverted")
        self.reverts += 1
        log.warning("[HotPath] Worker %s: Batch(%d ops) runs no faster compiled than eager (median of %d "
                    "interleaved pairs: %.2fx the eager time); it runs eagerly, judged again in %d batches",
                    worker_id, n_ops, len(record.ratios), ratio, record.recheck_at - self.clock)
        return True

    def _note_failed_key(self, key, error: str, n_ops: int) -> None:
        if key in self._failed_keys:
            return
        if len(self._failed_keys) >= _FAILED_KEYS_LIMIT:
            del self._failed_keys[next(iter(self._failed_keys))]
        self._failed_keys[key] = None
        _log_failed("Batch(%d ops)" % n_ops, error)

    # -- decisions out ------------------------------------------------------------
    def compiles(self, key) -> bool:
        """Without hot-path detection (GT_COMPILE=1): compile unless this pattern failed to."""
        return key not in self._failed_keys

    def run_compiled(self, entry_id) -> bool:
        """For a pattern that runs compiled: this run too?  (While judged, every other run is eager.)"""
        record = self.records.get(entry_id)
        return record is None or record.next_compiled

    def recheck_due(self, entry_id) -> bool:
        """Is a reverted pattern due to be judged again?"""
        record = self.records.get(entry_id)
        return record is not None and 0 < record.recheck_at <= self.clock

    def state(self, entry_id: int) -> int:
        return self.table.state(entry_id)

    def promote(self, entry_id: int) -> bool:
        """A cold pattern compiles before its threshold (a compile region's batch, a merged cycle)."""
        if self.table.state(entry_id) != COLD:
            return False
        self.table.set_state(entry_id, HOT)
        return True

    def digest(self, entry_id) -> str:
        """Pattern ``entry_id``'s digest in the persistent cache ("": none)."""
        record = self.records.get(entry_id)
        return record.digest if record is not None else ""

    def known_compiled(self, entry_id: int) -> bool:
        """Was this pattern compiled in an earlier run (the persistent cache says so)?"""
        record = self.records.get(entry_id)
        return record is not None and record.from_disk and record.saved == "compiled"

    def opens_known_cycle(self, entry_id: int) -> int:
        """The period P when pattern ``entry_id`` is the first segment of a cycle merged in an
        earlier run (so the next P - 1 segments may be held with it), else 0; nonzero once per pattern."""
        record = self.records.get(entry_id)
        if record is None:
            return 0
        period, record.opens = record.opens, 0
        return period

    def known_cycle(self, entry_ids: list) -> int:
        """The period P when the last P of these segments are a cycle merged in an earlier run,
        ending with the last one (the next segment starts it again), else 0."""
        record = self.records.get(entry_ids[-1])
        cycle = record.cycle if record is not None else None
        if not cycle or cycle[-1] != record.digest or len(cycle) > len(entry_ids):
            return 0
        records = self.records
        recent = [records[k].digest if k in records else "" for k in entry_ids[-len(cycle):]]
        return len(cycle) if recent == cycle else 0
