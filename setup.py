"""Build GT's C core: the batcher and the hot-path table (CPython C API only)."""
from setuptools import Extension, setup

CFLAGS = ["-O2", "-Wall", "-Wextra", "-std=c11"]

setup(
    ext_modules=[
        Extension("gt.worker._batcher", ["csrc/_batcher.c"], extra_compile_args=CFLAGS),
        Extension("gt.worker._hotpath", ["csrc/_hotpath.c"], extra_compile_args=CFLAGS),
    ],
)
