"""Normal, Uniform, Gamma, Beta, Dirichlet and MultivariateNormal, as ``torch.distributions``'.

Samples equal torch's under the same seed: the noise of a reparameterised sample
(``rsample``) is drawn with torch's generator on the client and the sample is computed from
it on the worker, with torch's arithmetic, so gradients flow to the parameters; Gamma and
Dirichlet samples come from torch's own samplers on the parameters' values (a sync point)
and carry torch's implicit reparameterisation gradients.
"""
from __future__ import annotations

import inspect
import math
from functools import cached_property
from numbers import Number

import torch
from torch.distributions import constraints

from gt.client.creation import eye, tensor
from gt.client.emit import apply, put
from gt.client.movement import stack
from gt.client.shapes import broadcast
from gt.client.tensor import Tensor
from gt.distributions.distribution import Distribution, broadcast_all, value_of, xlogy
from gt.ops import OPCODE

_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))


def _standard_normal(shape, dtype) -> Tensor:
    """torch's ``_standard_normal``: ``torch.empty(shape).normal_()`` on torch's generator."""
    return put(torch.empty(shape, dtype=dtype).normal_())


def _diagonal(m: Tensor) -> Tensor:
    """The diagonal of each matrix in ``m`` (exact: the other entries are multiplied by 0)."""
    return (m * eye(m.shape[-1], dtype=m.dtype)).sum(-1)


def _solve_tril(l: Tensor, b: Tensor) -> Tensor:
    """``torch.linalg.solve_triangular(l, b, upper=False)``, broadcasting ``l`` over ``b``'s batch."""
    batch = broadcast(tuple(l.shape[:-2]), tuple(b.shape[:-2]))
    l = l.expand(batch + tuple(l.shape[-2:]))
    b = b.expand(batch + tuple(b.shape[-2:]))
    return apply(OPCODE["dist_solve_tril"], (l, b))


def _precision_to_scale_tril(p: Tensor) -> Tensor:
    """torch's ``_precision_to_scale_tril``: the lower Cholesky factor of ``P^-1``, from the
    Cholesky factor of ``P`` with rows and columns reversed."""
    l_inv = apply(OPCODE["dist_cholesky"], (p.flip((-2, -1)),)).flip((-2, -1)).mT
    return _solve_tril(l_inv, eye(p.shape[-1], dtype=p.dtype))


def batch_mahalanobis(l: Tensor, x: Tensor) -> Tensor:
    """``x^T (L L^T)^-1 x`` for each vector in ``x``."""
    return (_solve_tril(l, x.unsqueeze(-1)).squeeze(-1) ** 2).sum(-1)


def _init_pair(dist: Distribution, names: tuple, a, b, validate_args: bool | None) -> None:
    """Set two parameters broadcast together; the batch shape is theirs, or empty when both
    were Python numbers (as torch's)."""
    values = broadcast_all(a, b)
    for name, value in zip(names, values):
        setattr(dist, name, value)
    batch = torch.Size() if isinstance(a, Number) and isinstance(b, Number) else values[0].size()
    Distribution.__init__(dist, batch, validate_args=validate_args)


