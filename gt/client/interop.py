"""A torch tensor's method given a GT tensor (``target.view_as(pred)``, ``t.eq(out)``) runs as
GT's method on the torch tensor made a GT operand: torch asks ``__torch_function__`` of any
argument that has one.  A method that writes into the torch tensor (``t.copy_(g)``,
``t[i] = g``) reads the GT values and runs torch's own, so the torch tensor changes as in
torch.  Torch functions other than Tensor methods are left to torch, which then refuses
the GT tensor as before."""
from __future__ import annotations

import torch

from gt.client.emit import operand

_TENSOR_METHODS = {id(v) for v in vars(torch.Tensor).values()} | {
    id(getattr(torch.Tensor, name)) for name in dir(torch.Tensor)}


def _writes_in_place(name: str) -> bool:
    return name == "__setitem__" or (name.endswith("_") and not name.endswith("__"))


def torch_function(cls, func, types, args=(), kwargs=None):
    if id(func) not in _TENSOR_METHODS or not args:
        return NotImplemented
    name = func.__name__
    kwargs = kwargs or {}
    if isinstance(args[0], torch.Tensor) and _writes_in_place(name):
        device = args[0].device
        values = tuple(a._value().to(device) if isinstance(a, cls) else a for a in args)
        return func(*values, **kwargs)
    converted = tuple(operand(a) for a in args)
    method = getattr(type(converted[0]), name, None)
    if method is None or not isinstance(converted[0], cls):
        return NotImplemented
    return method(*converted, **kwargs)


def bind(cls: type) -> None:
    cls.__torch_function__ = classmethod(torch_function)
