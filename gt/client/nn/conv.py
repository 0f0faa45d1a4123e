"""``Conv1d`` and ``Conv2d``, with torch.nn's arguments, initialisation and printing."""
from __future__ import annotations

import math

import torch

from gt.client.nn import functional as F
from gt.client.nn import init
from gt.client.nn.module import Module
from gt.client.nn.parameter import empty_parameter
from gt.client.tensor import Tensor


class _ConvNd(Module):
    """An ``n``-d convolution; weight (out_channels, in_channels / groups, *kernel_size)."""

    n: int

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode != "zeros":
            raise NotImplementedError(f"GT does not support torch.nn.Conv padding_mode={padding_mode!r} yet "
                                          "(only 'zeros')")
        n = self.n
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = F.ntuple(kernel_size, n, "kernel_size")
        self.stride = F.ntuple(stride, n, "stride")
        self.padding = padding if isinstance(padding, str) else F.ntuple(padding, n, "padding")
        self.dilation = F.ntuple(dilation, n, "dilation")
        self.output_padding = (0,) * n
        self.padding_mode = padding_mode
        self.weight = empty_parameter((out_channels, in_channels // groups) + self.kernel_size, dtype)
        if bias:
            self.bias = empty_parameter((out_channels,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Same draws, in the same order, as torch's _ConvNd.reset_parameters.
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return F.convolution(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                             self.n)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self.n:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv1d(_ConvNd):
    n = 1


class Conv2d(_ConvNd):
    n = 2
