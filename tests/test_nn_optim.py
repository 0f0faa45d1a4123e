"""gt.nn modules, checked against torch.nn (the optimizers' tests are in test_optim.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gt
import gt.nn
import gt.optim
from gt.client import nn as client_nn
from gt.client import optim as client_optim

from devices import twin


def _linear_pair(in_f, out_f, seed=0, bias=True):
    """A torch.nn.Linear and a gt.nn.Linear built after the same manual_seed."""
    torch.manual_seed(seed)
    t = torch.nn.Linear(in_f, out_f, bias=bias)
    gt.manual_seed(seed)
    g = gt.nn.Linear(in_f, out_f, bias=bias)
    return g, t


def _mlp_pair(seed=0, sizes=(3, 5, 2), act="Tanh"):
    torch.manual_seed(seed)
    t = torch.nn.Sequential(torch.nn.Linear(sizes[0], sizes[1]), getattr(torch.nn, act)(),
                            torch.nn.Linear(sizes[1], sizes[2]))
    gt.manual_seed(seed)
    g = gt.nn.Sequential(gt.nn.Linear(sizes[0], sizes[1]), getattr(gt.nn, act)(),
                         gt.nn.Linear(sizes[1], sizes[2]))
    return g, t


def _assert_same_parameters(g_model, t_model, assert_matches, **tol):
    g_named, t_named = list(g_model.named_parameters()), list(t_model.named_parameters())
    assert [n for n, _ in g_named] == [n for n, _ in t_named]
    for (name, gp), (_, tp) in zip(g_named, t_named):
        assert_matches(gp.detach(), tp.detach(), **tol)


# -- imports --------------------------------------------------------------------------------------
def test_nn_and_optim_import_paths_are_the_same_modules():
    assert gt.nn.Linear is client_nn.Linear
    assert gt.nn.Sequential is client_nn.Sequential
    assert gt.nn.Module is client_nn.Module
    assert gt.nn.functional.relu is not None and gt.nn.functional.sigmoid is not None
    assert gt.optim.SGD is client_optim.SGD and gt.optim.Adam is client_optim.Adam
    from gt.nn import functional as F
    from gt.nn import MSELoss, ReLU
    assert MSELoss is client_nn.MSELoss and ReLU is client_nn.ReLU
    assert F.relu is gt.nn.functional.relu


# -- Linear ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("in_f, out_f", [(3, 2), (5, 4), (1, 1), (16, 8)])
@pytest.mark.parametrize("seed", [0, 42])
def test_linear_init_equals_torch_after_same_seed(in_f, out_f, seed, assert_matches):
    g, t = _linear_pair(in_f, out_f, seed)
    assert g.weight.shape == (out_f, in_f)
    assert g.bias.shape == (out_f,)
    assert_matches(g.weight.detach(), t.weight.detach(), rtol=0, atol=0)
    assert_matches(g.bias.detach(), t.bias.detach(), rtol=0, atol=0)
    assert g.in_features == in_f and g.out_features == out_f


def test_linear_without_bias(assert_matches, rng):
    g, t = _linear_pair(4, 3, bias=False)
    assert g.bias is None
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()] == ["weight"]
    x = rng.standard_normal((2, 4)).astype(np.float32)
    assert_matches(g(gt.from_numpy(x)), t(torch.from_numpy(x)))


@pytest.mark.parametrize("shape", [(4,), (6, 4), (2, 3, 4)])
def test_linear_forward_equals_torch(shape, rng, assert_matches):
    g, t = _linear_pair(4, 3, seed=1)
    x = rng.standard_normal(shape).astype(np.float32)
    assert_matches(g(gt.from_numpy(x)), t(torch.from_numpy(x)))


def test_linear_gradients_equal_torch(rng, assert_matches):
    g, t = _linear_pair(4, 3, seed=2)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    w = rng.standard_normal((5, 3)).astype(np.float32)
    gx, tx = gt.from_numpy(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (g(gx) * gt.from_numpy(w)).sum().backward()
    (t(tx) * torch.from_numpy(w)).sum().backward()
    assert_matches(g.weight.grad, t.weight.grad)
    assert_matches(g.bias.grad, t.bias.grad)
    assert_matches(gx.grad, tx.grad)


def test_linear_rejects_wrong_feature_count():
    g, t = _linear_pair(4, 3)
    with pytest.raises(RuntimeError):
        t(torch.ones(2, 5))
    with pytest.raises(RuntimeError):
        g(gt.ones(2, 5))


# -- activations, Sequential, loss -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["ReLU", "Sigmoid", "Tanh"])
def test_activation_modules_equal_torch(name, rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((3, 4)).astype(np.float32))
    assert_matches(getattr(gt.nn, name)()(g), getattr(torch.nn, name)()(t))


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_functional_activations_equal_torch(name, rng, pair, assert_matches):
    g, t = pair(rng.standard_normal((3, 4)).astype(np.float32))
    assert_matches(getattr(gt.nn.functional, name)(g), getattr(torch.nn.functional, name)(t))


@pytest.mark.parametrize("act", ["ReLU", "Sigmoid", "Tanh"])
def test_sequential_forward_and_backward_equal_torch(act, rng, assert_matches):
    g, t = _mlp_pair(seed=3, act=act)
    x = rng.standard_normal((6, 3)).astype(np.float32)
    y = rng.standard_normal((6, 2)).astype(np.float32)
    g_out, t_out = g(gt.from_numpy(x)), t(torch.from_numpy(x))
    assert_matches(g_out, t_out)
    g_loss = gt.nn.MSELoss()(g_out, gt.from_numpy(y))
    t_loss = torch.nn.MSELoss()(t_out, torch.from_numpy(y))
    assert_matches(g_loss, t_loss)
    g_loss.backward()
    t_loss.backward()
    for (name, gp), (_, tp) in zip(g.named_parameters(), t.named_parameters()):
        assert_matches(gp.grad, tp.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_and_its_gradients_equal_torch(reduction, rng, pair, assert_matches):
    gi, ti = pair(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    gtg, ttg = pair(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    g_loss = gt.nn.MSELoss(reduction=reduction)(gi, gtg)
    t_loss = torch.nn.MSELoss(reduction=reduction)(ti, ttg)
    assert_matches(g_loss, t_loss)
    assert_matches(gt.nn.functional.mse_loss(gi, gtg, reduction=reduction),
                   torch.nn.functional.mse_loss(ti, ttg, reduction=reduction))
    w = rng.standard_normal(tuple(t_loss.shape)).astype(np.float32)
    (g_loss * gt.from_numpy(w)).sum().backward()
    (t_loss * twin(w)).sum().backward()
    assert_matches(gi.grad, ti.grad)
    assert_matches(gtg.grad, ttg.grad)


def test_mse_loss_with_constant_target(rng, pair, assert_matches):
    gi, ti = pair(rng.standard_normal((5,)).astype(np.float32), requires_grad=True)
    gtg, ttg = pair(rng.standard_normal((5,)).astype(np.float32))
    gt.nn.functional.mse_loss(gi, gtg).backward()
    torch.nn.functional.mse_loss(ti, ttg).backward()
    assert_matches(gi.grad, ti.grad)
    assert gtg.grad is None


def test_sequential_indexing_and_len():
    g, t = _mlp_pair()
    assert len(g) == len(t) == 3
    assert isinstance(g[0], gt.nn.Linear) and isinstance(g[1], gt.nn.Tanh)
    assert g[-1] is list(g.children())[-1]


# -- registration ---------------------------------------------------------------------------------
def test_sequential_parameter_names_equal_torchs():
    g, t = _mlp_pair()
    names = [n for n, _ in g.named_parameters()]
    assert names == [n for n, _ in t.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(list(g.parameters())) == len(list(t.parameters())) == 4


class _TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(3, 4)
        self.act = torch.nn.ReLU()
        self.block = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh())
        self.fc2 = torch.nn.Linear(4, 2)
        self.scale = torch.nn.Parameter(torch.ones(2))
        self.not_a_param = torch.ones(3)

    def forward(self, x):
        return self.fc2(self.block(self.act(self.fc1(x)))) * self.scale


class _GtNet(gt.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = gt.nn.Linear(3, 4)
        self.act = gt.nn.ReLU()
        self.block = gt.nn.Sequential(gt.nn.Linear(4, 4), gt.nn.Tanh())
        self.fc2 = gt.nn.Linear(4, 2)
        self.scale = gt.nn.Parameter(gt.ones(2))
        self.not_a_param = gt.ones(3)

    def forward(self, x):
        return self.fc2(self.block(self.act(self.fc1(x)))) * self.scale


def test_custom_module_registers_parameters_like_torch(rng, assert_matches):
    torch.manual_seed(5)
    t = _TorchNet()
    gt.manual_seed(5)
    g = _GtNet()
    names = [n for n, _ in g.named_parameters()]
    assert names == [n for n, _ in t.named_parameters()]
    assert {"fc1.weight", "fc1.bias", "block.0.weight", "fc2.bias", "scale"} <= set(names)
    assert "not_a_param" not in names and len(names) == 7
    _assert_same_parameters(g, t, assert_matches, rtol=0, atol=0)
    for p in g.parameters():
        assert isinstance(p, gt.nn.Parameter) and isinstance(p, gt.Tensor)
        assert p.requires_grad and p.is_leaf
    x = rng.standard_normal((2, 3)).astype(np.float32)
    assert_matches(g(gt.from_numpy(x)), t(torch.from_numpy(x)))


def test_shared_module_parameters_are_listed_once():
    torch.manual_seed(0)
    tl = torch.nn.Linear(2, 2)
    t = torch.nn.Sequential(tl, torch.nn.ReLU(), tl)
    gl = gt.nn.Linear(2, 2)
    g = gt.nn.Sequential(gl, gt.nn.ReLU(), gl)
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()]


def test_reassigning_an_attribute_replaces_the_parameter():
    g = _GtNet()
    t = _TorchNet()
    g.fc2 = gt.nn.Linear(4, 1)
    t.fc2 = torch.nn.Linear(4, 1)
    g.scale = gt.nn.Parameter(gt.ones(1))
    t.scale = torch.nn.Parameter(torch.ones(1))
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert g.fc2.weight.shape == (1, 4)


def test_module_zero_grad_clears_gradients(rng):
    g, t = _mlp_pair()
    x = gt.from_numpy(rng.standard_normal((4, 3)).astype(np.float32))
    g(x).sum().backward()
    assert all(p.grad is not None for p in g.parameters())
    g.zero_grad()
    t(torch.from_numpy(x.numpy())).sum().backward()
    t.zero_grad()
    assert all(p.grad is None for p in g.parameters())
    assert all(p.grad is None for p in t.parameters())


def test_train_and_eval_set_the_flag_recursively():
    g = _GtNet()
    assert g.training and g.block.training and g.block[0].training
    assert g.eval() is g
    assert not g.training and not g.block.training and not g.block[1].training and not g.fc1.training
    assert g.train() is g
    assert g.training and g.block[0].training
    g.train(False)
    assert not g.fc2.training


def test_parameter_wraps_a_tensor(rng, assert_matches):
    a = rng.standard_normal((2, 3)).astype(np.float32)
    p = gt.nn.Parameter(gt.from_numpy(a))
    tp = torch.nn.Parameter(torch.from_numpy(a))
    assert p.requires_grad and p.is_leaf and p.shape == (2, 3)
    assert_matches(p.detach(), tp.detach())
    (p * p).sum().backward()
    (tp * tp).sum().backward()
    assert_matches(p.grad, tp.grad)


# -- manual updates through .data ---------------------------------------------------------------
def test_manual_sgd_through_data_matches_torch(rng, assert_matches):
    g, t = _linear_pair(3, 2, seed=8)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    for _ in range(3):
        for model, inp in ((g, gt.from_numpy(x)), (t, torch.from_numpy(x))):
            model.zero_grad()
            (model(inp) ** 2).mean().backward()
            for p in model.parameters():
                p.data = p.data - 0.1 * p.grad
    assert_matches(g.weight.detach(), t.weight.detach())
    assert_matches(g.bias.detach(), t.bias.detach())
    assert g.weight.requires_grad and g.weight.is_leaf
