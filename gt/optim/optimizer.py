"""``gt.optim.optimizer``: the same objects as ``gt.client.optim.optimizer``."""
from gt.client.optim.optimizer import Optimizer, required

__all__ = ["Optimizer", "required"]
