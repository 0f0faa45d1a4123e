"""The worker's kernels that are not a single torch function.

Every kernel is a plain function ``fn(*tensor_inputs, *scalars, *params)`` over
torch tensors.  The eager engine calls it directly; the compiled path places the
same function in a ``torch.fx`` graph, so eager and compiled runs share one
definition of each op.  Scalars are values that may change between iterations
(a learning rate): they are graph inputs, never baked into a compiled graph.
Params are static (dims, shapes) and belong to the batch signature.
"""
from __future__ import annotations

import math

import torch


def rebuild_key(key: tuple, tensors: tuple = ()) -> tuple:
    """Turn the client's hashable index key back into a torch index.

    Slices travel as ``(start, stop, step)`` tuples, ``...`` as the string
    ``"..."`` and index tensors as ``"T"``, taken in order from ``tensors``.
    """
    out = []
    pos = 0
    for k in key:
        if type(k) is tuple:
            out.append(slice(*k))
        elif k == "T":
            out.append(tensors[pos])
            pos += 1
        elif k == "...":
            out.append(Ellipsis)
        else:
            out.append(k)
    return tuple(out)


def getitem(x, key):
    return x[rebuild_key(key)]


def getitem_backward(g, shape, key):
    out = g.new_zeros(shape)
    out[rebuild_key(key)] = g
    return out


def _index_list(args: tuple) -> list:
    """aten.index's list form: ``args`` is (*index tensors, layout), layout marking each dim
    that takes the next tensor (True) or stays whole (False)."""
    *tensors, layout = args
    it = iter(tensors)
    return [next(it) if k else None for k in layout]


def index(x, *args):
    """Advanced indexing with index tensors or boolean masks (after any basic indexing)."""
    return torch.ops.aten.index.Tensor(x, _index_list(args))


def index_backward(g, *args):
    """Gradient of ``index``: ``g`` accumulated into zeros of ``shape`` (repeated indices add up)."""
    *rest, shape = args
    return torch.ops.aten.index_put.default(g.new_zeros(shape), _index_list(tuple(rest)), g, True)


def setitem(x, *args):
    """``x`` with ``x[key] = value`` applied, as a new tensor (SSA: the client rebinds its handle)."""
    *rest, key = args
    value = rest[-1]
    out = x.clone()
    out[rebuild_key(key, tuple(rest[:-1]))] = value
    return out


def setitem_scalar(x, *args):
    """``setitem`` with a Python number as the value (last scalar before the key)."""
    *rest, value, key = args
    out = x.clone()
    out[rebuild_key(key, tuple(rest))] = value
    return out


def sum_to(g, dims, shape):
    """Sum ``g`` over ``dims`` (kept) and view it as ``shape``: a broadcast's gradient."""
    return torch.sum(g, dims, keepdim=True).reshape(shape)


def scatter_into(g, idx, shape, dim, keepdim):
    """Zeros of ``shape`` with ``g`` placed at ``idx`` along ``dim``: the gradient of max(dim), topk, sort."""
    if not keepdim:
        g = g.unsqueeze(dim)
        idx = idx.unsqueeze(dim)
    return g.new_zeros(shape).scatter(dim, idx, g)


def extremum_backward_all(g, x, m):
    """Gradient of a full max()/min(): split evenly among the elements equal to the result."""
    mask = x == m
    return mask * (g / mask.sum())


def rdiv(x, s):
    # torch implements ``s / x`` as ``x.reciprocal() * s``; match it bit for bit.
    return torch.mul(torch.reciprocal(x), s)


def rpow(x, s):
    return torch.pow(s, x)


def add_scaled(a, b, alpha):
    # Eager: torch's own ``add(alpha=)`` (what torch.optim uses).  In a compiled
    # graph alpha is a 0-d tensor input, which add() does not take as alpha.
    if isinstance(alpha, torch.Tensor):
        return a + b * alpha
    return torch.add(a, b, alpha=alpha)


def linear_weight_grad(g, x):
    """d(x @ w.T)/dw: ``g.T @ x`` with batch dims flattened."""
    if g.dim() != 2:
        g, x = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
    return torch.mm(g.t(), x)


_REDUCTION = {"none": 0, "mean": 1, "sum": 2}


def mse_loss(x, target, reduction):
    # the ATen op F.mse_loss ends in, without its Python-level argument handling
    return torch._C._nn.mse_loss(x, target, _REDUCTION[reduction])


def mse_loss_backward(g, x, target, reduction):
    return torch.ops.aten.mse_loss_backward.default(g, x, target, _REDUCTION[reduction])


def scalar_as(s, like):
    """A float scalar input (0-d float64 tensor) with the dtype a Python float gets
    against ``like`` in eager torch: the tensor's own float dtype, or the default
    float dtype for integer tensors.  Keeps compiled graphs' dtypes equal to eager's."""
    return s.to(like.dtype if like.is_floating_point() else torch.get_default_dtype())


def full(shape, value, dtype, device=None):
    return torch.full(shape, value, dtype=dtype, device=device)


def arange(start, end, step, dtype, device=None):
    return torch.arange(start, end, step, dtype=dtype, device=device)


def cast(x, dtype):
    return x.to(dtype)


def alias(x):
    return x


def expand(x, shape):
    return x.expand(shape)


def clamp(x, lo, hi):
    return torch.clamp(x, lo, hi)


