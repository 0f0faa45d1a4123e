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
