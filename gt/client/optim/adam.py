"""Adam and AdamW (with amsgrad and weight decay), as ``torch.optim.Adam``/``AdamW``."""
from __future__ import annotations

from typing import Iterable

from gt.client.optim import _functional as F
from gt.client.optim.optimizer import Optimizer, check_betas, check_hyperparameters


class Adam(Optimizer):
    """Adam (Kingma & Ba): ``torch.optim.Adam``'s update, with each parameter's own step count."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach=None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False, fused=None,
                 decoupled_weight_decay: bool = False) -> None:
        check_hyperparameters(differentiable, lr=lr, eps=eps, weight_decay=weight_decay)
        check_betas(betas)
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
                                  "capturable": capturable, "differentiable": differentiable, "fused": fused,
                                  "decoupled_weight_decay": decoupled_weight_decay})

    def _init_state(self, p, group: dict) -> dict:
        state = {"step": 0.0, "exp_avg": F.full_like(p, 0.0), "exp_avg_sq": F.full_like(p, 0.0)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = F.full_like(p, 0.0)
        return state

    def _update(self, group: dict) -> None:
        lr, eps, wd, amsgrad = group["lr"], group["eps"], group["weight_decay"], group["amsgrad"]
        beta1, beta2 = group["betas"]
        decoupled = group["decoupled_weight_decay"]
        for p, state, grad in self._params_with_grad(group):
            step = state["step"] = state["step"] + 1
            if wd != 0:
                if decoupled:
                    F.assign(p, F.mul(p, 1 - lr * wd))
                else:
                    grad = F.add(grad, p, wd)
            exp_avg = state["exp_avg"] = F.lerp(state["exp_avg"], grad, 1 - beta1)
            exp_avg_sq = state["exp_avg_sq"] = F.decay_addcmul(state["exp_avg_sq"], grad, beta2, 1 - beta2)
            step_size = lr / (1 - beta1 ** step)
            bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
            if amsgrad:
                exp_avg_sq = state["max_exp_avg_sq"] = F.maximum(state["max_exp_avg_sq"], exp_avg_sq)
            denom = F.sqrt_div_add(exp_avg_sq, bias_correction2_sqrt, eps)
            F.assign(p, F.addcdiv(p, exp_avg, denom, -step_size))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False, foreach=None,
                 capturable: bool = False, differentiable: bool = False, fused=None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
