"""Build GT's C core: the batcher and the hot-path table (CPython C API only)."""
from setuptools import Extension, setup

CFLAGS = ["-O2", "-Wall", "-Wextra", "-std=c11"]
# Helpers both modules include; a change to it rebuilds both.
DEPENDS = ["csrc/gt_core.h"]

setup(
    ext_modules=[
        Extension("gt.worker._batcher", ["csrc/_batcher.c"], depends=DEPENDS,
                  extra_compile_args=CFLAGS),
        Extension("gt.worker._hotpath", ["csrc/_hotpath.c"], depends=DEPENDS,
                  extra_compile_args=CFLAGS),
    ],
)
