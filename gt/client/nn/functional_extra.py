"""torch.nn.functional's further activations, channel dropouts, normalisations, distances and losses.

Where torch has a fused kernel (hardswish, glu, prelu, group_norm, ctc_loss ...)
the call is one table op with torch's backward kernel; where torch composes
(softsign, instance_norm, cosine_similarity, most losses) the same steps are
composed of table ops in torch's order, so values and gradients follow.
Exported through ``gt.nn.functional``.
"""
from __future__ import annotations

import math
import warnings

import torch

from gt.client.autograd import no_grad
from gt.client.emit import put
from gt.client.functional import einsum, where
from gt.client.inplace import inplace as _rebind  # the name `inplace` is torch's argument here
from gt.client.nn.functional import (_apply, _reduction_enum, avg_pool2d, batch_norm, check_dropout_probability,
                                     leaky_relu, logsigmoid, pad)
from gt.client.tensor import Tensor

# -- activations ---------------------------------------------------------------------------------------------
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """torch's selu: its elu kernel with selu's alpha and scale."""
    if inplace:
        return _rebind(input, selu)
    return _apply("elu", (input,), (_SELU_ALPHA, _SELU_SCALE, 1.0))


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """torch's celu kernel (elu with input scale 1 / alpha) and its gradient."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    if inplace:
        return _rebind(input, lambda x: celu(x, alpha))
    return _apply("celu", (input,), (float(alpha),))


def _simple(name: str):
    def fn(input: Tensor, inplace: bool = False) -> Tensor:
        if inplace:
            return _rebind(input, fn)
        return _apply(name, (input,))
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch's {name} kernel and its backward kernel."
    return fn


hardswish, hardsigmoid = _simple("hardswish"), _simple("hardsigmoid")


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``value`` where ``input <= threshold``, else ``input``."""
    if inplace:
        return _rebind(input, lambda x: _apply("threshold", (x,), (threshold, value)))
    return _apply("threshold", (input,), (threshold, value))


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    return _apply("hardshrink", (input,), (float(lambd),))


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    return _apply("softshrink", (input,), (float(lambd),))


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Randomised leaky ReLU.  Training: each non-positive element scaled by a slope drawn from
    U(lower, upper) with torch's CPU generator, as torch's CPU kernel draws them (one draw per
    such element, in order), so the input is read (a sync point) to know which; evaluation:
    leaky_relu with the mean slope."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    noise = torch.empty(tuple(input.shape), dtype=input.dtype)
    torch.ops.aten.rrelu_with_noise(input._value().detach().cpu(), noise, lower, upper, True)
    noise = put(noise)
    if inplace:
        return _rebind(input, lambda x: _apply("rrelu_with_noise", (x, noise)))
    return _apply("rrelu_with_noise", (input, noise))


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """torch.prelu: ``weight`` (one slope, or one per channel of dim 1); torch's kernel and backward kernel."""
    return _apply("prelu", (input, weight))


def glu(input: Tensor, dim: int = -1) -> Tensor:
    if input.dim() == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    return _apply("glu", (input,), (int(dim),))


def softsign(input: Tensor) -> Tensor:
    return input / (input.abs() + 1)


def tanhshrink(input: Tensor) -> Tensor:
    return input - input.tanh()


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: torch.dtype | None = None) -> Tensor:
    if dim is None:
        dim = torch.nn.functional._get_softmax_dim("softmin", input.dim(), _stacklevel)
    return (-input).softmax(dim, dtype=dtype)


# -- channel and alpha dropout ------------------------------------------------------------------------------
_ALPHA = 1.7580993408473766  # torch's alpha_dropout constant


def _noisy(input: Tensor, p: float, training: bool, inplace: bool, feature: bool, alpha: bool) -> Tensor:
    """torch's _dropout_impl: the noise is drawn on the client as torch's CPU kernel draws it (bernoulli_ on
    an empty tensor: the input's shape, or (N, C, 1, ...) for channel dropout), so it equals torch's after the
    same manual_seed."""
    check_dropout_probability(p)
    if not training or p == 0 or input.numel() == 0:
        return input
    if p == 1:
        return input.mul_(0.0) if inplace else input * 0.0
    if feature and input.dim() < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    shape = tuple(input.shape[:2]) + (1,) * (input.dim() - 2) if feature else tuple(input.shape)
    noise = torch.empty(shape, dtype=input.dtype).bernoulli_(1 - p)
    if not alpha:
        noise = put(noise.div_(1 - p))
        return input.mul_(noise) if inplace else input * noise
    a = 1.0 / math.sqrt((_ALPHA * _ALPHA * p + 1) * (1 - p))
    b = put(noise.add(-1).mul_(_ALPHA * a).add_(_ALPHA * a * p))
    noise = put(noise.mul_(a))
    return input.mul_(noise).add_(b) if inplace else input * noise + b


