"""gt.save / gt.load: PyTorch's file format both ways, weights-only loading."""
from __future__ import annotations

import collections
import io
import pickle

import numpy as np
import pytest
import torch

import gt

from devices import on_device, twin


def _mlp_pair(seed=0):
    torch.manual_seed(seed)
    t = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    gt.manual_seed(seed)
    g = gt.nn.Sequential(gt.nn.Linear(3, 4), gt.nn.ReLU(), gt.nn.Linear(4, 2))
    return g, t


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64,
                                   torch.int32, torch.int8, torch.uint8, torch.bool])
def test_torch_load_reads_a_gt_tensor(dtype, tmp_path, rng):
    value = torch.tensor(rng.standard_normal((3, 4)) * 5).to(dtype)
    gt.save(gt.tensor(value), tmp_path / "x.pt")
    loaded = torch.load(tmp_path / "x.pt", weights_only=True)
    assert type(loaded) is torch.Tensor and loaded.dtype == dtype
    assert torch.equal(loaded, value)


def test_gt_load_reads_a_torch_file(tmp_path, rng, assert_matches):
    value = torch.tensor(rng.standard_normal((2, 5)).astype(np.float32))
    torch.save({"x": value, "n": 3, "names": ["a", "b"], "pair": (value[0], 1.5)}, tmp_path / "t.pt")
    loaded = gt.load(tmp_path / "t.pt")
    assert loaded["n"] == 3 and loaded["names"] == ["a", "b"] and loaded["pair"][1] == 1.5
    assert_matches(loaded["x"], value, rtol=0, atol=0)
    assert_matches(loaded["pair"][0], value[0], rtol=0, atol=0)


def test_file_objects_work_both_ways(rng, assert_matches):
    value = torch.tensor(rng.standard_normal(4).astype(np.float32))
    buf = io.BytesIO()
    gt.save({"v": gt.tensor(value)}, buf)
    buf.seek(0)
    assert torch.equal(torch.load(buf, weights_only=True)["v"], value)
    buf.seek(0)
    assert_matches(gt.load(buf)["v"], value, rtol=0, atol=0)


def test_a_slice_is_saved_without_the_rest_of_its_buffer(tmp_path):
    big = gt.arange(10000).float()
    gt.save(big[:3], tmp_path / "s.pt")
    loaded = torch.load(tmp_path / "s.pt", weights_only=True)
    assert torch.equal(loaded, torch.arange(3).float())
    assert loaded.untyped_storage().nbytes() == 3 * 4


def test_model_state_dict_round_trips_through_torch(tmp_path, rng, assert_matches):
    g, t = _mlp_pair(seed=3)
    gt.save(g.state_dict(), tmp_path / "model.pt")
    sd = torch.load(tmp_path / "model.pt", weights_only=True)
    assert list(sd) == list(t.state_dict())
    fresh = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    fresh.load_state_dict(sd)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    assert_matches(g(gt.tensor(x)), fresh(torch.tensor(x)), rtol=0, atol=0)

    torch.save(fresh.state_dict(), tmp_path / "torch_model.pt")
    g2, _ = _mlp_pair(seed=9)
    g2.load_state_dict(gt.load(tmp_path / "torch_model.pt"))
    assert_matches(g2(gt.tensor(x)), fresh(torch.tensor(x)), rtol=0, atol=0)


def test_optimizer_state_dict_round_trips_through_torch(tmp_path, rng):
    g, t = _mlp_pair(seed=4)
    on_device(t)
    g_opt, t_opt = gt.optim.Adam(g.parameters(), lr=0.05), torch.optim.Adam(t.parameters(), lr=0.05)
    x = rng.standard_normal((6, 3)).astype(np.float32)
    for model, opt, inp in ((g, g_opt, gt.tensor(x)), (t, t_opt, twin(x))):
        opt.zero_grad()
        (model(inp) ** 2).mean().backward()
        opt.step()
    gt.save({"model": g.state_dict(), "optim": g_opt.state_dict()}, tmp_path / "ckpt.pt")
    ckpt = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    t_sd = t_opt.state_dict()
    assert ckpt["optim"]["param_groups"] == t_sd["param_groups"]
    for i, state in t_sd["state"].items():
        for key, value in state.items():
            assert torch.equal(ckpt["optim"]["state"][i][key], value.cpu()), (i, key)
    resumed = torch.optim.Adam(t.parameters(), lr=0.05)
    resumed.load_state_dict(ckpt["optim"])

    torch.save(t_opt.state_dict(), tmp_path / "torch_optim.pt")
    g_resumed = gt.optim.Adam(g.parameters(), lr=0.05)
    g_resumed.load_state_dict(gt.load(tmp_path / "torch_optim.pt"))
    assert g_resumed.state_dict()["param_groups"] == t_sd["param_groups"]
    assert g_resumed.state[next(iter(g.parameters()))]["step"] == 1.0


_Point = collections.namedtuple("_Point", "a b")


def test_containers_keep_their_types_and_shared_tensors_stay_shared(tmp_path):
    x = gt.ones(2)
    obj = collections.OrderedDict(first=[x, x], second=(x, 3))
    gt.save(obj, tmp_path / "c.pt")
    for loaded in (torch.load(tmp_path / "c.pt", weights_only=True), gt.load(tmp_path / "c.pt")):
        assert type(loaded) is collections.OrderedDict and list(loaded) == ["first", "second"]
        assert type(loaded["first"]) is list and type(loaded["second"]) is tuple and loaded["second"][1] == 3
        assert loaded["first"][0] is loaded["first"][1] is loaded["second"][0]


