"""A torch tensor's method given a GT tensor (``target.view_as(pred)``, ``t.eq(out)``) runs as
GT's method on the torch tensor made a GT operand: torch asks ``__torch_function__`` of any
argument that has one.  Torch functions other than Tensor methods are left to torch, which
then refuses the GT tensor as before."""
from __future__ import annotations

import torch

from gt.client.emit import operand

_TENSOR_METHODS = {id(v) for v in vars(torch.Tensor).values()} | {
    id(getattr(torch.Tensor, name)) for name in dir(torch.Tensor) if not name.startswith("__")}


def torch_function(cls, func, types, args=(), kwargs=None):
    if id(func) not in _TENSOR_METHODS or not args:
        return NotImplemented
    name = func.__name__
    converted = tuple(operand(a) for a in args)
    method = getattr(type(converted[0]), name, None)
    if method is None or not isinstance(converted[0], cls):
        return NotImplemented
    return method(*converted, **(kwargs or {}))


def bind(cls: type) -> None:
    cls.__torch_function__ = classmethod(torch_function)
