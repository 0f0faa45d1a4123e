"""The worker's kernels for gt.nn's fused layers and losses.

Each runs the ATen kernel torch's own eager forward or backward ends in, so
values and gradients equal torch's bit for bit.  An op whose torch kernel has
several results (native_layer_norm: out, mean, rstd) is one instruction per
needed result: a backward kernel recomputes the forward statistics it needs
rather than receiving them, because an instruction has one result.
Optional tensor inputs (a loss's ``weight``) come after the required ones;
a kernel tells them apart by how many tensors it got.
"""
from __future__ import annotations

import math
import struct

import torch

aten = torch.ops.aten


def _split(rest: tuple, n_params: int) -> tuple:
    """(optional tensor inputs, params) of ``rest``, which ends in ``n_params`` params."""
    return rest[:len(rest) - n_params], rest[len(rest) - n_params:]


def _optional(tensors: tuple, n: int) -> tuple:
    return tuple(tensors) + (None,) * (n - len(tensors))


# -- activations ------------------------------------------------------------------------------
def gelu(x, approximate):
    return aten.gelu(x, approximate=approximate)


def gelu_backward(g, x, approximate):
    return aten.gelu_backward(g, x, approximate=approximate)


def leaky_relu_backward(g, x, negative_slope):
    return aten.leaky_relu_backward(g, x, negative_slope, False)


def elu(x, alpha, scale, input_scale):
    """torch's elu kernel, which selu and celu call with their own scales."""
    return aten.elu(x, alpha, scale, input_scale)


def elu_backward(g, x, alpha, scale, input_scale):
    return aten.elu_backward(g, alpha, scale, input_scale, False, x)


def celu_backward(g, x, alpha):
    """torch's celu gradient: elu's backward with input scale 1 / alpha, alpha rounded to float32 first."""
    alpha32 = struct.unpack("f", struct.pack("f", alpha))[0]
    return aten.elu_backward(g, alpha, 1, 1.0 / alpha32, False, x)


def _prelu_weight(x, weight):
    """``weight`` shaped as torch.prelu shapes it to broadcast along the channel dim 1."""
    if x.dim() > 1 and weight.dim() == 1:
        return weight.reshape((1, weight.numel()) + (1,) * (x.dim() - 2))
    return weight


def prelu_backward(g, x, weight, which):
    """Gradient ``which`` (0: input, 1: weight) from torch's _prelu_kernel_backward."""
    shaped = _prelu_weight(x, weight)
    grad = aten._prelu_kernel_backward(g, x, shaped)[which]
    return grad if which == 0 else grad.sum_to_size(shaped.shape).reshape(weight.shape)


def log_sigmoid(x):
    return aten.log_sigmoid_forward(x)[0]


def log_sigmoid_backward(g, x):
    # the forward's second result (a buffer of exp(-|x|) terms) is recomputed
    return aten.log_sigmoid_backward(g, x, aten.log_sigmoid_forward(x)[1])


# -- losses ---------------------------------------------------------------------------------------
def _check_class_target_rank(x, target) -> None:
    """torch's kernels refuse a class-index target of the wrong rank with these messages (the
    decompositions shape inference runs only assert it)."""
    if x.dim() <= 2 and target.dim() > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if x.dim() == 4 and target.dim() != 3:
        raise RuntimeError("only batches of spatial targets supported (3D tensors) but got targets of "
                           f"dimension: {target.dim()}")


def nll_loss(x, target, *rest):
    """torch's ``nll_loss_nd``: rest = ([weight,] reduction, ignore_index)."""
    _check_class_target_rank(x, target)
    tensors, (reduction, ignore_index) = _split(rest, 2)
    return torch._C._nn.nll_loss_nd(x, target, *_optional(tensors, 1), reduction, ignore_index)


def nll_loss_backward(g, x, target, *rest):
    """The gradient of ``nll_loss_nd`` w.r.t. ``x``, through the kernel torch's autograd uses for that rank."""
    tensors, (reduction, ignore_index) = _split(rest, 2)
    (weight,) = _optional(tensors, 1)
    if x.dim() <= 2:
        total = aten.nll_loss_forward(x, target, weight, reduction, ignore_index)[1]
        return aten.nll_loss_backward(g, x, target, weight, reduction, ignore_index, total)
    # ranks 3 and above run as nll_loss2d on an (N, C, 1, -1) view
    n, c = x.shape[:2]
    x4 = x.reshape(n, c, 1, -1) if x.numel() > 0 else x.reshape(n, c, 0, 0)
    t3 = target.reshape(n, 1, -1) if target.numel() > 0 else target.reshape(n, 0, 0)
    if reduction == 0:
        g = g.reshape(t3.shape)
    total = aten.nll_loss2d_forward(x4, t3, weight, reduction, ignore_index)[1]
    return aten.nll_loss2d_backward(g, x4, t3, weight, reduction, ignore_index, total).reshape(x.shape)


