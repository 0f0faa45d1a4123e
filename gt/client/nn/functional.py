"""``gt.nn.functional``: torch.nn.functional's activations, losses and layers on gt tensors.

Argument handling (defaults, legacy ``size_average``/``reduce``, broadcasting
warnings, error types and messages) follows torch.nn.functional.  The work is
one table op per call where torch has a fused kernel (``gt/ops/nn.py``), whose
gradient is torch's own backward kernel; composites (label smoothing,
probability targets, ``normalize``) are built from table ops in torch's order.
"""
from __future__ import annotations

import math
import warnings

import torch
from torch.nn import _reduction

from gt.client import functional as _core
from gt.client.autograd import no_grad
from gt.client.emit import apply
from gt.client.inplace import inplace as _rebind  # the name `inplace` is torch's argument here
from gt.client.nn.init import drawn
from gt.client.tensor import Tensor
from gt.ops import OPCODE


def _apply(name: str, inputs: tuple, params: tuple = ()) -> Tensor:
    return apply(OPCODE[name], inputs, params)


_REDUCTION_NAMES = ("none", "mean", "sum")  # by torch's enum
_REDUCTION_ENUM = {name: i for i, name in enumerate(_REDUCTION_NAMES)}


def _reduction_enum(reduction: str, size_average=None, reduce=None) -> int:
    """torch's reduction enum (0 none, 1 mean, 2 sum); ValueError naming a bad string, as torch."""
    if size_average is None and reduce is None:
        red = _REDUCTION_ENUM.get(reduction)
        if red is not None:
            return red
    else:
        reduction = _reduction.legacy_get_string(size_average, reduce)
    return _reduction.get_enum(reduction)  # torch's warning or error for anything else


def _check_tensor(name: str, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument must be a gt Tensor, not {type(x).__name__}")


# -- activations --------------------------------------------------------------------------------
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return _rebind(input, Tensor.relu) if inplace else input.relu()


def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU with torch's kernels; ``approximate`` is 'none' or 'tanh'."""
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return _apply("gelu", (input,), (approximate,))


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    if inplace:
        return _rebind(input, silu)
    return _apply("silu", (input,))


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    if inplace:
        return _rebind(input, lambda x: leaky_relu(x, negative_slope))
    return _apply("leaky_relu", (input,), (float(negative_slope),))


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    if inplace:
        return _rebind(input, lambda x: elu(x, alpha))
    return _apply("elu", (input,), (float(alpha), 1.0, 1.0))


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    if inplace:
        return _rebind(input, lambda x: hardtanh(x, min_val, max_val))
    return _apply("hardtanh", (input,), (float(min_val), float(max_val)))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """torch computes relu6 as hardtanh(0, 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    if inplace:
        return _rebind(input, mish)
    return _apply("mish", (input,))


def logsigmoid(input: Tensor) -> Tensor:
    return _apply("log_sigmoid", (input,))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return _apply("softplus", (input,), (float(beta), float(threshold)))


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: torch.dtype | None = None) -> Tensor:
    if dim is None:
        dim = torch.nn.functional._get_softmax_dim("softmax", input.dim(), _stacklevel)
    return input.softmax(dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: torch.dtype | None = None) -> Tensor:
    if dim is None:
        dim = torch.nn.functional._get_softmax_dim("log_softmax", input.dim(), _stacklevel)
    return input.log_softmax(dim, dtype=dtype)


# -- dropout ----------------------------------------------------------------------------------------
def check_dropout_probability(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p).

    The mask is drawn on the client exactly as torch's CPU kernel draws it
    (``bernoulli_(1 - p)`` on an empty tensor of the input's shape and dtype, then
    ``div_(1 - p)``), so masks equal torch's after the same ``manual_seed``.
    """
    check_dropout_probability(p)
    _check_tensor("dropout", input)
    if not training or p == 0 or input.numel() == 0:
        return input
    if p == 1:
        noise = 0.0
    else:
        q = 1 - p
        noise = drawn(tuple(input.shape), input.dtype, lambda v: v.bernoulli_(q).div_(q))
    return input.mul_(noise) if inplace else input * noise


# -- layers ---------------------------------------------------------------------------------------
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    return _core.linear(input, weight, bias)


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the trailing ``normalized_shape`` dims (torch's native_layer_norm)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if weight is None and bias is not None:
        weight = bias.new_ones(bias.shape)
    inputs = (input,) + tuple(t for t in (weight, bias) if t is not None)
    return _apply("layer_norm", inputs, (shape, float(eps)))


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation (torch's native_batch_norm); in training the running stats are updated in place."""
    if training:
        per_channel = input.shape[0] * math.prod(input.shape[2:])
        if per_channel == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"{input.size()}")
    affine = weight is not None or bias is not None
    if affine and weight is None:
        weight = bias.new_ones(bias.shape)
    if affine and bias is None:
        bias = weight.new_zeros(weight.shape)
    running = () if running_mean is None else (running_mean, running_var)
    inputs = (input,) + ((weight, bias) if affine else ()) + running
    params = (affine, bool(training), float(momentum), float(eps))
    out = _apply("batch_norm", inputs, params + (0,))
    if training and running:
        with no_grad():
            new_mean = _apply("batch_norm", inputs, params + (1,))
            new_var = _apply("batch_norm", inputs, params + (2,))
            running_mean.copy_(new_mean)
            running_var.copy_(new_var)
    return out


def ntuple(value, n: int, name: str) -> tuple:
    """An int or a sequence of ``n`` ints as a tuple of ``n`` ints (torch's convolution and pooling arguments)."""
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} values to match the "
                           f"convolution dimensions, but got {name}={list(value)}")
    return value


