"""Compiled graphs kept ahead of time: a later process loads a hot pattern's code without Inductor.

A second run that finds its patterns in the persistent cache (``gt.worker.hotpath_cache``)
still had to compile them: even when Inductor's FX graph cache holds the generated code,
loading it imports Inductor and Dynamo and runs ``compile_fx`` (seconds of a short run).
So once a static pattern's graph has compiled and passed its check against eager
execution, the worker leaves a build job under ``GT_CACHE_DIR/aot/jobs``: the pattern's
ops (opcodes, params in the wire's MessagePack form, ids), its inputs' dtypes, shapes
and strides, the device, and (up to half a job's bound) the inputs' values and scalars
that the check passed with.  A builder process (``gt.worker.aot_graphs.main``, one
per cache directory at a time, started by the worker, niced, detached so that it outlives
a short script) rebuilds the graph from the job and compiles it with AOTInductor into a
shared library, runs it on the recorded values against eager execution (a library that
computes other numbers is not kept) and writes it as ``aot/<digest>-<environment>.so``
beside a small JSON description, "verified" with the file's modification time when it
was checked.  A later process whose pattern names such a file loads it with
``torch._C._aoti``'s runner (a dlopen: about a millisecond, no Inductor, no Dynamo) at
the pattern's first compile; unless the description says the builder checked that very
file (its modification time unchanged: a load sets only the access time), its first run
is checked against eager execution like any compiled graph.  A library that does not
load or computes other numbers is deleted and the pattern compiles with Inductor as usual.

Trust is Inductor's own: its cache also loads the shared libraries it finds in its
directory.  The description repeats the pattern, the environment hash and the library's
size (a truncated file is refused before it is opened); jobs are read as MessagePack
of plain values (no pickle) and checked.  Patterns with symbolic sizes are not built
ahead of time (AOTInductor would need export's dynamic shapes), and only CPU
workers use libraries: on CUDA, torch 2.11 crashed the process (SIGSEGV) when
loading one, both an ``aot_compile`` library in ``AOTIModelContainerRunnerCuda``
and an ``aoti_compile_and_package`` package in ``AOTIModelPackageLoader`` (checked
on an H200), and a crash is worse than seconds of start-up.  ``GT_CACHE_AOT=0`` turns this off.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable

import msgspec
import torch

from gt.transport import wire
from gt.worker.hotpath_cache import PatternCache, bound, read_json, write_atomic

log = logging.getLogger(__name__)

FORMAT = 1
_MAX_JOB_BYTES = 1 << 22
_MAX_JOB_OPS = 1 << 14
_MAX_LOG_BYTES = 1 << 20   # the builders' log starts again past this
_LOCK_TRIES = 10


class Job(msgspec.Struct, array_like=True, frozen=True):
    """A build job (MessagePack): a static pattern's ops, as the engine builds its graph."""

    name: str                 # the library's file name (PatternCache.file_name), no suffix
    pattern: str              # the pattern's digest
    device: str
    ext_ids: list[int]        # the graph's tensor inputs, in order
    live_ids: list[int]       # its outputs, in order
    metas: list[tuple[str, list[int], list[int]]]   # per input: dtype name, shape, strides
    ops: list[tuple[int, int, list[int], msgspec.Raw, int]]   # opcode, result, inputs, params (wire form), scalars
    format: int = FORMAT
    # The values the pattern's graph passed its check with (each input's bytes, row-major; the ops'
    # scalars), for the builder's own check; empty when too large (the library is checked when loaded).
    inputs: list[bytes] = []
    scalars: list[float] = []
    # torch's thread count when the pattern's graph compiled (0: the builder's own).  Inductor's C++
    # fixes a kernel's count where it differs from the machine's cores, and a small graph compiles on
    # one thread in a worker process (gt.worker.engine.Engine.fit_threads): the library does the same.
    threads: int = 0


_job_decoder = msgspec.msgpack.Decoder(Job)


