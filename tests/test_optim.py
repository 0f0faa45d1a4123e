"""gt.optim's optimizers against torch.optim: the same numbers step by step (bit for bit in
eager mode), the same per-parameter state, state dicts in torch's layout, torch's errors."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

import gt
import gt.optim
from gt.client import optim as client_optim
from gt.worker import policy as policy_mod

from devices import ON_GPU, TORCH, host, twin

CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "maximize": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.5}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "centered": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.1, "centered": True}),
    ("RMSprop", {"lr": 0.01, "maximize": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "maximize": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1, "weight_decay": 0.1}),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in CONFIGS]


def _params(rng, shapes=((3, 4), (4,), (2, 4))):
    """GT's parameters and torch's twins (on the worker's device: its kernels round as GT's)."""
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    return ([gt.nn.Parameter(gt.tensor(a)) for a in arrays],
            [torch.nn.Parameter(twin(a)) for a in arrays])


# On a GPU torch's default optimizer kernels (foreach) round an ulp apart from the single-tensor code GT
# follows (see test_steps_equal_torch_bit_for_bit): values there agree to a few ulps of their dtype.
GPU_TOLERANCES = {torch.float32: (1e-6, 1e-7), torch.float64: (1e-13, 1e-15), torch.float16: (2e-3, 1e-4),
                  torch.bfloat16: (1.6e-2, 1e-3)}


def _assert_same(g, t, dtype: torch.dtype | None = None) -> None:
    """GT's tensor ``g`` holds torch's ``t``: bit for bit on the CPU, to a few ulps (of ``dtype``, by
    default ``t``'s) on a GPU."""
    got, want = host(g), host(t)
    dtype = dtype or t.dtype
    if ON_GPU and dtype in GPU_TOLERANCES:
        rtol, atol = GPU_TOLERANCES[dtype]
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    else:
        np.testing.assert_array_equal(got, want)


def _assert_equal(gt_params, torch_params):
    for g, t in zip(gt_params, torch_params):
        _assert_same(g, t)


def _backward(params, x, lib, use_bias=True):
    """A loss over ``params`` (weight (3, 4), bias (4,), unused (2, 4)); the bias can sit out a step."""
    w, b = params[0], params[1]
    out = lib.tensor(x) @ w
    if use_bias:
        out = out + b
    (out * out).sum().backward()


def _step_both(g_params, g_opt, t_params, t_opt, rng, steps: int = 3) -> None:
    """``steps`` training steps of ``_backward``'s loss on the same data, in GT and in torch."""
    for _ in range(steps):
        x = rng.standard_normal((5, 3)).astype(np.float32)
        for params, opt, lib in ((g_params, g_opt, gt), (t_params, t_opt, TORCH)):
            opt.zero_grad()
            _backward(params, x, lib)
            opt.step()


# -- the update rules ----------------------------------------------------------------------------
@pytest.mark.parametrize("name, kw", CONFIGS, ids=IDS)
def test_steps_equal_torch_bit_for_bit(name, kw, rng):
    """A parameter that first gets a gradient at step 2 follows torch from then on (its own step
    count), and one that never gets a gradient is skipped and gets no state.  Bit for bit on every
    device against torch's single-tensor code (``foreach=False``: the code GT follows, torch's default
    on the CPU; on CUDA torch defaults to foreach kernels, whose Adam and Adagrad round an ulp apart)."""
    g_params, t_params = _params(rng)
    g_opt = getattr(gt.optim, name)(g_params, **kw)
    t_opt = getattr(torch.optim, name)(t_params, foreach=False, **kw)
    for step in range(4):
        x = rng.standard_normal((5, 3)).astype(np.float32)
        g_opt.zero_grad()
        t_opt.zero_grad()
        _backward(g_params, x, gt, use_bias=step > 0)
        _backward(t_params, x, TORCH, use_bias=step > 0)
        g_opt.step()
        t_opt.step()
        for g, t in zip(g_params, t_params):
            np.testing.assert_array_equal(host(g), host(t))
    assert g_params[2].grad is None
    assert (g_params[2] in g_opt.state) == (t_params[2] in t_opt.state)
    for g, t in zip(g_params, t_params):
        if t in t_opt.state:
            assert set(g_opt.state[g]) == set(t_opt.state[t])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name, kw", [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.1}),
                                      ("RMSprop", {"lr": 0.01}), ("Adagrad", {"lr": 0.1})])
