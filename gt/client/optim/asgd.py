"""Averaged SGD, as ``torch.optim.ASGD``."""
from __future__ import annotations

from typing import Iterable

from gt.client.optim import _functional as F
from gt.client.optim.optimizer import Optimizer, check_hyperparameters


class ASGD(Optimizer):
    """Averaged stochastic gradient descent (Polyak & Juditsky): ``torch.optim.ASGD``'s update.
    ``eta`` and ``mu`` are Python floats rounded to float32, the values torch reads back from its
    0-d state tensors, so no step waits for the worker."""

    def __init__(self, params: Iterable, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0, foreach=None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:
        check_hyperparameters(differentiable, lr=lr, weight_decay=weight_decay)
        super().__init__(params, {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0, "weight_decay": weight_decay,
                                  "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
                                  "capturable": capturable})

    def _init_state(self, p, group: dict) -> dict:
        return {"step": 0.0, "eta": F.f32(group["lr"]), "mu": 1.0, "ax": F.full_like(p, 0.0)}

    def _update(self, group: dict) -> None:
        lr, lambd, alpha, t0, wd = group["lr"], group["lambd"], group["alpha"], group["t0"], group["weight_decay"]
        for p, state, grad in self._params_with_grad(group):
            step = state["step"] = state["step"] + 1
            if wd != 0:
                grad = F.add(grad, p, wd)
            eta = state["eta"]
            F.assign(p, F.decay_add(p, grad, 1 - lambd * eta, -eta))
            if state["mu"] != 1:
                state["ax"] = F.fused("average_toward", (state["ax"], p), state["mu"])
            else:
                state["ax"] = F.clone(p)
            state["eta"] = F.f32(lr / ((1 + lambd * lr * step) ** alpha))
            state["mu"] = F.f32(1 / max(1, step - t0))
