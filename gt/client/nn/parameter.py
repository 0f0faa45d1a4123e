"""``gt.nn.Parameter``: a tensor that a Module registers as learnable."""
from __future__ import annotations

import torch

from gt.client.emit import alias, put
from gt.client.tensor import Tensor


# While a scope configured with a ShardConfig is open (gt.signal), the parameters made in it, to
# be sharded when it closes (after the module's constructor has initialised them); else None.
created: list | None = None


class Parameter(Tensor):
    """A leaf tensor that requires grad (unless told otherwise) and that Modules register by attribute."""

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            data = put(torch.empty(0))
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter expects a gt Tensor, got {type(data).__name__}")
        # The parameter is a new handle on the same worker value (torch's Parameter shares storage).
        return cls._adopt(alias(data), requires_grad)

    @classmethod
    def _adopt(cls, handle: Tensor, requires_grad: bool = True) -> "Parameter":
        """A parameter that takes over ``handle``'s id (``handle`` is left empty)."""
        p = object.__new__(cls)
        p._id, handle._id = handle._id, -1
        p.shape, p.dtype = handle.shape, handle.dtype
        p.requires_grad, p.grad, p._grad_fn, p._data_of, p._views = False, None, None, None, None
        if created is not None:
            created.append(p)
        return p.requires_grad_(requires_grad)

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict) -> "Parameter":
        # A new handle on the same worker value is a copy: worker values are never written in place.
        result = Parameter(self.detach(), self.requires_grad)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol):
        # Rebuild through the constructor: copying the handle's id would give two handles that both free it.
        return (Parameter, (self.detach(), self.requires_grad))


def empty_parameter(shape: tuple, dtype: torch.dtype | None) -> Parameter:
    """A parameter of ``shape`` (zeros) whose values the module's reset_parameters() sets next.

    Its value is put, not computed, and the parameter owns it: building a module emits no instruction."""
    return Parameter._adopt(put(torch.zeros(shape, dtype=dtype or torch.get_default_dtype())))
