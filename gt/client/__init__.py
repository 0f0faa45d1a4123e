"""GT's client: tensors, autograd, nn and optim; instructions go to the worker.

The Tensor handle (``tensor.py``) gets its operations here, from the modules
that define them; ``gradients`` turns the op table's formulas into rules.
"""
from gt.client import creation, devices, functional, interop, gradients, indexing, inplace, movement, reductions
from gt.client import tensor
from gt.client.tensor import Tensor

functional.bind(Tensor)
reductions.bind(Tensor)
movement.bind(Tensor)
indexing.bind(Tensor)
inplace.bind(Tensor)
creation.bind(Tensor)
devices.bind(Tensor)
interop.bind(Tensor)
tensor.name_what_torch_has(Tensor)  # last: after every bind

from gt.client import nn, optim  # noqa: E402

__all__ = ["Tensor", "functional", "gradients", "nn", "optim"]