class Normal(Distribution):
    """The normal distribution ``N(loc, scale**2)``, as ``torch.distributions.Normal``."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args: bool | None = None) -> None:
        _init_pair(self, ("loc", "scale"), loc, scale, validate_args)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.stddev.pow(2)

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        eps = _standard_normal(self._extended_shape(sample_shape), self.loc.dtype)
        return self.loc + eps * self.scale

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        var = self.scale ** 2
        return -((value - self.loc) ** 2) / (2 * var) - self.scale.log() - _LOG_SQRT_2PI

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 * (1 + ((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)).erf())

    def entropy(self) -> Tensor:
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()


# torch checks low < high as constraints on each bound where its Uniform has them (newer
# releases), else with its own message after the parameters' checks.
_BOUNDS_AS_CONSTRAINTS = isinstance(inspect.getattr_static(torch.distributions.Uniform, "arg_constraints"), property)


class Uniform(Distribution):
    """Uniform on ``[low, high)``, as ``torch.distributions.Uniform``."""

    has_rsample = True

    def __init__(self, low, high, validate_args: bool | None = None) -> None:
        _init_pair(self, ("low", "high"), low, high, validate_args)
        if not _BOUNDS_AS_CONSTRAINTS and self._validate_args and not bool((self.low < self.high).all()):
            raise ValueError("Uniform is not defined when low>= high")

    @property
    def arg_constraints(self) -> dict:
        if _BOUNDS_AS_CONSTRAINTS:
            return {"low": constraints.less_than(self.high), "high": constraints.greater_than(self.low)}
        return {"low": constraints.dependent(is_discrete=False, event_dim=0),
                "high": constraints.dependent(is_discrete=False, event_dim=0)}

    @property
    def support(self):
        return constraints.interval(self.low, self.high)

    @property
    def mean(self) -> Tensor:
        return (self.high + self.low) / 2

    @property
    def mode(self) -> Tensor:
        return self.high * math.nan

    @property
    def stddev(self) -> Tensor:
        return (self.high - self.low) / 12 ** 0.5

    @property
    def variance(self) -> Tensor:
        return (self.high - self.low).pow(2) / 12

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        rand = put(torch.rand(self._extended_shape(sample_shape), dtype=self.low.dtype))
        return self.low + rand * (self.high - self.low)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        lb = (self.low <= value).to(self.low.dtype)
        ub = (self.high > value).to(self.low.dtype)
        return (lb * ub).log() - (self.high - self.low).log()

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.low) / (self.high - self.low)).clamp(min=0, max=1)

    def icdf(self, value: Tensor) -> Tensor:
        return value * (self.high - self.low) + self.low

    def entropy(self) -> Tensor:
        return (self.high - self.low).log()


class Gamma(Distribution):
    """The gamma distribution with ``concentration`` and ``rate``, as ``torch.distributions.Gamma``."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration, rate, validate_args: bool | None = None) -> None:
        _init_pair(self, ("concentration", "rate"), concentration, rate, validate_args)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.rate

    @property
    def mode(self) -> Tensor:
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self) -> Tensor:
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        concentration = self.concentration.expand(self._extended_shape(sample_shape))
        x = put(torch._standard_gamma(value_of(concentration)))
        return apply(OPCODE["standard_gamma_rsample"], (concentration, x)) / self.rate.expand(concentration.shape)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return xlogy(c, self.rate) + xlogy(c - 1, value) - self.rate * value - c.lgamma()

    def entropy(self) -> Tensor:
        c = self.concentration
        return c - self.rate.log() + c.lgamma() + (1.0 - c) * c.digamma()


