"""``gt.optim``: the same objects as ``gt.client.optim``."""
from gt.client.optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop, lr_scheduler

__all__ = ["Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "SGD", "lr_scheduler"]
