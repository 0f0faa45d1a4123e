"""gt.optim.lr_scheduler against torch.optim.lr_scheduler: the same learning rates step by step."""
from __future__ import annotations

import pickle

import pytest
import torch

import gt
import gt.optim.lr_scheduler as gt_sched
import torch.optim.lr_scheduler as torch_sched

SCHEDULES = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [2, 5, 5, 9], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 5, "eta_min": 0.01}),
    ("CosineAnnealingLR", {"T_max": 7}),
    ("LinearLR", {"start_factor": 0.25, "total_iters": 4}),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.1, "total_iters": 6}),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 30}),
    ("OneCycleLR", {"max_lr": [1.0, 0.5], "epochs": 3, "steps_per_epoch": 10, "three_phase": True,
                    "anneal_strategy": "linear", "pct_start": 0.25}),
    ("LambdaLR", {"lr_lambda": lambda epoch: 0.95 ** epoch}),
    ("LambdaLR", {"lr_lambda": [lambda epoch: 1 / (epoch + 1), lambda epoch: 0.5]}),
    ("MultiplicativeLR", {"lr_lambda": lambda epoch: 0.9 if epoch % 2 else 1.05}),
    ("ConstantLR", {"factor": 0.5, "total_iters": 4}),
    ("PolynomialLR", {"total_iters": 12, "power": 2.0}),
    ("CosineAnnealingWarmRestarts", {"T_0": 4, "T_mult": 2, "eta_min": 0.001}),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(SCHEDULES)]


def _optimizers(name="SGD", **kw):
    """A GT and a torch optimizer of two parameter groups with the same hyperparameters."""
    g_groups = [{"params": [gt.nn.Parameter(gt.ones(2))]}, {"params": [gt.nn.Parameter(gt.ones(3))], "lr": 0.05}]
    t_groups = [{"params": [torch.nn.Parameter(torch.ones(2))]}, {"params": [torch.nn.Parameter(torch.ones(3))],
                                                                 "lr": 0.05}]
    return getattr(gt.optim, name)(g_groups, lr=0.1, **kw), getattr(torch.optim, name)(t_groups, lr=0.1, **kw)


@pytest.mark.parametrize("opt_name, opt_kw", [("SGD", {"momentum": 0.9}), ("Adam", {})])
@pytest.mark.parametrize("name, kw", SCHEDULES, ids=IDS)
def test_learning_rates_equal_torchs_step_by_step(name, kw, opt_name, opt_kw):
    g_opt, t_opt = _optimizers(opt_name, **opt_kw)
    g_s, t_s = getattr(gt_sched, name)(g_opt, **kw), getattr(torch_sched, name)(t_opt, **kw)
    for _ in range(29):
        assert g_s.get_last_lr() == t_s.get_last_lr()
        assert [g["lr"] for g in g_opt.param_groups] == [g["lr"] for g in t_opt.param_groups]
        # OneCycleLR cycles the momentum (SGD) or beta1 (Adam) too
        assert [g.get("momentum") for g in g_opt.param_groups] == [g.get("momentum") for g in t_opt.param_groups]
        assert [g.get("betas") for g in g_opt.param_groups] == [g.get("betas") for g in t_opt.param_groups]
        g_opt.step()
        t_opt.step()
        g_s.step()
        t_s.step()


@pytest.mark.parametrize("name, kw", [("StepLR", {"step_size": 3}), ("MultiStepLR", {"milestones": [2, 4]}),
                                      ("ExponentialLR", {"gamma": 0.8}), ("CosineAnnealingLR", {"T_max": 5}),
                                      ("LinearLR", {"total_iters": 4})])
def test_step_to_an_epoch_uses_torchs_closed_form(name, kw):
    g_opt, t_opt = _optimizers()
    g_s, t_s = getattr(gt_sched, name)(g_opt, **kw), getattr(torch_sched, name)(t_opt, **kw)
    for epoch in (3, 7, 1, 4, 2, 6):   # on MultiStepLR's milestones and StepLR's steps too
        g_s.step(epoch)
        with pytest.warns(UserWarning):
            t_s.step(epoch)
        assert g_s.get_last_lr() == t_s.get_last_lr()


def _sequential(sched, opt):
    warmup = sched.LinearLR(opt, start_factor=0.1, total_iters=3)
    decay = sched.CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
    return sched.SequentialLR(opt, [warmup, decay], milestones=[3])


def test_sequential_warmup_then_cosine_equals_torch():
    g_opt, t_opt = _optimizers()
    g_s, t_s = _sequential(gt_sched, g_opt), _sequential(torch_sched, t_opt)
    for _ in range(15):
        assert g_s.get_last_lr() == t_s.get_last_lr()
        assert [g["lr"] for g in g_opt.param_groups] == [g["lr"] for g in t_opt.param_groups]
        g_s.step()
        t_s.step()
    g_state = g_s.state_dict()
    assert [s["last_epoch"] for s in g_state["_schedulers"]] == \
        [s["last_epoch"] for s in t_s.state_dict()["_schedulers"]]
    fresh_opt, _ = _optimizers()
    resumed = _sequential(gt_sched, fresh_opt)
    resumed.load_state_dict(g_state)
    assert resumed.last_epoch == t_s.last_epoch and resumed._schedulers[1].last_epoch == t_s._schedulers[1].last_epoch


def test_warm_restarts_with_fractional_epochs_equal_torch():
    g_opt, t_opt = _optimizers()
    g_s = gt_sched.CosineAnnealingWarmRestarts(g_opt, T_0=3, T_mult=2)
    t_s = torch_sched.CosineAnnealingWarmRestarts(t_opt, T_0=3, T_mult=2)
    for epoch in range(8):
        for i in range(4):
            g_s.step(epoch + i / 4)
            t_s.step(epoch + i / 4)
            assert g_s.get_last_lr() == t_s.get_last_lr()


