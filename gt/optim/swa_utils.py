"""``gt.optim.swa_utils``: the same objects as ``gt.client.optim.swa_utils``."""
from gt.client.optim.swa_utils import *  # noqa: F401,F403
from gt.client.optim.swa_utils import __all__  # noqa: F401
