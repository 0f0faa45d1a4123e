"""Per-thread modes every client layer reads: whether ops record gradients."""
from __future__ import annotations

import threading


class _GradMode(threading.local):
    """Whether ops record gradients, per thread as in torch: one thread's ``no_grad``
    (an optimizer step) must not stop another thread's forward from recording."""
    enabled = True


grad_mode = _GradMode()