def test_a_namedtuple_stays_a_namedtuple(tmp_path):
    gt.save(_Point(gt.ones(1), 2), tmp_path / "n.pt")
    loaded = torch.load(tmp_path / "n.pt", weights_only=False)   # torch's weights-only loader refuses classes
    assert type(loaded) is _Point and loaded.b == 2 and torch.equal(loaded.a, torch.ones(1))


def test_parameters_and_requires_grad_survive_both_ways(tmp_path):
    p = gt.nn.Parameter(gt.ones(3))
    leaf = gt.zeros(2, requires_grad=True)
    gt.save([p, leaf], tmp_path / "p.pt")
    tp, tleaf = torch.load(tmp_path / "p.pt", weights_only=True)
    assert isinstance(tp, torch.nn.Parameter) and tp.requires_grad
    assert type(tleaf) is torch.Tensor and tleaf.requires_grad
    gp, gleaf = gt.load(tmp_path / "p.pt")
    assert isinstance(gp, gt.nn.Parameter) and gp.requires_grad and gp.is_leaf
    assert gleaf.requires_grad and not isinstance(gleaf, gt.nn.Parameter)


class _Payload:
    def __reduce__(self):
        return (print, ("code ran while unpickling",))


def test_load_refuses_arbitrary_objects(tmp_path):
    torch.save({"evil": _Payload()}, tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError):
        torch.load(tmp_path / "evil.pt", weights_only=True)
    with pytest.raises(pickle.UnpicklingError):
        gt.load(tmp_path / "evil.pt")


class _Holder:
    def __init__(self):
        self.value = gt.ones(2)


def test_objects_holding_gt_tensors_round_trip_with_weights_only_false(tmp_path):
    """A GT tensor inside an object is written as its value; weights_only=True refuses the
    object's class as torch refuses it, until it is allowed with add_safe_globals."""
    gt.save({"holder": _Holder(), "plain": _Point(1, 2)}, tmp_path / "h.pt")
    with pytest.raises(pickle.UnpicklingError, match="_Holder"):
        gt.load(tmp_path / "h.pt")
    loaded = gt.load(tmp_path / "h.pt", weights_only=False)
    assert isinstance(loaded["holder"].value, gt.Tensor) and loaded["holder"].value.tolist() == [1.0, 1.0]
    assert loaded["plain"] == _Point(1, 2)
    from gt.serialization import _rebuild
    with gt.serialization.safe_globals([_Holder, _Point, _rebuild]):
        assert gt.load(tmp_path / "h.pt")["holder"].value.tolist() == [1.0, 1.0]


def test_load_names_an_unsupported_dtype(tmp_path):
    torch.save(torch.ones(2, dtype=torch.complex64), tmp_path / "c.pt")
    with pytest.raises(TypeError, match="complex64"):
        gt.load(tmp_path / "c.pt")


def test_whole_module_round_trips_and_torch_reads_it(tmp_path):
    """gt.save(model) / gt.load(path, weights_only=False), as torch saves whole modules: the
    loaded model is a GT module with the same parameters and outputs."""
    gt.manual_seed(0)
    model = gt.nn.Sequential(gt.nn.Linear(3, 4), gt.nn.ReLU(), gt.nn.Linear(4, 2))
    model[0].register_buffer("steps", gt.tensor(7))
    gt.save(model, tmp_path / "model.pt")
    loaded = gt.load(tmp_path / "model.pt", weights_only=False)
    assert type(loaded) is gt.nn.Sequential and list(loaded.state_dict()) == list(model.state_dict())
    assert all(isinstance(p, gt.nn.Parameter) and p.requires_grad for p in loaded.parameters())
    x = gt.randn(5, 3)
    np.testing.assert_array_equal(loaded(x).detach().numpy(), model(x).detach().numpy())
    assert loaded[0].steps.tolist() == 7
    with pytest.raises(pickle.UnpicklingError, match="weights_only"):
        gt.load(tmp_path / "model.pt")   # the default stays as safe as torch's: no classes
    from_torch = torch.load(tmp_path / "model.pt", weights_only=False)
    np.testing.assert_array_equal(from_torch(x).detach().numpy(), model(x).detach().numpy())


def test_training_checkpoint_with_model_and_optimizer_round_trips(tmp_path):
    model = gt.nn.Linear(2, 1)
    opt = gt.optim.Adam(model.parameters(), lr=0.1)
    model(gt.ones(1, 2)).sum().backward()
    opt.step()
    gt.save({"model": model, "optimizer": opt.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    ckpt = gt.load(tmp_path / "ckpt.pt", weights_only=False)
    assert ckpt["epoch"] == 3
    np.testing.assert_array_equal(ckpt["model"].weight.detach().numpy(), model.weight.detach().numpy())
    opt2 = gt.optim.Adam(ckpt["model"].parameters(), lr=0.1)
    opt2.load_state_dict(ckpt["optimizer"])
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]


def test_torch_saved_whole_module_loads_with_weights_only_false(tmp_path):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "t.pt")
    loaded = gt.load(tmp_path / "t.pt", weights_only=False)
    assert isinstance(loaded, torch.nn.Linear)   # torch's own module: its classes are torch's
