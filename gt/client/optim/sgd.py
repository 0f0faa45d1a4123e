"""SGD with momentum, dampening, Nesterov and weight decay, as ``torch.optim.SGD``."""
from __future__ import annotations

from typing import Iterable

from gt.client.optim import _functional as F
from gt.client.optim.optimizer import Optimizer, check_hyperparameters


class SGD(Optimizer):
    """Stochastic gradient descent: ``torch.optim.SGD``'s update, step by step."""

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False, foreach=None,
                 differentiable: bool = False, fused=None) -> None:
        check_hyperparameters(differentiable, lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
                                  "foreach": foreach, "differentiable": differentiable, "fused": fused})

    def _init_state(self, p, group: dict) -> dict | None:
        return {"momentum_buffer": None} if group["momentum"] != 0 else None

    def _update(self, group: dict) -> None:
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        dampening, nesterov = group["dampening"], group["nesterov"]
        for p, state, grad in self._params_with_grad(group):
            if wd != 0:
                grad = F.add(grad, p, wd)
            if momentum != 0:
                buf = state["momentum_buffer"]
                buf = F.clone(grad) if buf is None else F.decay_add(buf, grad, momentum, 1 - dampening)
                state["momentum_buffer"] = buf
                grad = F.add(grad, buf, momentum) if nesterov else buf
            F.assign(p, F.add(p, grad, -lr))
