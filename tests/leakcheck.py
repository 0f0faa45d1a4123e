"""Leak measurement shared by the C core's tests (tests/test_batcher.py, tests/test_hotpath.py).

A plain module, not conftest: tests/c/run_valgrind.sh runs those files with --noconftest.
"""
import gc
import os
import tracemalloc

# tests/c/run_valgrind.sh sets GT_VALGRIND=1: loops shrink so the run stays short.
SCALE = 0.02 if os.environ.get("GT_VALGRIND") else 1.0


def n_iter(n):
    return max(1, int(n * SCALE))


def traced_growth(fn, n):
    """Bytes Python's allocator holds after n more calls of fn, once warmed up."""
    for _ in range(max(10, n // 20)):
        fn()
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(max(10, n // 20)):
            fn()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(n):
            fn()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return after - before