def cross_entropy(x, target, *rest):
    """torch's cross_entropy_loss for class-index targets: rest = ([weight,] reduction, ignore_index)."""
    if target.shape != x.shape:   # same shapes: class probabilities, whose checks torch's function makes
        _check_class_target_rank(x, target)
    tensors, (reduction, ignore_index) = _split(rest, 2)
    return torch._C._nn.cross_entropy_loss(x, target, *_optional(tensors, 1), reduction, ignore_index, 0.0)


def cross_entropy_backward(g, x, target, *rest):
    """torch's autograd chain for cross_entropy: nll_loss's backward, then log_softmax's, with the
    log-probabilities recomputed (bit for bit what the forward computed)."""
    dim = 0 if x.dim() == 1 else 1
    lsm = aten._log_softmax(x, dim, False)
    return aten._log_softmax_backward_data(nll_loss_backward(g, lsm, target, *rest), lsm, dim, x.dtype)


def l1_loss(x, target, reduction):
    return torch._C._nn.l1_loss(x, target, reduction)


def l1_loss_backward(g, x, target, reduction):
    # torch's l1_loss is (x - target).abs() then the reduction: its gradient is g spread
    # over the elements (divided by their count for "mean"), times sgn(x - target).
    if reduction == 1:
        g = g.expand(x.shape) / x.numel()
    return g * (x - target).sgn()


def huber_loss(x, target, reduction, delta):
    return aten.huber_loss(x, target, reduction, delta)


def huber_loss_backward(g, x, target, reduction, delta):
    return aten.huber_loss_backward(g, x, target, reduction, delta)


def smooth_l1_loss(x, target, reduction, beta):
    return aten.smooth_l1_loss(x, target, reduction, beta)


def smooth_l1_loss_backward(g, x, target, reduction, beta):
    return aten.smooth_l1_loss_backward(g, x, target, reduction, beta)


def binary_cross_entropy(x, target, *rest):
    tensors, (reduction,) = _split(rest, 1)
    return aten.binary_cross_entropy(x, target, *_optional(tensors, 1), reduction)


def binary_cross_entropy_backward(g, x, target, *rest):
    tensors, (reduction,) = _split(rest, 1)
    return aten.binary_cross_entropy_backward(g, x, target, *_optional(tensors, 1), reduction)


def binary_cross_entropy_target_backward(g, x, target, *rest):
    """torch's binary_cross_entropy_target_backward: -logit(x) * g [* weight] [/ numel]."""
    tensors, (reduction,) = _split(rest, 1)
    out = aten.logit(x).neg() * g
    if tensors:
        out = out * tensors[0]
    return out / target.numel() if reduction == 1 else out


def _bce_logits_args(rest: tuple) -> tuple:
    """(weight, pos_weight, reduction) from rest = (*present tensors, reduction, layout)."""
    tensors, (reduction, layout) = _split(rest, 2)
    it = iter(tensors)
    return tuple(next(it) if present else None for present in layout) + (reduction,)


def binary_cross_entropy_with_logits(x, target, *rest):
    """rest = ([weight,] [pos_weight,] reduction, layout); layout says which of the two are present."""
    weight, pos_weight, reduction = _bce_logits_args(rest)
    return aten.binary_cross_entropy_with_logits(x, target, weight, pos_weight, reduction)


def binary_cross_entropy_with_logits_backward(g, x, target, *rest):
    """The gradient w.r.t. the logits, as torch's autograd formula computes it."""
    weight, pos_weight, reduction = _bce_logits_args(rest)
    if pos_weight is not None:
        t = pos_weight.mul(target)
        out = t.add(1).sub(target).mul(x.sigmoid()).sub(t)
    else:
        out = x.sigmoid().sub(target)
    out = out.mul(g)
    if weight is not None:
        out = out.mul(weight)
    return out.div(x.numel()) if reduction == 1 else out


def binary_cross_entropy_with_logits_target_backward(g, x, target, *rest):
    weight, pos_weight, reduction = _bce_logits_args(rest)
    if pos_weight is not None:
        out = torch.nn.functional.logsigmoid(-x).sub(torch.nn.functional.logsigmoid(x).mul(pos_weight))
    else:
        out = -x
    out = out.mul(g)
    if weight is not None:
        out = out.mul(weight)
    return out.div(target.numel()) if reduction == 1 else out