class AotGraphs:
    """The ahead-of-time libraries of one worker's patterns in ``cache`` (a PatternCache)."""

    def __init__(self, cache: PatternCache, digest_of: Callable[[object], str]) -> None:
        self.cache = cache
        self.digest_of = digest_of      # pattern key -> its digest in the cache ("" when unknown)
        self.dir = os.path.join(cache.root, "aot")
        self.jobs = os.path.join(self.dir, "jobs")
        self._names: set | None = None  # the libraries present, listed at the first look-up
        self._requested: set = set()
        self._builder: subprocess.Popen | None = None
        self.loaded = 0                 # patterns whose graph came from a library
        self.verified = 0               # ... of them, checked against eager execution by the builder
        # CPU workers only: torch 2.11 crashed (SIGSEGV) loading a CUDA library or package (module docstring).
        self.available = cache.device.type == "cpu" and hasattr(getattr(torch._C, "_aoti", None),
                                                                "AOTIModelContainerRunnerCpu")

    def _listed(self, name: str) -> bool:
        if self._names is None:
            try:
                self._names = set(os.listdir(self.dir))
            except OSError:
                self._names = set()
        return name + ".so" in self._names

    def load(self, key) -> tuple:
        """The compiled graph of pattern ``key`` from an earlier process's library, and whether the
        builder checked that very file against eager execution; (None, False) when there is none."""
        digest = self.digest_of(key) if self.available else ""
        if not digest:
            return None, False
        name = self.cache.file_name(digest)
        if not self._listed(name):
            return None, False
        path = os.path.join(self.dir, name + ".so")
        info = read_json(os.path.join(self.dir, name + ".json"))
        try:
            if info.get("format") != FORMAT or info.get("pattern") != digest or info.get("name") != name:
                raise ValueError("its description is missing or names another pattern")
            st = os.stat(path)
            if st.st_size != info.get("size"):
                raise ValueError("its size is not the one recorded (a truncated or replaced file)")
            fn = torch._C._aoti.AOTIModelContainerRunnerCpu(path, 1).run
        except Exception as exc:  # noqa: BLE001 - an unusable library: the pattern compiles with Inductor
            self.discard(key, f"{type(exc).__name__}: {exc}")
            return None, False
        self.loaded += 1
        verified = info.get("verified") == st.st_mtime_ns
        self.verified += verified
        try:   # least recently used goes first (the access time; the modification time binds the check)
            os.utime(path, ns=(time.time_ns(), st.st_mtime_ns))
        except OSError:
            pass
        return fn, verified

    def discard(self, key, reason: str) -> None:
        """Pattern ``key``'s library is unusable: delete it (its graph compiles with Inductor, and a new
        library is built after that)."""
        name = self.cache.file_name(self.digest_of(key))
        log.warning("[HotPath] the ahead-of-time graph %s is not used (%s); the pattern compiles with "
                    "Inductor", os.path.join(self.dir, name + ".so"), reason)
        for suffix in (".so", ".json"):
            try:
                os.unlink(os.path.join(self.dir, name + suffix))
            except OSError:
                pass
        if self._names is not None:
            self._names.discard(name + ".so")

    def request(self, key, operations: list, batch, tensors: dict) -> None:
        """Pattern ``key`` compiled and passed its check on its inputs in ``tensors``: have a library built
        for later processes (and checked by the builder on those inputs, if they are small enough)."""
        digest = self.digest_of(key) if self.available else ""
        if not digest or batch.dynamic is not None or None in batch.metas:
            return
        name = self.cache.file_name(digest)
        if name in self._requested or self._listed(name):
            return
        self._requested.add(name)
        try:
            inputs, scalars = _values(operations, [tensors[i] for i in batch.ext_ids])
            job = Job(name, digest, str(self.cache.device), list(batch.ext_ids), list(batch.live_ids),
                      [(str(dtype).removeprefix("torch."), shape, stride) for dtype, shape, stride in batch.metas],
                      [(op[0], op[1], op[2], msgspec.Raw(wire.encode(op[3])), len(op[4])) for op in operations],
                      inputs=inputs, scalars=scalars, threads=torch.get_num_threads())
            os.makedirs(self.jobs, exist_ok=True)
            write_atomic(os.path.join(self.jobs, name + ".job"), wire.encode(job))
        except (OSError, TypeError, msgspec.EncodeError) as exc:
            log.debug("[HotPath] no ahead-of-time build of %s: %s", name, exc)
            return
        self._start_builder()

    def _start_builder(self) -> None:
        if self._builder is not None and self._builder.poll() is None:
            return
        package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        paths = [package_parent] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        # Nothing the builder imports of gt compiles on its own or uses the cache.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), GT_AUTO_COMPILE="0", GT_COMPILE="0",
                   GT_CACHE_DIR="")
        log_path = os.path.join(self.dir, "build.log")
        try:
            mode = "wb" if os.path.exists(log_path) and os.path.getsize(log_path) > _MAX_LOG_BYTES else "ab"
            with open(log_path, mode) as out:
                self._builder = subprocess.Popen(
                    [sys.executable, "-c", "import sys; from gt.worker.aot_graphs import main; sys.exit(main())",
                     self.cache.root, str(self.cache.max_bytes)], env=env,
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            log.debug("[HotPath] the ahead-of-time builder did not start: %s", exc)


def _values(operations: list, inputs: list) -> tuple:
    """(inputs' bytes, scalars) for a job: empty when their bytes pass half a job's bound, or a scalar
    is no float (the builder's eager run must see the very values)."""
    scalars = [s for op in operations for s in op[4]]
    if sum(t.numel() * t.element_size() for t in inputs) > _MAX_JOB_BYTES // 2 or \
            not all(type(s) is float for s in scalars):
        return [], []
    return [t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() for t in inputs], scalars


def wait_for_builds(root: str, timeout: float) -> bool:
    """Wait until no builder serves ``root`` and no job waits there (benchmarks and tests); False on timeout."""
    out_dir = os.path.join(root, "aot")
    deadline = time.monotonic() + timeout
    while True:
        try:
            pending = any(n.endswith(".job") for n in os.listdir(os.path.join(out_dir, "jobs")))
        except OSError:
            pending = False
        try:
            with open(os.path.join(out_dir, "build.lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                busy = False
        except FileNotFoundError:
            busy = False
        except OSError:
            busy = True
        if not pending and not busy:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


# -- the builder ------------------------------------------------------------------------
def _operations(job: Job) -> list:
    """The job's ops, with its scalars (0.0 where it has none)."""
    from gt import ops as _ops

    if len(job.ops) > _MAX_JOB_OPS:
        raise ValueError("too many ops")
    scalars = iter(job.scalars)
    operations = []
    for opcode, result_id, input_ids, params, n_scalars in job.ops:
        if not (0 <= opcode < _ops.NUM_OPCODES and 0 <= n_scalars <= wire.MAX_SCALARS):
            raise ValueError("bad op")
        operations.append((opcode, result_id, tuple(input_ids), wire.decode_params(params),
                           tuple(next(scalars, 0.0) for _ in range(n_scalars))))
    return operations


def _check(job: Job, operations: list, inputs: list, path: str, engine) -> bool:
    """Does the library at ``path`` compute what ``engine``'s eager execution computes on the job's recorded
    inputs (as the engine checks a graph's first run)?  False when the job recorded none; raises on a difference."""
    from gt.worker.engine import Batch

    if not job.inputs:
        return False
    if len(job.inputs) != len(job.metas) or len(job.scalars) != sum(len(op[4]) for op in operations):
        raise ValueError("bad recorded values")
    for t, raw in zip(inputs, job.inputs):
        if len(raw) != t.numel() * t.element_size():
            raise ValueError("bad recorded values")
        t.copy_(torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(t.dtype).reshape(t.shape))
    batch = Batch(b"", tuple(job.ext_ids), tuple(job.live_ids))
    expected = engine._run_eager(operations, {i: t.clone() for i, t in zip(job.ext_ids, inputs)}, batch)
    scalars = [engine._scalar_tensor(s) for s in job.scalars]
    outs = torch._C._aoti.AOTIModelContainerRunnerCpu(path, 1).run(inputs + scalars)
    difference = engine._first_difference(operations, batch, dict(zip(job.live_ids, outs)), expected)
    if difference:
        raise ValueError(f"the library computes other values than eager execution ({difference})")
    return True


def build(job: Job, out_dir: str) -> str:
    """Compile ``job``'s graph with AOTInductor into ``out_dir``/<name>.so (and its description)."""
    from torch._inductor import aot_compile

    from gt.worker.engine import Batch, Engine

    if job.format != FORMAT:
        raise ValueError("a job of another format")
    if not (job.name.replace("-", "").isalnum() and len(job.name) < 80):
        raise ValueError("bad name")
    device = torch.device(job.device)
    if device.type != "cpu":
        raise ValueError(f"libraries are built for CPU workers only, not {device}")
    if not 0 <= job.threads <= 1 << 16:
        raise ValueError(f"bad thread count {job.threads}")
    operations = _operations(job)
    if job.threads:
        torch.set_num_threads(job.threads)
    inputs = []
    for dtype_name, shape, stride in job.metas:
        dtype = getattr(torch, dtype_name, None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"bad dtype {dtype_name!r}")
        inputs.append(torch.empty_strided(shape, stride, dtype=dtype, device=device).zero_())
    inputs += [torch.zeros((), dtype=torch.float64, device=device) for op in operations for _ in op[4]]
    engine = Engine(device)
    gm = engine._build_graph(operations, Batch(b"", tuple(job.ext_ids), tuple(job.live_ids)))
    tmp = tempfile.mkdtemp(dir=out_dir, prefix=".build-")
    try:
        options = {"aot_inductor.output_path": os.path.join(tmp, job.name + ".so")}
        with torch.no_grad():
            path = aot_compile(gm, tuple(inputs), options=options)
        checked = _check(job, operations, inputs[:len(job.metas)], path, engine)
        final = os.path.join(out_dir, job.name + ".so")
        os.replace(path, final)
        st = os.stat(final)
        # "verified": the checked file's modification time (loading keeps it; a rewrite changes it).
        write_atomic(os.path.join(out_dir, job.name + ".json"), json.dumps(
            {"format": FORMAT, "name": job.name, "pattern": job.pattern, "size": st.st_size,
             "verified": st.st_mtime_ns if checked else None}).encode())
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _pending(jobs: str, done: set) -> list:
    """The job files not yet tried, oldest first."""
    try:
        return [n for _, n in sorted((os.path.getmtime(os.path.join(jobs, n)), n) for n in os.listdir(jobs)
                                     if n.endswith(".job") and n not in done)]
    except OSError:
        return []


def _build_file(path: str, out_dir: str, root: str, max_bytes: int) -> None:
    t0 = time.perf_counter()
    try:
        with open(path, "rb") as f:
            raw = f.read(_MAX_JOB_BYTES + 1)
        if len(raw) > _MAX_JOB_BYTES:
            raise ValueError("job too large")
        final = build(_job_decoder.decode(raw), out_dir)
        log.info("built %s in %.1f s", final, time.perf_counter() - t0)
        bound(root, max_bytes)
    except Exception as exc:  # noqa: BLE001 - one bad job must not stop the others
        log.warning("job %s failed: %s: %s", path, type(exc).__name__, exc)
    try:
        os.unlink(path)
    except OSError:
        pass


def _lock(lock) -> bool:
    """Take the builders' lock; False when another builder holds it.  A few tries: ``wait_for_builds``
    holds it for an instant when it looks."""
    for _ in range(_LOCK_TRIES):
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            time.sleep(0.02)
    return False


def _serve(root: str, max_bytes: int) -> int:
    """Build every job under ``root``/aot/jobs, oldest first, then exit (one builder per directory).

    A builder that finds no job releases the lock and looks once more: a job written meanwhile
    is either seen then, or written after the release, when the builder started for it gets the lock.
    """
    out_dir = os.path.join(root, "aot")
    jobs = os.path.join(out_dir, "jobs")
    os.makedirs(jobs, exist_ok=True)
    done: set = set()
    with open(os.path.join(out_dir, "build.lock"), "a") as lock:
        while True:
            if not _lock(lock):
                return 0    # another builder serves this directory
            while names := _pending(jobs, done):
                done.add(names[0])
                _build_file(os.path.join(jobs, names[0]), out_dir, root, max_bytes)
            fcntl.flock(lock, fcntl.LOCK_UN)
            if not _pending(jobs, done):
                return 0


def main() -> int:
    """The builder's entry point: ``<cache root> <bound in bytes>``."""
    # Only on idle cores (Linux's SCHED_IDLE, inherited by the compiler it runs): at nice 19 alone, a
    # first run's compiled tiny MLP step on 2 cores took 3.6-4.8 ms instead of 0.04 for as long as a
    # build lasted; under SCHED_IDLE 0.65-0.9 ms.  A busy run delays the build, which outlives it.
    try:
        os.nice(19)
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):   # not Linux: the nice value alone
        pass
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    return _serve(sys.argv[1], int(sys.argv[2]))
