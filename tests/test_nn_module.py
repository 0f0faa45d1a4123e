"""gt.nn.Module's API (registration, traversal, state_dict, containers, printing) against torch.nn.Module's."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch

import gt


def _build(nn, with_padding: bool = True):
    """The same model from either framework's ``nn`` (built after the same seed gives the same weights)."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 4, padding_idx=0 if with_padding else None)
            self.norm = nn.LayerNorm(4)
            self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])
            self.heads = nn.ModuleDict({"a": nn.Linear(4, 3), "b": nn.Sequential(nn.Linear(4, 2), nn.GELU())})
            self.bn = nn.BatchNorm1d(3)
            self.drop = nn.Dropout(0.25)
            self.scale = nn.Parameter(nn.init.ones_(nn.Linear(1, 3).bias))
            self.register_buffer("mask", nn.init.zeros_(nn.Linear(1, 3).bias.detach()))
            self.register_buffer("scratch", nn.init.zeros_(nn.Linear(1, 2).bias.detach()), persistent=False)

        def forward(self, idx):
            x = self.norm(self.embed(idx))
            for block in self.blocks:
                x = block(x).relu()
            return self.bn(self.heads["a"](x)) * self.scale + self.mask

    return Net()


def _pair(seed: int = 0, with_padding: bool = True):
    torch.manual_seed(seed)
    t = _build(torch.nn, with_padding)
    gt.manual_seed(seed)
    g = _build(gt.nn, with_padding)
    return g, t


# -- registration and traversal ---------------------------------------------------------------------
def test_names_of_parameters_buffers_and_modules_equal_torchs():
    g, t = _pair()
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in g.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in g.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in g.named_children()] == [n for n, _ in t.named_children()]
    assert [type(m).__name__ for m in g.modules()] == [type(m).__name__ for m in t.modules()]
    assert [n for n, _ in g.named_parameters(recurse=False)] == ["scale"]
    assert "model.embed.weight" in [n for n, _ in g.named_parameters(prefix="model")]
    assert g.get_submodule("heads.b.0") is g.heads["b"][0] and g.get_submodule("") is g
    for model in (g, t):
        with pytest.raises(AttributeError, match="has no attribute `c`"):
            model.get_submodule("heads.c")


def test_state_dict_keys_equal_torchs_and_skip_non_persistent_buffers():
    g, t = _pair()
    keys = list(g.state_dict())
    assert keys == list(t.state_dict())
    assert "bn.num_batches_tracked" in keys and "mask" in keys and "scratch" not in keys
    assert all(not v.requires_grad for v in g.state_dict().values())
    assert g.state_dict(keep_vars=True)["scale"] is g.scale


def test_initial_state_equals_torchs_after_the_same_seed(assert_matches):
    g, t = _pair(seed=3)
    t_state = t.state_dict()
    for key, value in g.state_dict().items():
        assert_matches(value, t_state[key], rtol=0, atol=0)


def test_state_dict_round_trip_with_torch_gives_torchs_outputs(rng, assert_matches):
    g, t = _pair(seed=1)
    torch.manual_seed(99)
    t2 = _build(torch.nn)  # different weights: loading must overwrite all of them
    g.load_state_dict(t2.state_dict())
    idx = rng.integers(0, 10, size=(6,))
    t2.eval()
    g.eval()
    assert_matches(g(gt.tensor(idx)), t2(torch.tensor(idx)), rtol=1e-5, atol=1e-6)
    back = t.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in g.state_dict().items()})
    assert back.missing_keys == [] and back.unexpected_keys == []
    assert repr(g.load_state_dict(t2.state_dict())) == repr(back) == "<All keys matched successfully>"
    t.eval()
    assert_matches(g(gt.tensor(idx)), t(torch.tensor(idx)), rtol=1e-5, atol=1e-6)


def test_load_state_dict_reports_missing_and_unexpected_keys_as_torch():
    g, t = _pair()
    state = {k: v for k, v in t.state_dict().items() if k != "norm.bias"}
    state["heads.c.weight"] = torch.zeros(1)
    state["extra"] = torch.zeros(1)
    with pytest.raises(RuntimeError) as t_err:
        t.load_state_dict(state)
    with pytest.raises(RuntimeError) as g_err:
        g.load_state_dict(state)
    assert str(g_err.value) == str(t_err.value)
    assert 'Missing key(s) in state_dict: "norm.bias"' in str(g_err.value)
    g_keys, t_keys = g.load_state_dict(state, strict=False), t.load_state_dict(state, strict=False)
    assert g_keys == t_keys and repr(g_keys) == repr(t_keys)
    assert g_keys.missing_keys == ["norm.bias"] and g_keys.unexpected_keys == ["extra", "heads.c.weight"]


