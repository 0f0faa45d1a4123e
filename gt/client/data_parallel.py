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
  equal shards that is the single-worker gradient, up to float reduction order.  As DDP, the
  gradients go in buckets of about ``GT_DP_BUCKET_MB`` (25) MB: flattened and concatenated,
  one all-reduce per bucket, in the order backward produced them (the last layer's first,
  DDP's reverse registration order), so a step makes a few collectives, not one per parameter.
* **Reads give the global value**: a replicated tensor is read from rank 0; a 0-d mean
  reduction of batch data (``mean()``, a loss with ``reduction="mean"``) reads as the average
  over workers, a 0-d sum as the sum, a tensor computed elementwise from batch data as the
  concatenation of the shards.  Reading any other batch-dependent value (a per-worker partial
  result, for example a gradient before backward finished) raises NotImplementedError.
  Losses that weight or ignore samples (``cross_entropy`` with ``weight`` or hit
  ``ignore_index``) average per-worker means, as DDP does, which differs from one global mean.
* **Sharded parameters** (``gt.ShardConfig`` on a scope or a tensor, see gt.signal), FSDP-style:
  each worker keeps its shard along an axis, under the same id; the handle keeps the whole
  shape.  An op that needs the whole tensor gets it gathered just before it (``all_gather``,
  freed after the op); elementwise ops over shards of one shape (optimizer updates and state)
  run on the shards; the gradient is reduce-scattered (``reduce_scatter_mean``) instead of
  all-reduced; a read concatenates the shards.
* **Groups on several hosts** (``gt.connect_group``): the same, over n plain workers the server
  groups for this client (ranks and rendezvous from the server), or over workers named
  ``<group>-rank<r>`` that formed their group from their own environment.
"""
from __future__ import annotations

import os
import socket
import threading
import time

import torch

from gt.client import runtime as _rt
from gt.client.emit import emit
from gt.client.movement import cat
from gt.config import ConfigError
from gt.ops import OPCODE, OPS
from gt.ops.optim import ENTRIES as OPTIM_OPS

SHARD, MEAN, SUM, LOCAL = "shard", "mean", "sum", "local"
_ALL_REDUCE = OPCODE["all_reduce_mean"]
_SHARD_OF, _ALL_GATHER, _REDUCE_SCATTER = OPCODE["shard_of"], OPCODE["all_gather"], OPCODE["reduce_scatter_mean"]
_ALIAS = OPCODE["alias"]
_ELEMENTWISE = frozenset(i for i, e in enumerate(OPS) if e.kind in ("elementwise", "broadcast", "scalar"))
# Elementwise ops that run on the shards of sharded parameters (optimizer steps: see _on_shards)
_ON_SHARDS = _ELEMENTWISE | {OPCODE[n] for n in ("zeros_like", "where", "alias")} | {OPCODE[e.name] for e in OPTIM_OPS}
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
                      "GT_DP_INIT": f"tcp://127.0.0.1:{port}"}, ("--name", rank_name(rank)))
            for rank, (device, env) in enumerate(devices)]


def _bucket_bytes() -> int:
    """GT_DP_BUCKET_MB (a positive number, default 25, as DDP's bucket_cap_mb) in bytes."""
    raw = os.environ.get("GT_DP_BUCKET_MB", "").strip() or "25"
    try:
        mb = float(raw)
    except ValueError:
        mb = 0.0
    if not mb > 0 or mb == float("inf"):
        raise ConfigError(f"GT_DP_BUCKET_MB={raw!r}: expected a positive number of megabytes")
    return max(1, int(mb * (1 << 20)))


def rank_name(rank: int, group: str | None = None) -> str:
    """The name of the worker of rank ``rank``: ``<group>-rank<r>``, by default gpu_workers' group."""
    return f"{group or f'gt-dp{os.getpid()}'}-rank{rank}"


def start(address: str, token: str | None, n: int, group: str | None = None,
          workers: list[str] | None = None) -> "DataParallelWorker":
    """Open one connection to each of the group's n workers (named ``<group>-rank<r>``; by default the
    ones gpu_workers started; ``workers``: the names, in rank order, of a group the server formed
    for this process) and route this process's ops to them."""
    if workers is not None:
        conns = []
        try:
            for name in workers:   # the server gives each connection the worker it names
                conns.append(_rt.RemoteWorker(address, token, name))
                conns[-1].open()
        except BaseException:
            for conn in conns:
                conn.close()
            raise
        by_rank = dict(enumerate(conns))
    else:
        by_rank = _find_ranks(address, token, n, group)
    dp = DataParallelWorker([by_rank[r] for r in range(n)])
    _rt.connect(dp)
    with _rt._lock:
        _rt._connections.extend(dp.conns)   # closed by gt's disconnect() and at exit
    _rt.after_backward = dp.sync_gradients
    return dp


def _find_ranks(address: str, token: str | None, n: int, group: str | None) -> dict:
    """{rank: connection} to the workers named ``<group>-rank<r>``."""
    by_rank: dict[int, _rt.RemoteWorker] = {}
    spare = []
    names = {rank_name(r, group): r for r in range(n)}
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
        raise RuntimeError(f"data parallel over {n} workers: could not reach every worker of the group "
                           f"{rank_name(0, group)[:-1]}* at {address} (reached ranks {sorted(by_rank)})")
    return by_rank


class DataParallelWorker:
    """The embedded worker's client-facing methods over the connections of one group."""

    COALESCE_ITEMS = _rt.RemoteWorker.COALESCE_ITEMS
    COALESCE_SECONDS = _rt.RemoteWorker.COALESCE_SECONDS

    def __init__(self, conns: list) -> None:
        self.conns = conns
        self.bucket_bytes = _bucket_bytes()
        self.world = len(conns)
        self.worker_id = conns[0].worker_id
        self._kind: dict[int, str] = {}   # tensor id -> SHARD/MEAN/SUM/LOCAL; absent: replicated
        # id of a sharded parameter (or of its gradient, its optimizer state) -> (axis, whole shape)
        self._axis: dict[int, tuple] = {}
        self._shapes: dict[int, tuple] = {}   # while some tensor is sharded: the shape of every other one
        self._last_send = 0.0
        self._thread = threading.get_ident()   # the connections' sockets belong to this thread
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
        self._check_thread()
        if self._kind:
            kind = self._result_kind(opcode, input_ids, params, shape)
            if kind is None:
                self._kind.pop(result_id, None)
            else:
                self._kind[result_id] = kind
        temps = ()
        if self._axis:
            self._shapes[result_id] = tuple(shape) if shape is not None else None
            if any(i in self._axis for i in input_ids):
                input_ids, temps = self._on_shards(opcode, result_id, input_ids, shape)
        for conn in self.conns:
            conn.submit(opcode, result_id, input_ids, params, scalars, shape)
            for temp in temps:
                conn.free(temp)

    def _on_shards(self, opcode: int, result_id: int, input_ids: tuple, shape) -> tuple:
        """The inputs an op taking sharded tensors runs on, and the temporaries made for it: an elementwise
        op over shards of one shape and replicated tensors of that shape or 0-d runs on the shards (a
        replicated input cut to this worker's shard, no communication); any other op gathers its
        sharded inputs.  The result is sharded in the first case."""
        specs = [self._axis.get(i) for i in input_ids]
        spec = next(s for s in specs if s)
        axis, whole = spec
        if (opcode in _ON_SHARDS and tuple(shape) == whole
                and all(s == spec or (s is None and self._shapes.get(i) in (whole, ())) for i, s in zip(input_ids, specs))):
            self._axis[result_id] = spec
            cut = [(i, _SHARD_OF) for i, s in zip(input_ids, specs) if s is None and self._shapes[i]]
        else:
            cut = [(i, _ALL_GATHER) for i, s in zip(input_ids, specs) if s]
        temps = {}
        for i, op in cut:
            temps[i] = _rt.new_id()
            axis_of_i = axis if op == _SHARD_OF else self._axis[i][0]
            for conn in self.conns:
                conn.submit(op, temps[i], (i,), (axis_of_i,), (), None)
        return tuple(temps.get(i, i) for i in input_ids), tuple(temps.values())

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

    def _check_thread(self) -> None:
        if threading.get_ident() == self._thread:
            return
        raise RuntimeError(
            f"data parallel: this client's group of {self.world} workers is used from thread "
            f"{threading.current_thread().name!r}, but GT's data-parallel mode serves one thread, the one that "
            "called gt.gpu_workers(n, shard=True); make and use tensors from that thread only")

    def free(self, tensor_id: int) -> None:
        if threading.get_ident() != self._thread:
            return   # another thread's garbage collection: the value goes when the group closes
        self._kind.pop(tensor_id, None)
        self._axis.pop(tensor_id, None)
        self._shapes.pop(tensor_id, None)
        for conn in self.conns:
            conn.free(tensor_id)

    def mark_boundary(self, compile_region: bool | None = None) -> None:
        self._check_thread()
        for conn in self.conns:
            conn.mark_boundary(compile_region)
        items = len(self.conns[0]._items)
        if items and (items >= self.COALESCE_ITEMS or time.perf_counter() - self._last_send >= self.COALESCE_SECONDS):
            self._send_all()

    def _send_all(self) -> None:
        self._check_thread()
        for conn in self.conns:
            conn._send()
        self._last_send = time.perf_counter()

    def put(self, tensor_id: int, value: torch.Tensor) -> None:
        """A replicated tensor: the whole value to every worker."""
        self._check_thread()
        if self._axis:
            self._shapes[tensor_id] = tuple(value.shape)
        for conn in self.conns:
            conn.put(tensor_id, value)

    def shard_shape(self, value: torch.Tensor) -> tuple:
        """The shape of each worker's shard of batch ``value``; ValueError unless it splits evenly."""
        if value.shape[0] % self.world:
            raise ValueError(f"data parallel over {self.world} workers: a batch's size along dim 0 must divide "
                             f"by {self.world}, got shape {tuple(value.shape)}")
        return (value.shape[0] // self.world,) + tuple(value.shape[1:])

    def split(self, t, what: str):
        """Replicated tensor ``t`` as a batch: each worker's equal shard along dim 0."""
        if not t.ndim or t.shape[0] % self.world:
            raise ValueError(f"{what}: a batch's size along dim 0 must divide by {self.world}, got shape "
                             f"{tuple(t.shape)}")
        if t._id in self._kind or t._id in self._axis:
            raise ValueError(f"{what}: this tensor is split over the workers already")
        out = emit(_SHARD_OF, (t._id,), (t.shape[0] // self.world,) + tuple(t.shape[1:]), t.dtype, (0,))
        self._kind[out._id] = SHARD
        return out

    def put_batch(self, tensor_id: int, value: torch.Tensor) -> None:
        """A batch: one equal shard along dim 0 to each worker (``shard_shape`` checked it splits)."""
        self._check_thread()
        for conn, shard in zip(self.conns, value.split(value.shape[0] // self.world)):
            conn.put(tensor_id, shard.contiguous())
        self._kind[tensor_id] = SHARD

    # -- sharded parameters ------------------------------------------------------------------
    def shard(self, tensors: list, axis: int, what: str) -> None:
        """Keep only each worker's shard of each of ``tensors`` along ``axis`` (their handles keep the
        whole shape); all are checked before any is sharded."""
        tensors = [t for t in tensors if t._id not in self._axis]
        for t in tensors:
            if not -t.ndim <= axis < t.ndim:
                raise IndexError(f"{what}: axis {axis} is out of range for a tensor of shape {tuple(t.shape)}")
            if t.shape[axis] % self.world:
                raise ValueError(f"{what}: a sharded tensor's size along axis {axis % t.ndim} must divide by the "
                                 f"{self.world} workers, got shape {tuple(t.shape)}")
            if t._id in self._kind:
                raise NotImplementedError(f"{what}: GT shards parameters and other replicated tensors; this one "
                                          "depends on a batch, which is split along dim 0 already")
        for t in tensors:
            shard = _rt.new_id()
            self.submit(_SHARD_OF, shard, (t._id,), (axis % t.ndim,), (), None)
            self.free(t._id)
            t._id = shard
            self._axis[shard] = (axis % t.ndim, tuple(t.shape))

    # -- gradients ---------------------------------------------------------------------------
    def sync_gradients(self, leaves: list) -> None:
        """Average over the workers every leaf gradient that depends on a batch, in buckets; a
        sharded parameter gets its shard of the averaged gradient (reduce-scatter)."""
        buckets: dict = {}   # dtype -> (leaves, bytes) of the bucket being filled
        for leaf in dict.fromkeys(leaves):
            g = leaf.grad
            if g is None:
                continue
            spec = self._axis.get(leaf._id)
            if spec is not None:
                if g._id not in self._axis:
                    leaf.grad = emit(_REDUCE_SCATTER, (g._id,), g.shape, g.dtype, (spec[0],))
                    self._kind.pop(leaf.grad._id, None)
                    self._axis[leaf.grad._id] = spec
                continue
            if g._id not in self._kind:
                continue
            members, size = buckets.get(g.dtype, ([], 0))
            members.append(leaf)
            size += g.numel() * g.element_size()
            if size >= self.bucket_bytes:
                self._all_reduce(members)
                members, size = [], 0
            buckets[g.dtype] = (members, size)
        for members, _ in buckets.values():
            if members:
                self._all_reduce(members)

    @staticmethod
    def _all_reduce(leaves: list) -> None:
        """One all-reduce for the gradients of ``leaves`` (one dtype): flattened into one buffer."""
        grads = [leaf.grad for leaf in leaves]
        if len(grads) == 1:
            leaves[0].grad = emit(_ALL_REDUCE, (grads[0]._id,), grads[0].shape, grads[0].dtype)
            return
        flat = cat([g.reshape(-1) for g in grads])
        flat = emit(_ALL_REDUCE, (flat._id,), flat.shape, flat.dtype)
        start = 0
        for leaf, g in zip(leaves, grads):
            leaf.grad = flat[start:start + g.numel()].reshape(g.shape)
            start += g.numel()

    # -- sync points -------------------------------------------------------------------------
    def fetch(self, tensor_id: int) -> torch.Tensor:
        spec = self._axis.get(tensor_id)
        kind = self._kind.get(tensor_id) if spec is None else SHARD
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
            return torch.cat(values, spec[0] if spec else 0)
        total = torch.stack(values).sum(0)
        return total / self.world if kind == MEAN else total

    def item(self, tensor_id: int):
        return self.fetch(tensor_id).item()

    def _flush_batch(self) -> None:
        self._check_thread()
        for conn in self.conns:
            conn._items.append((2,))
        for conn, req in [(conn, conn._send(sync=True)) for conn in self.conns]:
            conn._wait(req)

    def get_all_stats(self) -> dict:
        """``{worker name: stats}`` for every rank of the group (names end in ``-rank<r>``), each
        reporting this client's session on that rank."""
        self._send_all()
        return {conn.worker_id: conn.get_stats() for conn in self.conns}

    def get_stats(self) -> dict:
        return self.get_all_stats()[self.worker_id]

    handle = _rt.RemoteWorker.handle

    def close(self) -> None:
        if _rt.after_backward == self.sync_gradients:
            _rt.after_backward = None
        for conn in self.conns:
            conn.close()


__all__ = ["DataParallelWorker", "launches", "start"]
