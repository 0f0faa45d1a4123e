"""GT's client: tensors, autograd, nn and optim; instructions go to the worker.

The modules are layered, each importing only those below it: ``modes``, ``shapes``,
``surface`` and ``runtime``; ``tensor`` (the handle, no ops); ``views``; ``autograd``;
``emit`` (the one send-and-record path); ``generate`` (functions made from the op
table); the hand-written ``functional``, ``creation``, ``inplace``, ``reductions``,
``movement``, ``indexing``; ``gradients`` (the table's gradient rules).  Here, on
top, the table's functions are generated and every declared method is installed
on ``Tensor`` once.
"""
from gt.client import creation, devices, functional, gradients, indexing, inplace, interop, movement  # noqa: F401
from gt.client import generate, overloads, reductions, surface, tensor  # noqa: F401
from gt.client.tensor import Tensor
from gt.ops import OPS
from gt.ops.aliases import ALIASES

generate.generate(OPS)
surface.alias(ALIASES)
generate.install(Tensor, inplace.inplace_method)
devices.bind(Tensor)
interop.bind(Tensor)
tensor.name_what_torch_has(Tensor)  # last: after every method is installed
# The GT prototype's module path for creation functions, kept working.
for _name in ("from_numpy", "randn", "zeros", "ones", "tensor"):
    setattr(tensor, _name, surface.FUNCTIONS["gt"][_name])

from gt.client import nn, optim  # noqa: E402

__all__ = ["Tensor", "functional", "gradients", "nn", "optim", "surface"]
