"""The rest of torch.optim (Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop, LBFGS), the cyclic,
chained and SWA schedulers, and swa_utils.AveragedModel, side by side with torch: the same
numbers step by step, state dicts in torch's layout both ways, torch's errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gt
import gt.optim

from devices import TORCH, host, twin

CONFIGS = [
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1, "maximize": True}),
    ("Adamax", {"lr": 0.01}),
    ("Adamax", {"lr": 0.05, "betas": (0.8, 0.9), "weight_decay": 0.1, "maximize": True}),
    ("NAdam", {"lr": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.01}),
    ("RAdam", {"lr": 0.01, "betas": (0.9, 0.9), "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01, "betas": (0.8, 0.7), "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("ASGD", {"lr": 0.05}),
    ("ASGD", {"lr": 0.05, "t0": 2, "lambd": 0.01, "alpha": 0.5, "weight_decay": 0.1}),
    ("Rprop", {"lr": 0.01}),
    ("Rprop", {"lr": 0.01, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.02), "maximize": True}),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in CONFIGS]
SHAPES = ((3, 4), (4,), (2, 4))


def _params(rng, dtype=np.float32):
    """GT's parameters and torch's twins on the worker's device (its kernels round as GT's)."""
    arrays = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    return ([gt.nn.Parameter(gt.tensor(a)) for a in arrays], [torch.nn.Parameter(twin(a)) for a in arrays])


def _optimizers(name, g_params, t_params, kw):
    """GT's and torch's optimizer ``name``; torch's single-tensor code (``foreach=False``), which GT
    follows: torch's default on the CPU, while on CUDA it defaults to foreach kernels, rounding apart."""
    return (getattr(gt.optim, name)(g_params, foreach=False, **kw),
            getattr(torch.optim, name)(t_params, foreach=False, **kw))


def _loss(params, x, lib, use_bias=True):
    out = lib.tensor(x) @ params[0]
    if use_bias:
        out = out + params[1]
    return (out * out).sum() + (params[0] ** 3).sum()


def _steps(g_params, g_opt, t_params, t_opt, rng, steps):
    for step in range(steps):
        x = rng.standard_normal((5, 3)).astype(np.float32)
        for params, opt, lib in ((g_params, g_opt, gt), (t_params, t_opt, TORCH)):
            opt.zero_grad()
            _loss(params, x, lib, use_bias=step > 0).backward()
            opt.step()


def _assert_equal(g_params, t_params):
    for g, t in zip(g_params, t_params):
        np.testing.assert_array_equal(host(g), host(t))


@pytest.mark.parametrize("name, kw", CONFIGS, ids=IDS)
def test_trajectories_equal_torch_bit_for_bit(name, kw, rng):
    """Eight steps (RAdam's rectification starts after five; ASGD's averaging at t0); a parameter
    whose first gradient comes at step 2 keeps its own step count; an unused one gets no state."""
    g_params, t_params = _params(rng)
    g_opt, t_opt = _optimizers(name, g_params, t_params, kw)
    _steps(g_params, g_opt, t_params, t_opt, rng, 8)
    _assert_equal(g_params, t_params)
    assert (g_params[2] in g_opt.state) == (t_params[2] in t_opt.state) is False
    for g, t in zip(g_params[:2], t_params[:2]):
        assert set(g_opt.state[g]) == set(t_opt.state[t])


def test_asgd_average_equals_torchs(rng):
    g_params, t_params = _params(rng)
    kw = {"lr": 0.05, "t0": 3}
    g_opt, t_opt = _optimizers("ASGD", g_params, t_params, kw)
    _steps(g_params, g_opt, t_params, t_opt, rng, 6)
    for g, t in zip(g_params[:2], t_params[:2]):
        np.testing.assert_array_equal(host(g_opt.state[g]["ax"]), host(t_opt.state[t]["ax"]))
        assert g_opt.state[g]["eta"] == t_opt.state[t]["eta"].item()
        assert g_opt.state[g]["mu"] == t_opt.state[t]["mu"].item()


