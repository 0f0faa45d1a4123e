"""The benchmarks' models train the same in GT as in torch (a smoke test of benchmarks/bench_mlp.py)."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

import gt

from devices import DEVICE

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import bench_mlp  # noqa: E402


@pytest.mark.parametrize("name", ["cnn", "transformer"])
def test_benchmark_model_steps_match_torch(name, monkeypatch):
    monkeypatch.setattr(bench_mlp, "CNN_BATCH", 4)
    want = bench_mlp.build(torch, torch.nn, name, "optimizer", DEVICE)
    got = bench_mlp.build(gt, gt.nn, name, "optimizer")
    for _ in range(3):
        np.testing.assert_allclose(got().item(), want().item(), rtol=1e-4, atol=1e-6)
