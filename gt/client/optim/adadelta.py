"""Adadelta, as ``torch.optim.Adadelta``."""
from __future__ import annotations

from typing import Iterable

from gt.client.optim import _functional as F
from gt.client.optim.optimizer import Optimizer, check_hyperparameters


class Adadelta(Optimizer):
    """Adadelta (Zeiler): ``torch.optim.Adadelta``'s update, step by step (four instructions a
    parameter, weight decay one more)."""

    def __init__(self, params: Iterable, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach=None, *, capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        check_hyperparameters(differentiable, lr=lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        check_hyperparameters(differentiable, eps=eps, weight_decay=weight_decay)
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                                  "maximize": maximize, "capturable": capturable, "foreach": foreach,
                                  "differentiable": differentiable})

    def _init_state(self, p, group: dict) -> dict:
        return {"step": 0.0, "square_avg": F.full_like(p, 0.0), "acc_delta": F.full_like(p, 0.0)}

    def _update(self, group: dict) -> None:
        lr, rho, eps, wd = group["lr"], group["rho"], group["eps"], group["weight_decay"]
        for p, state, grad in self._params_with_grad(group):
            state["step"] += 1
            if wd != 0:
                grad = F.add(grad, p, wd)
            square_avg = state["square_avg"] = F.decay_addcmul(state["square_avg"], grad, rho, 1 - rho)
            delta = F.fused("adadelta_delta", (square_avg, state["acc_delta"], grad), eps)
            state["acc_delta"] = F.decay_addcmul(state["acc_delta"], delta, rho, 1 - rho)
            F.assign(p, F.add(p, delta, -lr))
