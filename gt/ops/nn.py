"""Op entries of gt.nn's activations, losses and layers: torch's fused kernel and its backward kernel each.

Kept apart from ``gt.ops.core`` so nn's ops are added here without touching the
core list; ``gt.ops`` appends these after the core entries.  Ops with optional
tensor inputs (a loss's ``weight``) take them after the required ones and use a
``*`` formula over ``inputs``, so one entry serves every combination.  A
backward kernel with several results (convolution_backward, native_layer_norm_backward)
is one instruction per needed gradient, selected by a ``which`` param (see nn_kernels).
Reductions travel as torch's enum (0 none, 1 mean, 2 sum).
"""
from __future__ import annotations

import torch

from gt.ops import layer_kernels as lk
from gt.ops import nn_kernels as k
from gt.ops import rules
from gt.ops.table import Op, ops

aten = torch.ops.aten
_POOL = ("x", "kernel_size", "stride", "padding", "dilation", "ceil_mode")
_UNPOOL = ("x", "indices", "output_size", "stride", "padding")


def _max_pool_grad(g, x, kernel_size, stride, padding, dilation, ceil_mode):
    return ops.max_pool_backward(g, x, kernel_size, stride, padding, dilation, ceil_mode)


def _max_unpool_grad(g, x, indices, output_size):
    """Each input value's gradient is the output gradient where it was put (torch's max_pool_double_backward)."""
    n = len(output_size)
    return g.flatten(-n).gather(-1, indices.flatten(-n)).reshape(x.shape)


def _loss_grads(backward: str, target_backward: str, params: str) -> str:
    """A ``*`` formula: input and target gradients of a loss whose further inputs (weights) get none."""
    return (f"*({backward}(g, *inputs, {params}) if inputs[0].requires_grad else None, "
            f"{target_backward}(g, *inputs, {params}) if inputs[1].requires_grad else None, "
            f"None, None)[:len(inputs)]")


def _torch_grads(backward: str, params: str) -> str:
    """A ``*`` formula: the gradients of the inputs that need one, from ``backward``'s one flat result."""
    return (f"*unflatten_grads({backward}(g, *inputs, {params}, tuple(t.requires_grad for t in inputs)), "
            "inputs)")


def _affine_grads(backward: str, params: str, n_differentiable: str) -> str:
    """A ``*`` formula: gradient ``i`` of each of the first ``n_differentiable`` inputs through ``backward``."""
    return (f"*tuple({backward}(g, *inputs, {params}, i) if i < {n_differentiable} and t.requires_grad "
            f"else None for i, t in enumerate(inputs))")


