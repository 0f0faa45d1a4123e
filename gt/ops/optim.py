"""Op entries for the optimizers' update arithmetic (``torch.optim``'s single-tensor code).

Each kernel is the torch call ``torch.optim`` makes, so eager updates equal torch's bit
for bit.  In a compiled graph a float scalar arrives as a 0-d tensor of the first input's
dtype; ``addcmul``/``addcdiv`` take their ``value`` only as a Python number, so there they
are written out as the arithmetic Inductor decomposes them into anyway.  Optimizer updates
run under ``no_grad``; only the public ones (lerp, addcmul, addcdiv) have gradients.
"""
from __future__ import annotations

import torch

from gt.ops.table import Op


def addcmul(a, t1, t2, value):
    if isinstance(value, torch.Tensor):
        return a + value * (t1 * t2)
    return torch.addcmul(a, t1, t2, value=value)


def addcdiv(a, t1, t2, value):
    if isinstance(value, torch.Tensor):
        return a + value * (t1 / t2)
    return torch.addcdiv(a, t1, t2, value=value)


def decay_add(buf, g, decay, alpha):
    """``buf.mul_(decay).add_(g, alpha=alpha)``: SGD's momentum buffer."""
    if isinstance(alpha, torch.Tensor):
        return buf * decay + g * alpha
    return torch.add(torch.mul(buf, decay), g, alpha=alpha)


def decay_addcmul(v, g, decay, value):
    """``v.mul_(decay).addcmul_(g, g, value=value)``: a running average of squared gradients."""
    return addcmul(torch.mul(v, decay), g, g, value)


def sqrt_div_add(v, c, eps):
    """``(v.sqrt() / c).add_(eps)``: the denominator of Adam-style updates (``c`` = 1.0: exact
    ``v.sqrt().add_(eps)``, as IEEE division by one is)."""
    return torch.add(torch.div(torch.sqrt(v), c), eps)


_PUBLIC = ("function", "method", "inplace", "out")

ENTRIES = (
    # lerp, addcmul, addcdiv are also gt.<name> and Tensor.<name>(_), differentiable
    Op("lerp", torch.lerp, "meta", grad=(lambda g, weight: g * (1 - weight), lambda g, weight: g * weight),
       node="lerp", sig="input: Tensor, end: Tensor, weight: Scalar", variants=_PUBLIC),
    Op("addcmul", addcmul, "meta", grad=(lambda g: g, lambda g, tensor2, value: g * value * tensor2,
                                         lambda g, tensor1, value: g * value * tensor1),
       node="addcmul", sig="input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Scalar = 1",
       variants=_PUBLIC),
    Op("addcdiv", addcdiv, "meta", grad=(lambda g: g, lambda g, tensor2, value: g * value / tensor2,
                                         lambda g, tensor1, tensor2, value: -g * value * tensor1 / (tensor2 * tensor2)),
       node="addcdiv", sig="input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Scalar = 1",
       variants=_PUBLIC),
    Op("decay_add", decay_add, "meta", ("buf", "g", "decay", "alpha")),
    Op("decay_addcmul", decay_addcmul, "meta", ("v", "g", "decay", "value")),
    Op("sqrt_div_add", sqrt_div_add, "meta", ("v", "c", "eps")),
)