# -- normalisation and embedding -------------------------------------------------------------
def layer_norm(x, *rest):
    """rest = ([weight, [bias,]] normalized_shape, eps)."""
    tensors, (shape, eps) = _split(rest, 2)
    return aten.native_layer_norm(x, shape, *_optional(tensors, 2), eps)[0]


def layer_norm_backward(g, x, *rest):
    """Gradient ``which`` (0: input, 1: weight, 2: bias) of layer_norm; mean and rstd are recomputed."""
    tensors, (shape, eps, which) = _split(rest, 3)
    weight, bias = _optional(tensors, 2)
    _, mean, rstd = aten.native_layer_norm(x, shape, weight, bias, eps)
    mask = [which == 0, which == 1, which == 2]
    return aten.native_layer_norm_backward(g, x, shape, mean, rstd, weight, bias, mask)[which]


def _batch_norm_args(rest: tuple) -> tuple:
    """rest = ([weight, bias,] [running_mean, running_var,] affine, training, momentum, eps, which)."""
    tensors, (affine, training, momentum, eps, which) = _split(rest, 5)
    weight, bias = tensors[:2] if affine else (None, None)
    running = tensors[2:] if affine else tensors
    mean, var = running if running else (None, None)
    return weight, bias, mean, var, training, momentum, eps, which


def batch_norm(x, *rest):
    """Result ``which`` of torch's batch norm: 0 the output, 1 and 2 the updated running mean and var.

    Training with running stats uses the functional form of torch's kernel, which returns the updated
    stats instead of writing them: instructions never change their inputs, and traced graphs keep them."""
    weight, bias, mean, var, training, momentum, eps, which = _batch_norm_args(rest)
    if training and mean is not None:
        return aten._native_batch_norm_legit_functional(x, weight, bias, mean, var, True, momentum,
                                                        eps)[(0, 3, 4)[which]]
    return aten.native_batch_norm(x, weight, bias, mean, var, training, momentum, eps)[0]


def batch_norm_backward(g, x, *rest):
    """Gradient ``which`` (0: input, 1: weight, 2: bias).  The forward's saved statistics are recomputed
    and passed as torch's autograd passes them: CUDA's kernel needs them even in eval mode (where they
    are placeholders and it reads the running stats).  Training recomputes them without running stats,
    which the forward would update in place."""
    weight, bias, mean, var, training, _, eps, which = _batch_norm_args(rest)
    _, save_mean, save_invstd = aten.native_batch_norm(x, weight, bias, None if training else mean,
                                                       None if training else var, training, 0.0, eps)
    mask = [which == 0, which == 1, which == 2]
    return aten.native_batch_norm_backward(g, x, weight, mean, var, save_mean, save_invstd, training, eps,
                                           mask)[which]


def conv(x, weight, *rest):
    """torch's convolution: rest = ([bias,] stride, padding, dilation, groups)."""
    tensors, (stride, padding, dilation, groups) = _split(rest, 4)
    return aten.convolution(x, weight, *_optional(tensors, 1), stride, padding, dilation, False,
                            (0,) * len(stride), groups)


def conv_backward(g, x, weight, *rest):
    """Gradient ``which`` (0: input, 1: weight, 2: bias) of a convolution, from torch's convolution_backward."""
    tensors, (stride, padding, dilation, groups, which) = _split(rest, 5)
    return _convolution_backward(g, x, weight, bool(tensors), stride, padding, dilation, False, (0,) * len(stride),
                                 groups, which)


def conv_transpose(x, weight, *rest):
    """torch's transposed convolution: rest = ([bias,] stride, padding, output_padding, dilation, groups)."""
    tensors, (stride, padding, output_padding, dilation, groups) = _split(rest, 5)
    return aten.convolution(x, weight, *_optional(tensors, 1), stride, padding, dilation, True, output_padding,
                            groups)


def conv_transpose_backward(g, x, weight, *rest):
    """Gradient ``which`` (0: input, 1: weight, 2: bias) of a transposed convolution."""
    tensors, (stride, padding, output_padding, dilation, groups, which) = _split(rest, 6)
    return _convolution_backward(g, x, weight, bool(tensors), stride, padding, dilation, True, output_padding,
                                 groups, which)


def _convolution_backward(g, x, weight, has_bias, stride, padding, dilation, transposed, output_padding, groups,
                          which):
    out_channels = weight.shape[1] * groups if transposed else weight.shape[0]
    mask = [which == 0, which == 1, which == 2]
    return aten.convolution_backward(g, x, weight, [out_channels] if has_bias else None, stride, padding, dilation,
                                     transposed, output_padding, groups, mask)[which]