def test_load_state_dict_refuses_a_shape_mismatch_even_when_not_strict():
    g, t = _pair()
    state = dict(t.state_dict())
    state["blocks.0.weight"] = torch.zeros(4, 5)
    for model in (g, t):
        with pytest.raises(RuntimeError, match=r"size mismatch for blocks.0.weight: copying a param with shape "
                                               r"torch.Size\(\[4, 5\]\) from checkpoint"):
            model.load_state_dict(state, strict=False)
    with pytest.raises(TypeError):
        g.load_state_dict([("a", 1)])


@pytest.mark.parametrize("make_bad", [
    lambda nn, m: m.register_parameter("w", nn.Linear(1, 1).weight.detach()),  # not a Parameter
    lambda nn, m: m.register_parameter("a.b", None),
    lambda nn, m: m.register_buffer("", None),
    lambda nn, m: m.register_buffer("weight", None),  # already an attribute
    lambda nn, m: m.register_buffer("b", 3.0),
    lambda nn, m: setattr(m, "weight", nn.Linear(1, 1).weight.detach()),  # a tensor in a parameter slot
    lambda nn, m: m.add_module("x", 3),
    lambda nn, m: setattr(m, "sub", 3) or setattr(m, "inner", nn.ReLU()) or setattr(m, "inner", 3),
], ids=["not-a-parameter", "dotted-name", "empty-name", "existing-attribute", "not-a-tensor",
        "tensor-as-parameter", "not-a-module", "non-module-as-child"])
def test_registration_errors_have_torchs_types(make_bad):
    t_exc = g_exc = None
    try:
        make_bad(torch.nn, torch.nn.Linear(2, 2))
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        t_exc = exc
    try:
        make_bad(gt.nn, gt.nn.Linear(2, 2))
    except Exception as exc:  # noqa: BLE001
        g_exc = exc
    assert t_exc is not None and type(g_exc) is type(t_exc), (t_exc, g_exc)


def test_assigning_before_init_raises_attribute_error_as_torch():
    for nn in (torch.nn, gt.nn):
        class Bad(nn.Module):
            def __init__(self):
                self.fc = nn.Linear(1, 1)

        with pytest.raises(AttributeError, match="before Module.__init__"):
            Bad()


def test_attribute_assignment_moves_and_deletes_members_as_torch():
    for nn, factory in ((torch.nn, torch.zeros), (gt.nn, gt.zeros)):
        m = nn.Linear(2, 2)
        m.bias = None  # a parameter slot takes None
        assert m.bias is None and [n for n, _ in m.named_parameters()] == ["weight"]
        m.register_buffer("buf", factory(2))
        m.buf = factory(3)  # a buffer slot takes a new tensor
        assert m.buf.shape == (3,) and "buf" in m.state_dict()
        del m.buf
        assert "buf" not in m.state_dict()
        with pytest.raises(AttributeError, match="'Linear' object has no attribute 'buf'"):
            m.buf  # noqa: B018
        m.extra = 5  # plain attributes stay plain
        assert m.extra == 5 and "extra" not in dict(m.named_parameters())


def test_train_eval_apply_and_requires_grad():
    g, t = _pair()
    assert g.eval() is g and not any(m.training for m in g.modules())
    assert g.train() is g and all(m.training for m in g.modules())
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        g.train("yes")
    for nn in (torch.nn, gt.nn):
        class Frozen(nn.Linear):
            def train(self, mode=True):  # a child's override is called by its parent's train()
                return super().train(False)

        outer = nn.Sequential(Frozen(1, 1), nn.ReLU()).train()
        assert [m.training for m in outer.modules()] == [True, False, True]
    seen_g, seen_t = [], []
    g.apply(lambda m: seen_g.append(type(m).__name__))
    t.apply(lambda m: seen_t.append(type(m).__name__))
    assert seen_g == seen_t
    g.requires_grad_(False)
    assert not any(p.requires_grad for p in g.parameters())