def _batched(input: Tensor, batched_dim: int, fn) -> Tensor:
    """``fn`` of ``input``, given a batch dim of 1 first when it has ``batched_dim - 1`` dims (torch's rule)."""
    if input.dim() == batched_dim - 1:
        return fn(input.unsqueeze(0)).squeeze(0)
    return fn(input)


def _warn_rank(name: str, input: Tensor, spatial: int) -> None:
    """torch's deprecation warning for a channel dropout of an input without ``spatial`` + 1 or + 2 dims."""
    if input.dim() not in (spatial + 1, spatial + 2):
        warnings.warn(f"{name}: Received a {input.dim()}-D input to {name}, which is deprecated and will result in "
                      "an error in a future release. To retain the behavior and silence this warning, please use "
                      f"dropout instead. Note that {name} exists to provide channel-wise dropout on inputs with "
                      f"{spatial} spatial dimensions, a channel dimension, and an optional batch dimension (i.e. "
                      f"{spatial + 1}D or {spatial + 2}D inputs).", stacklevel=3)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) or (C, L) inputs."""
    check_dropout_probability(p)
    if input.dim() not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.dim()}D input. Note that "
                           "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, a "
                           "channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    return _batched(input, 3, lambda x: _noisy(x, p, training, inplace, True, False))


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) inputs (a 3-d input is taken as (N, C, L), as torch does)."""
    check_dropout_probability(p)
    _warn_rank("dropout2d", input, 2)
    if input.dim() == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim. "
                      "This behavior will change in a future release to interpret the input as one without a batch "
                      "dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please "
                      "switch to using dropout1d instead.", stacklevel=2)
    return _noisy(input, p, training, inplace, True, False)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) inputs."""
    check_dropout_probability(p)
    _warn_rank("dropout3d", input, 3)
    return _batched(input, 5, lambda x: _noisy(x, p, training, inplace, True, False))


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Dropout that keeps a SELU network's mean and variance (torch's alpha_dropout)."""
    return _noisy(input, p, training, inplace, False, True)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    return _noisy(input, p, training, inplace, True, True)


# -- normalisation -------------------------------------------------------------------------------------------
def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise each group of channels (torch's native_group_norm and its backward kernel)."""
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.dim()}")
    if input.shape[1] % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input "
                           f"of shape {list(input.shape)} and num_groups={num_groups}")
    if input.shape[0] * input.shape[1] // num_groups * math.prod(input.shape[2:]) == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                         f"{[input.shape[0] * input.shape[1] // num_groups, num_groups] + list(input.shape[2:])}")
    if weight is None and bias is not None:
        weight = bias.new_ones(bias.shape)
    inputs = (input,) + tuple(t for t in (weight, bias) if t is not None)
    return _apply("group_norm", inputs, (int(num_groups), float(eps)))


