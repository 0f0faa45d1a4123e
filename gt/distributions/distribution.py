"""The base of ``gt.distributions``: shapes, argument validation and the shared helpers,
with ``torch.distributions.Distribution``'s API and messages.

Validation (on by default, as torch's: ``validate_args=False`` or
``Distribution.set_default_validate_args(False)`` turns it off) reads the checked
parameters or values back from the worker and runs torch's own constraint on them, so
it accepts and refuses exactly what torch does; each check is a sync point.  The
``arg_constraints`` and ``support`` objects are torch's own constraints.
"""
from __future__ import annotations

import copy
import functools
from numbers import Number

import torch
from torch.distributions import constraints

from gt.client.autograd import no_grad
from gt.client.creation import tensor
from gt.client.functional import where
from gt.client.shapes import broadcast
from gt.client.tensor import Tensor


def value_of(x) -> torch.Tensor:
    """A GT tensor's value on the client (a sync point)."""
    return x._value().detach().cpu() if isinstance(x, Tensor) else torch.as_tensor(x)


def on_client(constraint):
    """``constraint`` with its tensor bounds (a Uniform's ``low``/``high``) as client values, so
    torch's own ``check`` runs on the client."""
    bounds = {a: getattr(constraint, a) for a in ("lower_bound", "upper_bound")
              if isinstance(getattr(constraint, a, None), Tensor)}
    if not bounds:
        return constraint
    constraint = copy.copy(constraint)
    for attr, bound in bounds.items():
        setattr(constraint, attr, value_of(bound))
    return constraint


def broadcast_all(*values) -> tuple:
    """Numbers become tensors (of the first tensor's dtype, else the default dtype); all are
    expanded to their broadcast shape, as ``torch.distributions.utils.broadcast_all``."""
    if not all(isinstance(v, (Tensor, Number)) for v in values):
        raise ValueError("Input arguments must all be instances of numbers.Number, torch.Tensor or objects "
                         "implementing __torch_function__.")
    dtype = next((v.dtype for v in values if isinstance(v, Tensor)), torch.get_default_dtype())
    values = [v if isinstance(v, Tensor) else tensor(v, dtype=dtype) for v in values]
    shape = functools.reduce(broadcast, (tuple(v.shape) for v in values), ())
    return tuple(v if tuple(v.shape) == shape else v.expand(shape) for v in values)


def broadcast_pair(a: Tensor, b: Tensor) -> tuple:
    """``torch.broadcast_tensors(a, b)``."""
    shape = broadcast(tuple(a.shape), tuple(b.shape))
    return (a if tuple(a.shape) == shape else a.expand(shape)), (b if tuple(b.shape) == shape else b.expand(shape))


def xlogy(x: Tensor, y: Tensor) -> Tensor:
    """``x * log(y)``, 0 where both are 0 (``torch.xlogy``; its gradient in ``x`` is ``log(y)``)."""
    return where((x == 0) & (y == 0), 0.0, x * y.log())


def _shown(param: Tensor):
    """A parameter as torch's repr of a distribution shows it: a one-element tensor by value
    (a 0-d one as its number), a larger one by size."""
    if param.numel() != 1:
        return param.size()
    return param.item() if param.dim() == 0 else param


class Distribution:
    """Base class of GT's probability distributions (``torch.distributions.Distribution``)."""

    has_rsample = False
    has_enumerate_support = False
    _validate_args = __debug__
    arg_constraints: dict = {}
    support = None

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        if value not in (True, False):
            raise ValueError
        Distribution._validate_args = value

    def __init__(self, batch_shape=torch.Size(), event_shape=torch.Size(), validate_args: bool | None = None) -> None:
        self._batch_shape = torch.Size(batch_shape)
        self._event_shape = torch.Size(event_shape)
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args:
            for param, constraint in self.arg_constraints.items():
                if constraints.is_dependent(constraint):
                    continue
                if param not in self.__dict__ and isinstance(getattr(type(self), param, None),
                                                             functools.cached_property):
                    continue   # computed lazily from the parameter that was given
                value = getattr(self, param)
                if not bool(on_client(constraint).check(value_of(value)).all()):
                    raise ValueError(f"Expected parameter {param} ({type(value).__name__} of shape "
                                     f"{tuple(value.shape)}) of distribution {self!r} to satisfy the constraint "
                                     f"{constraint!r}, but found invalid values:\n{value}")

    @property
    def batch_shape(self) -> torch.Size:
        return self._batch_shape

    @property
    def event_shape(self) -> torch.Size:
        return self._event_shape

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement mean")

    @property
    def mode(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement mode")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement variance")

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def sample(self, sample_shape=torch.Size()) -> Tensor:
        """A sample (no gradient), torch's under the same seed."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        raise NotImplementedError

    def sample_n(self, n: int) -> Tensor:
        return self.sample(torch.Size((n,)))

    def log_prob(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def cdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def icdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def entropy(self) -> Tensor:
        raise NotImplementedError

    def enumerate_support(self, expand: bool = True) -> Tensor:
        raise NotImplementedError

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    def _extended_shape(self, sample_shape=torch.Size()) -> torch.Size:
        if not isinstance(sample_shape, torch.Size):
            sample_shape = torch.Size(sample_shape)
        return torch.Size(sample_shape + self._batch_shape + self._event_shape)

    def _validate_sample(self, value: Tensor) -> None:
        """torch's checks of a ``log_prob`` argument: a tensor of a shape that broadcasts with
        the distribution's, inside the support."""
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        event_dim_start = len(value.size()) - len(self._event_shape)
        if value.size()[event_dim_start:] != self._event_shape:
            raise ValueError(f"The right-most size of value must match event_shape: {value.size()} vs "
                             f"{self._event_shape}.")
        actual_shape = value.size()
        expected_shape = self._batch_shape + self._event_shape
        for i, j in zip(reversed(actual_shape), reversed(expected_shape)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: {actual_shape} vs "
                                 f"{expected_shape}.")
        support = self.support
        if not bool(on_client(support).check(value_of(value)).all()):
            raise ValueError(f"Expected value argument ({type(value).__name__} of shape {tuple(value.shape)}) to be "
                             f"within the support ({support!r}) of the distribution {self!r}, but found invalid "
                             f"values:\n{value}")

    def __repr__(self) -> str:
        names = [k for k in self.arg_constraints if k in self.__dict__]
        args = ", ".join(f"{p}: {_shown(self.__dict__[p])}" for p in names)
        return f"{type(self).__name__}({args})"
