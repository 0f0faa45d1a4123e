"""Rprop (resilient backpropagation), as ``torch.optim.Rprop``."""
from __future__ import annotations

from typing import Iterable

from gt.client.optim import _functional as F
from gt.client.optim.optimizer import Optimizer, check_hyperparameters


class Rprop(Optimizer):
    """Rprop (Riedmiller & Braun): ``torch.optim.Rprop``'s update; each element's step size grows
    by ``etas[1]`` while its gradient keeps its sign and shrinks by ``etas[0]`` when it flips."""

    def __init__(self, params: Iterable, lr: float = 1e-2, etas: tuple = (0.5, 1.2), step_sizes: tuple = (1e-6, 50),
                 *, capturable: bool = False, foreach=None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        check_hyperparameters(differentiable, lr=lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        super().__init__(params, {"lr": lr, "etas": tuple(etas), "step_sizes": tuple(step_sizes), "foreach": foreach,
                                  "maximize": maximize, "differentiable": differentiable, "capturable": capturable})

    def _init_state(self, p, group: dict) -> dict:
        return {"step": 0.0, "prev": F.full_like(p, 0.0), "step_size": F.full_like(p, float(group["lr"]))}

    def _update(self, group: dict) -> None:
        etaminus, etaplus = group["etas"]
        lo, hi = group["step_sizes"]
        for p, state, grad in self._params_with_grad(group):
            state["step"] += 1
            factor = F.fused("rprop_factor", (grad, state["prev"]), etaminus, etaplus)
            step_size = state["step_size"] = F.fused("rprop_step_size", (state["step_size"], factor), lo, hi)
            grad = state["prev"] = F.fused("rprop_grad", (grad, factor), etaminus)
            F.assign(p, F.addcmul(p, F.sign(grad), step_size, -1))
