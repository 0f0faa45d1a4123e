"""Per-thread modes every client layer reads: whether ops record gradients."""
from __future__ import annotations

import threading

# How many threads have gradients off (a thread that ends with them off stays counted). While
# none has, every thread records: the op path reads this module global, not the thread-local.
disabled_threads = 0
_lock = threading.Lock()


class _GradMode(threading.local):
    """Whether ops record gradients, per thread as in torch: one thread's ``no_grad``
    (an optimizer step) must not stop another thread's forward from recording."""
    enabled = True

    def __setattr__(self, name: str, value) -> None:
        global disabled_threads
        if name == "enabled":
            with _lock:
                disabled_threads += bool(self.enabled) - bool(value)
        super().__setattr__(name, value)


grad_mode = _GradMode()
