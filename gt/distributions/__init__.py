"""``gt.distributions``: torch.distributions' common distributions for GT tensors (the same
samples as torch under the same seed, log-probabilities and entropies with gradients)."""
import torch.distributions as _torch_distributions
from torch.distributions import constraints

from gt.distributions.continuous import Beta, Dirichlet, Gamma, MultivariateNormal, Normal, Uniform
from gt.distributions.discrete import Bernoulli, Categorical
from gt.distributions.distribution import Distribution
from gt.distributions.independent import Independent
from gt.distributions.kl import kl_divergence, register_kl

__all__ = ["Bernoulli", "Beta", "Categorical", "Dirichlet", "Distribution", "Gamma", "Independent", "MultivariateNormal", "Normal",
           "Uniform", "constraints", "kl_divergence", "register_kl"]


def __getattr__(name: str):
    if hasattr(_torch_distributions, name):
        raise AttributeError(f"module 'gt.distributions' has no attribute '{name}': GT does not support "
                             f"torch.distributions.{name} yet")
    raise AttributeError(f"module 'gt.distributions' has no attribute '{name}'")
