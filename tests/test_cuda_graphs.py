"""Compiled graphs replayed as CUDA graphs: what is copied, what survives a replay, memory and OOM.

The runner's bookkeeping (which inputs are copied in, which outputs are moved out of the
graph's memory before the next replay overwrites it) is tested on any device with a stand-in
graph that has a CUDA graph's semantics: fixed output buffers that every replay overwrites.
The tests of real capture, memory figures and out-of-memory errors need CUDA.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gt
from gt.worker import engine as engine_mod
from gt.worker import policy as policy_mod

from devices import DEVICE, ON_GPU, on_device, twin


class _StandInGraph:
    """Replays ``fn`` into fixed output buffers, then copies outputs into fed-back inputs, as a CUDA graph does."""

    def __init__(self, fn, static_inputs, feedback):
        self.fn, self.static_inputs, self.feedback = fn, static_inputs, dict(feedback)
        self.outs = [torch.empty_strided(o.size(), o.stride(), dtype=o.dtype, device=o.device).copy_(o)
                     for o in fn(list(static_inputs))]
        self.replays = 0

    def replay(self):
        self.replays += 1
        for buf, new in zip(self.outs, self.fn(list(self.static_inputs))):
            buf.copy_(new)
        for k, j in self.feedback.items():
            self.static_inputs[k].copy_(self.outs[j])


@pytest.fixture
def stand_in_graphs(monkeypatch):
    """Every compiled graph runs through a _CudaGraphRunner over a _StandInGraph; returns the runners."""
    runners = []
    compile_graph = engine_mod._compile_graph

    def compile_with_runner(gm, inputs, cuda_graphs=True):
        runners.append(engine_mod._CudaGraphRunner(compile_graph(gm, inputs, False), inputs))
        return runners[-1]

    def record(fn, static_inputs, feedback):
        graph = _StandInGraph(fn, static_inputs, feedback)
        return graph, graph.outs

    monkeypatch.setattr(engine_mod, "_compile_graph", compile_with_runner)
    monkeypatch.setattr(engine_mod, "_record_cuda_graph", record)
    # The stand-in replays slower than eager: the graphs are kept, not judged and reverted.
    monkeypatch.setattr(policy_mod, "REVERT_SAMPLES", 0)
    return runners


def _train(lib, model, x, y, steps, keep_every=1):
    opt = lib.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for step in range(steps):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        if step % keep_every == 0:
            losses.append(loss)    # held across later replays
    return losses


def _model(lib):
    return lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.Tanh(), lib.nn.Linear(8, 1))


def test_replayed_step_outputs_survive_later_replays_and_match_torch(use_worker, stand_in_graphs, twins, rng):
    use_worker(auto_compile=True, threshold=2, batch_size=1024, device=DEVICE)
    tm, gm = twins(_model)
    tm = on_device(tm)
    x, y = rng.standard_normal((16, 4)).astype(np.float32), rng.standard_normal((16, 1)).astype(np.float32)
    steps = 30
    got = _train(gt, gm, gt.from_numpy(x), gt.from_numpy(y), steps)
    want = _train(torch, tm, twin(x), twin(y), steps)
    np.testing.assert_allclose([t.item() for t in got], [t.item() for t in want], rtol=1e-5, atol=1e-6)
    for p, q in zip(gm.parameters(), tm.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().cpu().numpy(), rtol=1e-5, atol=1e-6)
    runner = max(stand_in_graphs, key=lambda r: r.calls)
    assert runner.calls >= 10
    # Parameters and momentum buffers come back as inputs: the graph writes them into its inputs itself.
    assert len(runner.feedback) >= 4
    # From then on only the loss, held by the list, is moved out; nothing fed back is copied in.
    assert runner.moved <= runner.calls
    assert runner.copied <= len(runner.static_inputs) + len(runner.feedback)


def test_steady_steps_copy_nothing_in_or_out(use_worker, stand_in_graphs, twins, rng):
    use_worker(auto_compile=True, threshold=2, batch_size=1024, device=DEVICE)
    _, gm = twins(_model)
    x, y = gt.from_numpy(rng.standard_normal((16, 4)).astype(np.float32)), gt.from_numpy(
        rng.standard_normal((16, 1)).astype(np.float32))
    opt = gt.optim.SGD(gm.parameters(), lr=0.05, momentum=0.9)
    for step in range(50):
        if step == 40:
            runner = max(stand_in_graphs, key=lambda r: r.calls)
            calls, copied = runner.calls, runner.copied
        opt.zero_grad()
        loss = ((gm(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    # Parameters and momentum buffers are fed back by the graph; data and learning rates do not
    # change; each step's loss is dropped (rebound) before the next replay: nothing to copy or move.
    assert runner.calls == calls + 10
    assert runner.copied == copied and runner.moved == 0
    assert loss.item() > 0


def test_an_output_the_client_holds_under_another_handle_keeps_its_value(use_worker, stand_in_graphs):
    use_worker(compile=True, batch_size=1024, device=DEVICE)
    w = gt.tensor([1.0, 2.0, 3.0])
    kept = []
    for s in (2.0, 3.0, 4.0, 5.0):
        w = w * s + 1.0        # w feeds the next call: fed back after the second
        kept.append(w)
        gt.flush()
    want, v = [], np.array([1.0, 2.0, 3.0], np.float32)
    for s in (2.0, 3.0, 4.0, 5.0):
        v = v * s + 1.0
        want.append(v)
    for got, expect in zip(kept, want):
        np.testing.assert_allclose(got.numpy(), expect)


def _train_sizes(lib, tensor, sizes):
    """The tiny model trained on batches of the given sizes (the same data for both libraries); its losses."""
    lib.manual_seed(0)
    model = _model(lib)
    if lib is torch:
        model = on_device(model)
    opt = lib.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    data = np.random.default_rng(3)
    losses = []
    for n in sizes:
        x = tensor(data.standard_normal((n, 4)).astype(np.float32))
        y = tensor(data.standard_normal((n, 1)).astype(np.float32))
        opt.zero_grad()
        loss = lib.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _symbolic_entries(worker):
    return [e for e in worker.engine._cache.values() if isinstance(e, engine_mod._SymbolicGraphs)]


def test_a_symbolic_pattern_is_captured_once_per_size_up_to_a_bound(use_worker, monkeypatch, logged):
    """On CUDA a graph with symbolic sizes is captured once per size it runs at (stand-in graphs
    here: the runner's bookkeeping on any device), up to MAX_CUDA_GRAPH_SIZES; other sizes run
    the compiled code without a capture.  Every step has torch's numbers."""
    monkeypatch.setattr(engine_mod, "_compile_symbolic",
                        lambda gm, inputs, dynamic: (None, None, lambda args: gm(*args)))
    monkeypatch.setattr(engine_mod, "_record_cuda_graph",
                        lambda fn, static, feedback: (g := _StandInGraph(fn, static, feedback), g.outs))
    monkeypatch.setattr(policy_mod, "REVERT_SAMPLES", 0)
    monkeypatch.setattr(engine_mod, "MAX_CUDA_GRAPH_SIZES", 3)
    sizes = [8, 8, 8, 12, 12, 12, 16, 16, 20, 20, 24, 8, 12, 16, 20, 8, 12, 16, 8, 12, 16]
    want = _train_sizes(torch, twin, sizes)
    w = use_worker(auto_compile=True, threshold=2, batch_size=1024, device=DEVICE)
    w.engine.capture = engine_mod._captured     # what a CUDA worker uses
    got = _train_sizes(gt, gt.from_numpy, sizes)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    [entry] = _symbolic_entries(w)
    captured = list(entry.captured.values())
    assert len(captured) == 3 and all(type(r) is engine_mod._CudaGraphRunner for r in captured)
    # Three batch sizes (a key is the inputs' sizes, strides and offsets; the batch's is the largest dim 0).
    assert len({max(shape[0] for shape, _, _ in key if len(shape) == 2) for key in entry.captured}) == 3
    assert sum(r.calls for r in captured) >= 6     # replayed at later steps of their size
    bound = [r.message for r in logged.records if "CUDA graphs for 3 sizes" in r.message]
    assert len(bound) == 1


def test_cpu_workers_capture_nothing(use_worker):
    w = use_worker(device="cpu", auto_compile=True)
    assert w.engine.capture is None
    assert engine_mod._SymbolicGraphs(w.engine.capture).captured is None


def test_gt_cuda_graphs_setting(monkeypatch):
    from gt import config as gt_config
    monkeypatch.setenv("GT_CUDA_GRAPHS", "0")
    assert gt_config.from_env().cuda_graphs is False
    monkeypatch.setenv("GT_CUDA_GRAPHS", "2")
    with pytest.raises(gt_config.ConfigError, match="GT_CUDA_GRAPHS"):
        gt_config.from_env()
    monkeypatch.delenv("GT_CUDA_GRAPHS")
    assert gt_config.from_env().cuda_graphs is True


cuda_only = pytest.mark.skipif(not ON_GPU, reason="needs the worker on CUDA")


@cuda_only
def test_cuda_training_replays_graphs_and_matches_torch(use_worker, twins, rng):
    w = use_worker(auto_compile=True, threshold=2, batch_size=1024, device=DEVICE)
    tm, gm = twins(_model)
    tm = on_device(tm)
    x, y = rng.standard_normal((16, 4)).astype(np.float32), rng.standard_normal((16, 1)).astype(np.float32)
    got = _train(gt, gm, gt.from_numpy(x), gt.from_numpy(y), 30)
    want = _train(torch, tm, twin(x), twin(y), 30)
    np.testing.assert_allclose([t.item() for t in got], [t.item() for t in want], rtol=1e-5, atol=1e-6)
    runners = [r for r in w.engine._cache.values() if isinstance(r, engine_mod._CudaGraphRunner)]
    assert runners and max(r.calls for r in runners) >= 10


@cuda_only
def test_cuda_batches_of_varying_size_replay_one_graph_per_size_and_match_torch(use_worker):
    sizes = [16, 16, 16, 5] * 10                # epochs of 53 samples in batches of 16
    want = _train_sizes(torch, twin, sizes)
    w = use_worker(auto_compile=True, threshold=3, batch_size=1024, device=DEVICE)
    got = _train_sizes(gt, gt.from_numpy, sizes)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    [entry] = _symbolic_entries(w)
    runners = [r for r in entry.captured.values() if type(r) is engine_mod._CudaGraphRunner]
    assert len(runners) == 2 and min(r.calls for r in runners) >= 3


@cuda_only
def test_cuda_memory_figures_are_the_workers(use_worker):
    use_worker(device=DEVICE)
    gt.cuda.reset_peak_memory_stats()
    before = gt.cuda.memory_allocated()
    assert before == torch.cuda.memory_allocated(DEVICE)
    x = gt.ones(1024, 1024)            # 4 MiB on the worker
    x.sum().item()
    assert gt.cuda.memory_allocated() - before >= 4 * 2 ** 20
    assert gt.cuda.max_memory_allocated() >= gt.cuda.memory_allocated()
    del x
    gt.flush()
    assert gt.cuda.memory_allocated() == before


@cuda_only
def test_cuda_graph_memory_is_freed_when_its_pattern_is_forgotten(use_worker):
    w = use_worker(compile=True, batch_size=1024, device=DEVICE)
    x = gt.ones(256, 256)              # 256 KiB
    x.sum().item()
    before = gt.cuda.memory_allocated()
    for _ in range(3):
        y = (x * 2.0 + 1.0).exp()
        gt.flush()
    del y
    gt.flush()
    assert any(isinstance(r, engine_mod._CudaGraphRunner) for r in w.engine._cache.values())
    # The graph's copy of x and its output buffer stay with the graph.
    assert gt.cuda.memory_allocated() >= before + 2 * 2 ** 18
    for key in list(w.engine._cache):
        w.engine.forget(key)
    # All of it goes with the graph (the engine keeps its learning-rate-like scalars: a few bytes each).
    assert gt.cuda.memory_allocated() <= before + 4096


@cuda_only
@pytest.mark.parametrize("make", [lambda: gt.empty(10 ** 12), lambda: (lambda a: a @ a.T)(gt.ones(200_000, 10_000))],
                         ids=["empty", "matmul"])
def test_cuda_out_of_memory_is_an_out_of_memory_error_and_the_worker_keeps_serving(use_worker, make):
    use_worker(device=DEVICE)
    x = make()
    with pytest.raises(torch.OutOfMemoryError, match="GT worker: operation '.*' ran out of memory on cuda"):
        x.sum().item()
    del x
    y = gt.tensor([1.0, 2.0])
    assert (y * 3.0).sum().item() == 9.0


def test_an_op_out_of_memory_raises_out_of_memory_error_at_the_sync_and_the_worker_goes_on(use_worker):
    """Any device: a kernel that fails to allocate (as CUDA's allocator does) keeps torch's error type."""
    w = use_worker(device=DEVICE)
    funcs = list(w._funcs)

    def too_big(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 3725.29 GiB.")

    funcs[gt.ops.OPCODE["full"]] = too_big
    w._funcs, real = tuple(funcs), w._funcs
    x = gt.full((3,), 2.0)       # not a sync point: no error yet
    w._funcs = real
    with pytest.raises(gt.cuda.OutOfMemoryError, match=r"operation 'full' ran out of memory on .*Tried to allocate"):
        x.sum().item()
    assert (gt.ones(2) * 3.0).sum().item() == 6.0