@pytest.mark.parametrize("name, kw", CONFIGS[::2], ids=IDS[::2])
def test_state_dict_round_trips_with_torch(name, kw, rng):
    """torch's state dict loads into GT and continues torch's run; GT's loads into torch."""
    g_params, t_params = _params(rng)
    g_opt, t_opt = _optimizers(name, g_params, t_params, kw)
    _steps(g_params, g_opt, t_params, t_opt, rng, 3)
    g_sd, t_sd = g_opt.state_dict(), t_opt.state_dict()
    assert g_sd["param_groups"] == t_sd["param_groups"]
    assert {i: set(s) for i, s in g_sd["state"].items()} == {i: set(s) for i, s in t_sd["state"].items()}
    for i, buffers in t_sd["state"].items():
        for key, value in buffers.items():
            np.testing.assert_array_equal(host(g_sd["state"][i][key]), host(value))
    g2_params, t2_params = _params(np.random.default_rng(1))
    for g2, t in zip(g2_params, t_params):
        g2.data = gt.tensor(host(t))
    for t2, g in zip(t2_params, g_params):
        t2.data = twin(host(g))
    g2_opt, t2_opt = _optimizers(name, g2_params, t2_params, kw)
    g2_opt.load_state_dict(t_sd)
    t2_opt.load_state_dict({"state": {i: {k: torch.tensor(v.numpy()) for k, v in s.items()}
                                      for i, s in g_sd["state"].items()}, "param_groups": g_sd["param_groups"]})
    _steps(g2_params, g2_opt, t_params, t_opt, np.random.default_rng(2), 2)
    _assert_equal(g2_params, t_params)
    _steps(g_params, g_opt, t2_params, t2_opt, np.random.default_rng(3), 2)
    _assert_equal(g_params, t2_params)


@pytest.mark.parametrize("name, per_param", [("Adadelta", 4), ("Adamax", 3), ("NAdam", 5), ("RAdam", 3),
                                             ("ASGD", 2), ("Rprop", 5)])
def test_a_step_is_a_few_instructions_per_parameter(name, per_param, use_worker):
    w = use_worker(batch_size=1)
    params = [gt.nn.Parameter(gt.ones(3)), gt.nn.Parameter(gt.ones(2, 2))]
    opt = getattr(gt.optim, name)(params, lr=0.1)
    for p in params:
        p.grad = gt.ones(*p.shape)
    for _ in range(6):     # past RAdam's warm-up and ASGD's first copy
        opt.step()
    before = w.get_stats()["operations"]["total"]
    opt.step()
    assert w.get_stats()["operations"]["total"] - before == per_param * len(params)


def test_a_training_loop_with_nadam_compiles_and_matches_eager(use_worker, rng):
    x = rng.standard_normal((8, 3)).astype(np.float32)

    def train(worker_kw):
        w = use_worker(**worker_kw)
        gt.manual_seed(0)
        model = gt.nn.Linear(3, 2)
        opt = gt.optim.NAdam(model.parameters(), lr=0.1)
        for _ in range(8):
            opt.zero_grad()
            (model(gt.tensor(x)) ** 2).mean().backward()
            opt.step()
        return [p.detach().numpy() for p in model.parameters()], w.get_stats()["compilation"]

    eager, _ = train({"batch_size": 1})
    compiled, stats = train({"batch_size": 1024, "auto_compile": True, "threshold": 2})
    assert stats["compile_failures"] == 0 and stats["cache_hits"] > 0
    for c, e in zip(compiled, eager):
        np.testing.assert_allclose(c, e, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, kw, match", [
    ("Adadelta", {"rho": 1.5}, "Invalid rho value: 1.5"),
    ("Adadelta", {"lr": -1.0}, "Invalid learning rate: -1.0"),
    ("Adamax", {"betas": (1.0, 0.9)}, "Invalid beta parameter at index 0: 1.0"),
    ("NAdam", {"momentum_decay": -1.0}, "Invalid momentum_decay value: -1.0"),
    ("RAdam", {"eps": -1.0}, "Invalid epsilon value: -1.0"),
    ("ASGD", {"weight_decay": -1.0}, "Invalid weight_decay value: -1.0"),
    ("Rprop", {"etas": (1.2, 0.5)}, "Invalid eta values: 1.2, 0.5"),
])
def test_bad_hyperparameters_raise_torchs_errors(name, kw, match, rng):
    g_params, t_params = _params(rng)
    with pytest.raises(ValueError, match=match):
        getattr(torch.optim, name)(t_params, **kw)
    with pytest.raises(ValueError, match=match):
        getattr(gt.optim, name)(g_params, **kw)


