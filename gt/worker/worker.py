"""The worker: owns the tensor table, batches instructions and runs them.

With a batch size of 1 every instruction runs as it arrives.  With a larger
batch size, instructions accumulate in the C batcher (``gt.worker._batcher``)
and run together when the batch is full, at a sync point (a data read, a tensor
created from data, stats), at a boundary the client marks (end of forward,
``backward()``, ``optimizer.step()``, leaving ``no_grad``), or at an explicit
flush.  Boundaries keep the batches of a steady loop aligned with the loop
whatever its op count, so the same batches repeat every iteration.
"""
from __future__ import annotations

import logging
import os

import torch

from gt import config as _config
from gt.transport.protocol import WorkerFlush, WorkerGetStats, WorkerResponse
from gt.worker import _batcher
from gt import ops as _ops
from gt.worker.engine import Batch, Engine, Operation
from gt.worker.hotpath_detector import HotPathDetector

log = logging.getLogger(__name__)

# With auto-compile on and no batch size given, batches are cut at the client's
# boundaries (or at this many ops): single-op batches would have nothing to fuse.
AUTO_COMPILE_BATCH_SIZE = 1024


def default_device() -> str:
    return "cuda:0" if torch.cuda.is_available() else "cpu"


class Worker:
    """Executes one client's instruction stream on one device."""

    def __init__(self, worker_id: str, backend: str = "pytorch", batch_size: int | None = None,
                 device: str | None = None, config: _config.Config | None = None) -> None:
        if backend != "pytorch":
            raise ValueError(f"unknown backend {backend!r}: GT's worker runs on 'pytorch'")
        cfg = config if config is not None else _config.from_env()
        if batch_size is None:
            batch_size = cfg.batch_size
            if cfg.auto_compile and "GT_WORKER_BATCH_SIZE" not in os.environ:
                batch_size = AUTO_COMPILE_BATCH_SIZE
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.worker_id = worker_id
        self.batch_size = batch_size
        self.device = torch.device(device or cfg.device or default_device())
        self.tensors: dict[int, torch.Tensor] = {}
        self.engine = Engine(self.device, enable_compilation=cfg.compile and not cfg.auto_compile)
        self.hotpath_detector = None
        if cfg.auto_compile:
            self.hotpath_detector = HotPathDetector(hot_threshold=cfg.hot_threshold,
                                                    enable_auto_compile=True)
            log.info("Worker %s: Hot path detection enabled (threshold=%d)", worker_id, cfg.hot_threshold)
        self.pending_operations: list[Operation] = []
        self._batcher = None
        if batch_size > 1:
            self._batcher = _batcher.Batcher(_ops.NUM_OPCODES)
            log.info("Worker %s: Message batching enabled (batch_size=%d)", worker_id, batch_size)
        self._pending_frees: list[int] = []
        self._funcs = self.engine.funcs
        self._error: Exception | None = None
        self._flushing = False
        self._late_frees: list[int] = []
        self._immediate_ops = 0
        self.stats = {"operations": {"total": 0, "batched": 0, "compiled": 0, "eager": 0},
                      "batches": 0}

    # -- instruction intake (called by the client for every op) -------------
    def submit(self, opcode: int, result_id: int, input_ids: tuple, params: tuple = (),
               scalars: tuple = ()) -> None:
        """Accept one instruction; runs now, or when its batch flushes."""
        if self._batcher is None:
            self._immediate_ops += 1
            t = self.tensors
            try:
                t[result_id] = self._funcs[opcode](*[t[i] for i in input_ids], *scalars, *params)
            except Exception as exc:  # noqa: BLE001 - surfaces at the next sync point
                self._note_error(_ops.OP_NAMES[opcode], exc)
            return
        # Pending ops are plain tuples in Operation's layout; the C batcher
        # canonicalises the whole list once per batch (flush_ops), so the per-op
        # cost here is one tuple and one list append.
        pending = self.pending_operations
        pending.append((opcode, result_id, input_ids, params, scalars))
        if len(pending) >= self.batch_size:
            self._flush_batch()

    def free(self, tensor_id: int) -> None:
        """The client dropped a handle; release the tensor once nothing pending needs it."""
        if self._flushing:
            # A finalizer ran while a batch was being flushed: apply it afterwards.
            self._late_frees.append(tensor_id)
        elif self.pending_operations:
            self._pending_frees.append(tensor_id)
        else:
            self.tensors.pop(tensor_id, None)

    def put(self, tensor_id: int, value: torch.Tensor) -> None:
        """Store a tensor created from data (a sync point for the batch)."""
        self._flush_batch()
        self.tensors[tensor_id] = value.to(self.device)

    def fetch(self, tensor_id: int) -> torch.Tensor:
        """Return a tensor's value (a sync point): runs what is pending first."""
        self._flush_batch()
        self._raise_pending_error()
        try:
            return self.tensors[tensor_id]
        except KeyError:
            raise RuntimeError(f"GT worker has no tensor {tensor_id}: it was freed or never computed") from None

    def mark_boundary(self) -> None:
        """The client reached a natural boundary (end of forward, backward, step): cut the batch."""
        if self.pending_operations:
            self._flush_batch()

    # -- batch execution ------------------------------------------------------
    def _flush_batch(self) -> None:
        """Execute all pending operations as a batch."""
        if self._flushing or not (self.pending_operations or self._pending_frees):
            return
        self._flushing = True
        operations, self.pending_operations = self.pending_operations, []
        frees, self._pending_frees = self._pending_frees, []
        try:
            try:
                canon, ext_ids, live_ids, freed_ids = self._batcher.flush_ops(operations, frees)
            except Exception as exc:  # noqa: BLE001 - a malformed instruction: drop the batch
                self._note_error("batch", exc)
                freed_ids = frees
            else:
                if operations:
                    try:
                        self._execute(operations, Batch(canon, ext_ids, live_ids, freed_ids))
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

    def _execute(self, operations: list, batch: Batch) -> None:
        tensors = self.tensors
        detector = self.hotpath_detector
        n = len(operations)
        compile_it = False
        if detector is not None or (self.engine.enable_compilation and n >= 2):
            batch.metas = tuple((t.dtype, tuple(t.shape)) for t in map(tensors.__getitem__, batch.ext_ids))
            if detector is not None:
                compile_it = detector.record_batch(operations, batch) and n >= 2
                for key in detector.take_evicted():
                    self.engine.forget(key)
            else:
                compile_it = True
        try:
            tensors.update(self.engine.execute_batch(operations, tensors, batch, compile_it))
        finally:
            if detector is not None:
                detector.record_batch_completion(operations)
        ops_stats = self.stats["operations"]
        ops_stats["batched"] += n
        ops_stats["compiled" if batch.compiled else "eager"] += n
        self.stats["batches"] += 1

    def _note_error(self, op_name: str, exc: Exception) -> None:
        if self._error is None:
            self._error = RuntimeError(f"GT worker: operation '{op_name}' failed: {exc}")
            self._error.__cause__ = exc

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

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
            "compilation": self.engine.get_compilation_stats(),
        }
        if self.hotpath_detector is not None:
            stats["hotpath"] = self.hotpath_detector.get_stats()
        return stats

    def handle(self, cmd) -> WorkerResponse:
        """Answer a control command (the seed's message interface)."""
        try:
            if isinstance(cmd, WorkerGetStats):
                return WorkerResponse(success=True, data=self.get_stats())
            if isinstance(cmd, WorkerFlush):
                self._flush_batch()
                self._raise_pending_error()
                return WorkerResponse(success=True)
        except Exception as exc:  # noqa: BLE001
            return WorkerResponse(success=False, error=str(exc))
        return WorkerResponse(success=False, error=f"unknown command {type(cmd).__name__}")