def convolution(input: Tensor, weight: Tensor, bias: Tensor | None, stride, padding, dilation, groups: int,
          n: int) -> Tensor:
    """An ``n``-d convolution (torch's aten.convolution); an unbatched input gets a batch dim of 1, as in torch."""
    if input.dim() == n + 1:
        return convolution(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups, n).squeeze(0)
    groups = int(groups)
    convolution_checks(weight, groups, n)
    if weight.dim() == input.dim() == n + 2 and input.shape[1] != weight.shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, expected input"
                           f"{list(input.shape)} to have {weight.shape[1] * groups} channels, but got "
                           f"{input.shape[1]} channels instead")
    stride, dilation = ntuple(stride, n, "stride"), ntuple(dilation, n, "dilation")
    if padding == "valid":
        padding = 0
    elif padding == "same":
        if any(s != 1 for s in stride):
            raise RuntimeError("padding='same' is not supported for strided convolutions")
        total = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:])]
        if any(t % 2 for t in total):
            raise NotImplementedError("GT does not support torch's convolution padding='same' with uneven padding "
                                      "(an even kernel) yet")
        padding = tuple(t // 2 for t in total)
    elif isinstance(padding, str):
        raise ValueError(f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
    inputs = (input, weight) if bias is None else (input, weight, bias)
    return _apply("conv", inputs, (stride, ntuple(padding, n, "padding"), dilation, groups))


def convolution_checks(weight: Tensor, groups: int, n: int) -> None:
    """torch's check of a convolution's groups against its weight (meta inference does not make it)."""
    if weight.dim() == n + 2 and weight.shape[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
                           f"but got weight of size [{list(weight.shape)}] instead")


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    return convolution(input, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    return convolution(input, weight, bias, stride, padding, dilation, groups, 2)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    return convolution(input, weight, bias, stride, padding, dilation, groups, 3)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """2-d max pooling (torch's max_pool2d_with_indices; its backward kernel recomputes the indices)."""
    return max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool(n: int, input: Tensor, kernel_size, stride, padding, dilation, ceil_mode: bool,
             return_indices: bool):
    """``n``-d max pooling (2 or 3); with ``return_indices``, also where each maximum is (one more
    op, without a gradient), as the pair torch returns."""
    kernel = ntuple(kernel_size, n, "kernel_size")
    stride = kernel if stride is None or stride == [] else ntuple(stride, n, "stride")
    params = (kernel, stride, ntuple(padding, n, "padding"), ntuple(dilation, n, "dilation"), bool(ceil_mode))
    out = _apply(f"max_pool{n}d", (input,), params)
    return (out, _apply("max_pool_indices", (input,), params)) if return_indices else out


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-d average pooling (torch's avg_pool2d and its backward kernel)."""
    kernel = ntuple(kernel_size, 2, "kernel_size")
    stride = kernel if stride is None or stride == [] else ntuple(stride, 2, "stride")
    return _apply("avg_pool2d", (input,), (kernel, stride, ntuple(padding, 2, "padding"), bool(ceil_mode),
                                            bool(count_include_pad), divisor_override))


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to ``output_size`` (None keeps that input size), as torch."""
    size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    size = tuple(input.shape[-2 + i] if s is None else int(s) for i, s in enumerate(size))
    return _apply("adaptive_avg_pool2d", (input,), (size,))


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` at the indices in ``input``; the ``padding_idx`` row gets no gradient."""
    if max_norm is not None:
        raise NotImplementedError("GT does not support torch.nn.functional.embedding(max_norm=...) (renormalising rows in "
                                  "place) yet")
    if sparse:
        raise NotImplementedError("GT does not support torch.nn.functional.embedding(sparse=True) (sparse gradients) yet")
    if input.dtype not in (torch.int64, torch.int32):
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {input.dtype} instead (while checking arguments for embedding)")
    padding_idx = -1 if padding_idx is None else padding_index(padding_idx, weight.shape[0])
    return _apply("embedding", (weight, input), (padding_idx, bool(scale_grad_by_freq)))


def padding_index(padding_idx: int, num_embeddings: int) -> int:
    """``padding_idx`` as a row number (negative counts from the end); torch's AssertionError when out of range."""
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise AssertionError("Padding_idx must be within num_embeddings")
    return padding_idx % num_embeddings


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot rows; ``num_classes=-1`` reads the largest class from the data (a sync point)."""
    if tensor.dtype is not torch.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        if tensor.numel() == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(tensor.max().item()) + 1
    return _apply("one_hot", (tensor,), (int(num_classes),))


def pad(input: Tensor, pad: tuple, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims (constant, reflect, replicate or circular, as torch)."""
    if mode != "constant" and value is not None:
        raise NotImplementedError(f"Padding mode \"{mode}\" doesn't take in value argument.")
    return _apply("pad", (input,), (tuple(int(p) for p in pad), mode, None if value is None else float(value)))


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``input`` divided by its ``p``-norm along ``dim`` (at least ``eps``), composed as torch composes it."""
    denom = input.norm(p, dim, keepdim=True).clamp(min=eps).expand_as(input)
    return input / denom


# -- losses -----------------------------------------------------------------------------------------
def _broadcast_pair(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """torch's elementwise losses warn about, then broadcast, differing input and target sizes."""
    if input.shape == target.shape:
        return input, target
    warnings.warn(f"Using a target size ({target.size()}) that is different to the input size ({input.size()}). "
                  "This will likely lead to incorrect results due to broadcasting. Please ensure they have the "
                  "same size.", stacklevel=3)
    # broadcast as torch's kernel does, on meta tensors: a mismatch raises its message
    shape = torch.broadcast_tensors(torch.empty(input.shape, device="meta"), torch.empty(target.shape, device="meta"))[0].shape
    return input.expand(shape), target.expand(shape)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    red = _reduction_enum(reduction, size_average, reduce)
    input, target = _broadcast_pair(input, target)
    return _core.mse_loss(input, target, _REDUCTION_NAMES[red])


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    red = _reduction_enum(reduction, size_average, reduce)
    input, target = _broadcast_pair(input, target)
    return _apply("l1_loss", (input, target), (red,))


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    red = _reduction_enum(reduction)
    input, target = _broadcast_pair(input, target)
    return _apply("huber_loss", (input, target), (red, float(delta)))


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    red = _reduction_enum(reduction, size_average, reduce)
    input, target = _broadcast_pair(input, target)
    if beta == 0.0:  # torch computes this case as l1_loss
        return _apply("l1_loss", (input, target), (red,))
    return _apply("smooth_l1_loss", (input, target), (red, float(beta)))


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    red = _reduction_enum(reduction, size_average, reduce)
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({target.size()}) that is different to the input size "
                         f"({input.size()}) is deprecated. Please ensure they have the same size.")
    inputs = (input, target)
    if weight is not None:
        inputs += (weight.expand(torch.broadcast_shapes(target.shape, weight.shape)),)
    return _apply("binary_cross_entropy", inputs, (red,))


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     size_average=None, reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    red = _reduction_enum(reduction, size_average, reduce)
    if target.shape != input.shape:
        raise ValueError(f"Target size ({target.size()}) must be the same as input size ({input.size()})")
    optional = (weight, pos_weight)
    inputs = (input, target) + tuple(t for t in optional if t is not None)
    return _apply("binary_cross_entropy_with_logits", inputs, (red, tuple(t is not None for t in optional)))


def _check_class_target(target: Tensor) -> None:
    if target.dtype is not torch.int64:
        name = str(target.dtype).replace("torch.", "").capitalize()
        raise RuntimeError(f"expected scalar type Long but found {name}")


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log likelihood of class indices ``target`` under log-probabilities ``input`` (class dim 1)."""
    return _nll(input, target, weight, _reduction_enum(reduction, size_average, reduce), ignore_index)


def _nll(input: Tensor, target: Tensor, weight: Tensor | None, red: int, ignore_index: int) -> Tensor:
    _check_class_target(target)
    inputs = (input, target) if weight is None else (input, target, weight)
    return _apply("nll_loss", inputs, (red, int(ignore_index)))


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                  ignore_index: int = -100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """log_softmax over the class dim, then nll_loss (class indices) or a weighted sum (class probabilities)."""
    red = _reduction_enum(reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if label_smoothing == 0.0 and target.dtype is torch.int64:
        # the common case is one instruction: torch's cross_entropy_loss (its backward recomputes log_softmax)
        inputs = (input, target) if weight is None else (input, target, weight)
        return apply(_CROSS_ENTROPY, inputs, (red, int(ignore_index)))
    class_dim = 0 if input.dim() == 1 else 1
    n_classes = input.shape[class_dim]
    if target.dtype.is_floating_point:
        if target.shape != input.shape:
            raise RuntimeError(f"Expected target size {list(input.shape)}, got {list(target.shape)}")
        return _cross_entropy_probabilities(input.log_softmax(class_dim), target, weight, red, label_smoothing,
                                            class_dim, n_classes)
    _check_class_target(target)
    lsm = input.log_softmax(class_dim)
    nll = _nll(lsm, target, weight, red, ignore_index)
    return _label_smoothed(nll, lsm, target, weight, red, ignore_index, label_smoothing, class_dim, n_classes)


_CROSS_ENTROPY = OPCODE["cross_entropy"]


def _class_weight(weight: Tensor, ndim: int, class_dim: int) -> Tensor:
    """``weight`` viewed to broadcast along the class dim of an ``ndim``-d input."""
    return weight.reshape(tuple(-1 if d == class_dim else 1 for d in range(ndim)))


def _cross_entropy_probabilities(lsm: Tensor, target: Tensor, weight: Tensor | None, red: int,
                                 label_smoothing: float, class_dim: int, n_classes: int) -> Tensor:
    # torch's cross_entropy_loss_prob_target, step for step
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / n_classes
    terms = lsm * target
    if weight is not None:
        terms = terms * _class_weight(weight, lsm.dim(), class_dim)
    if red == 0:
        return -terms.sum(class_dim)
    total = -terms.sum()
    return total if red == 2 else total / (lsm.numel() // n_classes)


def _label_smoothed(nll: Tensor, lsm: Tensor, target: Tensor, weight: Tensor | None, red: int, ignore_index: int,
                    label_smoothing: float, class_dim: int, n_classes: int) -> Tensor:
    # torch's cross_entropy_loss_label_smoothing, step for step
    ignored = target == ignore_index
    if weight is not None:
        smooth = -(lsm * _class_weight(weight, lsm.dim(), class_dim)).sum(class_dim)
    else:
        smooth = -lsm.sum(class_dim)
    smooth = smooth.masked_fill(ignored, 0.0)
    if red == 1:
        if weight is not None:
            picked = weight.gather(0, target.masked_fill(ignored, 0).flatten()).masked_fill(ignored.flatten(), 0)
            ret = smooth.sum() / picked.sum()
        else:
            ret = smooth.sum() / (target != ignore_index).sum()
    elif red == 2:
        ret = smooth.sum()
    else:
        ret = smooth
    return (1 - label_smoothing) * nll + ret * (label_smoothing / n_classes)


__all__ = ["adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "conv1d", "conv2d", "conv3d", "cross_entropy", "dropout", "elu",
           "embedding", "gelu", "hardtanh", "huber_loss", "l1_loss", "layer_norm", "leaky_relu", "linear",
           "log_softmax", "logsigmoid", "max_pool2d", "mish", "mse_loss", "nll_loss", "normalize", "one_hot", "pad",
           "relu", "relu6", "sigmoid", "silu", "smooth_l1_loss", "softmax", "softplus", "tanh"]
