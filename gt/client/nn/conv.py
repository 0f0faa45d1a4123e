"""``Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d``, with torch.nn's arguments, initialisation and printing."""
from __future__ import annotations

import math

import torch

from gt.client.nn import functional as F
from gt.client.nn import functional_spatial as FS
from gt.client.nn import init
from gt.client.nn.module import Module
from gt.client.nn.parameter import empty_parameter
from gt.client.tensor import Tensor


class _ConvNd(Module):
    """An ``n``-d convolution; weight (out_channels, in_channels / groups, *kernel_size), or
    (in_channels, out_channels / groups, *kernel_size) when transposed."""

    n: int
    transposed = False

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
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError("padding_mode must be one of {'reflect', 'zeros', 'replicate', 'circular'}, but got "
                             f"padding_mode='{padding_mode}'")
        if self.transposed and padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        n = self.n
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = F.ntuple(kernel_size, n, "kernel_size")
        self.stride = F.ntuple(stride, n, "stride")
        self.padding = padding if isinstance(padding, str) else F.ntuple(padding, n, "padding")
        self.dilation = F.ntuple(dilation, n, "dilation")
        self.output_padding = (0,) * n
        self.padding_mode = padding_mode
        channels = (in_channels, out_channels // groups) if self.transposed else (out_channels, in_channels // groups)
        self.weight = empty_parameter(channels + self.kernel_size, dtype)
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
        if self.padding_mode != "zeros":  # torch pads first, then convolves without padding
            return F.convolution(F.pad(input, self._reversed_padding_repeated_twice(), self.padding_mode),
                                 self.weight, self.bias, self.stride, 0, self.dilation, self.groups, self.n)
        return F.convolution(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                             self.n)

    def _reversed_padding_repeated_twice(self) -> tuple:
        """F.pad's form of the padding: (left, right) per dim, last dim first ('same' puts the odd one right)."""
        out = ()
        for d, k, p in reversed(tuple(zip(self.dilation, self.kernel_size, (self.padding,) * self.n
                                          if isinstance(self.padding, str) else self.padding))):
            total = d * (k - 1) if p == "same" else 0 if p == "valid" else 2 * p
            out += (total // 2, total - total // 2)
        return out

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self.n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self.n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    n = 1


class Conv2d(_ConvNd):
    n = 2


class Conv3d(_ConvNd):
    n = 3


class _ConvTransposeNd(_ConvNd):
    """A transposed convolution; ``forward(input, output_size)`` picks the output padding as torch does."""

    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", device=None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)
        self.output_padding = F.ntuple(output_padding, self.n, "output_padding")

    _output_padding = torch.nn.modules.conv._ConvTransposeNd._output_padding

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        output_padding = self._output_padding(input, output_size, self.stride, self.padding, self.kernel_size,
                                              self.n, self.dilation)
        return FS.conv_transpose(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                 self.groups, self.dilation, self.n)


class ConvTranspose1d(_ConvTransposeNd):
    n = 1


class ConvTranspose2d(_ConvTransposeNd):
    n = 2


class ConvTranspose3d(_ConvTransposeNd):
    n = 3
