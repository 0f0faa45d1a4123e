"""gt.nn.init and module initialisation: the same values as torch after the same seed."""
from __future__ import annotations

import math

import pytest
import torch

import gt

DRAWING = [
    ("uniform_", {"a": -0.5, "b": 2.0}),
    ("normal_", {"mean": 1.0, "std": 0.1}),
    ("trunc_normal_", {"std": 0.02}),
    ("xavier_uniform_", {"gain": 2.0}),
    ("xavier_normal_", {}),
    ("kaiming_uniform_", {"a": math.sqrt(5)}),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("orthogonal_", {"gain": 0.5}),
]


@pytest.mark.parametrize("name, kwargs", DRAWING, ids=[d[0] for d in DRAWING])
@pytest.mark.parametrize("shape", [(3, 5), (4, 2, 3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_random_initialisers_equal_torchs_under_the_same_seed(name, kwargs, shape, dtype, assert_matches):
    g = gt.zeros(*shape, dtype=dtype)
    t = torch.zeros(shape, dtype=dtype)
    gt.manual_seed(7)
    assert getattr(gt.nn.init, name)(g, **kwargs) is g
    after_gt = torch.rand(3)
    torch.manual_seed(7)
    getattr(torch.nn.init, name)(t, **kwargs)
    after_torch = torch.rand(3)
    assert_matches(g, t, rtol=0, atol=0)
    assert torch.equal(after_gt, after_torch), "the generator advanced differently"


@pytest.mark.parametrize("name, args", [("zeros_", ()), ("ones_", ()), ("constant_", (0.25,)), ("eye_", ())])
def test_constant_initialisers_equal_torchs(name, args, assert_matches):
    g, t = gt.ones(3, 4), torch.ones(3, 4)
    getattr(gt.nn.init, name)(g, *args)
    getattr(torch.nn.init, name)(t, *args)
    assert_matches(g, t, rtol=0, atol=0)


def test_initialising_a_parameter_keeps_it_a_leaf_that_requires_grad(assert_matches):
    p = gt.nn.Parameter(gt.zeros(4, 3))
    gt.nn.init.xavier_uniform_(p)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    torch.manual_seed(0)
    tp = torch.nn.init.normal_(torch.nn.Parameter(torch.zeros(4, 3)))
    gt.manual_seed(0)
    gt.nn.init.normal_(p)
    assert_matches(p.detach(), tp.detach(), rtol=0, atol=0)


def test_initialiser_errors_are_torchs():
    for init, tensor in ((torch.nn.init, torch.zeros(3)), (gt.nn.init, gt.zeros(3))):
        with pytest.raises(ValueError, match="fewer than 2 dimensions"):
            init.xavier_uniform_(tensor)
        with pytest.raises(ValueError, match="Mode bad not supported"):
            init.kaiming_uniform_(torch.zeros(2, 2) if init is torch.nn.init else gt.zeros(2, 2), mode="bad")
    with pytest.raises(TypeError, match="gt Tensor"):
        gt.nn.init.normal_(torch.zeros(2))
    assert gt.nn.init.calculate_gain("leaky_relu", 0.2) == torch.nn.init.calculate_gain("leaky_relu", 0.2)


MODULES = [
    ("Linear", (5, 3), {}),
    ("Linear", (4, 2), {"bias": False}),
    ("Linear", (3, 2), {"dtype": torch.float64}),
    ("Embedding", (7, 3), {}),
    ("Embedding", (7, 3), {"padding_idx": 2}),
    ("LayerNorm", ((2, 3),), {}),
    ("LayerNorm", (4,), {"elementwise_affine": False}),
    ("BatchNorm1d", (4,), {}),
    ("BatchNorm1d", (4,), {"affine": False, "track_running_stats": False}),
    ("BatchNorm2d", (3,), {"momentum": 0.2}),
    ("Conv2d", (3, 4, 3), {}),
    ("Conv2d", (4, 6, (2, 3)), {"groups": 2, "bias": False}),
    ("Conv1d", (2, 3, 5), {"stride": 2}),
]


@pytest.mark.parametrize("name, args, kwargs", MODULES, ids=[f"{m[0]}-{m[2]}" for m in MODULES])
@pytest.mark.parametrize("seed", [0, 123])
def test_every_module_starts_with_torchs_state(name, args, kwargs, seed, assert_matches):
    torch.manual_seed(seed)
    t = getattr(torch.nn, name)(*args, **kwargs)
    t_next = torch.rand(2)
    gt.manual_seed(seed)
    g = getattr(gt.nn, name)(*args, **kwargs)
    g_next = torch.rand(2)
    t_state = t.state_dict()
    assert list(g.state_dict()) == list(t_state)
    for key, value in g.state_dict().items():
        assert_matches(value, t_state[key], rtol=0, atol=0)
    assert [n for n, p in g.named_parameters() if p.requires_grad] == \
        [n for n, p in t.named_parameters() if p.requires_grad]
    assert torch.equal(g_next, t_next), "the generator advanced differently"


def test_reset_parameters_draws_again_as_torch(assert_matches):
    torch.manual_seed(1)
    t = torch.nn.Linear(3, 3)
    gt.manual_seed(1)
    g = gt.nn.Linear(3, 3)
    torch.manual_seed(2)
    t.reset_parameters()
    gt.manual_seed(2)
    g.reset_parameters()
    assert_matches(g.weight.detach(), t.weight.detach(), rtol=0, atol=0)


def test_initialising_through_data_writes_through_to_the_parameter(assert_matches):
    g = gt.nn.Linear(3, 2)
    torch.manual_seed(4)
    t = torch.nn.init.normal_(torch.empty(2, 3))
    gt.manual_seed(4)
    gt.nn.init.normal_(g.weight.data)
    assert_matches(g.weight.detach(), t, rtol=0, atol=0)
    gt.nn.init.zeros_(g.bias.data)
    assert float(g.bias.detach().abs().sum()) == 0.0 and g.weight.requires_grad and g.weight.is_leaf
