"""Op entries for the optimizers' update arithmetic (``torch.optim``'s single-tensor code).

Each kernel is the torch call ``torch.optim`` makes, so eager updates equal torch's bit
for bit.  In a compiled graph a float scalar arrives as a 0-d tensor of the first input's
dtype; ``addcmul``/``addcdiv`` take their ``value`` only as a Python number, so there they
are written out as the arithmetic Inductor decomposes them into anyway.  Optimizer updates
run under ``no_grad``: the entries have no gradients.
"""
from __future__ import annotations

import torch

from gt.ops.table import Op


def addcmul(a, t1, t2, value):
    if isinstance(value, torch.Tensor):
        return a + value * (t1 * t2)
    return torch.addcmul(a, t1, t2, value=value)


def addcdiv(a, t1, t2, value):
    if isinstance(value, torch.Tensor):
        return a + value * (t1 / t2)
    return torch.addcdiv(a, t1, t2, value=value)


ENTRIES = (
    Op("lerp", torch.lerp, "meta", ("a", "b", "weight")),
    Op("addcmul", addcmul, "meta", ("a", "t1", "t2", "value")),
    Op("addcdiv", addcdiv, "meta", ("a", "t1", "t2", "value")),
)
