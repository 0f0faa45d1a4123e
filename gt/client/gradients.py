"""Gradient rules: for each differentiable op, ``rule(node, grad) -> grads per input``.

Each rule emits its gradient computation as ordinary instructions (through
Tensor ops or ``_emit``), so backward passes batch and compile like forward ones.
Where torch has a dedicated backward kernel (relu, sigmoid, tanh, mse_loss) the
rule uses it, so GT's gradients match torch's bit for bit in eager mode.
"""
from __future__ import annotations

import math

from gt.client.shapes import matmul_shape, reduce_shape
from gt.client.tensor import _OP, Tensor, _emit


_sum_to_plans: dict = {}


def _sum_to(g: Tensor, shape: tuple) -> Tensor:
    """Sum a gradient down to ``shape`` (undo a broadcast)."""
    if g.shape == shape:
        return g
    key = (g.shape, shape)
    plan = _sum_to_plans.get(key)
    if plan is None:
        lead = len(g.shape) - len(shape)
        inner = tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
        plan = (tuple(range(lead)) + inner, bool(inner))
        if len(_sum_to_plans) < 4096:
            _sum_to_plans[key] = plan
    dims, keep = plan
    if keep:  # some kept size-1 dims are reduced too: sum with keepdim, then view as shape
        return _emit(_OP["sum_to"], (g._id,), shape, g.dtype, (dims, shape))
    return _emit(_OP["sum_dim"], (g._id,), shape, g.dtype, (dims, False))


def _g_add(node, g):
    a, b = node.inputs
    return _sum_to(g, a.shape), _sum_to(g, b.shape)


def _g_sub(node, g):
    a, b = node.inputs
    return _sum_to(g, a.shape), _sum_to(-g, b.shape)


def _g_mul(node, g):
    a, b = node.inputs
    return (_sum_to(g * b, a.shape) if a.requires_grad else None,
            _sum_to(g * a, b.shape) if b.requires_grad else None)


def _g_div(node, g):
    a, b = node.inputs
    return (_sum_to(g / b, a.shape) if a.requires_grad else None,
            _sum_to(-g * a / (b * b), b.shape) if b.requires_grad else None)


def _g_pow(node, g):
    a, b = node.inputs
    ga = _sum_to(g * b * a ** (b - 1), a.shape) if a.requires_grad else None
    gb = _sum_to(g * (a ** b) * a.log(), b.shape) if b.requires_grad else None
    return ga, gb


def _g_matmul(node, g):
    a, b = node.inputs
    if a.ndim == 1 and b.ndim == 1:
        return (g * b if a.requires_grad else None), (g * a if b.requires_grad else None)
    a2 = a if a.ndim > 1 else a.unsqueeze(0)
    b2 = b if b.ndim > 1 else b.unsqueeze(-1)
    g2 = g.reshape(matmul_shape(a2.shape, b2.shape))
    ga = gb = None
    if a.requires_grad:
        ga = _sum_to(g2 @ b2.transpose(-1, -2), a2.shape).reshape(a.shape)
    if b.requires_grad:
        gb = _sum_to(a2.transpose(-1, -2) @ g2, b2.shape).reshape(b.shape)
    return ga, gb


def _g_identity(node, g):
    return (g,)


def _g_neg(node, g):
    return (-g,)


def _g_mul_s(node, g):
    return (g * node.saved,)


def _g_div_s(node, g):
    return (g / node.saved,)


def _g_rdiv_s(node, g):
    (x,) = node.inputs
    return (-g * node.saved / (x * x),)


def _g_pow_s(node, g):
    (x,) = node.inputs
    s = node.saved
    if s == 0:
        return (g * 0.0,)
    return (g * s * x ** (s - 1),)


def _g_rpow_s(node, g):
    return (g * node.saved[1] * math.log(node.saved[0]),)


def _g_exp(node, g):
    return (g * node.saved,)


def _g_log(node, g):
    return (g / node.inputs[0],)


def _g_sqrt(node, g):
    return (g / (node.saved * 2.0),)


def _g_abs(node, g):
    return (g * node.inputs[0].sign(),)


def _g_relu(node, g):
    # torch's relu backward: threshold_backward(grad, x, 0); x > 0 exactly where relu(x) > 0.
    return (_emit(_OP["threshold_backward"], (g._id, node.inputs[0]._id), g.shape, g.dtype, (0,)),)


def _g_sigmoid(node, g):
    return (_emit(_OP["sigmoid_backward"], (g._id, node.saved._id), g.shape, g.dtype),)


def _g_tanh(node, g):
    return (_emit(_OP["tanh_backward"], (g._id, node.saved._id), g.shape, g.dtype),)


def _g_linear(node, g):
    x, w, b = node.inputs
    gx = gw = gb = None
    if x.requires_grad:
        gx = g @ w
    if w.requires_grad:
        gw = _emit(_OP["linear_weight_grad"], (g._id, x._id), w.shape, g.dtype)
    if b.requires_grad:
        gb = _sum_to(g, b.shape)
    return gx, gw, gb


def _g_mse_loss(node, g):
    x, target = node.inputs
    gx = _emit(_OP["mse_loss_backward"], (g._id, x._id, target._id), x.shape, x.dtype, (node.saved,))
    return gx, (-gx if target.requires_grad else None)


def _g_add_scaled(node, g):
    a, b = node.inputs
    return _sum_to(g, a.shape), (_sum_to(g * node.saved, b.shape) if b.requires_grad else None)


def _g_cast(node, g):
    return (g.to(node.inputs[0].dtype),)


def _g_expand_back(node, g):
    (x,) = node.inputs
    dims, keepdim, scale = node.saved
    if not keepdim and dims:
        g = g.reshape(reduce_shape(x.shape, dims, True))
    g = _emit(_OP["expand"], (g._id,), x.shape, g.dtype, (x.shape,))
    return (g if scale == 1 else g * (1.0 / scale),)


def _g_max_all(node, g):
    (x,) = node.inputs
    return (_emit(_OP["max_backward_all"], (g._id, x._id, node.saved._id), x.shape, g.dtype),)


def _g_max_dim(node, g):
    (x,) = node.inputs
    idx, dim, keepdim = node.saved
    return (_emit(_OP["max_backward_dim"], (g._id, idx._id), x.shape, g.dtype, (x.shape, dim, keepdim)),)


def _g_reshape(node, g):
    return (g.reshape(node.inputs[0].shape),)


def _g_transpose(node, g):
    d0, d1 = node.saved
    return (g.transpose(d0, d1),)


def _g_permute(node, g):
    inverse = [0] * len(node.saved)
    for i, d in enumerate(node.saved):
        inverse[d] = i
    return (g.permute(*inverse),)


def _g_expand(node, g):
    return (_sum_to(g, node.inputs[0].shape),)


def _g_getitem(node, g):
    x = node.inputs[0]
    return (_emit(_OP["getitem_backward"], (g._id,), x.shape, g.dtype, (x.shape, node.saved)),)


def _g_neg_rule(node, g):
    return (-g,)
