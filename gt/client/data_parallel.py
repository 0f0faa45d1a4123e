"""Data-parallel training over several workers: ``gt.gpu_workers(n, shard=True)``.

The n workers form a torch.distributed process group (Gloo on CPU, NCCL on CUDA; see
``gt.worker.distributed``).  This client opens one connection per worker, in rank order, and
sends every instruction to each of them.  The rule, kept deliberately small:

* **Batches are split.**  A tensor made from data by ``gt.tensor`` / ``gt.from_numpy`` (without
  ``requires_grad``, at least 1-d) is split along dim 0 into equal shards, one per worker; its
  size along dim 0 must divide by n.  Its handle has the *shard's* shape (as under DDP, where
  each rank sees its local batch), so every shape the client infers is the shape the workers
  see, and a reshape naming the batch size must use the local one (``x.shape[0]``, or -1).
* **Everything else is replicated**: parameters, optimizer state, random tensors and constants
  made by other creation functions run identically on every worker.
* **Gradients are averaged** (``all_reduce_mean``, a functional collective) after each
  ``backward()`` for every leaf whose gradient depends on a batch, so ``optimizer.step()``
  and any reading or clipping of ``.grad`` see the global gradient.  With a mean loss over
  equal shards that is the single-worker gradient, up to float reduction order.
* **Reads give the global value**: a replicated tensor is read from rank 0; a 0-d mean
  reduction of batch data (``mean()``, a loss with ``reduction="mean"``) reads as the average
  over workers, a 0-d sum as the sum, a tensor computed elementwise from batch data as the
  concatenation of the shards.  Reading any other batch-dependent value (a per-worker partial
  result, for example a gradient before backward finished) raises NotImplementedError.
  Losses that weight or ignore samples (``cross_entropy`` with ``weight`` or hit
  ``ignore_index``) average per-worker means, as DDP does, which differs from one global mean.
"""
from __future__ import annotations

import os
import socket
import time

import torch

from gt.client import runtime as _rt
from gt.ops import OPCODE, OPS

SHARD, MEAN, SUM, LOCAL = "shard", "mean", "sum", "local"
_ALL_REDUCE = OPCODE["all_reduce_mean"]
_ALIAS = OPCODE["alias"]
_ELEMENTWISE = frozenset(i for i, e in enumerate(OPS) if e.kind in ("elementwise", "broadcast", "scalar"))
_LOSSES = frozenset(OPCODE[n] for n in ("mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "nll_loss",
                                        "cross_entropy", "binary_cross_entropy",
                                        "binary_cross_entropy_with_logits"))
# Ops whose output row i depends only on input row i of the batch inputs at these positions
# (the others must be replicated): their result is sharded like their batch input.
_ROW_WISE = {OPCODE[n]: rows for n, rows in (("linear", (0,)), ("mm", (0,)), ("matmul", (0,)), ("softmax", (0,)),
                                             ("log_softmax", (0,)), ("layer_norm", (0,)), ("leaky_relu", (0,)),
                                             ("embedding", (1,)))}
_ALONG_DIM = frozenset(OPCODE[n] for n in ("softmax", "log_softmax"))
_REDUCED = {OPCODE["mean_all"]: MEAN, OPCODE["sum_all"]: SUM}
_LOSS_REDUCTION = {"mean": MEAN, 1: MEAN, "sum": SUM, 2: SUM}