def group_norm(x, *rest):
    """torch's native_group_norm: rest = ([weight, bias,] num_groups, eps)."""
    tensors, (groups, eps) = _split(rest, 2)
    return aten.native_group_norm(x, *_optional(tensors, 2), *_group_norm_sizes(x), groups, eps)[0]


def _group_norm_sizes(x) -> tuple:
    """(N, C, HxW) of torch's group-norm kernels."""
    hw = 1
    for s in x.shape[2:]:
        hw *= s
    return x.shape[0], x.shape[1], hw


def group_norm_backward(g, x, *rest):
    """Gradient ``which`` (0: input, 1: weight, 2: bias) of group_norm; mean and rstd are recomputed."""
    tensors, (groups, eps, which) = _split(rest, 3)
    weight, bias = _optional(tensors, 2)
    sizes = _group_norm_sizes(x)
    _, mean, rstd = aten.native_group_norm(x, weight, bias, *sizes, groups, eps)
    mask = [which == 0, which == 1, which == 2]
    # the CPU kernel reads its gradient as contiguous (torch's autograd makes it so; an expanded one is not)
    return aten.native_group_norm_backward(g.contiguous(), x.contiguous(), mean, rstd, weight, *sizes, groups,
                                           mask)[which]


# 2-d or 3-d max pooling, by the kernel size's length
_MAX_POOL = {2: aten.max_pool2d_with_indices, 3: aten.max_pool3d_with_indices}
_MAX_POOL_BACKWARD = {2: aten.max_pool2d_with_indices_backward, 3: aten.max_pool3d_with_indices_backward}


def max_pool(x, kernel_size, stride, padding, dilation, ceil_mode):
    return _MAX_POOL[len(kernel_size)](x, kernel_size, stride, padding, dilation, ceil_mode)[0]


def max_pool_indices(x, kernel_size, stride, padding, dilation, ceil_mode):
    """Where each maximum is, as an index into the flattened spatial dims of ``x`` (``return_indices``)."""
    return _MAX_POOL[len(kernel_size)](x, kernel_size, stride, padding, dilation, ceil_mode)[1]


def max_pool_backward(g, x, kernel_size, stride, padding, dilation, ceil_mode):
    """torch's max-pool backward kernel; the argmax indices are recomputed from ``x``."""
    indices = max_pool_indices(x, kernel_size, stride, padding, dilation, ceil_mode)
    return _MAX_POOL_BACKWARD[len(kernel_size)](g, x, kernel_size, stride, padding, dilation, ceil_mode, indices)


def max_unpool(x, indices, output_size, stride, padding):
    """torch's max_unpool2d or (an ``output_size`` of 3) max_unpool3d: each value put where its index says."""
    if len(output_size) == 2:
        return aten.max_unpool2d(x, indices, output_size)
    return aten.max_unpool3d(x, indices, output_size, stride, padding)


