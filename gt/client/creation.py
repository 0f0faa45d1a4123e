"""Tensor creation, with torch's argument forms (sizes as varargs or one sequence, ``dtype=``
as a torch dtype or its name, ``requires_grad=``, ``device=`` accepted).

Deterministic creations (``zeros ones full empty arange linspace eye`` and their ``_like``
forms) are worker ops: no data travels.  Random ones draw their values with torch's own CPU
generator here on the client and hand them to the worker, so under the same seed they equal
torch's exactly (``gt.manual_seed`` seeds torch's generator).  Tensors from data (``tensor``,
``from_numpy``) copy their data to the worker.
"""
from __future__ import annotations

import numpy as np
import torch

from gt.client import surface
from gt.client.emit import emit as _emit, number as _scalar, put as _put
from gt.client.shapes import SUPPORTED_DTYPES, as_dtype as _dtype, dtype_name, size_args
from gt.client.tensor import Tensor
from gt.ops import OPCODE as _OP


def _finish(out: Tensor, requires_grad: bool) -> Tensor:
    return out.requires_grad_(True) if requires_grad else out


def _shape(name: str, args: tuple, size) -> tuple:
    """The size given as varargs, one sequence, or ``size=`` (torch takes all three)."""
    if size is None:
        return size_args(args)
    if args:
        raise TypeError(f"{name}() got multiple values for argument 'size'")
    return size_args((size,))


def _number(name: str, value):
    s = _scalar(value)
    if s is None:
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    return s


# -- from data ---------------------------------------------------------------------------------
def _check_numpy_dtype(a: np.ndarray) -> None:
    try:
        ok = torch.from_numpy(np.empty(0, a.dtype)).dtype in SUPPORTED_DTYPES
    except TypeError:   # numpy dtypes torch has no counterpart for (object, str ...)
        ok = False
    if not ok:
        raise TypeError(f"GT does not support numpy arrays of dtype {a.dtype} (supported: "
                        + ", ".join(dtype_name(d) for d in SUPPORTED_DTYPES if d is not torch.bfloat16) + ")")


def tensor(data, dtype=None, device=None, requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """A tensor holding a copy of ``data`` (nested lists, numbers, numpy arrays, torch or gt tensors)."""
    dtype = _dtype(dtype)
    if isinstance(data, Tensor):
        return _finish(data.detach().to(dtype) if dtype is not None else data.detach(), requires_grad)
    if isinstance(data, torch.Tensor):
        value = data.detach().to(dtype or data.dtype, copy=True)
    else:
        if isinstance(data, np.ndarray):
            _check_numpy_dtype(data)
        try:
            value = torch.tensor(data, dtype=dtype)
        except (TypeError, ValueError, RuntimeError):
            try:   # GT tensors in the lists (gt.tensor([loss_a, loss_b])): read, then made one
                value = torch.tensor(_values_of(data), dtype=dtype)
            except (TypeError, ValueError, RuntimeError) as exc:
                raise TypeError(f"gt.tensor: cannot make a tensor from {type(data).__name__}: {exc}") from None
    return _put(value, requires_grad, batch=True)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a GT tensor: a GT tensor itself when no dtype change is asked (as torch's
    shares memory), else a copy (of a torch tensor, a numpy array, lists or numbers)."""
    if isinstance(data, Tensor):
        return data.to(_dtype(dtype)) if dtype is not None else data
    return tensor(data, dtype=dtype)


def _values_of(data):
    """``data`` with the GT tensors in its lists and tuples read (``gt.tensor([loss_a, loss_b])``)."""
    if isinstance(data, Tensor):
        return data._value().detach().cpu()
    if isinstance(data, (list, tuple)):
        return [_values_of(d) for d in data]
    return data


def from_numpy(a: np.ndarray, requires_grad: bool = False) -> Tensor:
    """A tensor holding a copy of the numpy array ``a`` (same dtype)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(a).__name__})")
    _check_numpy_dtype(a)
    return _put(torch.tensor(a), requires_grad, batch=True)


