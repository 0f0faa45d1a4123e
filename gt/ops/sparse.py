"""Op entries for ``gt.sparse``: a COO matrix times a dense one, and a COO tensor made dense.

A sparse tensor lives on the worker as its ``indices`` and ``values`` (two dense tensors);
these kernels compute from them with dense ops (``index_add``, ``index_put``), as torch's
CPU kernels do row by row, so they run inside compiled graphs too.
"""
from __future__ import annotations

import torch

from gt.ops.table import Op


def _rows_cols(indices, transpose: bool):
    return (indices[1], indices[0]) if transpose else (indices[0], indices[1])


def sparse_mm(indices, values, dense, rows: int, transpose: bool):
    """``S @ dense`` (``S.t() @ dense`` when ``transpose``) for the COO matrix ``S`` of ``rows``
    rows (of the product) given by ``indices`` (2, nnz) and ``values`` (nnz,)."""
    r, c = _rows_cols(indices, transpose)
    out = torch.zeros((rows, dense.shape[1]), dtype=dense.dtype, device=dense.device)
    return out.index_add(0, r, values.unsqueeze(-1) * dense.index_select(0, c))


def sparse_mm_values_backward(g, indices, dense, transpose: bool):
    """The gradient of ``S @ dense`` in ``S``'s values: ``g[row] . dense[col]`` per entry."""
    r, c = _rows_cols(indices, transpose)
    return (g.index_select(0, r) * dense.index_select(0, c)).sum(-1)


def sparse_to_dense(indices, values, shape: tuple):
    """The dense tensor of a COO tensor (duplicate entries summed, as torch's ``to_dense``)."""
    out = torch.zeros(shape, dtype=values.dtype, device=values.device)
    return out.index_put(tuple(indices), values, accumulate=True)


def sparse_values_backward(g, indices):
    """The gradient of ``to_dense`` in the values: the dense gradient at each entry."""
    return g[tuple(indices)]


ENTRIES = (
    Op("sparse_mm", sparse_mm, "meta", ("indices", "values", "dense", "rows", "transpose"),
       ("", "sparse_mm_values_backward(g, indices, dense, transpose)",
        "sparse_mm(indices, values, g, dense.shape[0], not transpose)"), "sparse_addmm"),
    Op("sparse_to_dense", sparse_to_dense, "meta", ("indices", "values", "shape"),
       ("", "sparse_values_backward(g, indices)"), "to_dense"),
    Op("sparse_mm_values_backward", sparse_mm_values_backward, "gradient", ("g", "indices", "dense", "transpose")),
    Op("sparse_values_backward", sparse_values_backward, "gradient", ("g", "indices")),
)