class Dirichlet(Distribution):
    """The Dirichlet distribution over the simplex, as ``torch.distributions.Dirichlet``."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration: Tensor, validate_args: bool | None = None) -> None:
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:], validate_args=validate_args)

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        concentration = self.concentration.expand(self._extended_shape(sample_shape))
        x = put(torch._sample_dirichlet(value_of(concentration)))
        return apply(OPCODE["dirichlet_rsample"], (concentration, x))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return xlogy(c - 1.0, value).sum(-1) + c.sum(-1).lgamma() - c.lgamma().sum(-1)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.concentration.sum(-1, True)

    @property
    def variance(self) -> Tensor:
        con0 = self.concentration.sum(-1, True)
        return self.concentration * (con0 - self.concentration) / (con0.pow(2) * (con0 + 1))

    def entropy(self) -> Tensor:
        c = self.concentration
        k = c.size(-1)
        a0 = c.sum(-1)
        return c.lgamma().sum(-1) - a0.lgamma() - (k - a0) * a0.digamma() - ((c - 1.0) * c.digamma()).sum(-1)


class Beta(Distribution):
    """The beta distribution (``concentration1``, ``concentration0``): a two-way Dirichlet, as
    ``torch.distributions.Beta``."""

    arg_constraints = {"concentration1": constraints.positive, "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args: bool | None = None) -> None:
        if isinstance(concentration1, Number) and isinstance(concentration0, Number):
            both = tensor([float(concentration1), float(concentration0)])
        else:
            both = stack(broadcast_all(concentration1, concentration0), -1)
        self._dirichlet = Dirichlet(both, validate_args=validate_args)
        super().__init__(self._dirichlet._batch_shape, validate_args=validate_args)

    @property
    def concentration1(self) -> Tensor:
        return self._dirichlet.concentration[..., 0]

    @property
    def concentration0(self) -> Tensor:
        return self._dirichlet.concentration[..., 1]

    @property
    def mean(self) -> Tensor:
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def variance(self) -> Tensor:
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total.pow(2) * (total + 1))

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        return self._dirichlet.rsample(sample_shape)[..., 0]

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return self._dirichlet.log_prob(stack([value, 1.0 - value], -1))

    def entropy(self) -> Tensor:
        return self._dirichlet.entropy()


class MultivariateNormal(Distribution):
    """The multivariate normal with ``loc`` and one of ``covariance_matrix``, ``precision_matrix``
    or ``scale_tril``, as ``torch.distributions.MultivariateNormal``."""

    arg_constraints = {"loc": constraints.real_vector, "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite, "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc: Tensor, covariance_matrix: Tensor | None = None, precision_matrix: Tensor | None = None,
                 scale_tril: Tensor | None = None, validate_args: bool | None = None) -> None:
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        given = [(n, m) for n, m in (("covariance_matrix", covariance_matrix), ("precision_matrix", precision_matrix),
                                     ("scale_tril", scale_tril)) if m is not None]
        if len(given) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or scale_tril may be specified.")
        name, matrix = given[0]
        if matrix.dim() < 2:
            raise ValueError(f"{name} matrix must be at least two-dimensional, with optional leading batch "
                             f"dimensions")
        batch_shape = torch.Size(broadcast(tuple(matrix.shape[:-2]), tuple(loc.shape[:-1])))
        self.__dict__[name] = matrix.expand(batch_shape + tuple(matrix.shape[-2:]))
        self.loc = loc.expand(batch_shape + tuple(loc.shape[-1:]))
        super().__init__(batch_shape, self.loc.shape[-1:], validate_args=validate_args)
        if name == "scale_tril":
            self._unbroadcasted_scale_tril = matrix
        elif name == "covariance_matrix":
            self._unbroadcasted_scale_tril = apply(OPCODE["dist_cholesky"], (matrix,))
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(matrix)

    @cached_property
    def scale_tril(self) -> Tensor:
        return self._unbroadcasted_scale_tril.expand(self._batch_shape + self._event_shape + self._event_shape)

    @cached_property
    def covariance_matrix(self) -> Tensor:
        l = self._unbroadcasted_scale_tril
        return (l @ l.mT).expand(self._batch_shape + self._event_shape + self._event_shape)

    @cached_property
    def precision_matrix(self) -> Tensor:
        return self._unbroadcasted_scale_tril.cholesky_inverse().expand(
            self._batch_shape + self._event_shape + self._event_shape)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return self._unbroadcasted_scale_tril.pow(2).sum(-1).expand(self._batch_shape + self._event_shape)

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        eps = _standard_normal(self._extended_shape(sample_shape), self.loc.dtype)
        return self.loc + (self._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def _half_log_det(self) -> Tensor:
        return _diagonal(self._unbroadcasted_scale_tril).log().sum(-1)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        m = batch_mahalanobis(self._unbroadcasted_scale_tril, value - self.loc)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + m) - self._half_log_det()

    def entropy(self) -> Tensor:
        h = 0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return h if len(self._batch_shape) == 0 else h.expand(self._batch_shape)