def clamp_backward(g, x, lo, hi):
    """torch's clamp gradient: ``g`` where ``lo <= x <= hi``, else 0 (a None bound is open)."""
    if lo is None:
        mask = x <= hi
    elif hi is None:
        mask = x >= lo
    else:
        mask = (x >= lo) & (x <= hi)
    return torch.where(mask, g, 0)


def where(cond, a, b):
    return torch.where(cond, a, b)


def masked_fill(x, mask, value):
    return torch.masked_fill(x, mask, value)


def softmax(x, dim):
    return torch._softmax(x, dim, False)


def softmax_backward(g, out, dim):
    return torch._softmax_backward_data(g, out, dim, out.dtype)


def log_softmax(x, dim):
    return torch._log_softmax(x, dim, False)


def log_softmax_backward(g, out, dim):
    return torch._log_softmax_backward_data(g, out, dim, out.dtype)


def var(x, dims, correction, keepdim):
    return torch.var(x, dims, correction=correction, keepdim=keepdim)


def std(x, dims, correction, keepdim):
    return torch.std(x, dims, correction=correction, keepdim=keepdim)


def var_backward(g, x, dims, correction, keepdim):
    """torch's var_backward: ``2 (x - mean) g / (N - correction)``."""
    n = 1
    for d in dims:
        n *= x.shape[d]
    if not keepdim:
        for d in sorted(dims):
            g = g.unsqueeze(d)
    return (2.0 / (n - correction)) * g * (x - x.mean(dims, keepdim=True))


def std_backward(g, x, out, dims, correction, keepdim):
    """torch's std_backward: var_backward of ``g / (2 std)``, zero where std is zero."""
    gvar = torch.where(out == 0, torch.zeros_like(g), g / (2 * out))
    return var_backward(gvar, x, dims, correction, keepdim)


def norm(x, p, dims, keepdim):
    return torch.linalg.vector_norm(x, p, dims, keepdim)


def norm_backward(g, x, out, p, dims, keepdim):
    """torch's norm_backward for p > 0 (p = 2: ``g x / norm``, 0 where the norm is 0; p = inf: g shared
    among the elements of largest magnitude)."""
    if not keepdim:
        for d in sorted(dims):
            g, out = g.unsqueeze(d), out.unsqueeze(d)
    if p == math.inf:
        mask = (x.abs() == out) | x.isnan()
        return x.sgn() * ((g / mask.sum(dims, keepdim=True)) * mask)
    if p == 2.0:
        scale = x / out
    elif p == 1.0:
        return x.sgn() * g
    else:
        scale = x * x.abs().pow(p - 2) / out.pow(p - 1)
    return torch.where(out == 0, torch.zeros_like(scale), scale) * g


def cumsum(x, dim):
    return torch.cumsum(x, dim)


def cumsum_backward(g, dim):
    return g.flip(dim).cumsum(dim).flip(dim)


def tril(x, k):
    return torch.tril(x, k)


def triu(x, k):
    return torch.triu(x, k)


def cat(*args):
    return torch.cat(args[:-1], args[-1])


def stack(*args):
    return torch.stack(args[:-1], args[-1])


def repeat(x, sizes):
    return x.repeat(sizes)


def repeat_backward(g, shape, sizes):
    """Sum the tiles of ``g`` back onto ``shape`` (torch's repeat backward)."""
    lead = len(sizes) - len(shape)
    g = g.sum(tuple(range(lead))) if lead else g
    split = []
    for r, n in zip(sizes[lead:], shape):
        split += [r, n]
    return g.reshape(split).sum(tuple(range(0, len(split), 2)))


def einsum(*args):
    return torch.einsum(args[-1], args[:-1])


def index_select(x, idx, dim):
    return torch.index_select(x, dim, idx)


def index_select_backward(g, idx, shape, dim):
    return g.new_zeros(shape).index_add(dim, idx, g)


def gather(x, idx, dim):
    return torch.gather(x, dim, idx)


def gather_backward(g, idx, shape, dim):
    return g.new_zeros(shape).scatter_add(dim, idx, g)


def scatter(x, idx, src, dim):
    return torch.scatter(x, dim, idx, src)


def scatter_value(x, idx, value, dim):
    if isinstance(value, torch.Tensor):  # a float value inside a compiled graph: a 0-d input
        return torch.scatter(x, dim, idx, value.to(x.dtype).expand(idx.shape))
    return torch.scatter(x, dim, idx, value)


def topk_values(x, k, dim, largest, sorted_):
    return torch.topk(x, k, dim, largest, sorted_)[0]


def topk_indices(x, k, dim, largest, sorted_):
    return torch.topk(x, k, dim, largest, sorted_)[1]


def sort_values(x, dim, descending, stable):
    return torch.sort(x, dim=dim, descending=descending, stable=stable)[0]


def sort_indices(x, dim, descending, stable):
    return torch.sort(x, dim=dim, descending=descending, stable=stable)[1]


def all_dims(x, dims, keepdim):
    """torch.all over ``dims`` (None: every element)."""
    return torch.all(x) if dims is None else torch.all(x, dims, keepdim=keepdim)


def any_dims(x, dims, keepdim):
    return torch.any(x) if dims is None else torch.any(x, dims, keepdim=keepdim)


def zeros_like(x):
    return torch.zeros_like(x)