@pytest.mark.parametrize("mode, threshold_mode", [("min", "rel"), ("min", "abs"), ("max", "rel"), ("max", "abs")])
def test_reduce_on_plateau_equals_torch(mode, threshold_mode):
    g_opt, t_opt = _optimizers()
    kw = {"mode": mode, "threshold_mode": threshold_mode, "factor": 0.5, "patience": 2, "cooldown": 1,
          "min_lr": [0.01, 0.02], "threshold": 0.1}
    g_s, t_s = gt_sched.ReduceLROnPlateau(g_opt, **kw), torch_sched.ReduceLROnPlateau(t_opt, **kw)
    metrics = [1.0, 0.95, 0.97, 0.99, 0.5, 0.5, 0.5, 0.5, 2.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    for m in metrics:
        g_s.step(gt.tensor(m))                       # a 0-d tensor metric, as scripts pass their loss
        t_s.step(torch.tensor(m))
        assert g_s.get_last_lr() == t_s.get_last_lr()
        assert (g_s.best, g_s.num_bad_epochs, g_s.cooldown_counter) == \
            (t_s.best, t_s.num_bad_epochs, t_s.cooldown_counter)


@pytest.mark.parametrize("name, kw", [("StepLR", {"step_size": 2, "gamma": 0.5}), ("CosineAnnealingLR", {"T_max": 6}),
                                      ("OneCycleLR", {"max_lr": 1.0, "total_steps": 20})])
def test_state_dict_loads_across_gt_and_torch(name, kw):
    """A scheduler resumed from the other library's state dict continues its sequence."""
    g_opt, t_opt = _optimizers()
    g_s, t_s = getattr(gt_sched, name)(g_opt, **kw), getattr(torch_sched, name)(t_opt, **kw)
    for _ in range(4):
        t_opt.step()
        t_s.step()
    g_s.load_state_dict(pickle.loads(pickle.dumps(t_s.state_dict())))
    for g_group, t_group in zip(g_opt.param_groups, t_opt.param_groups):
        g_group["lr"] = t_group["lr"]
    for _ in range(5):
        g_s.step()
        t_s.step()
        assert g_s.get_last_lr() == t_s.get_last_lr()
    fresh_opt, _ = _optimizers()
    resumed = getattr(gt_sched, name)(fresh_opt, **kw)
    resumed.load_state_dict(g_s.state_dict())
    assert resumed.last_epoch == t_s.last_epoch and resumed.get_last_lr() == t_s.get_last_lr()


def _warmup_scheduler(sched):
    """A user-written scheduler in torch's style: subclass LRScheduler, implement get_lr()."""
    class Warmup(sched.LRScheduler):
        def __init__(self, optimizer, warmup=4):
            self.warmup = warmup
            super().__init__(optimizer)

        def get_lr(self):
            return [base * min(1.0, (self.last_epoch + 1) / self.warmup) for base in self.base_lrs]
    return Warmup


def test_a_custom_scheduler_written_for_torch_runs_on_gt():
    g_opt, t_opt = _optimizers()
    g_s, t_s = _warmup_scheduler(gt_sched)(g_opt), _warmup_scheduler(torch_sched)(t_opt)
    for _ in range(6):
        assert g_s.get_last_lr() == t_s.get_last_lr()
        g_opt.step()
        t_opt.step()
        g_s.step()
        t_s.step()


def test_lambda_lr_state_dict_leaves_functions_out():
    g_opt, t_opt = _optimizers()
    g_s = gt_sched.LambdaLR(g_opt, lambda e: 0.5 ** e)
    t_s = torch_sched.LambdaLR(t_opt, lambda e: 0.5 ** e)
    assert g_s.state_dict()["lr_lambdas"] == t_s.state_dict()["lr_lambdas"] == [None, None]


def test_scheduler_errors_equal_torchs():
    g_opt, t_opt = _optimizers()
    for sched, opt in ((gt_sched, g_opt), (torch_sched, t_opt)):
        with pytest.raises(TypeError, match="is not an Optimizer"):
            sched.StepLR(object(), step_size=1)
        with pytest.raises(ValueError, match="Starting multiplicative factor"):
            sched.LinearLR(opt, start_factor=0)
        with pytest.raises(ValueError, match="Factor should be < 1.0"):
            sched.ReduceLROnPlateau(opt, factor=1.5)
        with pytest.raises(ValueError, match="total_steps OR"):
            sched.OneCycleLR(opt, max_lr=0.1)
        with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
            sched.LambdaLR(opt, [lambda e: 1.0])
        with pytest.raises(TypeError, match="lr_lambda should be a function"):
            sched.MultiplicativeLR(opt, 0.5)
        with pytest.raises(ValueError, match="Expected positive integer T_0"):
            sched.CosineAnnealingWarmRestarts(opt, T_0=0)
        with pytest.raises(ValueError, match="one more than the number of milestone points"):
            sched.SequentialLR(opt, [sched.ConstantLR(opt)], milestones=[2])
        with pytest.raises(KeyError, match="initial_lr"):
            sched.StepLR(opt.__class__([{"params": opt.param_groups[0]["params"]}], lr=0.1), 2, last_epoch=3)
    one_cycle = gt_sched.OneCycleLR(g_opt, max_lr=0.1, total_steps=2)
    one_cycle.step()
    one_cycle.step()
    with pytest.raises(ValueError, match="Tried to step 3 times"):
        one_cycle.step()
