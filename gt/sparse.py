"""``gt.sparse``: sparse COO tensors and ``gt.sparse.mm``, enough for graph networks (a GCN's
``adjacency @ features``), as ``torch.sparse``.

A ``SparseTensor`` holds its ``indices`` (int64, ``(sparse_dim, nnz)``) and ``values`` as GT
tensors on the worker.  ``mm`` and ``to_dense`` are table ops over those two, with gradients
for the dense operand and for the values (``torch.sparse.mm``'s gradient in the sparse
operand is a sparse tensor with the same indices: here it reaches the values the tensor was
made from).  Making one reads its indices back once, to check them as torch does.
"""
from __future__ import annotations

import torch

from gt.client.creation import tensor as _tensor
from gt.client.emit import apply, put
from gt.client.shapes import as_dtype
from gt.client.tensor import Tensor
from gt.ops import OPCODE

__all__ = ["SparseTensor", "mm", "spmm", "sparse_coo_tensor"]


def _value(x: Tensor) -> torch.Tensor:
    return x._value().detach().cpu()


class SparseTensor:
    """A sparse COO tensor (``layout=torch.sparse_coo``) with torch's accessors."""

    layout = torch.sparse_coo
    is_sparse = True

    def __init__(self, indices: Tensor, values: Tensor, shape: torch.Size, coalesced: bool) -> None:
        self._indices_t = indices
        self._values_t = values
        self.shape = torch.Size(shape)
        self._coalesced = coalesced

    @property
    def dtype(self) -> torch.dtype:
        return self._values_t.dtype

    @property
    def device(self):
        return self._values_t.device

    @property
    def requires_grad(self) -> bool:
        return self._values_t.requires_grad

    ndim, dim, size = Tensor.ndim, Tensor.dim, Tensor.size     # they read only ``shape``

    def sparse_dim(self) -> int:
        return self._indices_t.shape[0]

    def dense_dim(self) -> int:
        return self.ndim - self.sparse_dim()

    def _nnz(self) -> int:
        return self._values_t.shape[0]

    def _indices(self) -> Tensor:
        return self._indices_t

    def _values(self) -> Tensor:
        return self._values_t

    def is_coalesced(self) -> bool:
        return self._coalesced

    def indices(self) -> Tensor:
        if not self._coalesced:
            raise RuntimeError("Cannot get indices on an uncoalesced tensor, please call .coalesce() first")
        return self._indices_t

    def values(self) -> Tensor:
        if not self._coalesced:
            raise RuntimeError("Cannot get values on an uncoalesced tensor, please call .coalesce() first")
        return self._values_t

    def coalesce(self) -> "SparseTensor":
        """Sorted, duplicate-free indices (duplicates summed), computed as torch's ``coalesce``."""
        if self._coalesced:
            return self
        if self.requires_grad:
            raise NotImplementedError("gt.sparse: coalesce() of a sparse tensor whose values require grad is not "
                                      "supported yet")
        c = torch.sparse_coo_tensor(_value(self._indices_t), _value(self._values_t), self.shape,
                                    check_invariants=True).coalesce()
        return SparseTensor(put(c.indices()), put(c.values()), self.shape, True)

    def to_dense(self, dtype=None, *, masked_grad=None) -> Tensor:
        dense = apply(OPCODE["sparse_to_dense"], (self._indices_t, self._values_t), (tuple(self.shape),))
        return dense if dtype is None else dense.to(dtype)

    def t(self) -> "SparseTensor":
        if self.ndim != 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 sparse and 0 dense dimensions, but self is "
                               f"{self.sparse_dim()} sparse and {self.dense_dim()} dense")
        return SparseTensor(self._indices_t[[1, 0]], self._values_t, self.shape[::-1], False)

    def to(self, dtype) -> "SparseTensor":
        return SparseTensor(self._indices_t, self._values_t.to(dtype), self.shape, self._coalesced)

    def float(self) -> "SparseTensor":
        return self.to(torch.float32)

    def double(self) -> "SparseTensor":
        return self.to(torch.float64)

    def mm(self, dense: Tensor) -> Tensor:
        return mm(self, dense)

    __matmul__ = mm

    def __repr__(self) -> str:
        return (f"tensor(indices={self._indices_t!r},\n       values={self._values_t!r},\n       "
                f"size={tuple(self.shape)}, nnz={self._nnz()}, layout=torch.sparse_coo)")


