"""``Linear``, ``Bilinear`` and ``Identity``, as torch.nn.modules.linear defines them."""
from __future__ import annotations

import math

import torch

from gt.client.nn import functional as F
from gt.client.nn import functional_extra as FX
from gt.client.nn import init
from gt.client.nn.module import Module
from gt.client.nn.parameter import empty_parameter
from gt.client.tensor import Tensor


class Identity(Module):
    """Returns its input; accepts and ignores any constructor arguments, as torch's does."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """``y = x @ W.T + b`` with torch.nn.Linear's shapes and initialisation."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        # Same draws, in the same order, as torch.nn.Linear's constructor (see reset_parameters).
        self.weight = init.new_parameter((out_features, in_features), dtype, torch.nn.init.kaiming_uniform_,
                                         a=math.sqrt(5))
        if bias:
            bound = self._bias_bound()
            self.bias = init.new_parameter((out_features,), dtype, torch.nn.init.uniform_, a=-bound, b=bound)
        else:
            self.register_parameter("bias", None)

    def _bias_bound(self) -> float:
        return 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = self._bias_bound()
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Bilinear(Module):
    """``y = x1 W x2 + b``; weight (out_features, in1_features, in2_features), torch's initialisation."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True, device=None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = empty_parameter((out_features, in1_features, in2_features), dtype)
        if bias:
            self.bias = empty_parameter((out_features,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Same draws, in the same order, as torch.nn.Bilinear.reset_parameters.
        if self.in1_features <= 0:
            raise ValueError(f"in1_features must be > 0, but got (in1_features={self.in1_features})")
        bound = 1 / math.sqrt(self.weight.size(1))
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return FX.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