def test_zero_grad_sets_to_none_or_zeroes_in_place(assert_matches):
    g = gt.nn.Linear(3, 2)
    t = torch.nn.Linear(3, 2)
    for model, x in ((g, gt.ones(4, 3)), (t, torch.ones(4, 3))):
        model(x).sum().backward()
        model.zero_grad(set_to_none=False)
    assert_matches(g.weight.grad, t.weight.grad)
    assert float(g.weight.grad.abs().sum()) == 0.0
    g.zero_grad()
    assert g.weight.grad is None and g.bias.grad is None


def test_to_double_converts_parameters_and_buffers(rng, assert_matches):
    g, t = _pair(seed=4)
    assert g.double() is g
    t.double()
    for (name, gv), (_, tv) in zip(g.state_dict().items(), t.state_dict().items()):
        assert gv.dtype == tv.dtype, name
    g.to(torch.float32)
    assert g.blocks[0].weight.dtype == torch.float32 and g.bn.num_batches_tracked.dtype == torch.int64
    assert g.blocks[0].weight.requires_grad and g.blocks[0].weight.is_leaf


# -- containers ---------------------------------------------------------------------------------------
def test_sequential_indexing_slicing_and_editing_as_torch():
    seqs = []
    for nn in (torch.nn, gt.nn):
        s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 3), nn.Tanh())
        sliced = s[1:3]
        s.append(nn.Sigmoid())
        s.insert(1, nn.Identity())
        del s[0]
        s[0] = nn.GELU()
        seqs.append((s, sliced, len(s), [type(m).__name__ for m in s], [n for n, _ in s.named_children()]))
    (gs, g_slice, *g_rest), (ts, t_slice, *t_rest) = seqs[1], seqs[0]
    assert g_rest == t_rest
    assert type(g_slice) is gt.nn.Sequential and [n for n, _ in g_slice.named_children()] == ["1", "2"]
    with pytest.raises(IndexError, match="index 9 is out of range"):
        gs[9]
    named = gt.nn.Sequential(OrderedDict([("fc", gt.nn.Linear(1, 1)), ("act", gt.nn.ReLU())]))
    assert [n for n, _ in named.named_children()] == ["fc", "act"] and isinstance(named.act, gt.nn.ReLU)


def test_module_list_and_dict_as_torch():
    results = []
    for nn in (torch.nn, gt.nn):
        ml = nn.ModuleList([nn.Linear(1, 1), nn.ReLU()])
        ml += [nn.Tanh()]
        ml.insert(0, nn.Sigmoid())
        popped = ml.pop(1)
        md = nn.ModuleDict({"a": nn.ReLU()})
        md.update([("b", nn.Tanh())])
        md["c"] = nn.Linear(2, 2)
        removed = md.pop("a")
        results.append(([type(m).__name__ for m in ml], type(popped).__name__, list(md.keys()),
                        type(removed).__name__, "b" in md, len(md), [n for n, _ in md.named_parameters()]))
    assert results[0] == results[1]
    with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable"):
        gt.nn.ModuleList().extend(3)
    with pytest.raises(NotImplementedError):
        gt.nn.ModuleList([gt.nn.ReLU()])(gt.ones(1))


# -- printing -------------------------------------------------------------------------------------------
def test_repr_equals_torchs():
    g, t = _pair()
    assert repr(g) == repr(t)
    for args in [("Flatten", 0, 1), ("LeakyReLU", 0.2, True), ("Softplus", 2.0, 10.0), ("Softmax", -1),
                 ("LogSoftmax", 1), ("GELU", "tanh"), ("ReLU", True), ("SiLU",), ("Identity", 3),
                 ("BatchNorm1d", 4, 1e-3, None, False, False), ("LayerNorm", (2, 3), 1e-6, False),
                 ("Embedding", 5, 2, -1), ("Linear", 2, 3, False), ("CrossEntropyLoss",), ("Dropout", 0.1),
                 ("Conv2d", 3, 6, 3, 2, 1, 1, 3, False), ("Conv1d", 2, 4, 3, 1, "same"), ("MaxPool2d", 3, 2, 1),
                 ("MaxPool2d", (2, 3)), ("BatchNorm2d", 5), ("AvgPool2d", 3, 1, 1), ("AdaptiveAvgPool2d", (1, 1))]:
        name, *a = args
        assert repr(getattr(gt.nn, name)(*a)) == repr(getattr(torch.nn, name)(*a)), name
    assert repr(gt.nn.ModuleList([gt.nn.Linear(1, 1) for _ in range(3)] + [gt.nn.ReLU()])) == \
        repr(torch.nn.ModuleList([torch.nn.Linear(1, 1) for _ in range(3)] + [torch.nn.ReLU()]))