def test_steps_in_other_float_dtypes_equal_torch(name, kw, dtype):
    value = torch.linspace(-1, 1, 12, dtype=dtype).reshape(3, 4)
    g_p, t_p = gt.nn.Parameter(gt.tensor(value)), torch.nn.Parameter(twin(value))
    g_opt, t_opt = getattr(gt.optim, name)([g_p], **kw), getattr(torch.optim, name)([t_p], **kw)
    for _ in range(3):
        for p, opt in ((g_p, g_opt), (t_p, t_opt)):
            opt.zero_grad()
            (p * p * p).sum().backward()
            opt.step()
    assert g_p.dtype == dtype
    _assert_same(g_p.float(), t_p.float(), dtype)   # numpy has no bfloat16


def test_adam_counts_steps_per_parameter(rng):
    """The issue's case: a parameter whose first gradient comes at step 2, three steps in all."""
    g_params, t_params = _params(rng, shapes=((4,), (4,)))
    g_opt, t_opt = gt.optim.Adam(g_params, lr=0.1), torch.optim.Adam(t_params, lr=0.1)
    for step in range(3):
        for params, opt, lib in ((g_params, g_opt, gt), (t_params, t_opt, TORCH)):
            opt.zero_grad()
            loss = (params[0] * params[0]).sum()
            if step > 0:
                loss = loss + (params[1] * lib.ones(4)).sum()
            loss.backward()
            opt.step()
    _assert_equal(g_params, t_params)
    assert g_opt.state[g_params[1]]["step"] == t_opt.state[t_params[1]]["step"].item() == 2.0


@pytest.mark.parametrize("name, kw", [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.05}),
                                      ("RMSprop", {"lr": 0.01, "centered": True})])
def test_steps_in_a_batched_worker_equal_torch(name, kw, rng, batched_worker):
    g_params, t_params = _params(rng)
    g_opt, t_opt = getattr(gt.optim, name)(g_params, **kw), getattr(torch.optim, name)(t_params, **kw)
    _step_both(g_params, g_opt, t_params, t_opt, rng)
    _assert_equal(g_params, t_params)


@pytest.mark.parametrize("name, kw, per_param", [
    ("SGD", {"lr": 0.1}, 1),
    ("SGD", {"lr": 0.1, "momentum": 0.9}, 2),
    ("Adam", {"lr": 0.1}, 4),
    ("AdamW", {"lr": 0.1}, 5),
    ("RMSprop", {"lr": 0.1}, 3),
    ("Adagrad", {"lr": 0.1}, 3),
])
def test_a_step_emits_torchs_op_count_per_parameter(name, kw, per_param, use_worker):
    """Few instructions per parameter (steady state): torch.optim's single-tensor code, its
    short runs of calls as one instruction each."""
    w = use_worker(batch_size=1)
    params = [gt.nn.Parameter(gt.ones(3)), gt.nn.Parameter(gt.ones(2, 2))]
    opt = getattr(gt.optim, name)(params, **kw)
    for p in params:
        p.grad = gt.ones(*p.shape)
    opt.step()                                  # the first step may create state buffers
    before = w.get_stats()["operations"]["total"]
    opt.step()
    assert w.get_stats()["operations"]["total"] - before == per_param * len(params)


