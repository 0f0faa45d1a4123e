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


def div_sqrt_add(v, c, eps):
    """``v.div(c).sqrt().add_(eps)``: NAdam's denominator (the division before the root)."""
    return torch.add(torch.sqrt(torch.div(v, c)), eps)


def adadelta_delta(square_avg, acc_delta, grad, eps):
    """``acc_delta.add(eps).sqrt_().div_(square_avg.add(eps).sqrt_()).mul_(grad)``: Adadelta's step."""
    return torch.mul(torch.div(torch.sqrt(torch.add(acc_delta, eps)), torch.sqrt(torch.add(square_avg, eps))), grad)


def decay_max_abs(exp_inf, grad, decay, eps):
    """``torch.maximum(exp_inf.mul_(decay), grad.abs().add_(eps))``: Adamax's infinity norm."""
    return torch.maximum(torch.mul(exp_inf, decay), torch.add(torch.abs(grad), eps))


def radam_step(p, exp_avg, exp_avg_sq, bias_correction1, lr, bias_correction2_sqrt, eps, rect):
    """RAdam's rectified update, in torch's order of operations."""
    adaptive_lr = bias_correction2_sqrt / torch.add(torch.sqrt(exp_avg_sq), eps)
    return torch.add(p, exp_avg / bias_correction1 * lr * adaptive_lr * rect, alpha=-1.0)


def average_toward(ax, p, mu):
    """``ax.add_(p.sub(ax).mul_(mu))``: ASGD's running average of the parameter."""
    return torch.add(ax, torch.mul(torch.sub(p, ax), mu))


def rprop_factor(grad, prev, etaminus, etaplus):
    """Rprop's per-element step-size factor: ``etaplus`` where the gradient kept its sign,
    ``etaminus`` where it flipped, 1 where either is zero."""
    sign = torch.mul(grad, prev).sign()
    sign = torch.where(sign.gt(0), etaplus, sign)
    sign = torch.where(sign.lt(0), etaminus, sign)
    return torch.where(sign.eq(0), 1, sign)


def rprop_step_size(step_size, factor, lo, hi):
    """``step_size.mul_(factor).clamp_(lo, hi)``."""
    return torch.clamp(torch.mul(step_size, factor), lo, hi)


def rprop_grad(grad, factor, etaminus):
    """The gradient with zeros where its sign flipped (Rprop skips those elements this step)."""
    return torch.where(factor.eq(etaminus), 0, grad)


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
    Op("div_sqrt_add", div_sqrt_add, "meta", ("v", "c", "eps")),
    Op("adadelta_delta", adadelta_delta, "meta", ("square_avg", "acc_delta", "grad", "eps")),
    Op("decay_max_abs", decay_max_abs, "meta", ("exp_inf", "grad", "decay", "eps")),
    Op("radam_step", radam_step, "meta",
       ("p", "exp_avg", "exp_avg_sq", "bias_correction1", "lr", "bias_correction2_sqrt", "eps", "rect")),
    Op("average_toward", average_toward, "meta", ("ax", "p", "mu")),
    Op("rprop_factor", rprop_factor, "meta", ("grad", "prev", "etaminus", "etaplus")),
    Op("rprop_step_size", rprop_step_size, "meta", ("step_size", "factor", "lo", "hi")),
    Op("rprop_grad", rprop_grad, "meta", ("grad", "factor", "etaminus")),
)
