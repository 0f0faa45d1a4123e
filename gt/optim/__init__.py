"""``gt.optim``: the same objects as ``gt.client.optim``."""
import torch

from gt.client.optim import (ASGD, LBFGS, SGD, Adadelta, Adagrad, Adam, AdamW, Adamax, NAdam, Optimizer, RAdam,
                             RMSprop, Rprop, swa_utils)
from gt.nn import missing_from
from gt.optim import lr_scheduler

__all__ = ["ASGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "LBFGS", "NAdam", "Optimizer", "RAdam",
           "RMSprop", "Rprop", "SGD", "lr_scheduler", "swa_utils"]

__getattr__ = missing_from(torch.optim, "gt.optim")
