"""The device and dtype idioms of a torch script, on GT's handle: ``is_cuda``, ``type()``,
``nelement()``, ``format(loss, '.4f')``, and the legacy constructors (``gt.Tensor(2, 3)``,
``gt.FloatTensor([1, 2])``).

A GT tensor lives on its worker's device, so ``device``/``is_cuda`` answer for the
worker (a remote worker's GPU, not this machine's) and ``to(device)``/``cuda()``/``cpu()``
leave a tensor where it is.
"""
from __future__ import annotations

import torch

from gt.client.shapes import FLOATING, as_dtype
from gt.client.views import layout

# torch's legacy tensor type names, by dtype ('torch.FloatTensor' ...).
TYPE_NAMES = {torch.float32: "FloatTensor", torch.float64: "DoubleTensor", torch.float16: "HalfTensor",
              torch.bfloat16: "BFloat16Tensor", torch.int64: "LongTensor", torch.int32: "IntTensor",
              torch.int16: "ShortTensor", torch.int8: "CharTensor", torch.uint8: "ByteTensor",
              torch.bool: "BoolTensor"}
_BY_TYPE_NAME = {name: dtype for dtype, name in TYPE_NAMES.items()}


def legacy_new(dtype: torch.dtype | None, args: tuple, kwargs: dict):
    """``torch.Tensor(*sizes)`` (uninitialised: zeros under GT), ``torch.Tensor(sequence)`` or
    ``torch.Tensor(tensor)``, in ``dtype`` (the default dtype for ``gt.Tensor``)."""
    from gt.client.creation import tensor, zeros
    from gt.client.tensor import Tensor
    dtype = dtype or torch.get_default_dtype()
    if kwargs.keys() - {"device"}:
        raise TypeError(f"new() got an unexpected keyword argument '{next(iter(kwargs.keys() - {'device'}))}'")
    if len(args) == 1 and not isinstance(args[0], int):
        data = args[0]
        if isinstance(data, torch.Size):
            return zeros(tuple(data), dtype=dtype)
        if isinstance(data, (Tensor, torch.Tensor)) and data.dtype is not dtype:
            raise TypeError(f"expected {dtype} (got {data.dtype})")
        return tensor(data, dtype=dtype)
    return zeros(*args, dtype=dtype)


def legacy_constructor(dtype: torch.dtype):
    """``gt.FloatTensor`` and its kin: the legacy constructor of one dtype."""
    def new(*args, **kwargs):
        return legacy_new(dtype, args, kwargs)
    new.__name__ = new.__qualname__ = TYPE_NAMES[dtype]
    new.__doc__ = f"torch.{TYPE_NAMES[dtype]}(*sizes | data): a {dtype} tensor (the legacy constructor)."
    return new


def type_(self, dtype=None, non_blocking: bool = False, **kwargs):
    """``x.type()``: torch's type name ('torch.FloatTensor', 'torch.cuda.FloatTensor' on a GPU
    worker); ``x.type(dtype)`` or ``x.type('torch.DoubleTensor')``: a copy in that dtype."""
    if dtype is None:
        where = "torch.cuda." if self.device.type == "cuda" else "torch."
        return where + TYPE_NAMES[self.dtype]
    if isinstance(dtype, str):
        name = dtype.rsplit(".", 1)[-1]
        if name in _BY_TYPE_NAME:
            dtype = _BY_TYPE_NAME[name]
    return self.to(as_dtype(dtype))


def format_(self, spec: str) -> str:
    """As torch: a 0-d tensor formats as its number (``f"{loss:.4f}"``), others as their text."""
    if not self.shape:
        return self.item().__format__(spec)
    return object.__format__(self, spec)


def _new(cls, *args, **kwargs):
    """``Tensor.__new__``: torch's legacy constructor, ``torch.Tensor(2, 3)`` or ``torch.Tensor([1, 2])``;
    a complete handle from the creation functions, so ``__del__`` never sees one without ``_id``."""
    return legacy_new(None, args, kwargs)


def bind(cls: type) -> None:
    cls.__new__ = staticmethod(_new)
    cls.is_cuda = property(lambda self: self.device.type == "cuda")
    cls.nelement = cls.numel
    cls.element_size = lambda self: self.dtype.itemsize
    cls.is_floating_point = lambda self: self.dtype in FLOATING
    cls.get_device = lambda self: self.device.index if self.device.type == "cuda" else -1
    cls.is_contiguous = lambda self, memory_format=None: self._data_of is None or layout(self).is_contiguous()
    cls.pin_memory = lambda self, device=None: self
    cls.type = type_
    cls.__format__ = format_
