"""NAdam (Adam with Nesterov momentum) and RAdam (rectified Adam), as ``torch.optim.NAdam``/``RAdam``."""
from __future__ import annotations

from typing import Iterable

from gt.client.optim import _functional as F
from gt.client.optim.optimizer import Optimizer, check_betas, check_hyperparameters


def _adam_defaults(differentiable: bool, lr: float, betas: tuple, eps: float, weight_decay: float) -> None:
    check_hyperparameters(differentiable, lr=lr, eps=eps)
    check_betas(betas)
    check_hyperparameters(differentiable, weight_decay=weight_decay)


def _moments(p, state: dict, grad, group: dict):
    """The shared start of NAdam's and RAdam's step: weight decay (plain or decoupled), then
    Adam's two running moments.  Returns the gradient after decay."""
    lr, wd = group["lr"], group["weight_decay"]
    beta1, beta2 = group["betas"]
    if wd != 0:
        if group["decoupled_weight_decay"]:
            F.assign(p, F.mul(p, 1 - lr * wd))
        else:
            grad = F.add(grad, p, wd)
    state["exp_avg"] = F.lerp(state["exp_avg"], grad, 1 - beta1)
    state["exp_avg_sq"] = F.decay_addcmul(state["exp_avg_sq"], grad, beta2, 1 - beta2)
    return grad


class NAdam(Optimizer):
    """NAdam (Dozat): ``torch.optim.NAdam``'s update, with torch's momentum schedule (``mu_product``
    kept at float32, as torch's 0-d state tensor holds it)."""

    def __init__(self, params: Iterable, lr: float = 2e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False, *,
                 foreach=None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _adam_defaults(differentiable, lr, betas, eps, weight_decay)
        check_hyperparameters(differentiable, momentum_decay=momentum_decay)
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "momentum_decay": momentum_decay, "decoupled_weight_decay": decoupled_weight_decay,
                                  "maximize": maximize, "foreach": foreach, "capturable": capturable,
                                  "differentiable": differentiable})

    def _init_state(self, p, group: dict) -> dict:
        return {"step": 0.0, "mu_product": 1.0, "exp_avg": F.full_like(p, 0.0), "exp_avg_sq": F.full_like(p, 0.0)}

    def _update(self, group: dict) -> None:
        lr, eps, momentum_decay = group["lr"], group["eps"], group["momentum_decay"]
        beta1, beta2 = group["betas"]
        for p, state, grad in self._params_with_grad(group):
            step = state["step"] = state["step"] + 1
            bias_correction2 = 1 - beta2 ** step
            grad = _moments(p, state, grad, group)
            mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
            mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
            mu_product = state["mu_product"] = F.f32(state["mu_product"] * F.f32(mu))
            denom = F.fused("div_sqrt_add", (state["exp_avg_sq"],), bias_correction2, eps)
            p_new = F.addcdiv(p, grad, denom, -lr * (1.0 - mu) / (1.0 - mu_product))
            F.assign(p, F.addcdiv(p_new, state["exp_avg"], denom, (-lr * mu_next) / (1.0 - mu_product * mu_next)))


class RAdam(Optimizer):
    """RAdam (Liu et al.): ``torch.optim.RAdam``'s update; the first steps, while the variance's
    rectification term is undefined, are plain momentum steps, as torch's."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *, foreach=None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False) -> None:
        _adam_defaults(differentiable, lr, betas, eps, weight_decay)
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "maximize": maximize, "foreach": foreach, "capturable": capturable,
                                  "decoupled_weight_decay": decoupled_weight_decay,
                                  "differentiable": differentiable})

    def _init_state(self, p, group: dict) -> dict:
        return {"step": 0.0, "exp_avg": F.full_like(p, 0.0), "exp_avg_sq": F.full_like(p, 0.0)}

    def _update(self, group: dict) -> None:
        lr, eps = group["lr"], group["eps"]
        beta1, beta2 = group["betas"]
        for p, state, grad in self._params_with_grad(group):
            step = state["step"] = state["step"] + 1
            _moments(p, state, grad, group)
            bias_correction1 = 1 - beta1 ** step
            bias_correction2 = 1 - beta2 ** step
            rho_inf = 2 / (1 - beta2) - 1
            rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
            exp_avg = state["exp_avg"]
            if rho_t > 5.0:
                rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                F.assign(p, F.fused("radam_step", (p, exp_avg, state["exp_avg_sq"]), bias_correction1, lr,
                                    bias_correction2 ** 0.5, eps, rect))
            else:
                F.assign(p, F.add(p, F.mul(F.div(exp_avg, bias_correction1), lr), -1.0))
