"""``gt.nn.utils``: gradient clipping, and ``rnn`` (padding and packing sequences)."""
import torch

from gt.client.nn.clip_grad import clip_grad_norm_, clip_grad_value_  # noqa: F401
from gt.nn import missing_from
from gt.nn.utils import rnn  # noqa: F401

__getattr__ = missing_from(torch.nn.utils, "gt.nn.utils")
