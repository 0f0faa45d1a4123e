"""``gt.nn.functional``: torch.nn.functional's surface."""
import torch

from gt.client.nn.functional import *  # noqa: F401,F403
from gt.client.nn.functional import __all__  # noqa: F401
from gt.client.nn.attention import multi_head_attention_forward, scaled_dot_product_attention  # noqa: F401
from gt.nn import missing_from

__getattr__ = missing_from(torch.nn.functional, "gt.nn.functional")
