"""Adagrad (with learning-rate decay), as ``torch.optim.Adagrad``."""
from __future__ import annotations

from typing import Iterable

from gt.client.optim import _functional as F
from gt.client.optim.optimizer import Optimizer, check_hyperparameters


class Adagrad(Optimizer):
    """Adagrad: ``torch.optim.Adagrad``'s update, step by step.  Like torch, it makes every
    parameter's state (``step`` 0, ``sum`` filled with ``initial_accumulator_value``) at once."""

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach=None, *,
                 maximize: bool = False, differentiable: bool = False, fused=None) -> None:
        check_hyperparameters(differentiable, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                              initial_accumulator_value=initial_accumulator_value, eps=eps)
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                                  "maximize": maximize, "differentiable": differentiable, "fused": fused})
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = self._init_state(p, group)

    def _init_state(self, p, group: dict) -> dict:
        return {"step": 0.0, "sum": F.full_like(p, float(group["initial_accumulator_value"]))}

    def _update(self, group: dict) -> None:
        lr, lr_decay, eps, wd = group["lr"], group["lr_decay"], group["eps"], group["weight_decay"]
        for p, state, grad in self._params_with_grad(group):
            step = state["step"] = state["step"] + 1
            if wd != 0:
                grad = F.add(grad, p, wd)
            clr = lr / (1 + (step - 1) * lr_decay)
            state_sum = state["sum"] = F.addcmul(state["sum"], grad, grad, 1)
            F.assign(p, F.addcdiv(p, grad, F.sqrt_div_add(state_sum, 1.0, eps), -clr))
