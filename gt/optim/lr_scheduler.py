"""``gt.optim.lr_scheduler``: the same objects as ``gt.client.optim.lr_scheduler``."""
from gt.client.optim.lr_scheduler import *  # noqa: F401,F403
from gt.client.optim.lr_scheduler import __all__  # noqa: F401