def test_import_forms_of_torch_scripts_work():
    from gt.optim.lr_scheduler import ChainedScheduler, CyclicLR
    from gt.optim.swa_utils import SWALR, AveragedModel
    assert CyclicLR is gt.optim.lr_scheduler.CyclicLR and ChainedScheduler is gt.optim.lr_scheduler.ChainedScheduler
    assert AveragedModel is gt.optim.swa_utils.AveragedModel and SWALR is gt.optim.swa_utils.SWALR


def test_sparse_adam_is_refused_by_name():
    with pytest.raises(AttributeError, match="GT does not support torch.optim.SparseAdam"):
        gt.optim.SparseAdam


# -- LBFGS -----------------------------------------------------------------------------------------
def _rosenbrock(lib, line_search_fn, dtype=np.float64):
    """An L-BFGS optimizer on a Rosenbrock-plus-quadratic loss, and a function running n steps."""
    xy = lib.nn.Parameter(lib.tensor(np.array([-1.5, 2.0], dtype)))
    w = lib.nn.Parameter(lib.tensor(np.array([[0.5, -0.3], [0.2, 0.1]], dtype)))
    opt = lib.optim.LBFGS([xy, w], lr=1, max_iter=10, history_size=5, line_search_fn=line_search_fn)

    def closure():
        opt.zero_grad()
        loss = (1 - xy[0]) ** 2 + 100 * (xy[1] - xy[0] ** 2) ** 2 + ((w @ xy) ** 2).sum()
        loss.backward()
        return loss

    def run(steps):
        losses = [float(opt.step(closure).detach()) for _ in range(steps)]
        return losses, [xy.detach().numpy(), w.detach().numpy()]
    return opt, run


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_follows_torch(line_search_fn):
    """float64: the same steps as torch to rounding (a dot product's order may differ)."""
    g_opt, g_run = _rosenbrock(gt, line_search_fn)
    t_opt, t_run = _rosenbrock(torch, line_search_fn)
    (g_losses, g_values), (t_losses, t_values) = g_run(3), t_run(3)
    np.testing.assert_allclose(g_losses, t_losses, rtol=1e-9)
    for g, t in zip(g_values, t_values):
        np.testing.assert_allclose(g, t, rtol=1e-8, atol=1e-10)
    g_state, t_state = next(iter(g_opt.state.values())), next(iter(t_opt.state.values()))
    assert g_state["func_evals"] == t_state["func_evals"] and g_state["n_iter"] == t_state["n_iter"]
    assert len(g_state["old_dirs"]) == len(t_state["old_dirs"])


def test_lbfgs_continues_from_torchs_state_dict():
    """torch's L-BFGS state (history lists, flat direction) loads into GT and GT continues
    torch's run."""
    t_opt, t_run = _rosenbrock(torch, "strong_wolfe")
    t_losses, _ = t_run(4)
    t_half, t_half_run = _rosenbrock(torch, "strong_wolfe")
    g_opt, g_run = _rosenbrock(gt, "strong_wolfe")
    t_half_run(2)
    g_run(2)
    g_opt.load_state_dict(t_half.state_dict())
    assert g_opt.state_dict()["param_groups"] == t_half.state_dict()["param_groups"]
    g_losses, _ = g_run(2)
    np.testing.assert_allclose(g_losses, t_losses[2:], rtol=1e-8)


