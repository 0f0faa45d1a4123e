"""``gt.optim``: SGD and Adam, with torch.optim's update rules."""
from __future__ import annotations

import math

from gt.client import runtime
from gt.client.autograd import no_grad


class Optimizer:
    """Base of GT's optimizers: one parameter group, hyperparameters in ``param_groups[0]``."""

    def __init__(self, params, defaults: dict) -> None:
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        for k, v in defaults.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
                raise ValueError(f"Invalid {k} value: {v}")
        self.defaults = defaults
        self.param_groups = [dict(defaults, params=params)]
        self.state: dict = {}

    @property
    def params(self) -> list:
        return self.param_groups[0]["params"]

    @property
    def lr(self) -> float:
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        self.param_groups[0]["lr"] = value

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        with no_grad():
            self._update(self.param_groups[0])
        runtime.mark_boundary()

    def _grads(self, group: dict):
        """(param, gradient with weight decay) for every parameter that has a gradient."""
        wd = group["weight_decay"]
        for p in group["params"]:
            g = p.grad
            if g is not None:
                yield p, (g + p * wd if wd else g)


class SGD(Optimizer):
    """``p -= lr * (g + weight_decay * p)``, with torch's momentum buffer."""

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    def _update(self, group: dict) -> None:
        momentum = group["momentum"]
        for p, g in self._grads(group):
            if momentum:
                buf = self.state.get(id(p))
                buf = g if buf is None else buf * momentum + g
                self.state[id(p)] = buf
                g = buf
            p.add_(g, alpha=-group["lr"])


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction, as torch.optim.Adam."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Invalid beta parameters: {betas}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})
        self.t = 0

    def _update(self, group: dict) -> None:
        self.t += 1
        b1, b2 = group["betas"]
        c1 = 1.0 - b1 ** self.t
        c2_sqrt = math.sqrt(1.0 - b2 ** self.t)
        for p, g in self._grads(group):
            m, v = self.state.get(id(p), (None, None))
            m = g * (1.0 - b1) if m is None else m * b1 + g * (1.0 - b1)
            v = g * g * (1.0 - b2) if v is None else v * b2 + g * g * (1.0 - b2)
            self.state[id(p)] = (m, v)
            denom = v.sqrt() / c2_sqrt + group["eps"]
            p.add_(m / denom, alpha=-(group["lr"] / c1))