def test_learning_rate_schedule_does_not_recompile(use_worker, rng, monkeypatch):
    """LRs are scalar graph inputs: after warm-up a changing LR runs the same compiled graphs."""
    monkeypatch.setattr(policy_mod, "REVERT_SAMPLES", 0)   # every later step compiled: none judged
    x = rng.standard_normal((8, 3)).astype(np.float32)

    def train(steps, worker=None):
        gt.manual_seed(0)
        model = gt.nn.Linear(3, 2)
        opt = gt.optim.Adam(model.parameters(), lr=0.1)
        sched = gt.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
        warm = None
        for step in range(steps):
            if step == steps - 4 and worker is not None:
                warm = worker.get_stats()["compilation"]
            opt.zero_grad()
            (model(gt.tensor(x)) ** 2).mean().backward()
            opt.step()
            sched.step()
        return [p.detach().numpy() for p in model.parameters()], warm

    use_worker(batch_size=1)
    eager, _ = train(14)
    w = use_worker(batch_size=1024, auto_compile=True, threshold=2)
    compiled, warm = train(14, w)
    end = w.get_stats()["compilation"]
    assert end["compile_failures"] == 0
    assert end["cache_misses"] == warm["cache_misses"] > 0        # the last 4 steps (4 new LRs) compiled nothing
    assert end["cache_hits"] >= warm["cache_hits"] + 4
    for c, e in zip(compiled, eager):
        np.testing.assert_allclose(c, e, rtol=1e-5, atol=1e-6)


# -- the Optimizer API ---------------------------------------------------------------------------
def test_import_paths_are_the_same_objects():
    import gt.optim.lr_scheduler
    assert gt.optim.SGD is client_optim.SGD and gt.optim.Adam is client_optim.Adam
    assert gt.optim.AdamW is client_optim.AdamW and gt.optim.Optimizer is client_optim.Optimizer
    assert gt.optim.lr_scheduler.StepLR is client_optim.lr_scheduler.StepLR
    assert issubclass(gt.optim.AdamW, gt.optim.Adam)


def test_zero_grad_sets_none_or_zeros(rng):
    g_params, t_params = _params(rng)
    for params, lib, opt_cls in ((g_params, gt, gt.optim.SGD), (t_params, TORCH, torch.optim.SGD)):
        opt = opt_cls(params, lr=0.1)
        _backward(params, np.ones((2, 3), np.float32), lib)
        opt.zero_grad(set_to_none=False)
        assert params[0].grad is not None and params[2].grad is None
        np.testing.assert_array_equal(host(params[0].grad), np.zeros((3, 4), np.float32))
        opt.zero_grad()
        assert params[0].grad is None and params[1].grad is None


def test_step_returns_the_closures_loss_and_keeps_parameters_leaves(rng):
    g_params, t_params = _params(rng)
    g_opt, t_opt = gt.optim.Adam(g_params, lr=0.1), torch.optim.Adam(t_params, lr=0.1)
    x = rng.standard_normal((2, 3)).astype(np.float32)

    def closure(params, opt, lib):
        def run():
            opt.zero_grad()
            loss = (lib.tensor(x) @ params[0]).sum()
            loss.backward()
            return loss
        return run

    g_loss = g_opt.step(closure(g_params, g_opt, gt))
    t_loss = t_opt.step(closure(t_params, t_opt, TORCH))
    assert g_loss.item() == t_loss.item()
    _assert_equal(g_params, t_params)
    assert all(p.is_leaf and p.requires_grad and p.grad_fn is None for p in g_params)


def test_param_groups_with_their_own_hyperparameters_and_add_param_group(rng):
    g_params, t_params = _params(rng)
    g_opt = gt.optim.SGD([{"params": g_params[:1]}, {"params": [g_params[1]], "lr": 0.5}], lr=0.1, momentum=0.9)
    t_opt = torch.optim.SGD([{"params": t_params[:1]}, {"params": [t_params[1]], "lr": 0.5}], lr=0.1, momentum=0.9)
    g_opt.add_param_group({"params": g_params[2], "momentum": 0.5})
    t_opt.add_param_group({"params": t_params[2], "momentum": 0.5})
    assert g_opt.state_dict()["param_groups"] == t_opt.state_dict()["param_groups"]
    assert repr(g_opt) == repr(t_opt)
    for _ in range(2):
        x = rng.standard_normal((4, 3)).astype(np.float32)
        for params, opt, lib in ((g_params, g_opt, gt), (t_params, t_opt, TORCH)):
            opt.zero_grad()
            _backward(params, x, lib)
            (params[2] * params[2]).sum().backward()
            opt.step()
    _assert_equal(g_params, t_params)


