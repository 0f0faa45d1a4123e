"""The worker: owns the tensor table, batches instructions and runs them.

With a batch size of 1 every instruction runs as it arrives.  With a larger
batch size, instructions accumulate and run together when the batch is full,
at a sync point (a data read, stats), at a boundary the client marks (end of
forward, ``backward()``, ``optimizer.step()``, leaving ``no_grad``), or at an
explicit flush.  Boundaries keep the batches of a steady loop aligned with the
loop whatever its op count, so the same batches repeat every iteration.

One graph per step.  With auto-compile on, the worker feeds the pattern key of
every batch it cuts (a *segment*) to the detector's cycle finder.  Once the
segment sequence repeats with period P (forward, backward, update: P = 3) and
those segments are hot, the worker stops running segments one by one: it holds
them until P segments have passed and runs the whole cycle as one batch, which
the pattern table sees as one pattern and the engine compiles into one graph
on its second sight.  A sync point ends a held cycle early (what is held runs,
as its own pattern) and restarts the count, so the phase locks onto the loop's
reads; a loop without reads gets the phase whose graph has the fewest outputs.
If merged batches stop repeating, or the merged cycle does not pay, the worker
goes back to running segments and looks for a cycle again.

Regions (``gt.signal`` scopes configured with ``compile`` or ``dynamic``) cut
batches at their edges (``mark_boundary(compile_region=...)``) and batch even
when the batch size is 1.  A ``compile: true`` region's batches compile on first
sight; a ``compile: false`` region's never compile, and a cycle with one of its
segments is not merged; ``dynamic`` makes a region's sizes symbolic (True) or
exact (False) from the first sight.

What runs compiled, what failed and what goes back to eager is decided by
the pattern's policy (``gt.worker.policy``): the worker tells it each run's
facts and carries out its decisions.  A merged cycle that failed or was
reverted is not merged again until the policy judges its pattern again.
"""
from __future__ import annotations

import logging
from time import perf_counter

import torch

from gt import config as _config
from gt.transport.protocol import OUT_OF_MEMORY, WorkerFlush, WorkerGetStats, WorkerResponse
from gt.worker import _batcher
from gt import ops as _ops
from gt.worker.engine import Batch, Engine, meta_of
from gt.worker.aot_graphs import AotGraphs
from gt.worker.hotpath_cache import PatternCache, use_inductor_cache
from gt.worker.hotpath_detector import HotPathDetector
from gt.worker.policy import FAILED, HotPathPolicy

log = logging.getLogger(__name__)

# With compiling on and no batch size given, batches are cut at the client's
# boundaries (or at this many ops): single-op batches would have nothing to fuse.
# A compile region is one batch of up to this many ops whatever the batch size.
AUTO_COMPILE_BATCH_SIZE = 1024
# A held cycle runs early once it holds this many ops.
MAX_CYCLE_OPS = 4096
# The longest cycle the detector finds (segments).
MAX_PERIOD = 16
# Merged batches seen for the first time, per segment of the period, before the
# worker decides the cycle is gone and goes back to single segments.
_FRESH_MERGES_PER_SEGMENT = 2


# CUDA errors that leave the process's CUDA context unusable: every later CUDA call fails too.
_STICKY_CUDA_ERRORS = ("device-side assert", "illegal memory access", "unspecified launch failure",
                       "illegal instruction", "misaligned address")
_context_lost: str | None = None


def _rotation(cycle: tuple) -> tuple:
    """One name for a cycle whatever segment the cycle finder saw first."""
    return min(cycle[k:] + cycle[:k] for k in range(len(cycle)))


def default_device() -> str:
    return "cuda:0" if torch.cuda.is_available() else "cpu"


def context_lost() -> str | None:
    """Why this process's CUDA context is lost (a kernel failed a device-side assert); None while whole."""
    return _context_lost


def _sticky(exc: BaseException | None) -> bool:
    while exc is not None:
        if any(s in str(exc) for s in _STICKY_CUDA_ERRORS):
            return True
        exc = exc.__cause__
    return False


def _out_of_memory(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, torch.OutOfMemoryError):
            return True
        exc = exc.__cause__
    return False


def device_info(device: torch.device) -> dict:
    """What ``gt.cuda`` tells a client about a GPU worker (empty for a CPU worker)."""
    if device.type != "cuda":
        return {}
    props = torch.cuda.get_device_properties(device)
    return {"name": props.name, "capability": [props.major, props.minor], "bf16": torch.cuda.is_bf16_supported(),
            "memory_allocated": torch.cuda.memory_allocated(device),
            "max_memory_allocated": torch.cuda.max_memory_allocated(device)}


