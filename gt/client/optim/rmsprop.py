"""RMSprop (plain, centered, with momentum), as ``torch.optim.RMSprop``."""
from __future__ import annotations

from typing import Iterable

from gt.client.optim import _functional as F
from gt.client.optim.optimizer import Optimizer, check_hyperparameters


class RMSprop(Optimizer):
    """RMSprop: ``torch.optim.RMSprop``'s update, step by step."""

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach=None, maximize: bool = False, differentiable: bool = False) -> None:
        check_hyperparameters(differentiable, lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay,
                              alpha=alpha)
        super().__init__(params, {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                                  "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
                                  "maximize": maximize, "differentiable": differentiable})

    def _init_state(self, p, group: dict) -> dict:
        state = {"step": 0.0, "square_avg": F.full_like(p, 0.0)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = F.full_like(p, 0.0)
        if group["centered"]:
            state["grad_avg"] = F.full_like(p, 0.0)
        return state

    def _update(self, group: dict) -> None:
        lr, alpha, eps, wd = group["lr"], group["alpha"], group["eps"], group["weight_decay"]
        momentum, centered = group["momentum"], group["centered"]
        for p, state, grad in self._params_with_grad(group):
            state["step"] += 1
            if wd != 0:
                grad = F.add(grad, p, wd)
            square_avg = state["square_avg"] = F.decay_addcmul(state["square_avg"], grad, alpha, 1 - alpha)
            if centered:
                grad_avg = state["grad_avg"] = F.lerp(state["grad_avg"], grad, 1 - alpha)
                square_avg = F.addcmul(square_avg, grad_avg, grad_avg, -1)
            avg = F.sqrt_div_add(square_avg, 1.0, eps)
            if momentum > 0:
                buf = state["momentum_buffer"] = F.addcdiv(F.mul(state["momentum_buffer"], momentum), grad, avg, 1)
                F.assign(p, F.add(p, buf, -lr))
            else:
                F.assign(p, F.addcdiv(p, grad, avg, -lr))
