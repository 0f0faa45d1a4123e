"""Adamax (Adam with the infinity norm), as ``torch.optim.Adamax``."""
from __future__ import annotations

from typing import Iterable

from gt.client.optim import _functional as F
from gt.client.optim.optimizer import Optimizer, check_betas, check_hyperparameters


class Adamax(Optimizer):
    """Adamax (Kingma & Ba, section 7): ``torch.optim.Adamax``'s update, step by step."""

    def __init__(self, params: Iterable, lr: float = 2e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, foreach=None, *, maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        check_hyperparameters(differentiable, lr=lr, eps=eps)
        check_betas(betas)
        check_hyperparameters(differentiable, weight_decay=weight_decay)
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
                                  "capturable": capturable})

    def _init_state(self, p, group: dict) -> dict:
        return {"step": 0.0, "exp_avg": F.full_like(p, 0.0), "exp_inf": F.full_like(p, 0.0)}

    def _update(self, group: dict) -> None:
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        for p, state, grad in self._params_with_grad(group):
            step = state["step"] = state["step"] + 1
            if wd != 0:
                grad = F.add(grad, p, wd)
            exp_avg = state["exp_avg"] = F.lerp(state["exp_avg"], grad, 1 - beta1)
            exp_inf = state["exp_inf"] = F.fused("decay_max_abs", (state["exp_inf"], grad), beta2, eps)
            F.assign(p, F.addcdiv(p, exp_avg, exp_inf, -(lr / (1 - beta1 ** step))))
