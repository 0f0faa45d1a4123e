"""The base of GT's optimizers: parameter groups, per-parameter state, state dicts.

Layout and checks follow ``torch.optim.Optimizer``: ``param_groups`` is a list of dicts
(``'params'`` plus hyperparameters, defaults filled in), ``state`` maps a parameter to
its dict of buffers, and ``state_dict()`` keys state by parameter index and stores each
group's ``'params'`` as an index list, so ``torch.optim`` and GT load each other's dicts.
A parameter's ``'step'`` is kept as a Python float (torch keeps a 0-d tensor whose value
it reads back every step; here that would be a round trip to the worker): ``state_dict()``
gives it as a 0-d float32 tensor, as torch does.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Iterable

import torch

from gt.client import runtime as _rt
from gt.client.autograd import enable_grad, no_grad
from gt.client.optim import _functional as F
from gt.client.emit import put as _put
from gt.client.shapes import FLOATING
from gt.client.tensor import Tensor


class _Required:
    """Marks a hyperparameter without a default (``torch.optim.optimizer.required``)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()

_LABELS = {"lr": "learning rate", "eps": "epsilon value"}


def check_hyperparameters(differentiable: bool, **values: float) -> None:
    """torch's constructor checks: every named value must be >= 0 (same messages)."""
    if differentiable:
        raise NotImplementedError("GT does not support torch.optim's differentiable=True (gradients through the "
                                  "optimizer step) yet")
    for name, value in values.items():
        if value is not required and not 0.0 <= value:
            raise ValueError(f"Invalid {_LABELS.get(name, name + ' value')}: {value}")


def check_betas(betas: tuple) -> None:
    """torch's check of Adam-style ``betas``: each in [0, 1)."""
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


class Optimizer:
    """Base class of all optimizers: subclasses implement ``_update(group)``."""

    def __init__(self, params: Iterable, defaults: dict) -> None:
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            "but got a gt Tensor")
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)   # as torch's: custom optimizers index it freely
        self.param_groups: list[dict] = []
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            text += "".join(f"    {k}: {group[k]}\n" for k in sorted(group) if k != "params")
        return text + ")"

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own hyperparameters (missing ones from ``defaults``)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]   # from named_parameters()
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            params = [p[1] for p in params]
            param_group["param_names"] = names
        param_group["params"] = params
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        for group in self.param_groups:
            if ("param_names" in param_group) != ("param_names" in group):
                raise ValueError("all optimizer param groups should be with/without names. cannot add param group "
                                 + ("with names" if "param_names" in param_group else "without names")
                                 + " to the optimizer")
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: to None (the default), or to zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        F.assign(p.grad, F.full_like(p.grad, 0.0))

    def step(self, closure: Callable | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._update(group)
        _rt.mark_boundary()
        return loss

    def _update(self, group: dict) -> None:
        raise NotImplementedError

    def _params_with_grad(self, group: dict):
        """(parameter, its state, its gradient) for each parameter whose ``.grad`` is set,
        the gradient negated under ``maximize``; skipped parameters get no state, as in torch."""
        maximize = group.get("maximize", False)
        state = self.state
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            s = state.get(p)
            if s is None:
                s = self._init_state(p, group)
                if s is not None:
                    state[p] = s
            yield p, s, (F.neg(g) if maximize else g)

    def _import_buffer(self, key: str, value, param: Tensor):
        """A saved buffer as this optimizer keeps it: step and other scalars as floats, tensors
        as GT tensors of the parameter's shape and dtype (torch casts floating buffers to the
        parameter's dtype too)."""
        if key in _SCALAR_STATE and _is_scalar(value):
            return float(value.item() if isinstance(value, (Tensor, torch.Tensor)) else value)
        value = import_buffer(value)
        if isinstance(value, Tensor):
            if value.shape != param.shape:
                raise ValueError(f"loaded state '{key}' has shape {tuple(value.shape)}, but its parameter has shape "
                                 f"{tuple(param.shape)}")
            if value.dtype in FLOATING and value.dtype is not param.dtype:
                value = value.to(param.dtype)
        return value

    def _init_state(self, p: Tensor, group: dict) -> dict | None:
        """A parameter's state before its first update; None: it keeps none (as torch's SGD
        without momentum)."""
        raise NotImplementedError

    # -- state dicts ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{'state': {index: buffers}, 'param_groups': [... 'params': [indices]]}``, torch's layout."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = list(range(len(index), len(index) + len(group["params"])))
            index.update(zip(map(id, group["params"]), packed["params"]))
            groups.append(packed)
        state = {index[id(p)]: {k: _export(k, v) for k, v in s.items()} for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state dict made by GT's or torch's ``state_dict()`` for the same parameters."""
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for group, saved in zip(self.param_groups, saved_groups):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                                 "optimizer's group")
        by_index = {i: p for group, saved in zip(self.param_groups, saved_groups)
                    for i, p in zip(saved["params"], group["params"])}
        state: defaultdict = defaultdict(dict)
        for i, buffers in state_dict["state"].items():
            if i not in by_index:
                raise ValueError(f"loaded state dict has state for parameter index {i}, which no group lists")
            p = by_index[i]
            state[p] = {k: self._import_buffer(k, v, p) for k, v in buffers.items()}
        self.state = state
        self.param_groups = [_loaded_group(group, saved) for group, saved in zip(self.param_groups, saved_groups)]


def _loaded_group(group: dict, saved: dict) -> dict:
    """The saved group's hyperparameters over this group's parameters (and names, unless saved)."""
    loaded = dict(saved, params=group["params"])
    if "param_names" in group:
        loaded.setdefault("param_names", group["param_names"])
    return loaded


# State entries kept as Python floats here and as 0-d float32 tensors by torch (a custom
# optimizer's tensor under one of these names stays a tensor).
_SCALAR_STATE = frozenset({"step", "mu_product", "eta", "mu"})


def _is_scalar(value) -> bool:
    return isinstance(value, (int, float)) or (isinstance(value, (Tensor, torch.Tensor)) and value.ndim == 0)


def _export(key: str, value):
    if key in _SCALAR_STATE and isinstance(value, (int, float)):
        return _put(torch.tensor(value, dtype=torch.float32))
    return value


def import_buffer(value):
    """A saved state value as GT keeps it: a torch tensor becomes a GT tensor, the rest stays."""
    if isinstance(value, torch.Tensor):
        return _put(value.detach().cpu())
    return value
