"""gt.nn.utils.clip_grad_norm_ / clip_grad_value_ against torch.nn.utils, and the prototype's nn functions."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import gt


def _models_with_grads(rng, scale):
    torch.manual_seed(0)
    t = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    gt.manual_seed(0)
    g = gt.nn.Sequential(gt.nn.Linear(4, 3), gt.nn.Tanh(), gt.nn.Linear(3, 2))
    x = (rng.standard_normal((5, 4)) * scale).astype(np.float32)
    (g(gt.from_numpy(x)) ** 2).sum().backward()
    (t(torch.from_numpy(x)) ** 2).sum().backward()
    return g, t


@pytest.mark.parametrize("max_norm, norm_type", [(0.5, 2.0), (100.0, 2.0), (0.1, 1), (0.2, math.inf)])
def test_clip_grad_norm_returns_the_total_norm_and_scales_as_torch(max_norm, norm_type, rng, assert_matches):
    g, t = _models_with_grads(rng, scale=3.0)
    g_total = gt.nn.utils.clip_grad_norm_(g.parameters(), max_norm, norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(t.parameters(), max_norm, norm_type)
    assert_matches(g_total, t_total)
    for gp, tp in zip(g.parameters(), t.parameters()):
        assert_matches(gp.grad, tp.grad)


def test_clip_grad_norm_edge_cases(rng, assert_matches):
    empty = gt.nn.utils.clip_grad_norm_([gt.nn.Parameter(gt.ones(2))], 1.0)
    assert_matches(empty, torch.nn.utils.clip_grad_norm_([torch.nn.Parameter(torch.ones(2))], 1.0))
    p = gt.nn.Parameter(gt.ones(3))
    p.grad = gt.tensor([1.0, float("nan"), 0.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        gt.nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)


def test_clip_grad_value_clamps_every_element_as_torch(rng, assert_matches):
    g, t = _models_with_grads(rng, scale=3.0)
    assert gt.nn.utils.clip_grad_value_(g.parameters(), 0.3) is None
    torch.nn.utils.clip_grad_value_(t.parameters(), 0.3)
    for gp, tp in zip(g.parameters(), t.parameters()):
        assert_matches(gp.grad, tp.grad)
    assert float(max(gp.grad.abs().max() for gp in g.parameters())) == np.float32(0.3)


def test_prototype_nn_api(rng, pair, assert_matches):
    """The GT prototype's ``from gt.client import nn``: modules, and activations and losses as functions."""
    from gt.client import nn
    gx, tx = pair(rng.standard_normal((3, 2)).astype(np.float32), requires_grad=True)
    assert nn.Module is gt.nn.Module and nn.Linear is gt.nn.Linear
    for name in ("relu", "sigmoid", "tanh", "gelu", "silu", "softplus"):
        assert_matches(getattr(nn, name)(gx), getattr(torch.nn.functional, name)(tx))
    p, tp = nn.sigmoid(gx), torch.sigmoid(tx)
    y, ty = pair(rng.uniform(0, 1, (3, 2)).astype(np.float32))
    g_loss, t_loss = nn.binary_cross_entropy(p, y), torch.nn.functional.binary_cross_entropy(tp, ty)
    assert_matches(g_loss, t_loss)
    g_loss.backward()
    t_loss.backward()
    assert_matches(gx.grad, tx.grad)
    layer = nn.Linear(2, 4)
    assert layer.weight.shape == (4, 2)  # torch's layout, not the prototype's transposed one
    assert not isinstance(layer.parameters(), list)  # a generator, as torch's
