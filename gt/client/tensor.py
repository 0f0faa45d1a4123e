"""The client's Tensor: a handle (id, shape, dtype) to a value the worker holds.

This module holds the handle itself, its metadata and the reads of its data
(the sync points); it imports no op.  Its operations are installed on the class
once, by ``gt.client.surface.install`` when the client has loaded: the methods
generated from the op table and those the client modules declare.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from gt.client import runtime as _rt
from gt.client.shapes import FLOATING, norm_dim

class Tensor:
    """A handle to a tensor held by the worker."""

    # _data_of: (base, kind, args) when this handle is a view of ``base``; _views: weak
    # references to this handle's views (gt.client.views).
    __slots__ = ("_id", "shape", "dtype", "requires_grad", "grad", "_grad_fn", "_data_of", "_views", "__weakref__")
    __array_ufunc__ = None  # make numpy defer to our reflected operators
    __array_priority__ = 1000

    def __del__(self):
        i = self._id
        if i > 0:
            try:
                _rt.free(i)
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass

    # -- metadata ----------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return len(self.shape)

    def size(self, dim: int | None = None):
        if dim is None:
            return torch.Size(self.shape)
        return self.shape[norm_dim(dim, self.ndim)]

    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def grad_fn(self):
        return None if self._grad_fn is None else _node_class(self._grad_fn.name)(self._grad_fn)

    @property
    def device(self):
        return _rt.get_worker().device

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and self.dtype not in FLOATING:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        if not requires_grad and self._grad_fn is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want to use a "
                               "computed variable in a subgraph that doesn't require differentiation use "
                               "var_no_grad = var.detach().")
        self.requires_grad = requires_grad
        return self

    # -- reading data (sync points) -------------------------------------------------------
    def _value(self) -> torch.Tensor:
        return _rt.get_worker().fetch(self._id)

    def numpy(self) -> np.ndarray:
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                               "instead.")
        return self._value().detach().cpu().numpy().copy()

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return _rt.get_worker().item(self._id)

    def tolist(self):
        return self._value().tolist()

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype in FLOATING or self.dtype is torch.bool or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __array__(self, dtype=None, copy=None):
        a = self._value().detach().cpu().numpy()
        return a.astype(dtype) if dtype is not None else a

    def __repr__(self) -> str:
        text = repr(self._value().detach().cpu())
        if self._grad_fn is not None:
            suffix = f", grad_fn=<{_grad_fn_label(self._grad_fn.name)}>"
        elif self.requires_grad:
            suffix = ", requires_grad=True"
        else:
            return text
        return text[:-1] + suffix + ")"

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        raise TypeError("a gt Tensor is a handle to a worker value and cannot be pickled: use gt.save(), "
                        "or copy.deepcopy() for a copy")


def name_what_torch_has(cls: type) -> None:
    """Give every public torch.Tensor attribute that ``cls`` lacks a property raising an
    AttributeError that names it, so ``x.lgamma()`` says GT lacks it (``hasattr`` stays False).

    Not a ``__getattr__``: with one, CPython cannot specialise attribute reads on
    instances, and every op reads several."""
    for name in dir(torch.Tensor):
        if not name.startswith("_") and not hasattr(cls, name):
            setattr(cls, name, property(_unsupported(name)))


def _unsupported(name: str):
    def get(self):
        raise AttributeError(f"'Tensor' object has no attribute '{name}': GT does not support "
                             f"torch.Tensor.{name} yet")
    return get


class GradFn:
    """``t.grad_fn``: the autograd node that made ``t``, as torch shows it: of a class named as torch's
    (``type(t.grad_fn).__name__ == "MulBackward0"``), with ``name()``; equal for the same node."""

    __slots__ = ("_node",)

    def __init__(self, node) -> None:
        self._node = node

    def name(self) -> str:
        label = type(self).__name__
        return "torch::autograd::" + label if label in ("CopyBackwards", "CopySlices") else label

    def __eq__(self, other) -> bool:
        return isinstance(other, GradFn) and other._node is self._node

    def __hash__(self) -> int:
        return id(self._node)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {hex(id(self))}>"

    def __getattr__(self, name: str):
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}': GT does not support "
                             f"torch.autograd.graph.Node.{name} yet")


_node_classes: dict = {}


def _node_class(name: str) -> type:
    """The GradFn subclass named as torch's node class for a GT node name."""
    cls = _node_classes.get(name)
    if cls is None:
        cls = _node_classes[name] = type(_grad_fn_label(name), (GradFn,), {"__slots__": ()})
    return cls


def _grad_fn_label(name: str) -> str:
    """torch's grad_fn class name for a node name: 'mse_loss' -> MseLossBackward0, 'sum1' -> SumBackward1;
    a name that is already a class name (CopyBackwards, CopySlices, a Function's MyFnBackward) stays."""
    if not name.islower():
        return name
    version = name[-1] if name[-1:].isdigit() else "0"
    stem = name[:-1] if name[-1:].isdigit() else name
    return "".join(part.capitalize() for part in stem.split("_")) + "Backward" + version