def avg_pool2d_backward(g, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    return aten.avg_pool2d_backward(g, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                    divisor_override)


def adaptive_max_pool2d(x, output_size):
    return aten.adaptive_max_pool2d(x, output_size)[0]


def adaptive_max_pool2d_backward(g, x, output_size):
    """torch's adaptive max-pool backward kernel; the argmax indices are recomputed from ``x``."""
    return aten.adaptive_max_pool2d_backward(g, x, aten.adaptive_max_pool2d(x, output_size)[1])


def adaptive_avg_pool2d(x, output_size):
    return torch._C._nn.adaptive_avg_pool2d(x, output_size)


def adaptive_avg_pool2d_backward(g, x, output_size):
    return adaptive_avg_pool_backward(g, x, len(output_size))


def adaptive_avg_pool_backward(g, x, n):
    """torch's adaptive average pooling backward over the last ``n`` dims (1-d runs as 2-d, as torch's does)."""
    if all(s == 1 for s in g.shape[-n:]):
        # torch computes an all-ones output size as a mean over those dims: its gradient is the mean's
        return g.expand(x.shape) / math.prod(x.shape[-n:])
    if n == 1:
        return aten._adaptive_avg_pool2d_backward(g.unsqueeze(-2), x.unsqueeze(-2)).squeeze(-2)
    return getattr(aten, f"_adaptive_avg_pool{n}d_backward")(g, x)


def embedding(weight, indices, padding_idx, scale_grad_by_freq):
    return aten.embedding(weight, indices, padding_idx, scale_grad_by_freq)


def one_hot(x, num_classes):
    """torch's one_hot checks the classes with .item() calls, which graph tracing cannot follow; the same
    checks as asserts inside the graph, then torch's own scatter."""
    torch._assert_async((x >= 0).all(), "Class values must be non-negative.")
    torch._assert_async((x < num_classes).all(), "Class values must be smaller than num_classes.")
    return torch.zeros(x.shape + (num_classes,), dtype=torch.int64, device=x.device).scatter_(-1, x.unsqueeze(-1), 1)


def pad(x, pad, mode, value):
    return torch.nn.functional.pad(x, pad, mode, value)


_PAD_BACKWARD = {"reflect": "reflection_pad{}d_backward", "replicate": "replication_pad{}d_backward"}


def pad_backward(g, x, pad, mode):
    if mode == "constant":  # the same pad with the signs flipped: a crop
        return aten.constant_pad_nd(g, tuple(-p for p in pad), 0.0)
    if mode == "circular":  # each output element copies one input element: add g back at the copied positions
        where = torch.nn.functional.pad(torch.arange(x.numel(), device=x.device).reshape(x.shape), pad, "circular")
        return g.new_zeros(x.numel()).index_add(0, where.flatten(), g.flatten()).reshape(x.shape)
    return getattr(aten, _PAD_BACKWARD[mode].format(len(pad) // 2))(g, x, pad)


# -- resampling -------------------------------------------------------------------------------------------
def interpolate(x, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias):
    return torch.nn.functional.interpolate(x, size, scale_factor, mode, align_corners, recompute_scale_factor,
                                           antialias)


_UPSAMPLE_BACKWARD = {"nearest": "upsample_nearest{}d_backward", "nearest-exact": "_upsample_nearest_exact{}d_backward",
                      "linear": "upsample_linear1d_backward", "bilinear": "upsample_bilinear2d_backward",
                      "bicubic": "upsample_bicubic2d_backward", "trilinear": "upsample_trilinear3d_backward"}


def interpolate_backward(g, x, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias):
    """The backward kernel of the upsample kernel torch's interpolate ran, with the scales it passed to it
    (mode 'area' ran adaptive average pooling)."""
    n = x.dim() - 2
    if mode == "area":
        return adaptive_avg_pool_backward(g, x, n)
    if size is not None or recompute_scale_factor:
        scales = (None,) * n
    else:
        scales = tuple(scale_factor) if isinstance(scale_factor, tuple) else (scale_factor,) * n
    name = _UPSAMPLE_BACKWARD[mode].format(n)
    if mode.startswith("nearest"):
        return getattr(aten, name)(g, g.shape[2:], x.shape, *scales)
    if antialias:
        name = "_" + name.replace("2d", "2d_aa")
    return getattr(aten, name)(g, g.shape[2:], x.shape, bool(align_corners), *scales)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
    """Per-sample negative log likelihoods from torch's _ctc_loss (lengths are tuples of ints)."""
    return _ctc_loss(log_probs, targets, list(input_lengths), list(target_lengths), blank, zero_infinity)


def ctc_loss_backward(g, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
    """torch's _ctc_loss_backward; the forward's likelihoods and alphas are recomputed."""
    return _ctc_loss_backward(g, log_probs, targets, list(input_lengths), list(target_lengths), blank, zero_infinity)


# torch's CTC kernels are opaque ops in traced graphs: _ctc_loss's output shape depends on the targets' values
# under fake tensors, and _ctc_loss_backward has no meta kernel; the fake kernels below give their shapes.
@torch.library.custom_op("gt::ctc_loss", mutates_args=())
def _ctc_loss(log_probs: torch.Tensor, targets: torch.Tensor, input_lengths: list[int], target_lengths: list[int],
              blank: int, zero_infinity: bool) -> torch.Tensor:
    return aten._ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity)[0]


@torch.library.custom_op("gt::ctc_loss_backward", mutates_args=())
def _ctc_loss_backward(g: torch.Tensor, log_probs: torch.Tensor, targets: torch.Tensor, input_lengths: list[int],
                       target_lengths: list[int], blank: int, zero_infinity: bool) -> torch.Tensor:
    nll, log_alpha = aten._ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity)
    return aten._ctc_loss_backward(g, log_probs, targets, input_lengths, target_lengths, nll, log_alpha, blank,
                                   zero_infinity)


@_ctc_loss.register_fake
def _ctc_loss_fake(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
    return log_probs.new_empty(log_probs.shape[1:2])


@_ctc_loss_backward.register_fake
def _ctc_loss_backward_fake(g, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
    return torch.empty_like(log_probs)
