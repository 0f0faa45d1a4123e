"""``gt.nn.functional``: torch.nn.functional's surface."""
from gt.client.nn.functional import *  # noqa: F401,F403
from gt.client.nn.functional import __all__  # noqa: F401