def test_parameter_repr_and_identity():
    p = gt.nn.Parameter(gt.tensor(np.array([1.0, 2.0], dtype=np.float32)))
    tp = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    assert repr(p) == repr(tp)
    assert isinstance(p, gt.Tensor) and p.requires_grad and p.is_leaf
    assert not gt.nn.Parameter(gt.ones(2), requires_grad=False).requires_grad
    with pytest.raises(TypeError, match="gt Tensor"):
        gt.nn.Parameter(torch.ones(2))


def test_torch_names_gt_lacks_raise_an_attribute_error_naming_them():
    import gt.nn.functional as F
    for module, name in ((gt.nn, "AdaptiveLogSoftmaxWithLoss"), (F, "fractional_max_pool2d"), (gt.nn.init, "dirac_"),
                         (gt.nn.utils, "spectral_norm")):
        with pytest.raises(AttributeError, match=f"GT does not support torch.nn.*{name} yet"):
            getattr(module, name)
        assert not hasattr(module, name)
    with pytest.raises(AttributeError, match="module 'gt.nn' has no attribute 'Conv9d'"):
        gt.nn.Conv9d  # noqa: B018
    assert gt.nn.functional is F and F.cross_entropy is gt.client.nn.functional.cross_entropy


def test_tied_weights_are_one_parameter_with_two_state_dict_keys():
    results = []
    for nn in (torch.nn, gt.nn):
        model = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 5, bias=False))
        model[1].weight = model[0].weight
        results.append(([n for n, _ in model.named_parameters()], list(model.state_dict()),
                        [n for n, _ in model.named_parameters(remove_duplicate=False)]))
    assert results[0] == results[1] == (["0.weight"], ["0.weight", "1.weight"], ["0.weight", "1.weight"])


def test_deepcopy_of_a_module_copies_its_parameters(rng, assert_matches):
    import copy
    import gc
    g = gt.nn.Sequential(gt.nn.Linear(3, 2), gt.nn.ReLU())
    original = g[0].weight.detach().numpy()
    c = copy.deepcopy(g)
    assert c[0].weight is not g[0].weight and isinstance(c[0].weight, gt.nn.Parameter)
    assert c[0].weight.requires_grad and c[0].weight.is_leaf
    with gt.no_grad():
        g[0].weight.mul_(2.0)
    del g
    gc.collect()
    np.testing.assert_array_equal(c[0].weight.detach().numpy(), original)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    t = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
    t.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in c.state_dict().items()})
    assert_matches(c(gt.from_numpy(x)), t(torch.from_numpy(x)))


def test_load_state_dict_assign_takes_the_given_tensors(assert_matches):
    g = gt.nn.BatchNorm1d(3)
    state = {k: torch.full(tuple(v.shape), 2, dtype=v.dtype) for k, v in g.state_dict().items()}
    g.load_state_dict(state, assign=True)
    assert isinstance(g.weight, gt.nn.Parameter) and g.weight.requires_grad
    for key, value in g.state_dict().items():
        assert_matches(value, state[key])
    assert g.half() is g and g.weight.dtype == torch.float16 and g.running_mean.dtype == torch.float16


NEWER_TORCH_ARGUMENTS = {name: ("bias",) for name in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "GroupNorm",
                                                      "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d")}


def test_module_constructors_take_torchs_arguments():
    import inspect
    checked = 0
    for name in gt.nn.__all__:
        g, t = getattr(gt.nn, name), getattr(torch.nn, name, None)
        if not inspect.isclass(g) or t is None:
            continue
        t_params = list(inspect.signature(t.__init__).parameters)
        if t_params[1:] == ["args", "kwargs"]:  # torch's Module, Parameter, Sigmoid, Tanh
            continue
        g_params = list(inspect.signature(g.__init__).parameters)
        # arguments of a newer torch than the one installed (the norms' bias: in torch 2.13, not 2.11)
        newer = [p for p in g_params if p not in t_params and p in NEWER_TORCH_ARGUMENTS.get(name, ())]
        assert [p for p in g_params if p not in newer] == t_params, name
        checked += 1
    assert checked >= 110
