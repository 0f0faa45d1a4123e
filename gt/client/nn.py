"""``gt.nn``: modules, parameters, losses and the functional activations."""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Iterator

import torch

from gt.client.emit import put as _put
from gt.client.functional import linear, mse_loss
from gt.client.tensor import Tensor


class Parameter(Tensor):
    """A tensor that a Module registers as a learnable parameter."""

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True):
        from gt.client.emit import emit as _emit
        from gt.ops import OPCODE as _OP
        if data is None:
            data = _put(torch.empty(0))
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter expects a gt Tensor, got {type(data).__name__}")
        alias = _emit(_OP["alias"], (data._id,), data.shape, data.dtype)
        p = object.__new__(cls)
        p._id, alias._id = alias._id, -1
        p.shape, p.dtype = data.shape, data.dtype
        p.requires_grad, p.grad, p._grad_fn, p._data_of = False, None, None, None
        return p.requires_grad_(requires_grad)

    def __init__(self, data=None, requires_grad: bool = True) -> None:
        pass

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers: registers children and parameters by attribute."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign before Module.__init__() call")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        seen = set()
        for name, p in self._named_members(prefix, recurse):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def _named_members(self, prefix, recurse):
        for name, p in self._parameters.items():
            yield prefix + name, p
        if recurse:
            for mname, m in self._modules.items():
                yield from m._named_members(prefix + mname + ".", True)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def children(self) -> Iterator["Module"]:
        return iter(self._modules.values())

    def modules(self) -> Iterator["Module"]:
        yield self
        for m in self._modules.values():
            yield from m.modules()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> "Module":
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, m in self._modules.items():
            lines.append(f"  ({name}): " + repr(m).replace("\n", "\n  "))
        return lines[0] + ")" if len(lines) == 1 else "\n".join(lines) + "\n)"

    def extra_repr(self) -> str:
        return ""


class Linear(Module):
    """``y = x @ W.T + b`` with torch.nn.Linear's shapes and initialisation."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        for name, n in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise ValueError(f"Linear: {name} must be a non-negative int, got {n!r}")
        self.in_features = in_features
        self.out_features = out_features
        # Same draws, in the same order, as torch.nn.Linear.reset_parameters.
        w = torch.empty(out_features, in_features)
        torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5))
        self.weight = Parameter(_put(w))
        if bias:
            bound = 1 / math.sqrt(in_features) if in_features > 0 else 0
            b = torch.empty(out_features)
            torch.nn.init.uniform_(b, -bound, bound)
            self.bias = Parameter(_put(b))
        else:
            self.bias = None

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"Linear expects a gt Tensor, got {type(x).__name__}")
        if not x.shape or x.shape[-1] != self.in_features:
            raise RuntimeError(f"Linear({self.in_features}, {self.out_features}): input of shape "
                               f"{tuple(x.shape)} does not end in {self.in_features} features")
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.relu()


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


class Sequential(Module):
    """Applies its modules in order."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} is not a Module ({type(m).__name__})")
            setattr(self, str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)


class MSELoss(Module):
    """Mean squared error, ``reduction`` 'mean' (default), 'sum' or 'none'."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{reduction} is not a valid value for reduction")
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return mse_loss(input, target, self.reduction)


def relu(x: Tensor) -> Tensor:
    return x.relu()


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


from gt.client import functional  # noqa: E402,F401  (``nn.functional``, as in torch)
