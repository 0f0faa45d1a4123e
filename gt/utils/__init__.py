"""``gt.utils``: ``gt.utils.data`` is ``torch.utils.data`` itself (its loaders hand out torch
tensors, which every GT op accepts; a dataset of GT tensors collates into GT tensors),
``gt.utils.checkpoint`` runs its function without checkpointing."""
import sys

import torch.utils
from torch.utils import data

from gt.nn import missing_from
from gt.utils import checkpoint, collate

collate.register()
sys.modules[__name__ + ".data"] = data   # `import gt.utils.data`, `from gt.utils.data import DataLoader`

__all__ = ["checkpoint", "data"]
__getattr__ = missing_from(torch.utils, "gt.utils")
