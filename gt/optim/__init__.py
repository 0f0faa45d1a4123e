"""``gt.optim``: the same objects as ``gt.client.optim``."""
import torch as _torch

from gt.client.optim import (ASGD, LBFGS, SGD, Adadelta, Adagrad, Adam, AdamW, Adamax, NAdam, Optimizer, RAdam,
                             RMSprop, Rprop, lr_scheduler, swa_utils)

__all__ = ["ASGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "LBFGS", "NAdam", "Optimizer", "RAdam",
           "RMSprop", "Rprop", "SGD", "lr_scheduler", "swa_utils"]


def __getattr__(name: str):
    if hasattr(_torch.optim, name):
        raise AttributeError(f"module 'gt.optim' has no attribute '{name}': GT does not support torch.optim.{name} "
                             f"yet")
    raise AttributeError(f"module 'gt.optim' has no attribute '{name}'")