# -- deterministic: worker ops -------------------------------------------------------------------
def full(size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value`` (its dtype follows the value, as torch's)."""
    shape = size_args((size,) if isinstance(size, int) else tuple(size))
    s = _number("fill_value", fill_value)
    dtype = _dtype(dtype)
    if dtype is None:
        dtype = torch.bool if type(s) is bool else torch.int64 if type(s) is int else torch.get_default_dtype()
    return _finish(_emit(_OP["full"], (), shape, dtype, (shape, s, dtype)), requires_grad)


def zeros(*args, size=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return full(_shape("zeros", args, size), 0.0, dtype=_dtype(dtype) or torch.get_default_dtype(),
                requires_grad=requires_grad)


def ones(*args, size=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return full(_shape("ones", args, size), 1.0, dtype=_dtype(dtype) or torch.get_default_dtype(),
                requires_grad=requires_grad)


def empty(*args, size=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Like torch.empty; GT's values are zeros (the worker has no uninitialised memory to hand out)."""
    return zeros(_shape("empty", args, size), dtype=dtype, requires_grad=requires_grad)


def full_like(t: Tensor, fill_value, *, dtype=None, device=None, requires_grad: bool = False,
              memory_format=None) -> Tensor:
    return full(t.shape, fill_value, dtype=_dtype(dtype) or t.dtype, requires_grad=requires_grad)


def zeros_like(t: Tensor, *, dtype=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    return full(t.shape, 0, dtype=_dtype(dtype) or t.dtype, requires_grad=requires_grad)


def ones_like(t: Tensor, *, dtype=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    return full(t.shape, 1, dtype=_dtype(dtype) or t.dtype, requires_grad=requires_grad)


def empty_like(t: Tensor, *, dtype=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    return zeros_like(t, dtype=dtype, requires_grad=requires_grad)


def _on_meta(fn, *args, **kwargs) -> torch.Tensor:
    """torch's own shape, dtype and argument checks for a creation, without computing values."""
    return fn(*args, **kwargs, device="meta")


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if end is None:
        start, end = 0, start
    start, end, step = (_number(n, v) for n, v in (("start", start), ("end", end), ("step", step)))
    meta = _on_meta(torch.arange, start, end, step, dtype=_dtype(dtype))
    out = _emit(_OP["arange"], (), meta.shape, meta.dtype, (start, end, step, meta.dtype))
    return _finish(out, requires_grad)


def linspace(start, end, steps: int, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    start, end = _number("start", start), _number("end", end)
    meta = _on_meta(torch.linspace, start, end, steps, dtype=_dtype(dtype))
    return _finish(_emit(_OP["linspace"], (), meta.shape, meta.dtype, (start, end, steps, meta.dtype)),
                   requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    m = n if m is None else m
    meta = _on_meta(torch.eye, n, m, dtype=_dtype(dtype))
    return _finish(_emit(_OP["eye"], (), meta.shape, meta.dtype, (n, m, meta.dtype)), requires_grad)


def _frequencies(name: str):
    """``gt.fft.<name>(n, d=1.0)``: the sample frequencies of an FFT of ``n`` points."""
    code, torch_fn = _OP["fft_" + name], getattr(torch.fft, name)

    def fn(n: int, d: float = 1.0, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
        d = _number("d", d)
        meta = _on_meta(torch_fn, n, d, dtype=_dtype(dtype))
        return _finish(_emit(code, (), meta.shape, meta.dtype, (n, d, meta.dtype)), requires_grad)
    fn.__name__ = name
    fn.__doc__ = f"torch.fft.{name}: the sample frequencies of an FFT of ``n`` points, spaced ``d`` apart."
    return fn


# -- random: torch's generator on the client ---------------------------------------------------------
Generator = torch.Generator   # ``generator=`` takes torch's own: GT draws with torch's generators


def manual_seed(seed: int) -> torch.Generator:
    """Seed the generator behind every random function and nn initialisation (torch's CPU generator)."""
    return torch.manual_seed(seed)


def seed() -> int:
    """Seed the generator from a non-deterministic source; returns the seed."""
    return torch.seed()


def initial_seed() -> int:
    return torch.initial_seed()


def get_rng_state() -> Tensor:
    """The generator's state as a uint8 tensor (``set_rng_state`` restores it), as torch's."""
    return _put(torch.get_rng_state())


def set_rng_state(new_state) -> None:
    """Restore a state from ``get_rng_state`` (a GT or torch uint8 tensor)."""
    if isinstance(new_state, Tensor):
        new_state = torch.from_numpy(new_state.numpy())
    torch.set_rng_state(new_state)


def randn(*args, size=None, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples, equal to ``torch.randn``'s under the same seed."""
    return _put(torch.randn(_shape("randn", args, size), generator=generator, dtype=_dtype(dtype)), requires_grad)


def rand(*args, size=None, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1), equal to ``torch.rand``'s under the same seed."""
    return _put(torch.rand(_shape("rand", args, size), generator=generator, dtype=_dtype(dtype)), requires_grad)


def randint(*args, size=None, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """``randint(high, size)`` or ``randint(low, high, size)``: integers in [low, high), as torch's."""
    kwargs = {"generator": generator, "dtype": _dtype(dtype) or torch.int64}
    if size is not None:
        kwargs["size"] = tuple(size)
    return _put(torch.randint(*args, **kwargs), requires_grad)


def randperm(n: int, *, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A random permutation of ``0 .. n-1``, equal to ``torch.randperm``'s under the same seed."""
    return _put(torch.randperm(n, generator=generator, dtype=_dtype(dtype) or torch.int64), requires_grad)


def _drawn_from(x) -> torch.Tensor | float:
    """A distribution parameter's value for torch's sampler: a GT tensor is read (a sync point)."""
    return x._value().detach().cpu() if isinstance(x, Tensor) else x


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Normal samples, equal to ``torch.normal``'s under the same seed (float mean and std with a
    ``size``, or tensors of means and/or stds)."""
    args = (_drawn_from(mean), _drawn_from(std)) + (() if size is None else (tuple(size),))
    kwargs = {"generator": generator}
    if size is not None:
        kwargs["dtype"] = _dtype(dtype)
    return _put(torch.normal(*args, **kwargs), requires_grad)


def bernoulli(input: Tensor, p: float | None = None, *, generator=None) -> Tensor:
    """0/1 samples with the probabilities in ``input`` (or ``p``), equal to ``torch.bernoulli``'s."""
    value = _drawn_from(input)
    return _put(torch.bernoulli(value, generator=generator) if p is None else
                torch.bernoulli(value, p, generator=generator))


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator=None) -> Tensor:
    """Indices drawn with the (unnormalised) probabilities in each row of ``input``, equal to
    ``torch.multinomial``'s under the same seed (e.g. sampling a language model's next token)."""
    return _put(torch.multinomial(_drawn_from(input), num_samples, replacement, generator=generator))


def randn_like(t: Tensor, *, dtype=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    return randn(t.shape, dtype=_dtype(dtype) or t.dtype, requires_grad=requires_grad)


def rand_like(t: Tensor, *, dtype=None, device=None, requires_grad: bool = False, memory_format=None) -> Tensor:
    return rand(t.shape, dtype=_dtype(dtype) or t.dtype, requires_grad=requires_grad)


# -- Tensor methods ------------------------------------------------------------------------------
def _redraw_method(name: str):
    """``Tensor.<name>`` (``uniform_``, ``normal_`` ...): refill in place with the values torch's
    method draws for a tensor of this shape and dtype, on the client's generator."""
    draw = getattr(torch.Tensor, name)

    def method(self: Tensor, *args, **kwargs) -> Tensor:
        value = torch.empty(tuple(self.shape), dtype=self.dtype)
        draw(value, *(_drawn_from(a) for a in args), **kwargs)
        return self.copy_(_put(value))
    method.__name__ = name
    return method


surface.functions(Generator=Generator, arange=arange, bernoulli=bernoulli, empty=empty, empty_like=empty_like,
                  eye=eye, from_numpy=from_numpy, full=full, full_like=full_like, get_rng_state=get_rng_state,
                  initial_seed=initial_seed, linspace=linspace, manual_seed=manual_seed, multinomial=multinomial,
                  normal=normal, ones=ones, ones_like=ones_like, rand=rand, rand_like=rand_like, randint=randint,
                  randn=randn, randn_like=randn_like, randperm=randperm, seed=seed, set_rng_state=set_rng_state,
                  tensor=tensor, zeros=zeros, zeros_like=zeros_like)
surface.functions("gt.fft", fftfreq=_frequencies("fftfreq"), rfftfreq=_frequencies("rfftfreq"))
surface.methods(bernoulli=bernoulli, multinomial=multinomial,
                **{name: _redraw_method(name) for name in ("uniform_", "normal_", "random_", "exponential_",
                                                           "bernoulli_")})
