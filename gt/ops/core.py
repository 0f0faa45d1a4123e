"""The core op entries: arithmetic, math, reductions, shapes, indexing, creation.

One ``Op`` per worker instruction; see ``gt/ops/__init__.py`` for how to add one.
"""
from __future__ import annotations

import math

import torch

from gt.ops import kernels as k
from gt.ops.table import Op, elementwise, ops

_AB = ("a", "b")
_XS = ("x", "s")
_RED = ("x", "dims", "keepdim")


def _compare(name, kernel):
    """A non-differentiable broadcasting op and its twin with a Python number."""
    return (Op(name, kernel, "broadcast", _AB, (), name, True),
            Op(name + "_scalar", kernel, "scalar", _XS))


ENTRIES = (
    # -- broadcasting binary, tensor with tensor
    Op("add", torch.add, "broadcast", _AB, (lambda g: g, lambda g: g), "add"),
    Op("sub", torch.sub, "broadcast", _AB, (lambda g: g, lambda g: -g), "sub"),
    Op("mul", torch.mul, "broadcast", _AB, (lambda g, b: g * b, lambda g, a: g * a), "mul"),
    Op("div", torch.div, "broadcast", _AB, (lambda g, b: g / b, lambda g, a, b: -g * a / (b * b)), "div"),
    Op("pow", torch.pow, "broadcast", _AB, (lambda g, a, b: g * b * a ** (b - 1), lambda g, a, b: g * a ** b * a.log()), "pow1"),
    Op("maximum", torch.maximum, "broadcast", _AB,
       (lambda g, a, b: ops.where(a == b, g / 2, g).masked_fill(a < b, 0), lambda g, a, b: ops.where(a == b, g / 2, g).masked_fill(b < a, 0)),
       "maximum", True),
    Op("minimum", torch.minimum, "broadcast", _AB,
       (lambda g, a, b: ops.where(a == b, g / 2, g).masked_fill(a > b, 0), lambda g, a, b: ops.where(a == b, g / 2, g).masked_fill(b > a, 0)),
       "minimum", True),
    Op("remainder", torch.remainder, "broadcast", _AB, (lambda g: g, lambda g, a, b: -g * (a / b).floor()), "remainder", True),
    Op("remainder_scalar", torch.remainder, "scalar", _XS, (lambda g: g,), "remainder"),
    *_compare("floor_divide", torch.floor_divide),
    *_compare("eq", torch.eq), *_compare("ne", torch.ne), *_compare("lt", torch.lt),
    *_compare("le", torch.le), *_compare("gt", torch.gt), *_compare("ge", torch.ge),
    *_compare("bitwise_and", torch.bitwise_and), *_compare("bitwise_or", torch.bitwise_or),
    *_compare("bitwise_xor", torch.bitwise_xor),
    Op("add_scaled", k.add_scaled, "meta", ("a", "b", "s"), (lambda g: g, lambda g, s: g * s), "add"),
    # -- tensor with a Python number (a float is a graph input, an int a static param)
    Op("add_scalar", torch.add, "scalar", _XS, (lambda g: g,), "add"),
    Op("sub_scalar", torch.sub, "scalar", _XS, (lambda g: g,), "sub"),
    Op("rsub_scalar", torch.rsub, "scalar", _XS, (lambda g: -g,), "rsub1"),
    Op("mul_scalar", torch.mul, "scalar", _XS, (lambda g, s: g * s,), "mul"),
    Op("div_scalar", torch.div, "scalar", _XS, (lambda g, s: g / s,), "div"),
    Op("rdiv_scalar", k.rdiv, "scalar", _XS, (lambda g, x, s: -g * s / (x * x),), "mul"),
    Op("pow_scalar", torch.pow, "scalar", _XS, (lambda g, x, s: g * 0.0 if s == 0 else g * s * x ** (s - 1),), "pow"),
    Op("rpow_scalar", k.rpow, "scalar", _XS, (lambda g, out, s: g * out * math.log(s),), "pow2"),
    Op("clamp", k.clamp, "meta", ("x", "lo", "hi"), (lambda g, x, lo, hi: ops.clamp_backward(g, x, lo, hi),), "clamp"),
    Op("clamp_tensor", k.clamp, "meta", ("x", "lo", "hi"),
       (lambda g, x, lo, hi: ops.where((x >= lo) & (x <= hi), g, 0), lambda g, x, lo: ops.where(x < lo, g, 0), lambda g, x, hi: ops.where(x > hi, g, 0)), "clamp1"),
    Op("where", k.where, "meta", ("c", "a", "b"), (None, lambda g, c: ops.where(c, g, 0), lambda g, c: ops.where(c, 0, g)), "where"),
    Op("masked_fill", k.masked_fill, "meta", ("x", "mask", "value"), (lambda g, mask: g.masked_fill(mask, 0),),
       "masked_fill"),
    Op("masked_fill_tensor", k.masked_fill, "meta", ("x", "mask", "value"),
       (lambda g, mask: g.masked_fill(mask, 0), None, lambda g, mask: ops.where(mask, g, 0).sum()), "masked_fill1"),
    # -- elementwise unary
    elementwise("neg", torch.neg, lambda g: -g),
    elementwise("exp", torch.exp, lambda g, out: g * out),
    elementwise("log", torch.log, lambda g, x: g / x),
    elementwise("sqrt", torch.sqrt, lambda g, out: g / (out * 2.0)),
    elementwise("rsqrt", torch.rsqrt, lambda g, out: g * out.pow(3) * -0.5),
    elementwise("abs", torch.abs, lambda g, x: g * x.sign()),
    elementwise("sign", torch.sign, lambda g: ops.zeros_like(g)),
    elementwise("round", torch.round, lambda g: ops.zeros_like(g), export=("gt", "gt.special")),
    elementwise("floor", torch.floor, lambda g: ops.zeros_like(g)),
    elementwise("ceil", torch.ceil, lambda g: ops.zeros_like(g)),
    elementwise("relu", torch.relu, lambda g, x: ops.threshold_backward(g, x, 0)),
    elementwise("sigmoid", torch.sigmoid, lambda g, out: ops.sigmoid_backward(g, out)),
    elementwise("tanh", torch.tanh, lambda g, out: ops.tanh_backward(g, out)),
    elementwise("sin", torch.sin, lambda g, x: g * x.cos()),
    elementwise("cos", torch.cos, lambda g, x: g * -x.sin()),
    elementwise("erf", torch.erf, lambda g, x: (x * x).neg().exp() * 1.1283791670955126 * g, export=("gt", "gt.special")),
    elementwise("reciprocal", torch.reciprocal, lambda g, out: -g * (out * out)),
    elementwise("bitwise_not", torch.bitwise_not),
    elementwise("logical_not", torch.logical_not),
    elementwise("isnan", torch.isnan, inplace=False),
    elementwise("isfinite", torch.isfinite, inplace=False),
    Op("cast", k.cast, "meta", ("x", "dtype"), (lambda g, x: g.to(x.dtype),), "to_copy"),
    Op("alias", k.alias, "meta", ("x",), (lambda g: g,), "alias"),
    # -- reductions
    Op("sum_all", torch.sum, "client", ("x",), (lambda g, x: ops.expand_back(g, x, (), False),), "sum"),
    Op("sum_dim", torch.sum, "client", _RED, (lambda g, x, dims, keepdim: ops.expand_back(g, x, dims, keepdim),), "sum1"),
    Op("mean_all", torch.mean, "client", ("x",), (lambda g, x: ops.expand_back(g, x, (), False) * (1.0 / x.numel()),),
       "mean"),
    Op("mean_dim", torch.mean, "client", _RED,
       (lambda g, x, dims, keepdim: ops.expand_back(g, x, dims, keepdim) * (1.0 / ops.numel_of(x, dims)),), "mean1"),
    Op("max_all", torch.max, "client", ("x",), (lambda g, out, x: ops.extremum_backward_all(g, x, out),), "max1"),
    Op("min_all", torch.min, "client", ("x",), (lambda g, out, x: ops.extremum_backward_all(g, x, out),), "min1"),
    Op("amax_dim", torch.amax, "client", _RED,
       (lambda g, x, dims, keepdim: ops.scatter_into(g, ops.argmax_dim(x, dims, keepdim), x.shape, dims, keepdim),), "max"),
    Op("amin_dim", torch.amin, "client", _RED,
       (lambda g, x, dims, keepdim: ops.scatter_into(g, ops.argmin_dim(x, dims, keepdim), x.shape, dims, keepdim),), "min"),
    Op("argmax_dim", torch.argmax, "client", ("x", "dim", "keepdim")),
    Op("argmin_dim", torch.argmin, "client", ("x", "dim", "keepdim")),
    Op("all_dims", k.all_dims, "meta", _RED), Op("any_dims", k.any_dims, "meta", _RED),
    Op("var", k.var, "meta", ("x", "dims", "correction", "keepdim"),
       (lambda g, x, dims, correction, keepdim: ops.var_backward(g, x, dims, correction, keepdim),), "var"),
    Op("std", k.std, "meta", ("x", "dims", "correction", "keepdim"),
       (lambda g, out, x, dims, correction, keepdim: ops.std_backward(g, x, out, dims, correction, keepdim),), "std"),
    Op("norm", k.norm, "meta", ("x", "p", "dims", "keepdim"), (lambda g, out, x, p, dims, keepdim: ops.norm_backward(g, x, out, p, dims, keepdim),),
       "linalg_vector_norm"),
    Op("cumsum", k.cumsum, "meta", ("x", "dim"), (lambda g, dim: ops.cumsum_backward(g, dim),), "cumsum"),
    Op("softmax", k.softmax, "meta", ("x", "dim"), (lambda g, out, dim: ops.softmax_backward(g, out, dim),), "softmax"),
    Op("log_softmax", k.log_softmax, "meta", ("x", "dim"), (lambda g, out, dim: ops.log_softmax_backward(g, out, dim),),
       "log_softmax"),
    # -- matmul family
    Op("matmul", torch.matmul, "client", (), (lambda g, inputs: ops.matmul_grads(g, *inputs),), "mm"),
    Op("mm", torch.mm, "meta", _AB, (lambda g, b: g.mm(b.t()), lambda g, a: a.t().mm(g)), "mm", True),
    Op("bmm", torch.bmm, "meta", _AB, (lambda g, b: g.bmm(b.transpose(1, 2)), lambda g, a: a.transpose(1, 2).bmm(g)), "bmm", True),
    Op("outer", torch.outer, "meta", _AB, (lambda g, b: g @ b, lambda g, a: a @ g), "outer", True),
    Op("einsum", k.einsum, "meta", ("equation",), (lambda g, inputs, equation: ops.einsum_grads(g, inputs, equation),), "einsum"),
    # -- shapes
    Op("reshape", torch.reshape, "client", ("x", "shape"), (lambda g, x: g.reshape(x.shape),), "view"),
    Op("transpose", torch.transpose, "client", ("x", "d0", "d1"), (lambda g, d0, d1: g.transpose(d0, d1),), "transpose"),
    Op("permute", torch.permute, "client", ("x", "dims"), (lambda g, dims: g.permute(ops.inverse_permutation(dims)),), "permute"),
    Op("expand", k.expand, "client", ("x", "shape"), (lambda g, x: ops.sum_to(g, x.shape),), "expand"),
    Op("repeat", k.repeat, "meta", ("x", "sizes"), (lambda g, x, sizes: ops.repeat_backward(g, x.shape, sizes),), "repeat"),
    Op("tril", k.tril, "meta", ("x", "k"), (lambda g, k: g.tril(k),), "tril"),
    Op("triu", k.triu, "meta", ("x", "k"), (lambda g, k: g.triu(k),), "triu"),
    Op("cat", k.cat, "meta", ("dim",), (lambda g, inputs, dim: ops.cat_grads(g, inputs, dim),), "cat"),
    Op("stack", k.stack, "meta", ("dim",), (lambda g, inputs, dim: ops.stack_grads(g, inputs, dim),), "stack"),
    # -- indexing
    Op("getitem", k.getitem, "client", ("x", "key"), (lambda g, x, key: ops.getitem_backward(g, x.shape, key),), "select"),
    Op("index", k.index, "meta", ("layout",), (lambda g, inputs, layout: ops.index_grads(g, inputs, layout),), "index"),
    Op("setitem", k.setitem, "meta", ("key",), (lambda g, inputs, key: ops.setitem_grads(g, inputs, key),), "index_put"),
    Op("setitem_scalar", k.setitem_scalar, "meta", ("value", "key"),
       (lambda g, inputs, key: ops.setitem_grads(g, inputs, key),), "index_put"),
    Op("index_select", k.index_select, "meta", ("x", "idx", "dim"),
       (lambda g, x, idx, dim: ops.index_select_backward(g, idx, x.shape, dim),), "index_select"),
    Op("gather", k.gather, "meta", ("x", "idx", "dim"), (lambda g, x, idx, dim: ops.gather_backward(g, idx, x.shape, dim),), "gather"),
    Op("scatter", k.scatter, "meta", ("x", "idx", "src", "dim"),
       (lambda g, idx, dim: g.scatter(dim, idx, 0), None, lambda g, idx, dim: g.gather(dim, idx)), "scatter"),
    Op("scatter_value", k.scatter_value, "meta", ("x", "idx", "value", "dim"), (lambda g, idx, dim: g.scatter(dim, idx, 0),),
       "scatter1"),
    Op("topk_values", k.topk_values, "meta", ("x", "k", "dim", "largest", "sorted"),
       (lambda g, x, k, dim, largest, sorted: ops.scatter_into(g, ops.topk_indices(x, k, dim, largest, sorted), x.shape, dim, True),), "topk"),
    Op("topk_indices", k.topk_indices, "meta", ("x", "k", "dim", "largest", "sorted")),
    Op("sort_values", k.sort_values, "meta", ("x", "dim", "descending", "stable"),
       (lambda g, x, dim, descending, stable: ops.scatter_into(g, ops.sort_indices(x, dim, descending, stable), x.shape, dim, True),), "sort"),
    Op("sort_indices", k.sort_indices, "meta", ("x", "dim", "descending", "stable")),
    # -- fused layers, as torch runs them
    Op("linear", torch.nn.functional.linear, "client", ("x", "w", "bias"),
       (lambda g, w: g @ w, lambda g, x: ops.linear_weight_grad(g, x), lambda g, bias: ops.sum_to(g, bias.shape)), "addmm"),
    Op("mse_loss", k.mse_loss, "client", ("x", "target", "reduction"),
       (lambda g, x, target, reduction: ops.mse_loss_backward(g, x, target, reduction), lambda g, x, target, reduction: -ops.mse_loss_backward(g, x, target, reduction)),
       "mse_loss"),
    # -- gradient helpers (torch's own backward kernels where it has them)
    Op("linear_weight_grad", k.linear_weight_grad, "gradient", ("g", "x")),
    Op("mse_loss_backward", k.mse_loss_backward, "gradient", ("g", "x", "target", "reduction")),
    Op("threshold_backward", torch.ops.aten.threshold_backward.default, "gradient", ("g", "x", "threshold")),
    Op("sigmoid_backward", torch.ops.aten.sigmoid_backward.default, "gradient", ("g", "out")),
    Op("tanh_backward", torch.ops.aten.tanh_backward.default, "gradient", ("g", "out")),
    Op("softmax_backward", k.softmax_backward, "gradient", ("g", "out", "dim")),
    Op("log_softmax_backward", k.log_softmax_backward, "gradient", ("g", "out", "dim")),
    Op("sum_to", k.sum_to, "gradient", ("g", "dims", "shape")),
    Op("getitem_backward", k.getitem_backward, "gradient", ("g", "shape", "key")),
    Op("index_backward", k.index_backward, "gradient", ("g", "shape")),
    Op("scatter_into", k.scatter_into, "gradient", ("g", "idx", "shape", "dim", "keepdim")),
    Op("extremum_backward_all", k.extremum_backward_all, "gradient", ("g", "x", "m")),
    Op("clamp_backward", k.clamp_backward, "gradient", ("g", "x", "lo", "hi")),
    Op("var_backward", k.var_backward, "gradient", ("g", "x", "dims", "correction", "keepdim")),
    Op("std_backward", k.std_backward, "gradient", ("g", "x", "out", "dims", "correction", "keepdim")),
    Op("norm_backward", k.norm_backward, "gradient", ("g", "x", "out", "p", "dims", "keepdim")),
    Op("cumsum_backward", k.cumsum_backward, "gradient", ("g", "dim")),
    Op("repeat_backward", k.repeat_backward, "gradient", ("g", "shape", "sizes")),
    Op("index_select_backward", k.index_select_backward, "gradient", ("g", "idx", "shape", "dim")),
    Op("gather_backward", k.gather_backward, "gradient", ("g", "idx", "shape", "dim")),
    Op("zeros_like", k.zeros_like, "gradient", ("x",)),
    # -- creation
    Op("full", k.full, "creation", ("shape", "value", "dtype")),
    Op("arange", k.arange, "creation", ("start", "end", "step", "dtype")),
)
