"""Cheap shape rules: an op's result shape and dtype from its inputs', without running its kernel.

The client infers a table op's result by running its kernel on meta tensors
(``gt.client.emit.infer``).  For torch's losses and backward kernels (mse_loss,
tanh_backward, threshold_backward ...) the meta kernel is Python (torch._decomp,
torch._refs), and its first call imports torch._dynamo: seconds in the first
training step of every script, even a fully eager one.  An entry's ``rule`` answers
for the inputs a training step gives and returns None for any other case, where
the meta kernel decides (and raises torch's errors for bad shapes and dtypes).

A rule is ``rule(inputs, params) -> (shape, dtype) | None``; ``inputs`` are the
op's tensors (anything with ``shape`` and ``dtype``), ``params`` its other arguments
in kernel order.
"""
from __future__ import annotations

import math

import torch


def _floating_as(inputs: tuple, dtype: torch.dtype) -> bool:
    """``dtype`` is floating and every floating input has it (so torch's result has it too)."""
    return dtype.is_floating_point and all(t.dtype == dtype for t in inputs if t.dtype.is_floating_point)


def like(i: int):
    """The result has tensor input ``i``'s shape and dtype: an activation of its one input, a
    backward kernel's gradient of input ``i`` (whose inputs GT's gradient rules make consistent)."""
    def rule(inputs: tuple, params: tuple):
        t = inputs[i]
        return (t.shape, t.dtype) if _floating_as(inputs, t.dtype) else None
    return rule


def triangle(inputs: tuple, params: tuple):
    """``triu``/``tril`` of a matrix (or a batch of them): the input's shape and dtype."""
    t = inputs[0]
    return (t.shape, t.dtype) if len(t.shape) >= 2 else None


def layer_norm(inputs: tuple, params: tuple):
    """``(x[, weight[, bias]])`` of one floating dtype, normalized over x's last dims, which
    weight and bias have: x's shape and dtype."""
    x, shape = inputs[0], tuple(params[0])
    if (not _floating_as(inputs, x.dtype) or not 1 <= len(shape) <= len(x.shape)
            or tuple(x.shape[-len(shape):]) != shape or any(tuple(t.shape) != shape for t in inputs[1:])):
        return None
    return x.shape, x.dtype


def layer_norm_backward(inputs: tuple, params: tuple):
    """``(g, x[, weight[, bias]])`` as ``layer_norm`` answers for, g of x's shape: the shape of
    input ``which`` of layer_norm (0: x, 1: weight, 2: bias)."""
    g, x, which = inputs[0], inputs[1], params[-1]
    if layer_norm(inputs[1:], params) is None or g.dtype != x.dtype or g.shape != x.shape or which >= len(inputs) - 1:
        return None
    return inputs[1 + which].shape, x.dtype


def _broadcasts_to(shape: tuple, target: tuple) -> bool:
    return len(shape) <= len(target) and all(m in (1, t) for m, t in zip(reversed(shape), reversed(target)))


def masked_fill(inputs: tuple, params: tuple):
    """A floating x and a bool mask that broadcasts to x's shape: x's shape and dtype."""
    x, mask = inputs
    return ((x.shape, x.dtype) if x.dtype.is_floating_point and mask.dtype == torch.bool
            and _broadcasts_to(tuple(mask.shape), tuple(x.shape)) else None)


def attention(inputs: tuple, params: tuple):
    """``(q, k, v[, mask])`` of one floating dtype, q (..., L, E), k (..., S, E), v (..., S, Ev) with
    equal leading dims, a mask (bool or q's dtype) that broadcasts to (..., L, S) and no causal
    flag beside it, no grouped-query heads: (..., L, Ev)."""
    q, k, v = inputs[:3]
    is_causal, _, enable_gqa = params
    if (enable_gqa or not _floating_as(inputs[:3], q.dtype) or len(q.shape) < 2
            or not len(q.shape) == len(k.shape) == len(v.shape)
            or q.shape[:-2] != k.shape[:-2] or k.shape[:-1] != v.shape[:-1] or q.shape[-1] != k.shape[-1]):
        return None
    if len(inputs) > 3:
        mask = inputs[3]
        if (is_causal or mask.dtype not in (torch.bool, q.dtype)
                or not _broadcasts_to(tuple(mask.shape), (*q.shape[:-1], k.shape[-2]))):
            return None
    return (*q.shape[:-1], v.shape[-1]), q.dtype


def attention_backward(inputs: tuple, params: tuple):
    """``(g, q, k, v[, mask])``, what ``attention`` answers for: the needed inputs' gradients
    flattened into one vector (of q's dtype)."""
    g, tensors, needs = inputs[0], inputs[1:], params[-1]
    if attention(tensors, params[:-1]) is None or g.dtype != tensors[0].dtype:
        return None
    needed = [t for t, n in zip(tensors, needs) if n]
    if not needed or any(t.dtype != g.dtype for t in needed):
        return None
    return (sum(math.prod(t.shape) for t in needed),), g.dtype


def pointwise_loss(inputs: tuple, params: tuple):
    """``(x, target, reduction, ...)`` of equal shapes and one floating dtype: x's shape
    unreduced (reduction "none" or 0), else a scalar."""
    x, target = inputs
    if x.shape != target.shape or x.dtype != target.dtype or not x.dtype.is_floating_point:
        return None
    return (x.shape if params[0] in ("none", 0) else (), x.dtype)


def class_loss(inputs: tuple, params: tuple):
    """``(x, target, reduction, ignore_index)``, class-index targets: x ``(N, C, d...)`` floating,
    target int64 ``(N, d...)``, no weight; target's shape unreduced (reduction 0), else a scalar."""
    if len(inputs) != 2:
        return None
    x, target = inputs
    if len(x.shape) < 2 or target.dtype != torch.int64 or not x.dtype.is_floating_point \
            or tuple(target.shape) != tuple(x.shape[:1]) + tuple(x.shape[2:]):
        return None
    return (target.shape if params[0] == 0 else (), x.dtype)


def linear_weight_grad(inputs: tuple, params: tuple):
    """``g.T @ x`` over flattened batch dims: ``(out_features, in_features)``."""
    g, x = inputs
    if g.dtype != x.dtype or not g.dtype.is_floating_point or not g.shape or g.shape[:-1] != x.shape[:-1]:
        return None
    return ((g.shape[-1], x.shape[-1]), g.dtype)


def batch_norm(inputs: tuple, params: tuple):
    """``batch_norm(x, [weight, bias,] [running_mean, running_var,] affine, training, momentum, eps, which)``
    and its backward (``g`` first).  The forward's ``which`` 1 and 2 (the updated running stats, when
    training with them) and the backward's (weight and bias gradients) are per-channel vectors;
    anything else has x's shape.  One floating dtype, x ``(N, C, ...)``, every other tensor ``(C,)``."""
    training, which = params[1], params[-1]
    x = inputs[0]
    if len(x.shape) < 2 or not _floating_as(inputs, x.dtype) or which not in (0, 1, 2):
        return None
    n_channels = x.shape[1]
    stats = inputs[1:]
    backward = bool(stats) and stats[0].shape == x.shape
    if backward:
        stats = stats[1:]
    if any(tuple(t.shape) != (n_channels,) for t in stats):
        return None
    running = len(stats) - (2 if params[0] else 0) == 2    # the forward was given running stats
    vector = which and (backward or (training and running))
    return ((n_channels,), x.dtype) if vector else (x.shape, x.dtype)
