"""Op entries for the deterministic creations beyond ``full``/``arange``: ``linspace``, ``eye``,
``fft.fftfreq``, ``fft.rfftfreq``.

Worker ops rather than data: creating them ships no values.  Their kernels take the
worker's device as a keyword (the engine binds it, as for ``full``)."""
from __future__ import annotations

import torch

from gt.ops.table import Op


def linspace(start, end, steps, dtype, device=None):
    return torch.linspace(start, end, steps, dtype=dtype, device=device)


def eye(n, m, dtype, device=None):
    return torch.eye(n, m, dtype=dtype, device=device)


def fft_fftfreq(n, d, dtype, device=None):
    return torch.fft.fftfreq(n, d, dtype=dtype, device=device)


def fft_rfftfreq(n, d, dtype, device=None):
    return torch.fft.rfftfreq(n, d, dtype=dtype, device=device)


ENTRIES = (
    Op("linspace", linspace, "creation", ("start", "end", "steps", "dtype")),
    Op("eye", eye, "creation", ("n", "m", "dtype")),
    Op("fft_fftfreq", fft_fftfreq, "creation", ("n", "d", "dtype")),
    Op("fft_rfftfreq", fft_rfftfreq, "creation", ("n", "d", "dtype")),
)
