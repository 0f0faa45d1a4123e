"""torch.nn.functional's transposed convolutions, resampling, 1-d and adaptive pooling, fold and unfold.

Each is one table op whose kernel is the ATen kernel torch's own call ends in
(its gradient torch's backward kernel), or composed of such ops where torch
composes: 1-d pooling runs as 2-d pooling of an ``unsqueeze(-2)`` view, as in
torch.  Exported through ``gt.nn.functional``.
"""
from __future__ import annotations

import warnings

import torch

from gt.client.nn.functional import _apply, convolution_checks, max_pool, ntuple
from gt.client.tensor import Tensor


def conv_transpose(input: Tensor, weight: Tensor, bias: Tensor | None, stride, padding, output_padding, groups: int,
                   dilation, n: int) -> Tensor:
    """An ``n``-d transposed convolution (torch's aten.convolution with transposed=True); weight
    (in_channels, out_channels / groups, *kernel_size); an unbatched input gets a batch dim of 1."""
    if input.dim() == n + 1:
        return conv_transpose(input.unsqueeze(0), weight, bias, stride, padding, output_padding, groups, dilation,
                              n).squeeze(0)
    groups = int(groups)
    if weight.dim() == input.dim() == n + 2 and input.shape[1] != weight.shape[0]:
        raise RuntimeError(f"Given transposed=1, weight of size {list(weight.shape)}, expected input"
                           f"{list(input.shape)} to have {weight.shape[0]} channels, but got {input.shape[1]} "
                           "channels instead")
    convolution_checks(weight, groups, n)
    inputs = (input, weight) if bias is None else (input, weight, bias)
    stride, padding, output_padding, dilation = (
        ntuple(v, n, name) for v, name in ((stride, "stride"), (padding, "padding"),
                                           (output_padding, "output_padding"), (dilation, "dilation")))
    if any(o >= s and o >= d for o, s, d in zip(output_padding, stride, dilation)):  # meta inference does not check
        raise RuntimeError(f"output padding must be smaller than either stride or dilation, but got output_padding: "
                           f"{list(output_padding)} stride: {list(stride)} dilation: {list(dilation)}")
    return _apply("conv_transpose", inputs, (stride, padding, output_padding, dilation, groups))


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    return conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 1)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    return conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 2)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    return conv_transpose(input, weight, bias, stride, padding, output_padding, groups, dilation, 3)


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None, antialias: bool = False) -> Tensor:
    """torch's interpolate: its argument checks and kernel choice run on the worker (and on meta tensors for
    the result's shape and torch's errors); the gradient is that upsample kernel's backward."""
    return _apply("interpolate", (input,), (_hashable(size), _hashable(scale_factor), mode, align_corners,
                                            recompute_scale_factor, bool(antialias)))


def _deprecated(name: str) -> None:
    warnings.warn(f"`nn.functional.{name}` is deprecated. Use `nn.functional.interpolate` instead.", stacklevel=3)


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    _deprecated("upsample")
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    _deprecated("upsample_nearest")
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    _deprecated("upsample_bilinear")
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C * r * r, H, W) -> (*, C, H * r, W * r), with torch's checks (meta inference words them otherwise)."""
    if upscale_factor <= 0:
        raise RuntimeError(f"pixel_shuffle expects a positive upscale_factor, but got {upscale_factor}")
    if input.dim() < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.dim()} dimension(s)")
    if input.shape[-3] % (upscale_factor * upscale_factor):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={input.shape[-3]} is not divisible by "
                           f"{upscale_factor * upscale_factor}")
    return _apply("pixel_shuffle", (input,), (int(upscale_factor),))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    return _apply("pixel_unshuffle", (input,), (int(downscale_factor),))


# -- 1-d and adaptive pooling ------------------------------------------------------------------------------------
def _check_1d(name: str, input: Tensor) -> None:
    if input.dim() not in (2, 3):
        raise RuntimeError(f"{name}: Expected 2D or 3D (batch mode) tensor for argument #1 'self'; got "
                           f"{input.dim()}D input")


