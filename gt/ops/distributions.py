"""Op entries for ``gt.distributions``: the reparameterised samplers' gradients and the two
linear-algebra steps MultivariateNormal needs.

A Gamma or Dirichlet sample is drawn on the client with torch's own sampler (so it equals
torch's under the same seed) and enters the graph through ``*_rsample(concentration, x)``,
whose value is ``x`` and whose gradient is torch's implicit reparameterisation gradient
(``_standard_gamma_grad``, ``_dirichlet_grad``).  ``dist_cholesky``/``dist_solve_tril`` are
``torch.linalg.cholesky``/``solve_triangular`` (lower) with torch's backward formulas
written out in torch ops, so they compile inside a hot path.
"""
from __future__ import annotations

import torch

from gt.ops.table import Op


def _shape_like_first(name: str) -> None:
    """Give aten's sampler gradients the fake (meta) kernel torch lacks: their result has their
    first argument's shape and dtype.  The client infers results on meta tensors and Inductor
    traces with fake ones; both need it."""
    if not torch._C._dispatch_has_kernel_for_dispatch_key(name, "Meta"):
        torch.library.register_fake(name)(lambda first, *rest: torch.empty_like(first))


_shape_like_first("aten::_standard_gamma_grad")
_shape_like_first("aten::_dirichlet_grad")


def sampled(concentration, x):
    """The sample ``x`` drawn on the client: the value of a reparameterised sample."""
    return x


def dirichlet_rsample_backward(g, concentration, x):
    """torch's ``_Dirichlet.backward``: the implicit gradient of a Dirichlet sample."""
    total = concentration.sum(-1, True).expand_as(concentration)
    grad = torch._dirichlet_grad(x, concentration, total)
    return grad * (g - (x * g).sum(-1, True))


def solve_tril(l, b):
    """``L X = B`` for a lower-triangular ``L``."""
    return torch.linalg.solve_triangular(l, b, upper=False)


def solve_tril_backward_b(g, l, b):
    return torch.linalg.solve_triangular(l.mT, g, upper=True)


def solve_tril_backward_l(g, l, b):
    grad_b = torch.linalg.solve_triangular(l.mT, g, upper=True)
    return (-grad_b @ solve_tril(l, b).mT).tril()


def cholesky_backward(g, a):
    """The gradient of ``A = L L^T`` for ``L = cholesky(A)``: ``L^-T phi(L^T gL) L^-1``,
    symmetrised (``phi``: the lower triangle, diagonal halved), as torch's formula."""
    l = torch.linalg.cholesky(a)
    p = l.mT @ g.tril()
    p = p.tril() - 0.5 * torch.diag_embed(p.diagonal(dim1=-2, dim2=-1))
    grad = torch.linalg.solve_triangular(l.mT, p, upper=True)
    grad = torch.linalg.solve_triangular(l, grad, upper=False, left=False)
    return 0.5 * (grad + grad.mT)


ENTRIES = (
    Op("standard_gamma_rsample", sampled, "meta", ("concentration", "x"),
       ("g * standard_gamma_grad(concentration, x)", ""), "standard_gamma"),
    Op("dirichlet_rsample", sampled, "meta", ("concentration", "x"),
       ("dirichlet_rsample_backward(g, concentration, x)", ""), "dirichlet"),
    Op("dist_cholesky", torch.linalg.cholesky, "meta", ("a",), ("dist_cholesky_backward(g, a)",),
       "linalg_cholesky_ex"),
    Op("dist_solve_tril", solve_tril, "meta", ("l", "b"),
       ("dist_solve_tril_backward_l(g, l, b)", "dist_solve_tril_backward_b(g, l, b)"), "linalg_solve_triangular"),
    Op("standard_gamma_grad", torch._standard_gamma_grad, "gradient", ("concentration", "x")),
    Op("dirichlet_rsample_backward", dirichlet_rsample_backward, "gradient", ("g", "concentration", "x")),
    Op("dist_cholesky_backward", cholesky_backward, "gradient", ("g", "a")),
    Op("dist_solve_tril_backward_l", solve_tril_backward_l, "gradient", ("g", "l", "b")),
    Op("dist_solve_tril_backward_b", solve_tril_backward_b, "gradient", ("g", "l", "b")),
)
