"""``gt.distributions``: torch.distributions' common distributions for GT tensors (the same
samples as torch under the same seed, log-probabilities and entropies with gradients)."""
from gt.distributions.continuous import Beta, Dirichlet, Gamma, MultivariateNormal, Normal, Uniform
from gt.distributions.discrete import Bernoulli, Categorical
from gt.distributions.distribution import Distribution
from gt.distributions.kl import kl_divergence, register_kl
from torch.distributions import constraints

__all__ = ["Bernoulli", "Beta", "Categorical", "Dirichlet", "Distribution", "Gamma", "MultivariateNormal", "Normal",
           "Uniform", "constraints", "kl_divergence", "register_kl"]


def __getattr__(name: str):
    import torch.distributions
    if hasattr(torch.distributions, name):
        raise AttributeError(f"module 'gt.distributions' has no attribute '{name}': GT does not support "
                             f"torch.distributions.{name} yet")
    raise AttributeError(f"module 'gt.distributions' has no attribute '{name}'")