def instance_norm(input: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,
                  weight: Tensor | None = None, bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """torch's instance_norm: batch norm of the (1, N * C, ...) view with repeated weights and running stats;
    the running stats become the mean over the batch of the updated repeats."""
    if use_input_stats and math.prod(input.shape[2:]) == 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {input.size()}")
    if not use_input_stats and (running_mean is None or running_var is None):
        raise RuntimeError("Expected running_mean and running_var to be defined when use_input_stats is false")
    b, c = input.shape[:2]
    repeated = [None if t is None else t.repeat(b) for t in (weight, bias, running_mean, running_var)]
    out = batch_norm(input.reshape((1, b * c) + tuple(input.shape[2:])), repeated[2], repeated[3], repeated[0],
                     repeated[1], use_input_stats, momentum, eps)
    with no_grad():
        for running, updated in zip((running_mean, running_var), repeated[2:]):
            if running is not None:
                running.copy_(updated.view(b, c).mean(0))
    return out.view(input.shape)


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """Normalise over ``size`` neighbouring channels, composed as torch composes it (an average pool of the
    squares along the channels; torch's 3-d pool for 4-d and larger inputs is the same 2-d pool here)."""
    dim = input.dim()
    if dim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality                          input (got {dim} dimensions)")
    if input.numel() == 0:
        return input
    div = input.mul(input).reshape(input.shape[0], 1, input.shape[1], -1)
    div = pad(div, (0, 0, size // 2, (size - 1) // 2))
    div = avg_pool2d(div, (size, 1), stride=1).reshape(input.shape)
    return input / div.mul(alpha).add(k).pow(beta)


# -- distances -----------------------------------------------------------------------------------------------
def _clamped_unrecorded(t: Tensor, eps: float) -> Tensor:
    """``t`` clamped to at least ``eps``, with the gradient of ``t`` itself: torch clamps a copy in place
    under no_grad."""
    return t.clamp_min(eps).detach() + (t - t.detach())


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Cosine of the angle along ``dim``: each input over its clamped norm, then the dot product (torch's steps)."""
    shape = torch.broadcast_shapes(x1.shape, x2.shape)
    x1, x2 = x1.expand(shape), x2.expand(shape)
    n1 = _clamped_unrecorded(x1.norm(2, dim, keepdim=True), eps)
    n2 = _clamped_unrecorded(x2.norm(2, dim, keepdim=True), eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """The ``p``-norm of ``x1 - x2 + eps`` along the last dim, as torch."""
    return (x1 - x2 + eps).norm(p, max(x1.dim(), x2.dim()) - 1, keepdim=keepdim)


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y[..., o] = x1 W[o] x2 + b[o]``, with torch's checks."""
    if input1.dim() != input2.dim():
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {input1.dim()} and {input2.dim()}")
    for a, b in zip(input1.shape[:-1], input2.shape[:-1]):
        if a != b:
            raise RuntimeError(f"bilinear(): input batch dimensions do not match: got {a} and {b}")
    for i, x in ((1, input1), (2, input2)):
        if x.shape[-1] != weight.shape[i]:
            raise RuntimeError(f"bilinear(): input{i} size does not match weight size: got {x.shape[-1]} but "
                               f"expected {weight.shape[i]}")
    if bias is not None and bias.shape[0] != weight.shape[0]:
        raise RuntimeError(f"bilinear(): bias size does not match weight size: got {bias.shape[0]} but expected "
                           f"{weight.shape[0]}")
    lead = tuple(input1.shape[:-1])
    out = einsum("ni,oij,nj->no", input1.reshape(-1, weight.shape[1]), weight, input2.reshape(-1, weight.shape[2]))
    if bias is not None:
        out = out + bias
    return out.reshape(lead + (weight.shape[0],))


# -- losses --------------------------------------------------------------------------------------------------
def _reduce(loss: Tensor, red: int) -> Tensor:
    """torch's apply_loss_reduction: 0 none, 1 mean, 2 sum."""
    return loss.mean() if red == 1 else loss.sum() if red == 2 else loss


def _reduction_string(reduction: str, size_average, reduce) -> str:
    if size_average is not None or reduce is not None:
        reduction = torch.nn._reduction.legacy_get_string(size_average, reduce)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    return reduction


def _xlogy(x: Tensor) -> Tensor:
    """``x * log(x)``, 0 where x is 0 (torch.xlogy(x, x))."""
    return where(x == 0, 0.0, x * x.log())


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """KL divergence of ``target`` from log-probabilities ``input``, composed as torch's kl_div."""
    if size_average is not None or reduce is not None:
        red = _reduction_enum("mean", size_average, reduce)
    else:
        if reduction == "mean":
            warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                          "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                          "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                          stacklevel=2)
        red = 2 if reduction == "batchmean" else _reduction_enum(reduction)
    loss = target.exp() * (target - input) if log_target else _xlogy(target) - target * input
    loss = _reduce(loss, red)
    if reduction == "batchmean" and input.dim() != 0:
        loss = loss / input.shape[0]
    return loss


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    red = _reduction_enum(reduction, size_average, reduce)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
                           f"input1: {input1.size()}, input2: {input2.size()}, target: {target.size()} ")
    return _reduce((-target * (input1 - input2) + margin).clamp_min(0), red)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    red = _reduction_enum(reduction, size_average, reduce)
    zeros = input.new_zeros(input.shape)
    output = where(target != 1, (margin - input).clamp_min(0), zeros) + where(target != -1, input, zeros)
    return _reduce(output, red)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0, size_average=None,
                          reduce=None, reduction: str = "mean") -> Tensor:
    red = _reduction_enum(reduction, size_average, reduce)
    dim = target.dim()
    if dim not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if input1.dim() != dim + 1 or input2.dim() != dim + 1:
        raise RuntimeError(f"{dim}D target tensor expects {dim + 1}D input tensors, but found inputs with sizes "
                           f"{list(input1.shape)} and {list(input2.shape)}.")
    prod_sum = (input1 * input2).sum(dim)
    mag_square1 = (input1 * input1).sum(dim) + 1e-12
    mag_square2 = (input2 * input2).sum(dim) + 1e-12
    cos = prod_sum / (mag_square1 * mag_square2).sqrt()
    zeros = cos.new_zeros(cos.shape)
    output = where(target == 1, 1 - cos, zeros) + where(target == -1, (cos - margin).clamp_min(0), zeros)
    return _reduce(output, red)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, size_average=None, reduce=None,
                        reduction: str = "mean") -> Tensor:
    red = _reduction_enum(reduction, size_average, reduce)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    dims = (anchor.dim(), positive.dim(), negative.dim())
    if len(set(dims)) != 1:
        raise RuntimeError(f"The anchor, positive, and negative tensors are expected to have the same number of "
                           f"dimensions, but got: anchor {dims[0]}D, positive {dims[1]}D, and negative {dims[2]}D "
                           "inputs")
    dist_pos = pairwise_distance(anchor, positive, p, eps)
    dist_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        dist_neg = dist_neg.minimum(pairwise_distance(positive, negative, p, eps))
    return _reduce((margin + dist_pos - dist_neg).clamp_min(0), red)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False, size_average=None,
                     eps: float = 1e-8, reduce=None, reduction: str = "mean") -> Tensor:
    red = _reduction_enum(_reduction_string(reduction, size_average, reduce))
    loss = input.exp() - target * input if log_input else input - target * (input + eps).log()
    if full:
        stirling = target * target.log() - target + 0.5 * (2 * math.pi * target).log()
        loss = loss + stirling.masked_fill(target <= 1, 0)
    return _reduce(loss, red)


