"""``gt.optim``: the same objects as ``gt.client.optim``."""
import torch

from gt.client.optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from gt.nn import missing_from
from gt.optim import lr_scheduler

__all__ = ["Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "lr_scheduler"]

__getattr__ = missing_from(torch.optim, "gt.optim")
