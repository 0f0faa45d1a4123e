"""Graphs built ahead of time into the persistent cache (gt/worker/aot_graphs.py): a second
process loads them without Inductor; a library that does not load, or computes other numbers
than eager execution, is deleted and the pattern compiles with Inductor."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import msgspec
import numpy as np
import pytest
import torch

from gt.transport import wire
from gt.worker import aot_graphs
from gt.worker import engine as engine_mod
from gt.worker.aot_graphs import AotGraphs, wait_for_builds
from gt.worker.hotpath_cache import PatternCache

from devices import ON_GPU
from test_hotpath_cache import _run

DIGEST = "0" * 31 + "1"


@pytest.mark.skipif(ON_GPU, reason="libraries are built for CPU workers only (torch 2.11's CUDA runner crashed)")
def test_a_second_process_runs_the_library_built_after_the_first(tmp_path):
    first = _run(tmp_path, workload="tiny", steps=5, compiler="inductor", threshold=3, aot=True)
    assert wait_for_builds(str(tmp_path), 600), "the ahead-of-time builder did not finish"
    libraries = [n for n in os.listdir(tmp_path / "aot") if n.endswith(".so")]
    assert len(libraries) == 1, open(tmp_path / "aot" / "build.log").read()[-3000:]
    assert os.listdir(tmp_path / "aot" / "jobs") == []
    second = _run(tmp_path, workload="tiny", steps=5, compiler="inductor", threshold=3, aot=True)
    assert first["aot_loaded"] == 0 and second["aot_loaded"] == 1
    # The builder checked the library against eager execution on the inputs the first run compiled
    # with: the second run does not check it again.
    assert second["aot_verified"] == 1 and second["compilation"]["compile_seconds"] < 0.5
    # The steady pattern compiles at its first sight (step 1) from the library: neither
    # Inductor nor Dynamo is imported, and nothing is compiled.
    assert second["first_compiled"] == 1
    assert not second["inductor_imported"] and not second["dynamo_imported"]
    assert second["compilation"]["compile_failures"] == 0 and second["compilation"]["mismatches"] == 0
    want = torch.exp(torch.tensor([1.0, 2.0, 3.0]) * 2 + 1).sum().item()
    np.testing.assert_allclose(second["losses"], [want] * 5, rtol=1e-6)
    assert "is not used" not in second["log"]


def _store(tmp_path, library: bytes, size=None):
    cache = PatternCache(str(tmp_path), 16, torch.device("cpu"))
    aot = AotGraphs(cache, lambda key: DIGEST)
    os.makedirs(aot.dir)
    name = cache.file_name(DIGEST)
    with open(os.path.join(aot.dir, name + ".so"), "wb") as f:
        f.write(library)
    with open(os.path.join(aot.dir, name + ".json"), "w") as f:
        json.dump({"format": 1, "name": name, "pattern": DIGEST, "size": len(library) if size is None else size}, f)
    return aot, name


@pytest.mark.parametrize("damage", ["not a library", "truncated"])
def test_a_damaged_library_is_deleted_with_a_warning(tmp_path, logged, damage):
    library = b"\x7fELF garbage" * 100
    aot, name = _store(tmp_path, library, size=len(library) * 2 if damage == "truncated" else None)
    assert aot.load(1) == (None, False)
    reason = "its size is not the one recorded" if damage == "truncated" else "dlopen"
    assert logged.text.count("is not used") == 1 and reason in logged.text
    assert not os.path.exists(os.path.join(aot.dir, name + ".so"))
    assert aot.load(1) == (None, False) and aot.loaded == 0


def test_a_library_whose_first_run_differs_from_eager_is_dropped_for_inductor(monkeypatch):
    """The engine checks a loaded graph's first run; on a difference it uses eager's numbers, deletes
    the library and compiles the pattern (here a stand-in for Inductor) at its next run."""
    class Library:
        def __init__(self):
            self.discarded = []

        def load(self, key):   # not checked by a builder
            return lambda inputs: [torch.zeros(3), torch.zeros(3)], False      # wrong numbers

        def discard(self, key, reason):
            self.discarded.append(reason)

        def request(self, key, operations, batch, tensors):
            pass

    compiled = []
    monkeypatch.setattr(engine_mod, "_compile_graph",
                        lambda gm, inputs: compiled.append(gm) or (lambda args: gm(*args)))
    engine = engine_mod.Engine("cpu")
    engine.aot = Library()
    x = torch.tensor([1.0, 2.0, 3.0])
    ops = [engine_mod.Operation("compute", "mul_scalar", 2, (1,), scalars=(2.0,)),
           engine_mod.Operation("compute", "exp", 3, (2,))]
    want = (x * 2.0).exp()
    first = engine.execute_batch(ops, {1: x}, compile=True)
    assert torch.equal(first[3], want) and torch.equal(first[2], x * 2.0) and len(engine.aot.discarded) == 1
    assert "result 0, of op 'mul_scalar': max abs difference 6" in engine.aot.discarded[0]
    assert engine.mismatches == 0 and engine.compile_failures == 0
    assert compiled == []
    engine.aot.load = lambda key: (None, False)
    second = engine.execute_batch(ops, {1: x}, compile=True)
    assert len(compiled) == 1 and torch.allclose(second[3], want)


def test_bad_jobs_are_dropped_with_a_warning_and_the_builder_exits(tmp_path, logged):
    jobs = tmp_path / "aot" / "jobs"
    jobs.mkdir(parents=True)
    (jobs / "garbage.job").write_bytes(b"\x93not a job")
    (jobs / "escape.job").write_bytes(wire.encode(aot_graphs.Job("../../x", DIGEST, "cpu", [], [], [], [])))
    (jobs / "opcode.job").write_bytes(wire.encode(aot_graphs.Job("a-b", DIGEST, "cpu", [], [], [], [
        (10 ** 6, 2, [1], msgspec.Raw(wire.encode(())), 0)])))
    (jobs / "threads.job").write_bytes(wire.encode(aot_graphs.Job("a-c", DIGEST, "cpu", [], [], [], [], threads=-1)))
    assert aot_graphs._serve(str(tmp_path), 1 << 20) == 0
    assert os.listdir(jobs) == [] and not [n for n in os.listdir(tmp_path / "aot") if n.endswith(".so")]
    assert logged.text.count("failed") == 4
    assert "bad name" in logged.text and "bad op" in logged.text and "bad thread count -1" in logged.text


def _ops():
    return [engine_mod.Operation("compute", "mul_scalar", 2, (1,), scalars=(2.0,)),
            engine_mod.Operation("compute", "exp", 3, (2,))]


@pytest.mark.parametrize("wrong", [False, True], ids=["same", "other numbers"])
def test_the_builder_checks_its_library_on_the_inputs_recorded_with_the_job(tmp_path, monkeypatch, request, wrong):
    """A job records the inputs its pattern's graph passed its check with; the builder runs the library
    on them against eager execution: a library computing other numbers is not kept, a checked one is
    described as verified (bound to the file: rewritten, it is checked at its load again), and a
    later engine runs it without an eager run.  The job records the thread count its graph compiled
    with (a worker process's small graph: one), and the builder compiles with it."""
    import torch._inductor

    built, threads = [], []

    def aot_compile(gm, inputs, options):
        built.append(gm)
        threads.append(torch.get_num_threads())
        with open(options["aot_inductor.output_path"], "wb") as f:
            f.write(b"library")
        return options["aot_inductor.output_path"]

    class Runner:   # stands in for the library: the graph itself, or other numbers
        def __init__(self, path, n):
            self.gm = built[-1]

        def run(self, inputs):
            return [out + 1.0 for out in self.gm(*inputs)] if wrong else list(self.gm(*inputs))

    monkeypatch.setattr(torch._inductor, "aot_compile", aot_compile)
    monkeypatch.setattr(torch._C._aoti, "AOTIModelContainerRunnerCpu", Runner)
    monkeypatch.setattr(AotGraphs, "_start_builder", lambda self: None)
    monkeypatch.setattr(engine_mod, "_compile_graph", lambda gm, inputs: (lambda args: gm(*args)))
    cache = PatternCache(str(tmp_path), 16, torch.device("cpu"))
    engine = engine_mod.Engine("cpu")
    engine.aot = AotGraphs(cache, lambda key: DIGEST)
    engine.threads = 2   # a worker process's
    x = torch.tensor([1.0, 2.0, 3.0])
    request.addfinalizer(lambda saved=torch.get_num_threads(): torch.set_num_threads(saved))
    engine.execute_batch(_ops(), {1: x}, compile=True)
    [name] = os.listdir(engine.aot.jobs)
    with open(os.path.join(engine.aot.jobs, name), "rb") as f:
        job = aot_graphs._job_decoder.decode(f.read())
    assert job.inputs == [x.numpy().tobytes()] and job.scalars == [2.0] and job.threads == 1
    if wrong:
        with pytest.raises(ValueError, match="computes other values than eager execution"):
            aot_graphs.build(job, engine.aot.dir)
        assert not [n for n in os.listdir(engine.aot.dir) if n.endswith((".so", ".json"))]
        return
    torch.set_num_threads(2)   # the builder's own count
    path = aot_graphs.build(job, engine.aot.dir)
    assert threads == [1]
    later = engine_mod.Engine("cpu")
    later.aot = AotGraphs(cache, lambda key: DIGEST)
    eager_runs = []
    monkeypatch.setattr(later, "_run_eager", lambda *args: eager_runs.append(args))
    y = torch.tensor([0.5, 1.0, 1.5])
    out = later.execute_batch(_ops(), {1: y}, compile=True)
    assert torch.allclose(out[3], (y * 2.0).exp()) and eager_runs == [] and later.aot.verified == 1
    with open(path, "r+b") as f:   # the same size, other bytes
        f.write(b"LIBRARY")
    again = AotGraphs(cache, lambda key: DIGEST)
    assert again.load(1)[1] is False and again.loaded == 1 and again.verified == 0


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux's SCHED_IDLE")
def test_the_builder_runs_only_on_idle_cores():
    """The builder lowers itself to SCHED_IDLE at nice 19: at nice 19 alone, a first run's compiled
    step on 2 cores ran 90x slower for as long as a build lasted."""
    probe = ("import os, sys; from gt.worker import aot_graphs; "
             "aot_graphs._serve = lambda root, bound: print(os.sched_getscheduler(0), os.nice(0)) or 0; "
             "sys.argv = ['builder', 'unused', '1']; sys.exit(aot_graphs.main())")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(os.SCHED_IDLE), "19"]