def gaussian_nll_loss(input: Tensor, target: Tensor, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean") -> Tensor:
    """torch's gaussian_nll_loss: its checks of ``var``'s size and sign, then the clamped-variance formula."""
    if isinstance(var, float):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = var * input.new_ones(input.shape)
    elif bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:
            var = var.unsqueeze(-1)
        elif not (input.dim() == var.dim() and sum(y for x, y in zip(input.shape, var.shape) if x != y) == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    var = _clamped_unrecorded(var, eps)
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, _reduction_enum(reduction))


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                                reduce=None, reduction: str = "mean") -> Tensor:
    reduction = _reduction_string(reduction, size_average, reduce)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.dim() - 1
    return _reduce(loss.sum(class_dim) / input.shape[class_dim], _reduction_enum(reduction))


def _lengths(lengths, name: str) -> tuple:
    """CTC lengths as a tuple of ints (a gt tensor's values are read: a sync point, as torch's CPU copy)."""
    if isinstance(lengths, Tensor):
        if lengths.dtype.is_floating_point or lengths.dtype is torch.bool:
            raise RuntimeError(f"{name} must be integral")
        lengths = lengths.tolist()
    return tuple(int(v) for v in ([lengths] if isinstance(lengths, int) else lengths))


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """Connectionist temporal classification loss (torch's _ctc_loss and its backward kernel, then torch's
    reduction: 'mean' divides each sample's loss by its target length)."""
    red = _reduction_enum(reduction)
    il, tl = _lengths(input_lengths, "input_lengths"), _lengths(target_lengths, "target_lengths")
    batched = log_probs.dim() == 3
    lp = log_probs if batched else log_probs.unsqueeze(1)
    res = _apply("ctc_loss", (lp, targets.long()), (il, tl, int(blank), bool(zero_infinity)))
    if zero_infinity:
        res = where(res == math.inf, 0.0, res)
    if red == 1:
        return (res / put(torch.tensor(tl, dtype=res.dtype).clamp_min(1))).mean()
    if red == 2:
        return res.sum()
    return res if batched else res.squeeze(0)


__all__ = ["alpha_dropout", "bilinear", "celu", "cosine_embedding_loss", "cosine_similarity", "ctc_loss",
           "dropout1d", "dropout2d", "dropout3d", "feature_alpha_dropout", "gaussian_nll_loss", "glu", "group_norm",
           "hardshrink", "hardsigmoid", "hardswish", "hinge_embedding_loss", "instance_norm", "kl_div",
           "local_response_norm", "margin_ranking_loss", "multilabel_soft_margin_loss", "pairwise_distance",
           "poisson_nll_loss", "prelu", "rrelu", "selu", "softmin", "softshrink", "softsign", "tanhshrink",
           "threshold", "triplet_margin_loss"]