def launches(devices: list[tuple[str, dict]]) -> list[tuple[str, dict, tuple]]:
    """(device, environment, worker arguments) for a group of ``len(devices)`` workers: rank,
    world size and a free rendezvous port on this host; the worker's name carries its rank."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    world = len(devices)
    return [(device, {**env, "GT_DP_RANK": str(rank), "GT_DP_WORLD_SIZE": str(world),
                      "GT_DP_INIT": f"tcp://127.0.0.1:{port}"}, ("--name", _rank_name(rank)))
            for rank, (device, env) in enumerate(devices)]


def _rank_name(rank: int) -> str:
    return f"gt-dp{os.getpid()}-rank{rank}"


def start(address: str, token: str | None, n: int) -> "DataParallelWorker":
    """Open one connection to each of the group's n workers and route this process's ops to them."""
    by_rank: dict[int, _rt.RemoteWorker] = {}
    spare = []
    names = {_rank_name(r): r for r in range(n)}
    for _ in range(3 * n):   # the server gives each new connection the worker with the fewest clients
        conn = _rt.RemoteWorker(address, token)
        conn.open()
        rank = names.get(conn.worker_id)
        if rank is None or rank in by_rank:
            spare.append(conn)
        else:
            by_rank[rank] = conn
        if len(by_rank) == n:
            break
    for conn in spare:
        conn.close()
    if len(by_rank) != n:
        for conn in by_rank.values():
            conn.close()
        raise RuntimeError(f"gpu_workers({n}, shard=True): could not reach every worker of the group "
                           f"(reached ranks {sorted(by_rank)})")
    dp = DataParallelWorker([by_rank[r] for r in range(n)])
    _rt.connect(dp)
    with _rt._lock:
        _rt._connections.extend(dp.conns)   # closed by gt's disconnect() and at exit
    _rt.after_backward = dp.sync_gradients
    return dp


class DataParallelWorker:
    """The embedded worker's client-facing methods over the connections of one group."""

    COALESCE_ITEMS = _rt.RemoteWorker.COALESCE_ITEMS
    COALESCE_SECONDS = _rt.RemoteWorker.COALESCE_SECONDS

    def __init__(self, conns: list) -> None:
        self.conns = conns
        self.world = len(conns)
        self.worker_id = conns[0].worker_id
        self._kind: dict[int, str] = {}   # tensor id -> SHARD/MEAN/SUM/LOCAL; absent: replicated
        self._last_send = 0.0
        for conn in conns:
            # This object decides when to send, for all connections at once: a worker waiting in a
            # collective needs its peers' share of the stream to have gone out too.
            conn.COALESCE_ITEMS = conn.MAX_ITEMS + 1
            conn.COALESCE_SECONDS = float("inf")

    def device(self) -> torch.device:
        return self.conns[0].device()

    # -- instruction intake ---------------------------------------------------------------
    def submit(self, opcode: int, result_id: int, input_ids: tuple, params: tuple = (), scalars: tuple = (),
               shape: tuple | None = None) -> None:
        if self._kind:
            kind = self._result_kind(opcode, input_ids, params, shape)
            if kind is None:
                self._kind.pop(result_id, None)
            else:
                self._kind[result_id] = kind
        for conn in self.conns:
            conn.submit(opcode, result_id, input_ids, params, scalars, shape)

    def _result_kind(self, opcode: int, input_ids: tuple, params: tuple, shape) -> str | None:
        kinds = [self._kind.get(i) for i in input_ids]
        if not any(kinds) or opcode == _ALL_REDUCE:
            return None
        if opcode == _ALIAS:
            return kinds[0]
        if any(k not in (None, SHARD) for k in kinds) or shape is None:
            return LOCAL
        if len(shape) == 0:   # a reduction of batch rows to one number
            if opcode in _REDUCED:
                return _REDUCED[opcode]
            return _LOSS_REDUCTION.get(params[0], LOCAL) if opcode in _LOSSES and params else LOCAL
        if opcode in _ELEMENTWISE:
            return SHARD
        rows = _ROW_WISE.get(opcode)
        if rows is None or any(k is not None and i not in rows for i, k in enumerate(kinds)):
            return LOCAL
        if opcode in _ALONG_DIM and params and params[0] in (0, -len(shape)):
            return LOCAL   # softmax across the batch rows: each worker sees only its own
        return SHARD

    def free(self, tensor_id: int) -> None:
        self._kind.pop(tensor_id, None)
        for conn in self.conns:
            conn.free(tensor_id)

    def mark_boundary(self, compile_region: bool | None = None) -> None:
        for conn in self.conns:
            conn.mark_boundary(compile_region)
        items = len(self.conns[0]._items)
        if items and (items >= self.COALESCE_ITEMS or time.perf_counter() - self._last_send >= self.COALESCE_SECONDS):
            self._send_all()

    def _send_all(self) -> None:
        for conn in self.conns:
            conn._send()
        self._last_send = time.perf_counter()

    def put(self, tensor_id: int, value: torch.Tensor) -> None:
        """A replicated tensor: the whole value to every worker."""
        for conn in self.conns:
            conn.put(tensor_id, value)

    def shard_shape(self, value: torch.Tensor) -> tuple:
        """The shape of each worker's shard of batch ``value``; ValueError unless it splits evenly."""
        if value.shape[0] % self.world:
            raise ValueError(f"data parallel over {self.world} workers: a batch's size along dim 0 must divide "
                             f"by {self.world}, got shape {tuple(value.shape)}")
        return (value.shape[0] // self.world,) + tuple(value.shape[1:])

    def put_batch(self, tensor_id: int, value: torch.Tensor) -> None:
        """A batch: one equal shard along dim 0 to each worker (``shard_shape`` checked it splits)."""
        for conn, shard in zip(self.conns, value.split(value.shape[0] // self.world)):
            conn.put(tensor_id, shard.contiguous())
        self._kind[tensor_id] = SHARD

    # -- gradients ---------------------------------------------------------------------------
    def sync_gradients(self, leaves: list) -> None:
        """Average over the workers every leaf gradient that depends on a batch."""
        from gt.client.emit import emit
        for leaf in dict.fromkeys(leaves):
            g = leaf.grad
            if g is not None and g._id in self._kind:
                leaf.grad = emit(_ALL_REDUCE, (g._id,), g.shape, g.dtype)

    # -- sync points -------------------------------------------------------------------------
    def fetch(self, tensor_id: int) -> torch.Tensor:
        kind = self._kind.get(tensor_id)
        if kind == LOCAL:
            raise NotImplementedError(
                "data parallel: this tensor is a per-worker partial result of the batch shards (not an "
                "elementwise result, a 0-d mean or sum, or an averaged gradient), so it has no global value "
                "GT can read; GT reads replicated tensors, 0-d mean/sum reductions and losses, and tensors "
                "computed elementwise from a batch")
        self._send_all()
        try:
            if kind is None:
                return self.conns[0].fetch(tensor_id)
            values = [conn.fetch(tensor_id) for conn in self.conns]
        except RuntimeError as exc:
            raise RuntimeError(f"data parallel over {self.world} workers: the group failed (a worker of it is gone "
                               f"or failed, so its collectives cannot complete): {exc}") from None
        if kind == SHARD:
            return torch.cat(values)
        total = torch.stack(values).sum(0)
        return total / self.world if kind == MEAN else total

    def _flush_batch(self) -> None:
        for conn in self.conns:
            conn._items.append((2,))
        for conn, req in [(conn, conn._send(sync=True)) for conn in self.conns]:
            conn._wait(req)

    def get_all_stats(self) -> dict:
        self._send_all()
        return self.conns[0].get_all_stats()

    def get_stats(self) -> dict:
        return self.get_all_stats()[self.worker_id]

    handle = _rt.RemoteWorker.handle

    def close(self) -> None:
        if _rt.after_backward == self.sync_gradients:
            _rt.after_backward = None
        for conn in self.conns:
            conn.close()


__all__ = ["DataParallelWorker", "launches", "start"]
