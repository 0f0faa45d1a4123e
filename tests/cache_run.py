"""One run of a small training script, for the persistent hot-path cache's tests (a fresh process each).

``python cache_run.py WORKLOAD STEPS COMPILER``: WORKLOAD ``mlp`` (forward, backward, SGD
update with momentum: a cycle of three batches), ``mlp_plain`` (the same, SGD without momentum:
another update batch) or ``tiny`` (``(x * 2.0 + 1.0).exp()`` under no_grad);
COMPILER ``inductor``, ``graph`` (the fx graph run as it is: no Inductor and no revert, for
tests about the worker) or ``slow`` (the fx graph, 20 ms a call: a pattern that does not pay).  Prints one
JSON line: the losses, the step of the first compiled batch, the worker's stats and the
graphs compiled.  GT_CACHE_DIR, GT_AUTO_COMPILE and GT_HOTPATH_THRESHOLD come from the caller.
"""
from __future__ import annotations

import json
import sys
import time

import gt
from gt.worker import engine as engine_mod
from gt.worker import policy as policy_mod

workload, steps, compiler = sys.argv[1], int(sys.argv[2]), sys.argv[3]
compiled_graphs = []
if compiler != "inductor":
    def stand_in(gm, inputs):
        compiled_graphs.append(len(inputs))
        if compiler == "slow":
            return lambda args: (time.sleep(0.02), gm(*args))[1]
        return lambda args: gm(*args)
    engine_mod._compile_graph = stand_in
if compiler == "graph":
    policy_mod.REVERT_SAMPLES = 0   # never judged: what the worker does must not depend on this machine's timings

worker = gt.debug.get_worker()
gt.manual_seed(0)
losses, first_compiled = [], None
if workload in ("mlp", "mlp_plain"):
    X, Y = gt.randn(16, 4), gt.randn(16, 1)
    model = gt.nn.Sequential(gt.nn.Linear(4, 8), gt.nn.Tanh(), gt.nn.Linear(8, 1))
    opt = gt.optim.SGD(model.parameters(), lr=0.05, momentum=0.9 if workload == "mlp" else 0.0)
    for step in range(steps):
        opt.zero_grad()
        loss = gt.nn.MSELoss()(model(X), Y)
        loss.backward()
        opt.step()
        losses.append(loss)
        if first_compiled is None and worker.stats["hot_batches"]:
            first_compiled = step
else:
    x = gt.tensor([1.0, 2.0, 3.0])
    for step in range(steps):
        with gt.no_grad():
            y = (x * 2.0 + 1.0).exp()
        losses.append(y.sum())
        if first_compiled is None and worker.stats["hot_batches"]:
            first_compiled = step
inductor_imported = "torch._inductor.config" in sys.modules
dynamo_imported = "torch._dynamo" in sys.modules
aot_loaded = worker.engine.aot.loaded if worker.engine.aot is not None else None
aot_verified = worker.engine.aot.verified if worker.engine.aot is not None else None
stats = gt.debug.get_worker_stats()[worker.worker_id]
from torch._dynamo.utils import counters  # noqa: E402 - after the run: Inductor's own cache counters

print(json.dumps({
    "losses": [loss.item() for loss in losses],
    "first_compiled": first_compiled,
    "hotpath": stats["hotpath"],
    "compilation": stats["compilation"],
    "graphs": compiled_graphs,
    "fxgraph_cache_hit": counters["inductor"]["fxgraph_cache_hit"],
    "inductor_imported": inductor_imported,
    "dynamo_imported": dynamo_imported,
    "aot_loaded": aot_loaded,
    "aot_verified": aot_verified,
}))
