"""``gt.nn.init``: in-place initialisers whose values equal torch.nn.init's under the same seed.

Random values are drawn on the client by torch.nn.init itself, on torch's CPU
generator (the one ``gt.manual_seed`` seeds), into a CPU tensor of the target's
shape and dtype; the worker then receives them.  So a module built after
``gt.manual_seed(s)`` holds exactly the weights torch's does after
``torch.manual_seed(s)``, and the generator advances as torch's does.
"""
from __future__ import annotations

from typing import Callable

import torch

from gt.client.autograd import no_grad
from gt.client.emit import put
from gt.client.inplace import inplace
from gt.client.nn.parameter import Parameter
from gt.client.tensor import Tensor

calculate_gain = torch.nn.init.calculate_gain


def drawn(shape: tuple, dtype: torch.dtype, draw: Callable[[torch.Tensor], object]) -> Tensor:
    """A new gt tensor holding ``draw(torch.empty(shape, dtype=dtype))``'s values, drawn on the client."""
    value = torch.empty(shape, dtype=dtype)
    draw(value)
    return put(value)


def new_parameter(shape: tuple, dtype: torch.dtype | None, draw: Callable[..., object], **kwargs) -> Parameter:
    """A parameter holding what torch's initialiser ``draw`` makes for ``shape`` (a module's constructor)."""
    return Parameter(drawn(shape, dtype or torch.get_default_dtype(), lambda v: draw(v, **kwargs)))


def _redraw(tensor: Tensor, draw: Callable[..., object], **kwargs) -> Tensor:
    """Fill ``tensor`` in place with values that torch's initialiser ``draw`` makes for its shape and dtype."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"expected a gt Tensor, got {type(tensor).__name__}")
    with no_grad():  # the handle takes the new value's id: no instruction
        return inplace(tensor, lambda t: drawn(tuple(t.shape), t.dtype, lambda v: draw(v, **kwargs)))


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    return torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(tuple(tensor.shape), device="meta"))


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """Values from U(a, b)."""
    return _redraw(tensor, torch.nn.init.uniform_, a=a, b=b, generator=generator)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: torch.Generator | None = None) -> Tensor:
    """Values from N(mean, std^2)."""
    return _redraw(tensor, torch.nn.init.normal_, mean=mean, std=std, generator=generator)


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator: torch.Generator | None = None) -> Tensor:
    """Values from N(mean, std^2) truncated to [a, b]."""
    return _redraw(tensor, torch.nn.init.trunc_normal_, mean=mean, std=std, a=a, b=b, generator=generator)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    return _redraw(tensor, torch.nn.init.xavier_uniform_, gain=gain, generator=generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    return _redraw(tensor, torch.nn.init.xavier_normal_, gain=gain, generator=generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: torch.Generator | None = None) -> Tensor:
    """He uniform: U(-bound, bound) with bound = gain * sqrt(3 / fan_mode)."""
    return _redraw(tensor, torch.nn.init.kaiming_uniform_, a=a, mode=mode, nonlinearity=nonlinearity,
                   generator=generator)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: torch.Generator | None = None) -> Tensor:
    """He normal: N(0, std^2) with std = gain / sqrt(fan_mode)."""
    return _redraw(tensor, torch.nn.init.kaiming_normal_, a=a, mode=mode, nonlinearity=nonlinearity,
                   generator=generator)


def orthogonal_(tensor: Tensor, gain: float = 1, generator: torch.Generator | None = None) -> Tensor:
    """A (semi-)orthogonal matrix, scaled by ``gain``."""
    return _redraw(tensor, torch.nn.init.orthogonal_, gain=gain, generator=generator)


def eye_(tensor: Tensor) -> Tensor:
    """The identity matrix (2-D tensors only)."""
    return _redraw(tensor, torch.nn.init.eye_)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Every element set to ``val``."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"expected a gt Tensor, got {type(tensor).__name__}")
    with no_grad():
        return tensor.fill_(val)


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)
