"""GT's client: tensors, autograd, nn and optim; instructions go to the worker."""
from gt.client import nn, optim

__all__ = ["nn", "optim"]
