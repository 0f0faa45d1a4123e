"""``gt.nn.functional``: torch.nn.functional's surface."""
import torch

from gt.client.nn import functional as _base
from gt.client.nn import functional_extra as _extra
from gt.client.nn import functional_spatial as _spatial
from gt.client.nn.functional import *  # noqa: F401,F403
from gt.client.nn.functional_extra import *  # noqa: F401,F403
from gt.client.nn.functional_spatial import *  # noqa: F401,F403
from gt.client.nn.attention import multi_head_attention_forward, scaled_dot_product_attention  # noqa: F401
from gt.nn import missing_from

__all__ = _base.__all__ + _extra.__all__ + _spatial.__all__ + ["multi_head_attention_forward", "scaled_dot_product_attention"]
__getattr__ = missing_from(torch.nn.functional, "gt.nn.functional")