def sparse_coo_tensor(indices, values, size=None, *, dtype=None, device=None, pin_memory=False,
                      requires_grad: bool = False, check_invariants=None, is_coalesced=None) -> SparseTensor:
    """A COO tensor with ``values`` at ``indices`` (``(sparse_dim, nnz)``); ``size`` inferred
    from the indices when not given.  The indices are checked as torch's invariant check does
    (an index outside ``size`` raises here, not later)."""
    indices = indices if isinstance(indices, Tensor) else _tensor(indices)
    values = values if isinstance(values, Tensor) else _tensor(values)
    dtype = as_dtype(dtype)
    kwargs = {} if size is None else {"size": tuple(size)}
    checked = torch.sparse_coo_tensor(_value(indices), torch.empty(values.shape, dtype=dtype or values.dtype),
                                      dtype=dtype, check_invariants=True, is_coalesced=is_coalesced, **kwargs)
    if indices.dtype is not torch.int64:
        indices = indices.long()
    if dtype is not None and values.dtype is not dtype:
        values = values.to(dtype)
    if requires_grad:
        values = values.detach().requires_grad_(True)
    return SparseTensor(indices, values, checked.shape, bool(is_coalesced) or values.shape[0] <= 1)


def mm(sparse: SparseTensor, dense: Tensor) -> Tensor:
    """``torch.sparse.mm``: a 2-D sparse COO matrix times a dense matrix, a dense result."""
    if not isinstance(sparse, SparseTensor):
        raise NotImplementedError("gt.sparse.mm: GT supports a sparse first operand and a dense second one only")
    if not isinstance(dense, Tensor):
        raise TypeError(f"mm(): argument 'mat2' must be Tensor, not {type(dense).__name__}")
    if sparse.ndim != 2 or sparse.dense_dim() != 0 or dense.ndim != 2:
        raise RuntimeError(f"addmm: matrices expected, got {sparse.ndim}D, {dense.ndim}D tensors")
    if sparse.shape[1] != dense.shape[0]:
        raise RuntimeError(f"addmm: Argument #3 (dense): Expected dim 0 size {sparse.shape[1]}, got {dense.shape[0]}")
    if sparse.dtype != dense.dtype:
        raise RuntimeError(f"expected scalar type {sparse.dtype} but found {dense.dtype}")
    return apply(OPCODE["sparse_mm"], (sparse._indices_t, sparse._values_t, dense), (sparse.shape[0], False))


spmm = mm


def to_sparse(self: Tensor, sparse_dim: int | None = None, *, layout=None, blocksize=None,
              dense_dim=None) -> SparseTensor:
    """``Tensor.to_sparse()``: the COO tensor of this tensor's nonzero entries (their positions
    are read back from the worker: data-dependent, as in torch)."""
    if layout not in (None, torch.sparse_coo) or blocksize is not None or dense_dim is not None:
        raise NotImplementedError(f"gt: Tensor.to_sparse(layout={layout}) is not supported yet (sparse COO only)")
    if self.requires_grad:
        raise NotImplementedError("gt: Tensor.to_sparse() of a tensor that requires grad is not supported yet")
    value = _value(self)
    c = value.to_sparse() if sparse_dim is None else value.to_sparse(sparse_dim)
    return SparseTensor(put(c.indices()), put(c.values()), c.shape, True)


Tensor.to_sparse = to_sparse
Tensor.is_sparse = False


def __getattr__(name: str):
    if hasattr(torch.sparse, name):
        raise AttributeError(f"module 'gt.sparse' has no attribute '{name}': GT does not support torch.sparse.{name} "
                             f"yet")
    raise AttributeError(f"module 'gt.sparse' has no attribute '{name}'")