ENTRIES: tuple = (
    # -- activations
    Op("gelu", k.gelu, "meta", ("x", "approximate"), ("gelu_backward(g, x, approximate)",), "gelu", rule=rules.like(0)),
    Op("silu", aten.silu, "meta", ("x",), ("silu_backward(g, x)",), "silu", rule=rules.like(0)),
    Op("leaky_relu", aten.leaky_relu, "meta", ("x", "negative_slope"),
       ("leaky_relu_backward(g, x, negative_slope)",), "leaky_relu", rule=rules.like(0)),
    Op("softplus", aten.softplus, "meta", ("x", "beta", "threshold"),
       ("softplus_backward(g, x, beta, threshold)",), "softplus"),
    Op("elu", k.elu, "meta", ("x", "alpha", "scale", "input_scale"),
       ("elu_backward(g, x, alpha, scale, input_scale)",), "elu"),
    Op("hardtanh", aten.hardtanh, "meta", ("x", "min_val", "max_val"),
       ("hardtanh_backward(g, x, min_val, max_val)",), "hardtanh"),
    Op("mish", aten.mish, "meta", ("x",), ("mish_backward(g, x)",), "mish"),
    Op("log_sigmoid", k.log_sigmoid, "meta", ("x",), ("log_sigmoid_backward(g, x)",), "log_sigmoid_forward"),
    Op("celu", aten.celu, "meta", ("x", "alpha"), ("celu_backward(g, x, alpha)",), "celu"),
    Op("hardswish", aten.hardswish, "meta", ("x",), ("hardswish_backward(g, x)",), "hardswish"),
    Op("hardsigmoid", aten.hardsigmoid, "meta", ("x",), ("hardsigmoid_backward(g, x)",), "hardsigmoid"),
    Op("threshold", aten.threshold, "meta", ("x", "threshold", "value"), ("threshold_backward(g, x, threshold)",),
       "threshold"),
    Op("hardshrink", aten.hardshrink, "meta", ("x", "lambd"), ("hardshrink_backward(g, x, lambd)",), "hardshrink"),
    Op("softshrink", aten.softshrink, "meta", ("x", "lambd"), ("softshrink_backward(g, x, lambd)",), "softshrink"),
    Op("glu", aten.glu, "meta", ("x", "dim"), ("glu_backward(g, x, dim)",), "glu"),
    # rrelu in training: the slopes (``noise``, 1 where x > 0) are drawn on the client, as torch's CPU kernel does
    Op("rrelu_with_noise", torch.mul, "meta", ("x", "noise"), (lambda g, noise: g * noise, None), "rrelu_with_noise"),
    Op("prelu", aten.prelu, "meta", ("x", "weight"),
       ("prelu_backward(g, x, weight, 0)", "prelu_backward(g, x, weight, 1)"), "prelu_kernel"),
    # -- losses
    Op("nll_loss", k.nll_loss, "meta", ("reduction", "ignore_index"),
       ("*(nll_loss_backward(g, *inputs, reduction, ignore_index), None, None)[:len(inputs)]",), "nll_loss",
       rule=rules.class_loss),
    Op("cross_entropy", k.cross_entropy, "meta", ("reduction", "ignore_index"),
       ("*(cross_entropy_backward(g, *inputs, reduction, ignore_index), None, None)[:len(inputs)]",), "nll_loss",
       rule=rules.class_loss),
    Op("l1_loss", k.l1_loss, "meta", ("x", "target", "reduction"),
       ("l1_loss_backward(g, x, target, reduction)", "-l1_loss_backward(g, x, target, reduction)"), "l1_loss"),
    Op("huber_loss", k.huber_loss, "meta", ("x", "target", "reduction", "delta"),
       ("huber_loss_backward(g, x, target, reduction, delta)", "huber_loss_backward(g, target, x, reduction, delta)"),
       "huber_loss"),
    Op("smooth_l1_loss", k.smooth_l1_loss, "meta", ("x", "target", "reduction", "beta"),
       ("smooth_l1_loss_backward(g, x, target, reduction, beta)",
        "smooth_l1_loss_backward(g, target, x, reduction, beta)"), "smooth_l1_loss"),
    Op("binary_cross_entropy", k.binary_cross_entropy, "meta", ("reduction",),
       (_loss_grads("binary_cross_entropy_backward", "binary_cross_entropy_target_backward", "reduction"),),
       "binary_cross_entropy"),
    Op("binary_cross_entropy_with_logits", k.binary_cross_entropy_with_logits, "meta", ("reduction", "layout"),
       (_loss_grads("binary_cross_entropy_with_logits_backward",
                    "binary_cross_entropy_with_logits_target_backward", "reduction, layout"),),
       "binary_cross_entropy_with_logits"),
    # -- normalisation, embedding, padding, encoding
    Op("layer_norm", k.layer_norm, "meta", ("normalized_shape", "eps"),
       (_affine_grads("layer_norm_backward", "normalized_shape, eps", "3"),), "native_layer_norm",
       rule=rules.layer_norm),
    Op("batch_norm", k.batch_norm, "meta", ("affine", "training", "momentum", "eps", "which"),
       (_affine_grads("batch_norm_backward", "affine, training, momentum, eps", "(3 if affine else 1)"),),
       "native_batch_norm", rule=rules.batch_norm),
    Op("conv", k.conv, "meta", ("stride", "padding", "dilation", "groups"),
       (_affine_grads("conv_backward", "stride, padding, dilation, groups", "3"),), "convolution"),
    Op("conv_transpose", k.conv_transpose, "meta", ("stride", "padding", "output_padding", "dilation", "groups"),
       (_affine_grads("conv_transpose_backward", "stride, padding, output_padding, dilation, groups", "3"),),
       "convolution"),
    Op("group_norm", k.group_norm, "meta", ("num_groups", "eps"),
       (_affine_grads("group_norm_backward", "num_groups, eps", "3"),), "native_group_norm"),
    Op("max_pool2d", k.max_pool, "meta", _POOL, (_max_pool_grad,), "max_pool2_d_with_indices"),
    Op("max_pool3d", k.max_pool, "meta", _POOL, (_max_pool_grad,), "max_pool3_d_with_indices"),
    Op("max_pool_indices", k.max_pool_indices, "meta", _POOL),
    Op("max_unpool2d", k.max_unpool, "meta", _UNPOOL, (_max_unpool_grad, None), "max_unpool2_d"),
    Op("max_unpool3d", k.max_unpool, "meta", _UNPOOL, (_max_unpool_grad, None), "max_unpool3_d"),
    Op("avg_pool2d", aten.avg_pool2d, "meta",
       ("x", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
       ("avg_pool2d_backward(g, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)",),
       "avg_pool2d"),
    Op("adaptive_avg_pool2d", k.adaptive_avg_pool2d, "meta", ("x", "output_size"),
       ("adaptive_avg_pool2d_backward(g, x, output_size)",), "adaptive_avg_pool2d"),
    Op("adaptive_max_pool2d", k.adaptive_max_pool2d, "meta", ("x", "output_size"),
       ("adaptive_max_pool2d_backward(g, x, output_size)",), "adaptive_max_pool2d"),
    Op("interpolate", k.interpolate, "meta",
       ("x", "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias"),
       ("interpolate_backward(g, x, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias)",),
       "upsample"),
    Op("pixel_shuffle", aten.pixel_shuffle, "meta", ("x", "factor"), ("pixel_unshuffle(g, factor)",),
       "pixel_shuffle"),
    Op("pixel_unshuffle", aten.pixel_unshuffle, "meta", ("x", "factor"), ("pixel_shuffle(g, factor)",),
       "pixel_unshuffle"),
    Op("im2col", aten.im2col, "meta", ("x", "kernel_size", "dilation", "padding", "stride"),
       ("col2im(g, tuple(x.shape[-2:]), kernel_size, dilation, padding, stride)",), "im2col"),
    Op("col2im", aten.col2im, "meta", ("x", "output_size", "kernel_size", "dilation", "padding", "stride"),
       ("im2col(g, kernel_size, dilation, padding, stride)",), "col2im"),
    Op("ctc_loss", k.ctc_loss, "meta",
       ("log_probs", "targets", "input_lengths", "target_lengths", "blank", "zero_infinity"),
       ("ctc_loss_backward(g, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity)", ""),
       "ctc_loss"),
    Op("embedding", k.embedding, "meta", ("weight", "indices", "padding_idx", "scale_grad_by_freq"),
       ("embedding_dense_backward(g, indices, weight.shape[0], padding_idx, scale_grad_by_freq)", ""),
       "embedding"),
    Op("pad", k.pad, "meta", ("x", "pad", "mode", "value"), ("pad_backward(g, x, pad, mode)",), "constant_pad_nd"),
    Op("one_hot", k.one_hot, "meta", ("x", "num_classes")),
    # -- recurrent and attention layers: torch's whole-layer function; the backward reruns it under autograd
    Op("recurrence", lk.recurrence, "meta", ("mode", "n_states", "layout"),
       (_torch_grads("recurrence_backward", "mode, n_states, layout"),), "rnn"),
    Op("attention", lk.attention, "meta", ("is_causal", "scale", "enable_gqa"),
       (_torch_grads("attention_backward", "is_causal, scale, enable_gqa"),), "scaled_dot_product_attention",
       rule=rules.attention),
    Op("pack_padded", lk.pack_padded, "meta", ("x", "lengths", "batch_first"),
       ("pack_padded_backward(g, tuple(x.shape), lengths, batch_first)",), "pack_padded_sequence"),
    Op("pad_packed", lk.pad_packed, "meta", ("data", "batch_sizes", "batch_first", "padding_value", "total_length"),
       ("pad_packed_backward(g, batch_sizes, batch_first)",), "pad_packed_sequence"),
    # -- torch's backward kernels, called by the formulas above
    Op("gelu_backward", k.gelu_backward, "gradient", ("g", "x", "approximate"), rule=rules.like(1)),
    Op("silu_backward", aten.silu_backward, "gradient", ("g", "x"), rule=rules.like(1)),
    Op("leaky_relu_backward", k.leaky_relu_backward, "gradient", ("g", "x", "negative_slope"),
       rule=rules.like(1)),
    Op("softplus_backward", aten.softplus_backward, "gradient", ("g", "x", "beta", "threshold")),
    Op("elu_backward", k.elu_backward, "gradient", ("g", "x", "alpha", "scale", "input_scale")),
    Op("celu_backward", k.celu_backward, "gradient", ("g", "x", "alpha")),
    Op("hardswish_backward", aten.hardswish_backward, "gradient", ("g", "x")),
    Op("hardsigmoid_backward", aten.hardsigmoid_backward, "gradient", ("g", "x")),
    Op("hardshrink_backward", aten.hardshrink_backward, "gradient", ("g", "x", "lambd")),
    Op("softshrink_backward", aten.softshrink_backward, "gradient", ("g", "x", "lambd")),
    Op("glu_backward", aten.glu_backward, "gradient", ("g", "x", "dim")),
    Op("prelu_backward", k.prelu_backward, "gradient", ("g", "x", "weight", "which")),
    Op("hardtanh_backward", aten.hardtanh_backward, "gradient", ("g", "x", "min_val", "max_val")),
    Op("mish_backward", aten.mish_backward, "gradient", ("g", "x")),
    Op("log_sigmoid_backward", k.log_sigmoid_backward, "gradient", ("g", "x")),
    Op("huber_loss_backward", k.huber_loss_backward, "gradient", ("g", "x", "target", "reduction", "delta")),
    Op("nll_loss_backward", k.nll_loss_backward, "gradient", ("g", "x", "target", "reduction", "ignore_index"),
       rule=rules.like(1)),
    Op("cross_entropy_backward", k.cross_entropy_backward, "gradient",
       ("g", "x", "target", "reduction", "ignore_index"), rule=rules.like(1)),
    Op("l1_loss_backward", k.l1_loss_backward, "gradient", ("g", "x", "target", "reduction")),
    Op("smooth_l1_loss_backward", k.smooth_l1_loss_backward, "gradient", ("g", "x", "target", "reduction", "beta")),
    Op("binary_cross_entropy_backward", k.binary_cross_entropy_backward, "gradient",
       ("g", "x", "target", "reduction")),
    Op("binary_cross_entropy_target_backward", k.binary_cross_entropy_target_backward, "gradient",
       ("g", "x", "target", "reduction")),
    Op("binary_cross_entropy_with_logits_backward", k.binary_cross_entropy_with_logits_backward, "gradient",
       ("g", "x", "target", "reduction", "layout")),
    Op("binary_cross_entropy_with_logits_target_backward", k.binary_cross_entropy_with_logits_target_backward,
       "gradient", ("g", "x", "target", "reduction", "layout")),
    Op("layer_norm_backward", k.layer_norm_backward, "gradient", ("g", "x", "normalized_shape", "eps", "which"),
       rule=rules.layer_norm_backward),
    Op("batch_norm_backward", k.batch_norm_backward, "gradient",
       ("g", "x", "affine", "training", "momentum", "eps", "which"), rule=rules.batch_norm),
    Op("conv_backward", k.conv_backward, "gradient",
       ("g", "x", "weight", "stride", "padding", "dilation", "groups", "which")),
    Op("conv_transpose_backward", k.conv_transpose_backward, "gradient",
       ("g", "x", "weight", "stride", "padding", "output_padding", "dilation", "groups", "which")),
    Op("group_norm_backward", k.group_norm_backward, "gradient", ("g", "x", "num_groups", "eps", "which")),
    Op("adaptive_max_pool2d_backward", k.adaptive_max_pool2d_backward, "gradient", ("g", "x", "output_size")),
    Op("interpolate_backward", k.interpolate_backward, "gradient",
       ("g", "x", "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias")),
    Op("ctc_loss_backward", k.ctc_loss_backward, "gradient",
       ("g", "log_probs", "targets", "input_lengths", "target_lengths", "blank", "zero_infinity")),
    Op("max_pool_backward", k.max_pool_backward, "gradient", ("g",) + _POOL),
    Op("avg_pool2d_backward", k.avg_pool2d_backward, "gradient",
       ("g", "x", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")),
    Op("adaptive_avg_pool2d_backward", k.adaptive_avg_pool2d_backward, "gradient", ("g", "x", "output_size")),
    Op("embedding_dense_backward", aten.embedding_dense_backward, "gradient",
       ("g", "indices", "num_weights", "padding_idx", "scale_grad_by_freq")),
    Op("pad_backward", k.pad_backward, "gradient", ("g", "x", "pad", "mode")),
    Op("recurrence_backward", lk.recurrence_backward, "gradient", ("g", "mode", "n_states", "layout", "needs")),
    Op("attention_backward", lk.attention_backward, "gradient",
       ("g", "is_causal", "scale", "enable_gqa", "needs"), rule=rules.attention_backward),
    Op("pack_padded_backward", lk.pack_padded_backward, "gradient", ("g", "input_size", "lengths", "batch_first")),
    Op("pad_packed_backward", lk.pad_packed_backward, "gradient", ("g", "batch_sizes", "batch_first")),
)
