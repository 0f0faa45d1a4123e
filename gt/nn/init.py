"""``gt.nn.init``: torch.nn.init's initialisers."""
import torch

from gt.client.nn.init import (calculate_gain, constant_, eye_, kaiming_normal_, kaiming_uniform_,  # noqa: F401
                               normal_, ones_, orthogonal_, trunc_normal_, uniform_, xavier_normal_,
                               xavier_uniform_, zeros_)
from gt.nn import missing_from

__getattr__ = missing_from(torch.nn.init, "gt.nn.init")
