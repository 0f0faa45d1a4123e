"""``gt.nn``: torch.nn's surface (the same objects as ``gt.client.nn``)."""
from gt.client.nn import *  # noqa: F401,F403
from gt.client.nn import __all__  # noqa: F401
from gt.nn import functional, init, utils  # noqa: F401,E402