def test_lbfgs_refuses_groups_and_other_line_searches():
    p = gt.nn.Parameter(gt.ones(2))
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        gt.optim.LBFGS([{"params": [p]}, {"params": [gt.nn.Parameter(gt.ones(1))]}])
    opt = gt.optim.LBFGS([p], line_search_fn="armijo")

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        opt.step(closure)


# -- schedulers ------------------------------------------------------------------------------------
def _lrs(lib, make, steps=12, opt_name="SGD", opt_kw=None):
    opt = getattr(lib.optim, opt_name)([lib.nn.Parameter(lib.ones(2))], lr=0.1, **({"momentum": 0.9} if opt_kw is None else opt_kw))
    sched = make(lib, opt)
    out = []
    for _ in range(steps):
        opt.step()
        sched.step()
        group = opt.param_groups[0]
        out.append((sched.get_last_lr()[0], group.get("momentum"), group.get("betas")))
    return out, sched


SCHEDULES = {
    "cyclic-triangular": lambda lib, o: lib.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=3),
    "cyclic-triangular2": lambda lib, o: lib.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=2,
                                                                         step_size_down=3, mode="triangular2"),
    "cyclic-exp_range": lambda lib, o: lib.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=2,
                                                                       mode="exp_range", gamma=0.9),
    "cyclic-scale_fn": lambda lib, o: lib.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=2,
                                                                      scale_fn=lambda x: 0.5 ** x,
                                                                      scale_mode="iterations"),
    "warm-restarts": lambda lib, o: lib.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2,
                                                                                       eta_min=0.001),
    "polynomial": lambda lib, o: lib.optim.lr_scheduler.PolynomialLR(o, total_iters=6, power=2.0),
    "chained": lambda lib, o: lib.optim.lr_scheduler.ChainedScheduler(
        [lib.optim.lr_scheduler.ConstantLR(o, factor=0.5, total_iters=4),
         lib.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)]),
    "sequential": lambda lib, o: lib.optim.lr_scheduler.SequentialLR(
        o, [lib.optim.lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=3),
            lib.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1, step_size_up=2)], milestones=[3]),
    "swalr-cos": lambda lib, o: lib.optim.swa_utils.SWALR(o, swa_lr=0.05, anneal_epochs=4),
    "swalr-linear": lambda lib, o: lib.optim.swa_utils.SWALR(o, swa_lr=[0.05], anneal_epochs=3,
                                                             anneal_strategy="linear"),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedules_equal_torchs(name):
    g, _ = _lrs(gt, SCHEDULES[name])
    t, _ = _lrs(torch, SCHEDULES[name])
    assert g == t


def test_cyclic_lr_cycles_adams_beta1_as_torch():
    make = SCHEDULES["cyclic-triangular"]
    g, _ = _lrs(gt, make, opt_name="Adam", opt_kw={})
    t, _ = _lrs(torch, make, opt_name="Adam", opt_kw={})
    assert g == t and g[0][2][0] != g[1][2][0]


@pytest.mark.parametrize("name", ["cyclic-triangular2", "chained", "swalr-cos"])
def test_scheduler_state_dicts_load_across_gt_and_torch(name):
    """A scheduler made afresh continues the other framework's run from its state dict (the
    optimizer's current rate comes with the optimizer, as in torch)."""
    _, g_sched = _lrs(gt, SCHEDULES[name], steps=4)
    _, t_sched = _lrs(torch, SCHEDULES[name], steps=4)
    _, g_loaded = _lrs(gt, SCHEDULES[name], steps=0)
    _, t_loaded = _lrs(torch, SCHEDULES[name], steps=0)
    for loaded, source in ((g_loaded, t_sched), (t_loaded, g_sched)):
        loaded.load_state_dict(source.state_dict())
        group = loaded.optimizer.param_groups[0]
        group.update(source.optimizer.param_groups[0], params=group["params"])
    lrs = []
    for sched in (g_sched, t_sched, g_loaded, t_loaded):
        for _ in range(3):
            sched.step()
        lrs.append(sched.optimizer.param_groups[0]["lr"])
    assert lrs[0] == lrs[1] == lrs[2] == lrs[3]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_multistep_closed_form_decays_on_the_milestones():
    """``step(epoch)`` at a milestone gives the decayed rate (``bisect_right``, as torch)."""
    rates = {}
    for lib in (gt, torch):
        opt = lib.optim.SGD([lib.nn.Parameter(lib.ones(1))], lr=1.0)
        sched = lib.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 4], gamma=0.1)
        rates[lib] = []
        for epoch in (1, 2, 3, 4, 5):
            sched.step(epoch)
            rates[lib].append(opt.param_groups[0]["lr"])
    assert rates[gt] == rates[torch]
    assert rates[gt][1] == pytest.approx(0.1) and rates[gt][3] == pytest.approx(0.01)
    assert rates[gt][0] == 1.0 and rates[gt][2] == pytest.approx(0.1)


