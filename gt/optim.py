"""``gt.optim``: the same module as ``gt.client.optim``."""
from gt.client.optim import SGD, Adam, Optimizer

__all__ = ["SGD", "Adam", "Optimizer"]
