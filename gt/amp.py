"""Mixed precision: ``gt.autocast`` / ``gt.amp.autocast`` and ``gt.amp.GradScaler``.

Autocast happens on the client, as explicit casts: inside ``autocast(device_type,
dtype)`` the ops on torch's lower-precision list (matmul, linear, convolutions ...)
cast their floating inputs to ``dtype`` and the ops on its float32 list (losses; on
CUDA also softmax, layer_norm, exp, log, sum ...) cast theirs to float32, with torch's
lists per device type.  The casts are ordinary instructions, so the batch signature
(which pins dtypes) differs with the autocast state and a compiled hot path is never
reused across it, and gradients flow back through the casts as in torch.

Autocast for a device type other than the worker's changes nothing, as torch's autocast
for one device type leaves another's tensors alone.

No op pays for this outside autocast: entering the first autocast region installs the
casting versions of those functions, leaving the last one restores the originals.
The casting versions read this thread's state, so another thread's ops are not cast.
"""
from __future__ import annotations

import functools
import threading

import torch

from gt.client import functional as _core
from gt.client import runtime as _rt
from gt.client import reductions as _reductions
from gt.client.nn import functional as _F
from gt.client.tensor import Tensor

_LOWER = ("linear", "convolution", "conv1d", "conv2d", "matmul", "mm", "bmm", "einsum", "__matmul__")
_FP32_LOSSES = ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
                "binary_cross_entropy_with_logits")
# torch's float32 lists: on the CPU the losses; on CUDA also the numerically sensitive ops.
FP32 = {"cpu": _FP32_LOSSES + ("binary_cross_entropy",),
        "cuda": _FP32_LOSSES + ("softmax", "log_softmax", "layer_norm", "softplus", "normalize", "exp", "log",
                                "log1p", "rsqrt", "reciprocal", "pow", "__pow__", "sum", "cumsum", "norm")}
BANNED = {"cpu": (), "cuda": ("binary_cross_entropy",)}
LOWER_DTYPES = {"cpu": (torch.bfloat16, torch.float16), "cuda": (torch.float16, torch.bfloat16)}


class _State(threading.local):
    device_type: str | None = None   # None: autocast off in this thread
    dtype: torch.dtype | None = None


state = _State()
_installed: list = []   # (namespace, name, original) while some thread is inside autocast
_depth = 0
_lock = threading.Lock()


def _cast_args(args: tuple, kwargs: dict, dtype: torch.dtype) -> tuple:
    def cast(a):
        if isinstance(a, Tensor) and a.dtype.is_floating_point and a.dtype is not torch.float64:
            return a.to(dtype)
        return a
    return tuple(cast(a) for a in args), {k: cast(v) for k, v in kwargs.items()}


def _casting(name: str, original):
    """``original`` casting its inputs as torch's autocast would for op ``name``."""
    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        kind = state.device_type
        if kind is None:
            return original(*args, **kwargs)
        if name in BANNED[kind]:
            raise RuntimeError(f"torch.nn.functional.{name} and torch.nn.BCELoss are unsafe to autocast. Many "
                               "models use a sigmoid layer right before the binary cross entropy layer. In this "
                               "case, combine the two layers using torch.nn.functional."
                               "binary_cross_entropy_with_logits or torch.nn.BCEWithLogitsLoss. "
                               "binary_cross_entropy_with_logits and BCEWithLogits are safe to autocast.")
        if name in _LOWER:
            args, kwargs = _cast_args(args, kwargs, state.dtype)
        elif name in FP32[kind]:
            args, kwargs = _cast_args(args, kwargs, torch.float32)
        return original(*args, **kwargs)
    return wrapper


def _namespaces() -> tuple:
    import gt
    import gt.nn.functional
    return (Tensor, gt, gt.nn.functional, _F, _core, _reductions)


def _install() -> None:
    names = set(_LOWER).union(*FP32.values(), *BANNED.values())
    for ns in _namespaces():
        for name in names:
            original = ns.__dict__.get(name)
            if original is not None and callable(original):
                _installed.append((ns, name, original))
                setattr(ns, name, _casting(name, original))


def _uninstall() -> None:
    while _installed:
        ns, name, original = _installed.pop()
        setattr(ns, name, original)


