"""``gt.nn``: torch.nn's surface (the same objects as ``gt.client.nn``).

A torch.nn name GT does not have yet raises an AttributeError saying so.
"""
from __future__ import annotations

from types import ModuleType

import torch

from gt.client.nn import *  # noqa: F401,F403
from gt.client.nn import __all__  # noqa: F401


def missing_from(torch_module: ModuleType, gt_name: str):
    """A module ``__getattr__`` naming what torch has and GT does not support yet."""
    def __getattr__(name: str):
        if not name.startswith("_") and hasattr(torch_module, name):
            raise AttributeError(f"module '{gt_name}' has no attribute '{name}': GT does not support "
                                 f"{torch_module.__name__}.{name} yet")
        raise AttributeError(f"module '{gt_name}' has no attribute '{name}'")
    return __getattr__


__getattr__ = missing_from(torch.nn, "gt.nn")

# gt.nn's own submodules (which name what is missing) replace gt.client.nn's
del functional, init, utils  # noqa: F821
from gt.nn import functional, init, utils  # noqa: F401,E402
