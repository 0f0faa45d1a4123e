"""``gt.optim.lr_scheduler``: the same objects as ``gt.client.optim.lr_scheduler``."""
import torch

from gt.client.optim.lr_scheduler import *  # noqa: F401,F403
from gt.client.optim.lr_scheduler import __all__  # noqa: F401
from gt.nn import missing_from

__getattr__ = missing_from(torch.optim.lr_scheduler, "gt.optim.lr_scheduler")
