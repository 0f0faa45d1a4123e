"""``gt.nn.utils.rnn``: torch.nn.utils.rnn's padding and packing of variable-length sequences."""
import torch

from gt.client.nn.packing import *  # noqa: F401,F403
from gt.client.nn.packing import __all__  # noqa: F401
from gt.nn import missing_from

__getattr__ = missing_from(torch.nn.utils.rnn, "gt.nn.utils.rnn")
