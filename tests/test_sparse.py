"""gt.sparse side by side with torch.sparse: COO tensors, to_dense/to_sparse, sparse.mm with
gradients, torch's errors, and a two-layer GCN trained in both frameworks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gt

INDICES = [[0, 1, 1, 0, 2], [2, 0, 2, 2, 1]]        # (0, 2) appears twice: summed, as torch
VALUES = [3.0, 4.0, 5.0, 1.0, -2.0]


def _coo(lib, requires_grad=False):
    values = lib.tensor(VALUES, requires_grad=requires_grad)
    return lib.sparse_coo_tensor(lib.tensor(INDICES), values, (3, 3)), values


def test_a_coo_tensor_has_torchs_shape_accessors_and_dense_form():
    (g, _), (t, _) = _coo(gt), _coo(torch)
    assert g.shape == t.shape and g.dtype == t.dtype and g.layout == t.layout == torch.sparse_coo
    assert g.is_sparse and not gt.ones(1).is_sparse
    assert (g.sparse_dim(), g.dense_dim(), g._nnz(), g.is_coalesced()) == \
        (t.sparse_dim(), t.dense_dim(), t._nnz(), t.is_coalesced())
    np.testing.assert_array_equal(g.to_dense().numpy(), t.to_dense().numpy())
    gc, tc = g.coalesce(), t.coalesce()
    np.testing.assert_array_equal(gc.indices().numpy(), tc.indices().numpy())
    np.testing.assert_array_equal(gc.values().numpy(), tc.values().numpy())
    np.testing.assert_array_equal(g.t().to_dense().numpy(), t.t().to_dense().numpy())


def test_size_is_inferred_from_the_indices_as_torchs():
    g = gt.sparse_coo_tensor(gt.tensor(INDICES), gt.tensor(VALUES))
    t = torch.sparse_coo_tensor(torch.tensor(INDICES), torch.tensor(VALUES))
    assert g.shape == t.shape == (3, 3)
    assert gt.sparse_coo_tensor(INDICES, [1, 2, 3, 4, 5]).dtype == torch.int64
    assert gt.sparse_coo_tensor(INDICES, VALUES, dtype=torch.float64).dtype == torch.float64


def test_to_sparse_equals_torchs():
    a = np.array([[0.0, 1.5, 0.0], [-2.0, 0.0, 0.0]], np.float32)
    g, t = gt.tensor(a).to_sparse(), torch.tensor(a).to_sparse()
    np.testing.assert_array_equal(g.indices().numpy(), t.indices().numpy())
    np.testing.assert_array_equal(g.values().numpy(), t.values().numpy())
    assert g.shape == t.shape and g.is_coalesced()


@pytest.mark.parametrize("fn", [lambda lib, s, d: lib.sparse.mm(s, d), lambda lib, s, d: lib.spmm(s, d),
                                lambda lib, s, d: s @ d, lambda lib, s, d: s.t().mm(d)])
def test_sparse_mm_and_its_gradients_equal_torchs(fn):
    rng = np.random.default_rng(0)
    d = rng.standard_normal((3, 4)).astype(np.float32)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    results = []
    for lib in (gt, torch):
        s, values = _coo(lib, requires_grad=True)
        dense = lib.tensor(d, requires_grad=True)
        out = fn(lib, s, dense)
        (out * lib.tensor(w)).sum().backward()
        results.append((out.detach().numpy(), dense.grad.numpy(), values.grad.numpy()))
    for g, t in zip(*results):
        np.testing.assert_allclose(g, t, rtol=1e-6, atol=1e-6)


def test_to_dense_passes_gradients_to_the_values():
    grads = []
    for lib in (gt, torch):
        s, values = _coo(lib, requires_grad=True)
        (s.to_dense() * lib.tensor(np.arange(9, dtype=np.float32).reshape(3, 3))).sum().backward()
        grads.append(values.grad.numpy())
    np.testing.assert_array_equal(*grads)


def test_errors_are_torchs():
    s, _ = _coo(gt)
    with pytest.raises(RuntimeError, match="Expected dim 0 size 3, got 4"):
        gt.sparse.mm(s, gt.ones(4, 2))
    with pytest.raises(RuntimeError, match="Cannot get indices on an uncoalesced tensor"):
        s.indices()
    with pytest.raises(RuntimeError, match="indices and values must have same nnz"):
        gt.sparse_coo_tensor(gt.tensor(INDICES), gt.tensor(VALUES[:3]), (3, 3))
    with pytest.raises(RuntimeError, match="size is inconsistent with indices"):
        gt.sparse_coo_tensor(gt.tensor(INDICES), gt.tensor(VALUES), (2, 3))
    with pytest.raises(NotImplementedError, match="sparse first operand"):
        gt.sparse.mm(gt.ones(2, 3), s)
    with pytest.raises(AttributeError, match="GT does not support torch.sparse.softmax"):
        gt.sparse.softmax


def _normalised_adjacency(n, rng):
    """D^-1/2 (A + I) D^-1/2 of a random undirected graph, as COO indices and values."""
    a = (rng.random((n, n)) < 0.3).astype(np.float32)
    a = np.maximum(a, a.T)
    np.fill_diagonal(a, 1.0)
    d = 1.0 / np.sqrt(a.sum(1))
    norm = a * d[:, None] * d[None, :]
    rows, cols = np.nonzero(norm)
    return np.stack([rows, cols]), norm[rows, cols].astype(np.float32)


def _train_gcn(lib, indices, values, x, y, steps=5):
    lib.manual_seed(0)
    adj = lib.sparse_coo_tensor(lib.tensor(indices), lib.tensor(values), (x.shape[0], x.shape[0]))
    lin1, lin2 = lib.nn.Linear(x.shape[1], 8), lib.nn.Linear(8, 3)
    opt = lib.optim.Adam(list(lin1.parameters()) + list(lin2.parameters()), lr=0.05)
    xs, ys = lib.tensor(x), lib.tensor(y)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        h = lib.relu(lib.sparse.mm(adj, lin1(xs)))
        out = lib.sparse.mm(adj, lin2(h))
        loss = lib.nn.functional.cross_entropy(out, ys)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().numpy() for p in (*lin1.parameters(), *lin2.parameters())]


def test_a_two_layer_gcn_trains_as_torchs():
    rng = np.random.default_rng(0)
    indices, values = _normalised_adjacency(10, rng)
    x = rng.standard_normal((10, 5)).astype(np.float32)
    y = rng.integers(0, 3, 10)
    g_losses, g_params = _train_gcn(gt, indices, values, x, y)
    t_losses, t_params = _train_gcn(torch, indices, values, x, y)
    np.testing.assert_allclose(g_losses, t_losses, rtol=1e-5)
    assert g_losses[-1] < g_losses[0]
    for g, t in zip(g_params, t_params):
        np.testing.assert_allclose(g, t, rtol=1e-4, atol=1e-5)