class autocast:   # noqa: N801 - torch's name
    """``with gt.autocast("cuda", dtype=torch.bfloat16):``; also a decorator."""

    def __init__(self, device_type: str = "cuda", dtype: torch.dtype | None = None, enabled: bool = True,
                 cache_enabled: bool | None = None) -> None:
        if device_type not in LOWER_DTYPES:
            raise RuntimeError(f"User specified an unsupported autocast device_type '{device_type}'")
        dtype = dtype or (torch.bfloat16 if device_type == "cpu" else torch.float16)
        if enabled and dtype not in LOWER_DTYPES[device_type]:
            raise RuntimeError(f"In {'CPU' if device_type == 'cpu' else 'CUDA'} autocast, but the target dtype "
                               f"{dtype} is not supported. Disabling autocast.")
        self.device_type, self.dtype, self.enabled = device_type, dtype, enabled

    def __enter__(self) -> "autocast":
        global _depth
        self._prev = (state.device_type, state.dtype)
        # As torch's: autocast for one device type leaves the other's ops alone, and GT's
        # ops all run on the worker's device.
        if self.device_type == _rt.get_worker().device.type:
            state.device_type, state.dtype = (self.device_type, self.dtype) if self.enabled else (None, None)
        with _lock:
            _depth += 1
            if _depth == 1:
                _install()
        return self

    def __exit__(self, *exc) -> bool:
        global _depth
        state.device_type, state.dtype = self._prev
        with _lock:
            _depth -= 1
            if _depth == 0:
                _uninstall()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.device_type, self.dtype, self.enabled):
                return fn(*args, **kwargs)
        return wrapper


def is_autocast_available(device_type: str) -> bool:
    return device_type in LOWER_DTYPES


class GradScaler:
    """Loss scaling for float16 training, with torch's state machine: ``scale(loss)``,
    ``step(optimizer)`` (skipped when a gradient is inf/NaN), ``update()``; one read of the
    worker per step (whether a gradient overflowed), as torch's ``step`` reads it too."""

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True) -> None:
        self._device = device
        self._enabled = enabled
        self._scale = float(init_scale)
        self._growth_factor, self._backoff_factor = growth_factor, backoff_factor
        self._growth_interval = growth_interval
        self._growth_tracker = 0
        self._per_optimizer: dict = {}   # id(optimizer) -> {"unscaled": bool, "found_inf": bool}

    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        return self._scale if self._enabled else 1.0

    def scale(self, outputs):
        """``outputs`` (a tensor or nested sequences of them) times the current scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise ValueError("outputs must be a Tensor or an iterable of Tensors")

    def _state(self, optimizer) -> dict:
        return self._per_optimizer.setdefault(id(optimizer), {"unscaled": False, "found_inf": False})

    def unscale_(self, optimizer) -> None:
        """Divide ``optimizer``'s gradients by the scale (in place) and note whether any is inf/NaN."""
        if not self._enabled:
            return
        st = self._state(optimizer)
        if st["unscaled"]:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update().")
        inv = torch.tensor(self._scale, dtype=torch.float64).reciprocal().float().item()
        finite = []
        from gt.client.autograd import no_grad
        from gt.client.movement import stack
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        if p.grad.dtype is torch.float16:
                            raise ValueError("Attempting to unscale FP16 gradients.")
                        p.grad.mul_(inv)
                        finite.append(p.grad.isfinite().all())
            st["found_inf"] = bool(finite) and not bool(stack(finite).all().item())
        st["unscaled"] = True

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step()`` unless a gradient overflowed (then the step is skipped)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        st = self._state(optimizer)
        if not st["unscaled"]:
            self.unscale_(optimizer)
        if st["found_inf"]:
            return None
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale: float | None = None) -> None:
        """Back the scale off after an overflow, grow it after ``growth_interval`` clean steps."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale.item() if isinstance(new_scale, Tensor) else new_scale)
        elif any(st["found_inf"] for st in self._per_optimizer.values()):
            self._scale *= self._backoff_factor
            self._growth_tracker = 0
        else:
            self._growth_tracker += 1
            if self._growth_tracker == self._growth_interval:
                self._scale *= self._growth_factor
                self._growth_tracker = 0
        self._per_optimizer.clear()

    def state_dict(self) -> dict:
        if not self._enabled:
            return {}
        return {"scale": self._scale, "growth_factor": self._growth_factor, "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval, "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved from a disabled "
                               "instance of GradScaler.")
        self._scale = float(state_dict["scale"])
        self._growth_factor = state_dict["growth_factor"]
        self._backoff_factor = state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._growth_tracker = state_dict["_growth_tracker"]
