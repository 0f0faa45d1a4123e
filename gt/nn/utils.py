"""``gt.nn.utils``: gradient clipping."""
import torch

from gt.client.nn.clip_grad import clip_grad_norm_, clip_grad_value_  # noqa: F401
from gt.nn import missing_from

__getattr__ = missing_from(torch.nn.utils, "gt.nn.utils")