def _pool1d_args(kernel_size, stride, padding) -> tuple:
    kernel = ntuple(kernel_size, 1, "kernel_size")
    stride = kernel if stride is None or stride == [] else ntuple(stride, 1, "stride")
    return (1,) + kernel, (1,) + stride, (0,) + ntuple(padding, 1, "padding")


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """1-d max pooling: 2-d max pooling of a height-1 view, as torch's max_pool1d_with_indices."""
    _check_1d("max_pool1d", input)
    kernel, stride, padding = _pool1d_args(kernel_size, stride, padding)
    dilation = (1,) + ntuple(dilation, 1, "dilation")
    out = max_pool(2, input.unsqueeze(-2), kernel, stride, padding, dilation, ceil_mode, return_indices)
    return tuple(o.squeeze(-2) for o in out) if return_indices else out.squeeze(-2)


def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """3-d max pooling (torch's max_pool3d_with_indices; its backward kernel recomputes the indices)."""
    return max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _max_unpool(n: int, input: Tensor, indices: Tensor, kernel_size, stride, padding, output_size) -> Tensor:
    """The ``n``-d partial inverse of max pooling: each value put where ``indices`` says, zeros
    elsewhere; the output size as torch works it out (and refuses it)."""
    kernel = ntuple(kernel_size, n, "kernel_size")
    stride = kernel if stride is None else ntuple(stride, n, "stride")
    padding = ntuple(padding, n, "padding")
    size = tuple(torch.nn.functional._unpool_output_size(torch.empty(tuple(input.shape), device="meta"), list(kernel),
                                                         list(stride), list(padding), output_size))
    if n == 1:   # as torch: 2-d unpooling of a width-1 view
        return _apply("max_unpool2d", (input.unsqueeze(-1), indices.unsqueeze(-1)),
                      (size + (1,), stride, padding)).squeeze(-1)
    return _apply(f"max_unpool{n}d", (input, indices), (size, stride, padding))


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-d average pooling: 2-d average pooling of a height-1 view, as torch composes it."""
    _check_1d("avg_pool1d", input)
    kernel, stride, padding = _pool1d_args(kernel_size, stride, padding)
    return _apply("avg_pool2d", (input.unsqueeze(-2),), (kernel, stride, padding, bool(ceil_mode),
                                                          bool(count_include_pad), None)).squeeze(-2)


def _adaptive_1d(name: str, input: Tensor, output_size) -> Tensor:
    _check_1d(f"adaptive_{name}_pool1d()", input)
    size = (1,) + ntuple(output_size, 1, "output_size")
    return _apply(f"adaptive_{name}_pool2d", (input.unsqueeze(-2),), (size,)).squeeze(-2)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    return _adaptive_1d("avg", input, output_size)


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False) -> Tensor:
    if return_indices:
        raise NotImplementedError("gt: adaptive_max_pool1d(return_indices=True) is not supported")
    return _adaptive_1d("max", input, output_size)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False) -> Tensor:
    """The maximum over adaptive windows (torch's adaptive_max_pool2d; None keeps that input size)."""
    if return_indices:
        raise NotImplementedError("gt: adaptive_max_pool2d(return_indices=True) is not supported")
    size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    size = tuple(input.shape[-2 + i] if s is None else int(s) for i, s in enumerate(size))
    return _apply("adaptive_max_pool2d", (input,), (size,))


# -- fold and unfold -----------------------------------------------------------------------------------------
def _pairs(kernel_size, dilation, padding, stride) -> tuple:
    return tuple(ntuple(v, 2, name) for v, name in ((kernel_size, "kernel_size"), (dilation, "dilation"),
                                                    (padding, "padding"), (stride, "stride")))


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sliding local blocks as columns (torch's im2col; its gradient is col2im)."""
    return _apply("im2col", (input,), _pairs(kernel_size, dilation, padding, stride))


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Columns summed back into an image (torch's col2im; its gradient is im2col)."""
    return _apply("col2im", (input,), (ntuple(output_size, 2, "output_size"),)
                  + _pairs(kernel_size, dilation, padding, stride))


__all__ = ["adaptive_avg_pool1d", "adaptive_max_pool1d", "adaptive_max_pool2d", "avg_pool1d", "conv_transpose1d",
           "conv_transpose2d", "conv_transpose3d", "fold", "interpolate", "max_pool1d", "max_pool3d",
           "max_unpool1d", "max_unpool2d", "max_unpool3d", "pixel_shuffle",
           "pixel_unshuffle", "unfold", "upsample", "upsample_bilinear", "upsample_nearest"]
