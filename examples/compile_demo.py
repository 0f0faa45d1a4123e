"""Compile scopes: a model whose forward and backward run inside configured ``gt.signal`` scopes.

    python examples/compile_demo.py

The scopes are configured ``compile: true`` in examples/config_compile.yaml
(GT_CONFIG), so each one's operations run as one batch that compiles on first
sight, with no hot-path threshold and no GT_* switches; later runs of the same
scope reuse the compiled graph.  Code outside the scopes runs eagerly.
"""
import os
import time

os.environ.setdefault("GT_CONFIG", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                "config_compile.yaml"))

import numpy as np  # noqa: E402

import gt  # noqa: E402
import gt.nn as nn  # noqa: E402

gt.manual_seed(0)
rng = np.random.default_rng(0)
X = gt.from_numpy(rng.standard_normal((64, 8)).astype(np.float32))
y = gt.from_numpy(rng.standard_normal((64, 1)).astype(np.float32))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 1)

    def forward(self, x):
        with gt.signal.context("forward"):
            return self.fc2(gt.relu(self.fc1(x)))


model = MLP()
optimizer = gt.optim.SGD(model.parameters(), lr=0.1)
loss_fn = nn.MSELoss()

print("1. A compiled scope: the first run compiles, the second reuses the graph")
a, b = gt.randn(100, 100), gt.randn(100, 100)
for run in ("first", "second"):
    start = time.perf_counter()
    with gt.signal.context("compileme"):
        z = (a + b) * 2.0 @ a
    z.numpy()
    print(f"   {run} run: {(time.perf_counter() - start) * 1e3:.1f} ms")

print("2. Training: forward and backward in compiled scopes, the update eagerly")
for step in range(20):
    optimizer.zero_grad()
    loss = loss_fn(model(X), y)
    with gt.signal.context("backward"):
        loss.backward()
    optimizer.step()
    if step % 5 == 0:
        print(f"   step {step:2d}  loss {loss.item():.4f}")

stats = gt.debug.get_worker_stats()["worker_0"]
comp = stats["compilation"]
print(f"compiled graphs: {comp['cache_size']}, compiled runs reused: {comp['cache_hits']}, "
      f"ops compiled: {stats['operations']['compiled']} of {stats['operations']['total']}")
