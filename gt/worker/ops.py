"""The worker's instruction set: opcode numbers and their PyTorch implementations.

Every op is a plain function ``fn(*tensor_inputs, *scalars, *params)`` over
torch tensors.  The eager engine calls it directly; the compiled path places the
same function in a ``torch.fx`` graph, so eager and compiled runs share one
definition of each op.  Scalars are values that may change between iterations
(a learning rate): they are graph inputs, never baked into a compiled graph.
Params are static (dims, shapes) and belong to the batch signature.
"""
from __future__ import annotations

import torch

from gt.ops import creation as _creation_ops
from gt.ops import optim as _optim_ops


def _rebuild_key(key):
    """Turn the client's hashable index key back into a torch index."""
    out = []
    for k in key:
        if type(k) is tuple:
            out.append(slice(k[0], k[1], k[2]))
        else:
            out.append(k)
    return tuple(out)


def _getitem(x, key):
    return x[_rebuild_key(key)]


def _getitem_backward(g, shape, key):
    out = g.new_zeros(shape)
    out[_rebuild_key(key)] = g
    return out


def _sum_to(g, dims, shape):
    """Sum ``g`` over ``dims`` (kept) and view it as ``shape``: a broadcast's gradient."""
    return torch.sum(g, dims, keepdim=True).reshape(shape)


def _max_backward_dim(g, idx, shape, dim, keepdim):
    if not keepdim:
        g = g.unsqueeze(dim)
        idx = idx.unsqueeze(dim)
    return g.new_zeros(shape).scatter(dim, idx, g)


def _max_backward_all(g, x, m):
    mask = x == m
    return mask * (g / mask.sum())


def _rdiv(x, s):
    # torch implements ``s / x`` as ``x.reciprocal() * s``; match it bit for bit.
    return torch.mul(torch.reciprocal(x), s)


def _add_scaled(a, b, alpha):
    # Eager: torch's own ``add(alpha=)`` (what torch.optim uses).  In a compiled
    # graph alpha is a 0-d tensor input, which add() does not take as alpha.
    if isinstance(alpha, torch.Tensor):
        return a + b * alpha
    return torch.add(a, b, alpha=alpha)


def _linear_weight_grad(g, x):
    """d(x @ w.T)/dw: ``g.T @ x`` with batch dims flattened."""
    if g.dim() != 2:
        g, x = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
    return torch.mm(g.t(), x)


_MSE_REDUCTION = {"none": 0, "mean": 1, "sum": 2}


def _mse_loss(x, target, reduction):
    # the ATen op F.mse_loss ends in, without its Python-level argument handling
    return torch._C._nn.mse_loss(x, target, _MSE_REDUCTION[reduction])


def _mse_loss_backward(g, x, target, reduction):
    return torch.ops.aten.mse_loss_backward.default(g, x, target, _MSE_REDUCTION[reduction])


def scalar_as(s, like):
    """A float scalar input (0-d float64 tensor) with the dtype a Python float gets
    against ``like`` in eager torch: the tensor's own float dtype, or the default
    float dtype for integer tensors.  Keeps compiled graphs' dtypes equal to eager's."""
    return s.to(like.dtype if like.is_floating_point() else torch.get_default_dtype())


def _full(shape, value, dtype, device):
    return torch.full(shape, value, dtype=dtype, device=device)


def _arange(start, end, step, dtype, device):
    return torch.arange(start, end, step, dtype=dtype, device=device)


def _cast(x, dtype):
    return x.to(dtype)


# (name, function).  The position in this table is the opcode.
OPS = (
    # binary, tensor with tensor
    ("add", torch.add),
    ("sub", torch.sub),
    ("mul", torch.mul),
    ("div", torch.div),
    ("pow", torch.pow),
    ("matmul", torch.matmul),
    ("gt", torch.gt),
    ("lt", torch.lt),
    ("ge", torch.ge),
    ("le", torch.le),
    ("eq", torch.eq),
    # binary, tensor with scalar (the scalar is a graph input)
    ("add_scalar", torch.add),
    ("rsub_scalar", torch.rsub),
    ("mul_scalar", torch.mul),
    ("div_scalar", torch.div),
    ("rdiv_scalar", _rdiv),
    ("pow_scalar", torch.pow),
    ("rpow_scalar", lambda x, s: torch.pow(s, x)),
    ("gt_scalar", torch.gt),
    ("lt_scalar", torch.lt),
    ("ge_scalar", torch.ge),
    ("le_scalar", torch.le),
    ("eq_scalar", torch.eq),
    ("add_scaled", _add_scaled),
    # unary
    ("neg", torch.neg),
    ("exp", torch.exp),
    ("log", torch.log),
    ("sqrt", torch.sqrt),
    ("abs", torch.abs),
    ("sign", torch.sign),
    ("relu", torch.relu),
    ("sigmoid", torch.sigmoid),
    ("tanh", torch.tanh),
    ("cast", _cast),
    ("alias", lambda x: x),
    # reductions
    ("sum_all", torch.sum),
    ("sum_dim", torch.sum),
    ("mean_all", torch.mean),
    ("mean_dim", torch.mean),
    ("max_all", torch.max),
    ("amax_dim", torch.amax),
    ("argmax_dim", torch.argmax),
    # shapes and indexing
    ("reshape", torch.reshape),
    ("transpose", torch.transpose),
    ("permute", torch.permute),
    ("expand", lambda x, shape: x.expand(shape)),
    ("getitem", _getitem),
    # fused layers, as torch runs them
    ("linear", torch.nn.functional.linear),
    ("mse_loss", _mse_loss),
    # gradient helpers
    ("linear_weight_grad", _linear_weight_grad),
    ("mse_loss_backward", _mse_loss_backward),
    ("threshold_backward", torch.ops.aten.threshold_backward.default),
    ("sigmoid_backward", torch.ops.aten.sigmoid_backward.default),
    ("tanh_backward", torch.ops.aten.tanh_backward.default),
    ("sum_to", _sum_to),
    ("getitem_backward", _getitem_backward),
    ("max_backward_dim", _max_backward_dim),
    ("max_backward_all", _max_backward_all),
    # creation
    ("full", _full),
    ("arange", _arange),
) + _optim_ops.OPS + _creation_ops.OPS

OP_NAMES = tuple(name for name, _ in OPS)
OP_FUNCS = tuple(fn for _, fn in OPS)
OPCODE = {name: i for i, name in enumerate(OP_NAMES)}
NUM_OPCODES = len(OPS)