def _custom_optimizer(lib):
    """A user-written optimizer in torch's style: subclass Optimizer, index self.state freely."""
    class SignSGD(lib.optim.Optimizer):
        def __init__(self, params, lr=importlib.import_module(f"{lib.__name__}.optim.optimizer").required):
            super().__init__(params, {"lr": lr})

        @lib.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    state["count"] = state.get("count", 0) + 1
                    p.add_(p.grad.sign(), alpha=-group["lr"] / state["count"])
    return SignSGD


def test_a_custom_optimizer_written_for_torch_runs_on_gt(rng):
    g_params, t_params = _params(rng)
    g_opt, t_opt = _custom_optimizer(gt)(g_params, lr=0.1), _custom_optimizer(torch)(t_params, lr=0.1)
    _step_both(g_params, g_opt, t_params, t_opt, rng)
    _assert_equal(g_params, t_params)
    assert g_opt.state_dict() == t_opt.state_dict()
    for lib, params in ((torch, t_params), (gt, g_params)):
        with pytest.raises(ValueError, match="didn't specify a value of required optimization parameter lr"):
            _custom_optimizer(lib)(params)


def test_named_parameters_give_param_names_as_torchs(rng):
    g_params, t_params = _params(rng)
    names = ["w", "b", "unused"]
    g_opt = gt.optim.Adam(zip(names, g_params), lr=0.1)
    t_opt = torch.optim.Adam(zip(names, t_params), lr=0.1)
    assert g_opt.state_dict()["param_groups"] == t_opt.state_dict()["param_groups"]
    assert g_opt.param_groups[0]["param_names"] == names and g_opt.param_groups[0]["params"] == g_params
    plain = gt.optim.Adam(g_params, lr=0.1)
    plain.load_state_dict(t_opt.state_dict())
    assert plain.param_groups[0]["param_names"] == names
    for lib, params in ((torch, t_params), (gt, g_params)):
        with pytest.raises(ValueError, match="Some param names are missing"):
            lib.optim.SGD([("w", params[0]), params[1]], lr=0.1)
        opt = lib.optim.SGD([("w", params[0])], lr=0.1)
        with pytest.raises(ValueError, match="cannot add param group without names"):
            opt.add_param_group({"params": [params[1]]})


# -- state dicts ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, kw", CONFIGS, ids=IDS)
def test_state_dict_has_torchs_layout_and_values(name, kw, rng):
    g_params, t_params = _params(rng)
    g_opt, t_opt = getattr(gt.optim, name)(g_params, **kw), getattr(torch.optim, name)(t_params, **kw)
    for step in range(2):
        x = rng.standard_normal((5, 3)).astype(np.float32)
        for params, opt, lib in ((g_params, g_opt, gt), (t_params, t_opt, TORCH)):
            opt.zero_grad()
            _backward(params, x, lib, use_bias=step > 0)
            opt.step()
    g_sd, t_sd = g_opt.state_dict(), t_opt.state_dict()
    assert g_sd["param_groups"] == t_sd["param_groups"]
    assert list(g_sd["state"]) == list(t_sd["state"])
    for i, t_state in t_sd["state"].items():
        assert list(g_sd["state"][i]) == list(t_state)
        for key, t_value in t_state.items():
            g_value = g_sd["state"][i][key]
            assert isinstance(g_value, gt.Tensor)
            assert g_value.dtype == t_value.dtype and tuple(g_value.shape) == tuple(t_value.shape)
            _assert_same(g_value, t_value)


@pytest.mark.parametrize("name, kw", [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.05, "amsgrad": True}),
                                      ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
                                      ("Adagrad", {"lr": 0.1, "lr_decay": 0.1})])