class Worker:
    """Executes one client's instruction stream on one device."""

    def __init__(self, worker_id: str, backend: str = "pytorch", batch_size: int | None = None,
                 device: str | None = None, config: _config.Config | None = None) -> None:
        if backend != "pytorch":
            raise ValueError(f"unknown backend {backend!r}: GT's worker runs on 'pytorch'")
        cfg = config if config is not None else _config.from_env()
        if batch_size is None:
            batch_size = cfg.batch_size
        if batch_size is None:
            batch_size = AUTO_COMPILE_BATCH_SIZE if cfg.auto_compile or cfg.compile else 1
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.worker_id = worker_id
        self.batch_size = batch_size
        self.device = torch.device(device or cfg.device or default_device())
        self.tensors: dict[int, torch.Tensor] = {}
        self.engine = Engine(self.device, enable_compilation=cfg.compile and not cfg.auto_compile,
                             cuda_graphs=cfg.cuda_graphs)
        self.hotpath_detector = None
        self.policy = HotPathPolicy(None)   # without detection: remembers the batches that failed to compile
        cache = None
        if cfg.cache_dir and (cfg.auto_compile or cfg.compile):
            try:
                use_inductor_cache(cfg.cache_dir)
                cache = PatternCache(cfg.cache_dir, cfg.cache_max_mb, self.device) if cfg.auto_compile else None
            except OSError as exc:
                log.warning("Worker %s: the hot-path cache in %s cannot be used (%s); running without it",
                            worker_id, cfg.cache_dir, exc)
        if cfg.auto_compile:
            self.hotpath_detector = HotPathDetector(hot_threshold=cfg.hot_threshold,
                                                    enable_auto_compile=True, cache=cache)
            self.policy = self.hotpath_detector.policy
            if cache is not None and cfg.cache_aot:
                self.engine.aot = AotGraphs(cache, self.policy.digest)
            log.info("Worker %s: Hot path detection enabled (threshold=%d)", worker_id, cfg.hot_threshold)
            if batch_size == 1:
                log.warning("Worker %s: GT_AUTO_COMPILE=1 with batch size 1: single-op batches never "
                            "compile (leave GT_WORKER_BATCH_SIZE unset to batch at boundaries)", worker_id)
        if batch_size > 1:
            log.info("Worker %s: Message batching enabled (batch_size=%d)", worker_id, batch_size)
        self._batcher = _batcher.Batcher(_ops.NUM_OPCODES)
        self.pending_operations: list = []
        self._pending_frees: list[int] = []
        self._funcs = self.engine.funcs
        self._error: Exception | None = None
        self._flushing = False
        self._late_frees: list[int] = []
        self._immediate_ops = 0
        # Segmentation: ops run as they arrive (_immediate), or a segment is cut when
        # the pending list reaches _seg_limit = _seg_start + _cut ops, or at a boundary.
        self._immediate = batch_size == 1
        self._cut = batch_size
        self._seg_start = 0
        self._seg_limit = batch_size
        self._regions: list = []       # (compile, dynamic) of the open regions (configured gt.signal scopes)
        self._region_compile: bool | None = None   # the innermost setting: True, False, or None (not set)
        self._region_dynamic: bool | None = None
        self._eager_keys: set = set()  # patterns of compile: false regions (no cycle with one is merged)
        # Cycles (see the module docstring).
        self._recent: list[tuple] = []  # (pattern key, hot, live ids, freed ids) of the last segments
        # Frees between segments (nothing pending: applied at once), for _cycle_start's replay.
        self._gap_frees: list[int] | None = [] if cfg.auto_compile and batch_size > 1 else None
        self._period = 0               # 0: run segments one by one; P: hold P segments
        self._held = 0                 # segments held in the current cycle
        self._after_sync: int | None = None   # key of the first segment after the last sync point
        self._synced = False
        self._cycle: tuple = ()        # the pattern keys of the held cycle's segments
        self._fresh_merges = 0
        self._merged_seen: dict = {}   # pattern key -> times seen as a merged batch
        # cycle (as _rotation gives it) -> key of its merged pattern, which failed or was reverted
        self._bad_cycles: dict = {}
        self.stats = {"operations": {"total": 0, "batched": 0, "compiled": 0, "eager": 0},
                      "batches": 0, "hot_batches": 0, "merged_batches": 0}

    # -- instruction intake (called by the client for every op) -------------
    def submit(self, opcode: int, result_id: int, input_ids: tuple, params: tuple = (),
               scalars: tuple = (), shape: tuple | None = None) -> None:
        """Accept one instruction; runs now, or when its batch flushes.  ``shape`` (the
        result's, as the client inferred it) is for a remote instruction log only."""
        if self._immediate:
            self._immediate_ops += 1
            t = self.tensors
            try:
                args = [t[i] for i in input_ids]
                if self.engine.threads is not None:
                    self.engine.fit_threads(args)
                t[result_id] = self._funcs[opcode](*args, *scalars, *params)
            except Exception as exc:  # noqa: BLE001 - surfaces at the next sync point
                self._note_error(_ops.OP_NAMES[opcode], exc)
            return
        # Pending ops are plain tuples in Operation's layout; the C batcher
        # canonicalises the whole list once per batch (flush_ops), so the per-op
        # cost here is one tuple and one list append.
        pending = self.pending_operations
        pending.append((opcode, result_id, input_ids, params, scalars))
        if len(pending) >= self._seg_limit:
            self._end_segment()

    def free(self, tensor_id: int) -> None:
        """The client dropped a handle; release the tensor once nothing pending needs it."""
        if self._flushing:
            # A finalizer ran while a batch was being flushed: apply it afterwards.
            self._late_frees.append(tensor_id)
        elif self.pending_operations:
            self._pending_frees.append(tensor_id)
        else:
            self.tensors.pop(tensor_id, None)
            if self._gap_frees is not None:
                self._gap_frees.append(tensor_id)

    def put(self, tensor_id: int, value: torch.Tensor) -> None:
        """Store a tensor created from data.  Not a sync point: the id is fresh, so no
        pending op reads or writes it, and a random tensor made inside a training step
        (a dropout mask) does not cut the step's batch."""
        self._check_context()
        self.tensors[tensor_id] = value.to(self.device)

    def fetch(self, tensor_id: int) -> torch.Tensor:
        """Return a tensor's value (a sync point): runs what is pending first."""
        self._flush_batch()
        if self.device.type == "cuda" and _context_lost is None:
            try:   # a kernel's failure surfaces at a sync: here, named, rather than in the caller's copy
                torch.cuda.synchronize(self.device)
            except Exception as exc:  # noqa: BLE001 - reported below as the op's error
                self._note_error("read", exc)
        self._raise_pending_error()
        try:
            return self.tensors[tensor_id]
        except KeyError:
            raise RuntimeError(f"GT worker has no tensor {tensor_id}: it was freed or never computed") from None

    def item(self, tensor_id: int):
        """A one-element tensor's value as a Python number (a sync point)."""
        return self.fetch(tensor_id).item()

    def mark_boundary(self, compile_region: bool | tuple | None = None) -> None:
        """The client reached a natural boundary (end of forward, backward, step): cut the batch.

        ``compile_region`` (compile, dynamic): a region (a configured ``gt.signal``
        scope) opens here, each setting True, False or None (not set); True is
        (True, None), a compile region.  False: the innermost open region closes here.
        """
        if len(self.pending_operations) > self._seg_start:
            self._end_segment()
        if compile_region is not None:
            if compile_region is False:
                if not self._regions:
                    raise RuntimeError("GT worker: a compile region was closed that was never opened")
                self._regions.pop()
            else:
                region = (True, None) if compile_region is True else tuple(compile_region)
                self._regions.append(region)
                if region[0] is False and self._period:
                    self._run_pending()    # what a merged cycle holds runs before the region
                    self._leave_cycle()
            compiles = [r[0] for r in self._regions if r[0] is not None]
            dynamics = [r[1] for r in self._regions if r[1] is not None]
            self._region_compile = compiles[-1] if compiles else None
            self._region_dynamic = dynamics[-1] if dynamics else None
            in_region = bool(self._regions)
            self._immediate = self.batch_size == 1 and not in_region
            self._cut = max(self.batch_size, AUTO_COMPILE_BATCH_SIZE) if in_region else self.batch_size
            self._seg_limit = self._seg_start + self._cut

    # -- batch execution ------------------------------------------------------
    def _end_segment(self) -> None:
        """A segment ends (boundary or size cut): run it, or hold it as part of a cycle."""
        if self._period:
            self._held += 1
            if self._held < self._period and len(self.pending_operations) < MAX_CYCLE_OPS:
                self._seg_start = len(self.pending_operations)
                self._seg_limit = self._seg_start + self._cut
                return
        self._run_pending()

    def _flush_batch(self) -> None:
        """Execute all pending operations as a batch (a sync point ends a held cycle early)."""
        self._run_pending()
        self._synced = True

    def _run_pending(self) -> None:
        if self._flushing or not (self.pending_operations or self._pending_frees):
            return
        self._flushing = True
        operations, self.pending_operations = self.pending_operations, []
        frees, self._pending_frees = self._pending_frees, []
        held, self._held = self._held, 0
        self._seg_start, self._seg_limit = 0, self._cut
        try:
            try:
                canon, ext_ids, live_ids, freed_ids = self._batcher.flush_ops(operations, frees)
            except Exception as exc:  # noqa: BLE001 - a malformed instruction: drop the batch
                self._note_error("batch", exc)
                freed_ids = frees
            else:
                if operations:
                    try:
                        if self._execute(operations, Batch(canon, ext_ids, live_ids, freed_ids), held):
                            self._hold(operations, frees)
                            return
                    except Exception as exc:  # noqa: BLE001 - surfaces at the next sync point
                        self.tensors.update(getattr(exc, "partial", {}))
                        self._note_error(getattr(exc, "op_name", "batch"), exc)
            for i in freed_ids:
                self.tensors.pop(i, None)
        finally:
            self._flushing = False
            if self._late_frees:
                late, self._late_frees = self._late_frees, []
                for i in late:
                    self.free(i)

    def _hold(self, operations: list, frees: list) -> None:
        """The segment just cut starts a held cycle after all: it waits, pending, for the cycle's others."""
        self.pending_operations, self._pending_frees = operations, frees
        self._held = 1
        self._seg_start = len(operations)
        self._seg_limit = self._seg_start + self._cut

    def _execute(self, operations: list, batch: Batch, held: int) -> bool:
        """Run a batch; True when, instead, it is held as the first segment of a known cycle."""
        tensors = self.tensors
        detector = self.hotpath_detector
        n = len(operations)
        force_compile = self._region_compile is True
        eager = self._region_compile is False
        merged = self._period > 0     # a held cycle (or what a sync point found held)
        compile_it = False
        if detector is not None or force_compile or (self.engine.enable_compilation and n >= 2 and not eager):
            batch.metas = tuple(map(meta_of, map(tensors.__getitem__, batch.ext_ids)))
            if detector is None:
                batch.key = (batch.canon, batch.metas)
                compile_it = n >= 2 and self.policy.compiles(batch.key)
            else:
                hot = detector.record_batch(operations, batch, dynamic=self._region_dynamic)
                for key in detector.take_evicted():
                    self.engine.forget(key)
                    self._merged_seen.pop(key, None)
                    self._eager_keys.discard(key)
                key = batch.key
                if eager:
                    self._eager_keys.add(key)
                    hot = False
                if merged:
                    if self._gap_frees:    # replayed for segments run one by one only (_cycle_start)
                        self._gap_frees.clear()
                    self.stats["merged_batches"] += 1
                    compile_it = self._merged_compiles(key, hot, held) and n >= 2
                else:
                    if n >= 2 and force_compile and not hot:
                        hot = self.policy.promote(key)
                    elif not (eager or force_compile) and self._opens_known_cycle(key):
                        return True
                    compile_it = self._observe_segment(batch, hot, force_compile) and n >= 2
                compile_it = compile_it and self.policy.run_compiled(key)
        t0 = perf_counter()
        try:
            tensors.update(self.engine.execute_batch(operations, tensors, batch, compile_it))
        finally:
            seconds = perf_counter() - t0 - batch.compile_seconds
            if detector is not None:
                if detector.record_batch_completion(operations, seconds, self.worker_id):
                    self.engine.forget(batch.key)
            elif batch.failed:
                self.policy.finished(batch.key, False, batch.error, seconds, n)
        ops_stats = self.stats["operations"]
        ops_stats["batched"] += n
        self.stats["batches"] += 1
        if batch.compiled:
            ops_stats["compiled"] += n
            self.stats["hot_batches"] += 1
        else:
            ops_stats["eager"] += n
        return False

    # -- cycles ---------------------------------------------------------------

    def _merged_compiles(self, key: int, hot: bool, held: int) -> bool:
        """Should a merged batch run compiled?  On its second sight as a merged batch.

        The first sight shows nothing repeats yet (and a merged batch that is one
        hot segment, as at a loop's end, must not compile as if it did).  Merged
        batches that keep being new mean the cycle is gone; a full cycle that
        failed to compile or was reverted is given up (a reverted one until the
        policy judges its pattern again).
        """
        seen = self._merged_seen[key] = self._merged_seen.get(key, 0) + 1
        if seen == 1 and not self.policy.known_compiled(key):
            self._fresh_merges += 1
            if self._fresh_merges >= _FRESH_MERGES_PER_SEGMENT * self._period:
                log.info("[HotPath] Worker %s: merged cycles stopped repeating; back to single batches",
                         self.worker_id)
                self._leave_cycle()
            return False
        self._fresh_merges = 0
        if hot:
            return True
        full = held == self._period
        if self.policy.state(key) == FAILED:
            if full:
                if self._cycle:   # () for a cycle held from its first segment's first sight
                    self._bad_cycles[_rotation(self._cycle)] = key
                self._leave_cycle()
            return False
        return self.policy.promote(key)

    def _opens_known_cycle(self, key: int) -> bool:
        """Is this segment, at its first sight, the first of a cycle merged in an earlier run (the
        persistent cache)?  Then it is held with the next P - 1 segments, and the merged cycle, known
        compiled, compiles from this round on."""
        period = self.policy.opens_known_cycle(key) if self.batch_size > 1 else 0
        if not period:
            return False
        self._period, self._cycle, self._fresh_merges = period, (), 0
        log.info("[HotPath] Worker %s: a steady cycle of %d batches known from an earlier run starts; running "
                 "each cycle as one batch", self.worker_id, period)
        return True

    def _observe_segment(self, batch: Batch, hot: bool, force_compile: bool) -> bool:
        """Feed one segment to the cycle finder; True when the segment should run compiled on its own."""
        key = batch.key
        period = self.hotpath_detector.observe_segment(self.hotpath_detector.last_signature)
        if self._synced:
            self._synced, self._after_sync = False, key
        recent = self._recent
        freed = batch.freed_ids
        if self._gap_frees:
            freed = (*self._gap_frees, *freed)
            self._gap_frees.clear()
        recent.append((key, hot, batch.live_ids, freed))
        if len(recent) > 2 * MAX_PERIOD:
            del recent[0]
        # Merging needs batching outside compile regions too (held ops must not be overtaken).
        if period == 1 or force_compile or self.batch_size == 1:
            return hot
        # A cycle merged in an earlier run (the persistent cache) whose first segment was not held at its
        # first sight (_opens_known_cycle) is merged after one round.
        known = self.policy.known_cycle([seg[0] for seg in recent])
        if not (period or known):
            return hot and not self._cycle_may_form()
        period = known or period
        segments = recent[-period:]
        cycle = tuple(seg[0] for seg in segments)
        if not self._eager_keys.isdisjoint(cycle):
            return hot        # a segment of a compile: false region: the cycle runs segment by segment
        bad = self._bad_cycles.get(_rotation(cycle))
        if bad is not None:
            if not self.policy.recheck_due(bad):
                return hot
            del self._bad_cycles[_rotation(cycle)]
        if known or all(seg[1] for seg in segments):
            self._period, self._cycle = period, cycle
            self._fresh_merges = 0
            # The next segment is cycle[0]; held cycles start at cycle[start], so the
            # first one may be short.
            start = 0 if known else self._cycle_start(period)
            if start:
                self._held = period - start
            self.policy.note_cycle(cycle[start:] + cycle[:start])
            log.info("[HotPath] Worker %s: steady cycle of %d batches; running each cycle as one batch",
                     self.worker_id, period)
        # A segment of a cycle waits for the merged cycle instead of compiling on its own.
        return False

    def _cycle_may_form(self) -> bool:
        """Is the last segment hot for the first time, back after 2..MAX_PERIOD segments?

        Then it may belong to a cycle the finder has not confirmed yet: a period P
        needs 2P equal keys, and a loop whose first step differs (no gradients yet)
        turns its segments hot before that.  Such a segment waits for its next sight
        instead of compiling a graph of its own that the merged cycle would replace.
        """
        recent = self._recent
        key = recent[-1][0]
        for seg in reversed(recent[-MAX_PERIOD - 1:-1]):
            if seg[0] == key:
                return not seg[1]
        return False

    def _cycle_start(self, period: int) -> int:
        """Where held cycles start, as an index into the cycle's segments.

        Where the loop reads (a sync point), cycles start after the read, so a loop
        that reads every N steps keeps one merged pattern.  Otherwise at the
        rotation whose merged graph has the fewest outputs: the results still alive
        at its end, found by replaying the last two rounds' results and frees.
        """
        cycle = self._cycle
        if self._after_sync in cycle:
            return cycle.index(self._after_sync)
        rounds = self._recent[-2 * period:]
        best, best_start = None, 0
        for start in range(period):
            alive: set = set()
            for _, _, live_ids, freed_ids in rounds[start:start + period]:
                alive.difference_update(freed_ids)
                alive.update(live_ids)
            if best is None or len(alive) < best:
                best, best_start = len(alive), start
        return best_start

    def _leave_cycle(self) -> None:
        self._period, self._cycle = 0, ()
        self.hotpath_detector.reset_cycle()
        self._recent.clear()

    # -- errors -------------------------------------------------------------------
    def _note_error(self, op_name: str, exc: Exception) -> None:
        if self.device.type == "cuda" and _sticky(exc):
            self._lose_context(op_name, exc)
        elif self._error is None:
            if type(exc) is KeyError and exc.args and type(exc.args[0]) is int:
                exc = KeyError(f"input tensor {exc.args[0]} does not exist on this worker: it was freed, or it "
                               "was made by another thread (in remote mode each thread has its own connection, "
                               "and a tensor belongs to the thread that made it)")
            # Out of memory keeps torch's type (an op too large for the GPU); the worker goes on serving.
            if _out_of_memory(exc):
                self._error = torch.OutOfMemoryError(f"GT worker: operation '{op_name}' {OUT_OF_MEMORY} "
                                                     f"{self.device}: {exc}")
            else:
                self._error = RuntimeError(f"GT worker: operation '{op_name}' failed: {exc}")
            self._error.__cause__ = exc

    def _lose_context(self, op_name: str, exc: Exception) -> None:
        """A kernel failed a device-side check: this process's CUDA context is gone for good."""
        global _context_lost
        if _context_lost is None:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            _context_lost = (
                f"GT worker: operation '{op_name}' failed on {self.device}: the CUDA context is lost ({first}). "
                "A kernel (this op or one launched before it) failed a device-side check, most likely an index "
                "or class target out of range where GT does not check it on the host (a compiled graph, an "
                "indexed assignment): every tensor of this process on the GPU is gone and nothing more can run "
                "there. Restart the process (a remote worker restarts itself).")
            log.error("%s", _context_lost)
        self._error = RuntimeError(_context_lost)
        self._error.__cause__ = exc

    def _check_context(self) -> None:
        if _context_lost is not None and self.device.type == "cuda":
            raise RuntimeError(_context_lost)

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        self._check_context()

    # -- control commands -------------------------------------------------------
    def get_stats(self) -> dict:
        """Statistics: operations, compilation cache and (when on) hot-path detection."""
        self._flush_batch()
        ops_stats = dict(self.stats["operations"])
        ops_stats["total"] = ops_stats["batched"] + self._immediate_ops
        ops_stats["eager"] += self._immediate_ops
        stats = {
            "operations": ops_stats,
            "batches": self.stats["batches"],
            "batch_size": self.batch_size,
            "tensors": len(self.tensors),
            "device": str(self.device),
            "device_info": device_info(self.device),
            "compilation": self.engine.get_compilation_stats(),
        }
        if self.hotpath_detector is not None:
            hotpath = self.hotpath_detector.get_stats()
            # Batches that ran as hot paths (compiled), not batches recorded in a hot state.
            hotpath["hot_batches_executed"] = self.stats["hot_batches"]
            hotpath["cycle_period"] = self._period
            hotpath["merged_batches"] = self.stats["merged_batches"]
            stats["hotpath"] = hotpath
        return stats

    def _handle_get_stats(self, cmd: WorkerGetStats) -> WorkerResponse:
        """Handle a stats request (the seed's endpoint)."""
        return WorkerResponse(success=True, data=self.get_stats())

    def handle(self, cmd) -> WorkerResponse:
        """Answer a control command (the seed's message interface)."""
        try:
            if isinstance(cmd, WorkerGetStats):
                return self._handle_get_stats(cmd)
            if isinstance(cmd, WorkerFlush):
                self._flush_batch()
                self._raise_pending_error()
                return WorkerResponse(success=True)
        except Exception as exc:  # noqa: BLE001
            return WorkerResponse(success=False, error=str(exc))
        return WorkerResponse(success=False, error=f"unknown command {type(cmd).__name__}")
