"""``gt.nn.utils.clip_grad_norm_`` and ``clip_grad_value_``, computed as torch's CPU path computes them."""
from __future__ import annotations

from typing import Iterable

from gt.client.autograd import no_grad
from gt.client.creation import tensor
from gt.client.movement import stack
from gt.client.tensor import Tensor


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Scale all gradients together so that their joint ``norm_type``-norm is at most ``max_norm``.

    Returns the joint norm before clipping (a 0-d tensor), as torch does: the norm
    of each gradient, then the norm of those norms; the scale ``max_norm / (norm +
    1e-6)`` is clamped to 1, so gradients are never scaled up.  ``foreach`` is
    accepted for torch's signature; the per-gradient path is the one torch takes on CPU.
    """
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return tensor(0.0)
    with no_grad():
        norms = [g.norm(norm_type) for g in grads]
        total = stack(norms).norm(norm_type)
        if error_if_nonfinite and not bool(total.isfinite()):
            raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is "
                               "non-finite, so it cannot be clipped. To disable this error and scale the "
                               "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
        scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale)
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place (``foreach``: as above)."""
    clip_value = float(clip_value)
    with no_grad():
        for g in _grads(parameters):
            g.clamp_(min=-clip_value, max=clip_value)