def test_load_state_dict_from_torch_continues_torchs_run(name, kw, rng):
    """torch's state dict (torch tensors) loads into a GT optimizer, which then steps as torch does."""
    g_params, t_params = _params(rng)
    t_opt = getattr(torch.optim, name)(t_params, **kw)
    for _ in range(2):
        t_opt.zero_grad()
        _backward(t_params, rng.standard_normal((5, 3)).astype(np.float32), TORCH)
        t_opt.step()
    for g, t in zip(g_params, t_params):
        g.data = gt.tensor(host(t))
    g_opt = getattr(gt.optim, name)(g_params, lr=1.0)
    g_opt.load_state_dict(t_opt.state_dict())
    assert g_opt.param_groups[0]["lr"] == kw["lr"] and g_opt.param_groups[0]["params"] == g_params
    _step_both(g_params, g_opt, t_params, t_opt, rng, steps=2)
    _assert_equal(g_params, t_params)


def test_state_dict_round_trip_continues_the_same_run(rng):
    g_params, _ = _params(rng)
    opt = gt.optim.Adam(g_params, lr=0.05)
    xs = [rng.standard_normal((5, 3)).astype(np.float32) for _ in range(4)]
    for x in xs[:2]:
        opt.zero_grad()
        _backward(g_params, x, gt)
        opt.step()
    saved = opt.state_dict()
    copies = [gt.nn.Parameter(gt.tensor(p.detach().numpy())) for p in g_params]
    resumed = gt.optim.Adam(copies, lr=0.05)
    resumed.load_state_dict(saved)
    for x in xs[2:]:
        for params, o in ((g_params, opt), (copies, resumed)):
            o.zero_grad()
            _backward(params, x, gt)
            o.step()
    for a, b in zip(g_params, copies):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_load_state_dict_rejects_a_mismatch(rng):
    g_params, t_params = _params(rng)
    t_sd = torch.optim.SGD(t_params[:2], lr=0.1).state_dict()
    opt = gt.optim.SGD(g_params, lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        torch.optim.SGD(t_params, lr=0.1).load_state_dict(t_sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict(t_sd)
    with pytest.raises(ValueError, match="number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": []})


# -- errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, kw, match", [
    ("SGD", {"lr": -1.0}, "Invalid learning rate"),
    ("SGD", {"lr": 0.1, "momentum": -0.5}, "Invalid momentum value"),
    ("SGD", {"lr": 0.1, "nesterov": True}, "Nesterov momentum requires a momentum and zero dampening"),
    ("Adam", {"betas": (1.5, 0.9)}, "Invalid beta parameter at index 0"),
    ("Adam", {"eps": -1e-8}, "Invalid epsilon value"),
    ("AdamW", {"weight_decay": -0.1}, "Invalid weight_decay value"),
    ("RMSprop", {"alpha": -0.1}, "Invalid alpha value"),
    ("Adagrad", {"lr_decay": -0.1}, "Invalid lr_decay value"),
])
def test_bad_hyperparameters_raise_torchs_value_error(name, kw, match, rng):
    g_params, t_params = _params(rng)
    with pytest.raises(ValueError, match=match):
        getattr(torch.optim, name)(t_params, **kw)
    with pytest.raises(ValueError, match=match):
        getattr(gt.optim, name)(g_params, **kw)


def test_bad_parameter_lists_raise_torchs_errors(rng):
    g_params, t_params = _params(rng)
    for lib, params in ((torch, t_params), (gt, g_params)):
        with pytest.raises(ValueError, match="empty parameter list"):
            lib.optim.SGD([], lr=0.1)
        with pytest.raises(TypeError, match="iterable of Tensors"):
            lib.optim.SGD(params[0], lr=0.1)
        with pytest.raises(TypeError, match="ordered collections"):
            lib.optim.SGD([{"params": set(params)}], lr=0.1)
        with pytest.raises(ValueError, match="more than one parameter group"):
            lib.optim.SGD([{"params": params[:2]}, {"params": params[1:]}], lr=0.1)
        with pytest.raises(ValueError, match="non-leaf"):
            lib.optim.SGD([params[0] * 2], lr=0.1)
        with pytest.raises(TypeError, match="can only optimize Tensors"):
            lib.optim.SGD([1.0], lr=0.1)


def test_differentiable_optimizers_are_refused_by_name(rng):
    g_params, _ = _params(rng)
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        gt.optim.Adam(g_params, differentiable=True)