def test_cyclic_lr_errors_equal_torchs():
    for lib in (gt, torch):
        opt = lib.optim.SGD([lib.nn.Parameter(lib.ones(1))], lr=0.1)
        with pytest.raises(ValueError, match="mode is invalid and scale_fn is None"):
            lib.optim.lr_scheduler.CyclicLR(opt, 0.01, 0.1, mode="sawtooth")
        with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
            lib.optim.lr_scheduler.CyclicLR(lib.optim.Adagrad([lib.nn.Parameter(lib.ones(1))]), 0.01, 0.1)
        with pytest.raises(ValueError, match="expected 1 values for base_lr|base_lr must have the same length"):
            lib.optim.lr_scheduler.CyclicLR(opt, [0.01, 0.02], 0.1, cycle_momentum=False)
        with pytest.raises(ValueError, match="ChainedScheduler expects at least one scheduler to be chained"):
            lib.optim.lr_scheduler.ChainedScheduler([])
        # torch 2.11 spells it "must by"
        with pytest.raises(ValueError, match="anneal_strategy must b[ey] one of 'cos' or 'linear'"):
            lib.optim.swa_utils.SWALR(opt, swa_lr=0.1, anneal_strategy="step")


# -- swa_utils ---------------------------------------------------------------------------------------
def _averaged_run(lib, make_avg, use_buffers=False):
    lib.manual_seed(0)
    model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.BatchNorm1d(4), lib.nn.Linear(4, 1))
    avg = make_avg(lib, model)
    opt = lib.optim.SGD(model.parameters(), lr=0.1)
    data = [lib.tensor(np.random.default_rng(i).standard_normal((6, 3)).astype(np.float32)) for i in range(4)]
    for x in data:
        opt.zero_grad()
        (model(x) ** 2).mean().backward()
        opt.step()
        avg.update_parameters(model)
    lib.optim.swa_utils.update_bn(data, avg)
    avg.eval()
    return avg, avg(data[0])


@pytest.mark.parametrize("kind", ["swa", "ema-multi", "ema", "swa-buffers", "swa-multi"])
def test_averaged_model_equals_torchs(kind):
    def make(lib, model):
        su = lib.optim.swa_utils
        return {"swa": lambda: su.AveragedModel(model),
                "ema-multi": lambda: su.AveragedModel(model, multi_avg_fn=su.get_ema_multi_avg_fn(0.9)),
                "ema": lambda: su.AveragedModel(model, avg_fn=su.get_ema_avg_fn(0.8)),
                "swa-buffers": lambda: su.AveragedModel(model, use_buffers=True),
                "swa-multi": lambda: su.AveragedModel(model, multi_avg_fn=su.get_swa_multi_avg_fn())}[kind]()
    g_avg, g_out = _averaged_run(gt, make)
    t_avg, t_out = _averaged_run(torch, make)
    g_sd, t_sd = g_avg.state_dict(), t_avg.state_dict()
    assert list(g_sd) == list(t_sd)
    for k in t_sd:
        np.testing.assert_allclose(g_sd[k].numpy(), t_sd[k].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert int(g_avg.n_averaged) == 4
