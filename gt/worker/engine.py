"""The engine: runs a batch of operations eagerly, or as one compiled graph.

Eager execution is a loop over the ops through the dispatch table of
``gt.ops``.  A hot batch is built once per pattern into a ``torch.fx``
graph (external inputs and float scalars as placeholders, the batch's live
results as outputs, dead intermediates left inside), compiled once with
Inductor, cached by pattern and reused.  The batch signature already pins every
input's dtype and shape, so the compiled function is called directly, without
a second layer of Dynamo guards.

The graph is traced to ATen (functionalised, with Inductor's decompositions)
and handed to ``compile_fx_inner``; the engine then calls Inductor's generated
``call(args)`` itself.  That skips the AOT-autograd and Dynamo wrappers that
``compile_fx`` puts around it, which cost about as much per call as a small
fused kernel (see benchmarks/bench_mlp.py --overhead).  On CUDA the compiled
function is captured once into a CUDA graph and replayed (``_CudaGraphRunner``;
``GT_CUDA_GRAPHS=0`` turns capture off).
"""
from __future__ import annotations

import logging
import math
import operator
import struct
import sys
import time
import weakref
from collections import OrderedDict
from itertools import count
from typing import Any, Callable

import torch
import torch.fx

from gt import ops as _ops
from gt.worker import checks as _checks
from gt.worker.hotpath_cache import remember_vec_isa

log = logging.getLogger(__name__)

_MANUAL_CACHE_LIMIT = 256
# Graphs with symbolic sizes per pattern (sizes that break every one's guards run eagerly).
MAX_SYMBOLIC_GRAPHS = 4
# Sizes per symbolic pattern captured as CUDA graphs, one graph per size (each holds copies of its
# inputs and its outputs' memory); other sizes run the compiled code without a CUDA graph.
MAX_CUDA_GRAPH_SIZES = 8
_SEEN_SIZES_LIMIT = 1024   # sizes remembered as met once, per symbolic pattern (for the above)
_SCALAR_CACHE_LIMIT = 4096
# Calls of a CUDA graph that look for its outputs fed back as inputs (see _CudaGraphRunner).
_FEEDBACK_TRIES = 64
_float_bits = struct.Struct("<d").pack
# A graph's first run is checked against eager execution (see Engine._run_compiled): per
# dtype (rtol, atol), loose enough for a fused kernel's other summation order and rounding
# of intermediates, far below a wrong value; the rtol also scales with the result's largest
# finite magnitude.  Other floating dtypes: _LOOSE; other dtypes compare exactly.
_TOLERANCES = {torch.float64: (1e-7, 1e-10), torch.complex128: (1e-7, 1e-10),
               torch.float32: (1e-3, 1e-5), torch.complex64: (1e-3, 1e-5),
               torch.float16: (1e-2, 1e-3), torch.bfloat16: (5e-2, 1e-2)}
_LOOSE = (1e-1, 1e-2)
# Collectives are not run twice: every worker of the group must call them alike.
_UNCHECKED_OPS = frozenset(_ops.OPCODE[e.name] for e in _ops.distributed.ENTRIES)


class OperationError(RuntimeError):
    """An operation failed on the worker; names the operation."""

    def __init__(self, op_name: str, exc: BaseException) -> None:
        super().__init__(f"{type(exc).__name__}: {exc}")
        self.op_name = op_name
        self.partial: dict = {}   # results of the ops that ran before the failure


class Operation(tuple):
    """One instruction: ``result_id = op(*input_ids, *scalars, *params)``.

    A tuple ``(opcode, result_id, input_ids, params, scalars)``: the worker keeps
    its pending instructions as plain tuples of this layout (cheap to make on
    the per-op path), and the engine accepts either.
    """

    __slots__ = ()

    def __new__(cls, op_type: str, op_name: str, result_id: int, input_ids, params=(), scalars=()):
        try:
            opcode = _ops.OPCODE[op_name]
        except KeyError:
            raise ValueError(f"unknown operation {op_name!r}") from None
        return tuple.__new__(cls, (opcode, result_id, tuple(input_ids), tuple(params), tuple(scalars)))

    opcode = property(operator.itemgetter(0))
    result_id = property(operator.itemgetter(1))
    input_ids = property(operator.itemgetter(2))
    params = property(operator.itemgetter(3))
    scalars = property(operator.itemgetter(4))
    op_type = property(lambda self: "compute")
    op_name = property(lambda self: _ops.OP_NAMES[self[0]])

    def __repr__(self) -> str:
        return (f"Operation({self.op_name}, result={self[1]}, inputs={self[2]}, params={self[3]}, "
                f"scalars={self[4]})")


# An op or compiled graph whose inputs hold fewer elements than this runs on one thread in a CPU worker
# process (Engine.threads, fit_threads).  ATen runs ops that small on one thread anyway, but MKL's
# matmul starts the whole OpenMP team for them, and the team's other threads then spin between ops.
# On a 2-core machine those took the core that the worker's client needed (README, "Three terminals").
SMALL_GRAPH_ELEMENTS = 32768
_numel = torch.Tensor.numel


class Batch:
    """A flushed batch in canonical form, plus what this run decided about it."""

    __slots__ = ("canon", "ext_ids", "live_ids", "freed_ids", "metas", "key", "dynamic", "sym_params",
                 "contiguous", "compiled", "failed", "error", "compile_seconds")

    def __init__(self, canon: bytes, ext_ids: tuple, live_ids: tuple, freed_ids: tuple = (),
                 metas: tuple = (), key: Any = None) -> None:
        self.canon = canon
        self.ext_ids = ext_ids
        self.live_ids = live_ids
        self.freed_ids = freed_ids
        self.metas = metas
        self.key = key  # the compiled-graph cache key; None: the canonical form itself
        self.dynamic = None     # per external input, the dims compiled as symbolic sizes (None: none)
        # (op, int position in its params, external input, dim, c, o): param ints that are c * an input's size + o
        self.sym_params: tuple = ()
        self.contiguous: tuple = ()   # external inputs a graph takes contiguous copies of (their strides vary)
        self.compiled = False   # set by the engine: did this run use a compiled graph?
        self.failed = False     # set by the engine: did compiling or running compiled fail?
        self.error = ""
        self.compile_seconds = 0.0  # set by the engine when this run compiled the pattern


def _traced_linear(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``linear`` as graphs trace it: under ``torch.func.functionalize`` torch's linear (and, on
    torch 2.11, matmul) reads a 3-D or larger input's sizes as ints, which fixes a symbolic
    sequence length or fails.  This is what torch's linear does for such an input, with the
    sizes kept symbolic: the leading dims flattened, one (add)mm, the result unflattened."""
    if x.dim() <= 2:
        return torch.nn.functional.linear(x, w, bias)
    flat = x.reshape(-1, x.shape[-1])
    out = torch.mm(flat, w.t()) if bias is None else torch.addmm(bias, flat, w.t())
    return out.reshape(*x.shape[:-1], w.shape[0])


def _on_device(fn: Callable, device: torch.device) -> Callable:
    """``fn`` with ``device=`` bound (a named function, as torch.fx wants)."""
    def on_device(*args):
        return fn(*args, device=device)
    on_device.__name__ = fn.__name__
    return on_device


def _inductor(gm: torch.fx.GraphModule, example_inputs: list, dynamic: tuple | None) -> tuple:
    """Compile an fx graph with Inductor: (its generated ``call``, shape env, fake inputs).

    Traced on fake tensors of a fake mode with a shape env: Inductor's FX graph
    cache keys only such graphs, and with it a later process loads the compiled
    code instead of generating it (see gt/worker/hotpath_cache.py).  ``dynamic``
    names, per input, the dims traced as symbolic sizes.
    """
    from torch._guards import TracingContext, tracing
    from torch._inductor import config as inductor_config
    from torch._inductor.compile_fx import compile_fx_inner
    from torch._inductor.decomposition import select_decomp_table
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.proxy_tensor import make_fx
    from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv, StatelessSymbolicContext

    remember_vec_isa()
    shape_env = ShapeEnv()
    fake_mode = FakeTensorMode(shape_env=shape_env)
    if dynamic is None:
        fake_inputs = [fake_mode.from_tensor(t, static_shapes=True) for t in example_inputs]
    else:
        dims = list(dynamic) + [()] * (len(example_inputs) - len(dynamic))   # the scalars: static
        fake_inputs = [fake_mode.from_tensor(t, symbolic_context=StatelessSymbolicContext(
            dynamic_sizes=[DimDynamic.DYNAMIC if d in dyn else DimDynamic.STATIC for d in range(t.dim())]))
            for t, dyn in zip(example_inputs, dims)]
    functional = torch.func.functionalize(gm, remove="mutations")
    # A static pattern's key pins every input's dtype, shape and strides (meta_of), and a
    # symbolic one's guards are checked before each call, so the generated code's per-call
    # size/stride asserts (a fifth of a small graph's call) can go.
    with tracing(TracingContext(fake_mode)), inductor_config.patch(size_asserts=False):
        aten_graph = make_fx(functional, decomposition_table=select_decomp_table(),
                             tracing_mode="fake")(*fake_inputs)
        compiled = compile_fx_inner(aten_graph, fake_inputs)
    return compiled.current_callable, shape_env, fake_inputs


def _compile_symbolic(gm: torch.fx.GraphModule, example_inputs: list, dynamic: tuple) -> tuple:
    """Compile with the ``dynamic`` dims as symbolic sizes: (guard code or None, shape env, call).

    The guards are what the generated code assumes of the sizes (a dim of size 1
    traced as 1, two dims equal, a size at least 2); inputs that break them need
    another graph.  On CUDA, sizes it runs at more than once are captured as CUDA graphs of
    their own (``_SymbolicGraphs``).
    """
    fn, shape_env, fake_inputs = _inductor(gm, example_inputs, dynamic)
    # Static sizes and strides too: the pattern keeps only the stride order of an input
    # with a symbolic dim, and a view of another layout must not run this code.
    code = shape_env.produce_guards_expression(fake_inputs, ignore_static=False)
    # Compiled once: evaluate_guards_expression evals what it is given, and a string
    # would be parsed again on every call (more than a small graph's run).
    return (compile(code, "<gt guards>", "eval") if code else None), shape_env, fn


def _compile_graph(gm: torch.fx.GraphModule, example_inputs: list, cuda_graphs: bool = True) -> Callable:
    """Compile an fx graph with Inductor; the result takes the inputs as one list.

    The list is consumed (Inductor's generated code clears it to free inputs
    early): pass a fresh list on every call.  On CUDA (unless ``cuda_graphs`` is
    False) the result is a ``_CudaGraphRunner``, called with the worker's tensor
    table and the batch's freed ids as well.
    """
    return _on_graphs(_inductor(gm, example_inputs, None)[0], example_inputs, cuda_graphs)


def _on_graphs(fn: Callable, example_inputs: list, cuda_graphs: bool = True) -> Callable:
    """A compiled function as the engine calls it: on CUDA (unless ``cuda_graphs`` is False),
    captured into a ``_CudaGraphRunner``."""
    if cuda_graphs and example_inputs and example_inputs[0].is_cuda:
        return _captured(fn, example_inputs)
    return fn


def _captured(fn: Callable, example_inputs: list) -> Callable:
    """``fn`` captured as a CUDA graph for these inputs' sizes (``fn`` itself when capture fails)."""
    try:
        return _CudaGraphRunner(fn, example_inputs)
    except Exception as exc:  # noqa: BLE001 - the compiled code still runs, launched kernel by kernel
        log.warning("[HotPath] a compiled graph (%d inputs) could not be captured as a CUDA graph (%s: %s); "
                    "it runs compiled without one", len(example_inputs), type(exc).__name__, exc)
    return fn


def _record_cuda_graph(fn: Callable[[list], Any], static_inputs: list, feedback: dict) -> tuple:
    """Capture ``fn`` on ``static_inputs``, then copies of outputs into inputs (``feedback``: input k ->
    output j): (the graph, its outputs)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):   # Triton's lazy initialisation and autotuning happen outside capture
            fn(list(static_inputs))
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        outs = list(fn(list(static_inputs)))
        if feedback:
            torch._foreach_copy_([static_inputs[k] for k in feedback], [outs[j] for j in feedback.values()])
    return graph, outs


def _dropped_refs(inputs: list, tensors: dict | None, freed_ids) -> dict:
    """id(tensor) -> the references to it that a batch holds and drops: its input list's, and its
    freed ids' entries in the worker's table ``tensors``."""
    known: dict = {}
    for t in inputs:
        known[id(t)] = known.get(id(t), 0) + 1
    if tensors is not None:
        for i in set(freed_ids):
            t = tensors.get(i)
            if t is not None:
                known[id(t)] = known.get(id(t), 0) + 1
    return known


def _refs_beyond(objs: list) -> list:
    """Per object of ``objs``, its references beyond ``objs`` itself and this function's own."""
    probe = object()
    objs.append(probe)
    counts = [sys.getrefcount(obj) for obj in objs]
    objs.pop()
    base = counts.pop() - 1    # the probe's own name
    return [c - base for c in counts]


class _CudaGraphRunner:
    """A compiled function captured once into a CUDA graph and replayed.

    The graph reads private copies of its inputs (``static_inputs``) and writes
    its outputs into the graph's own memory, which the next replay overwrites.
    Copying every input in and every output out would cost more than the replay
    (a kernel launch each), so the runner copies only what it must:

    - an input is copied in only when it is not the tensor whose value its static
      copy already holds (data, learning rates and a step's own outputs fed back
      are not copied again);
    - outputs are handed out as views of the graph's memory.  Before the next
      replay, each one still referenced outside the worker's table, or in the
      table under an id this batch does not free, is moved to memory of its own
      (``set_``, so every holder sees the move); the others (a step's parameters
      and gradients, consumed by the next step and freed) are not copied at all;
    - an output that the next call passes back as an input (a parameter, an
      optimizer state) is, once seen fed back, written by the graph itself into
      that input's static copy (the graph is captured again once, with the
      copies): the next call copies nothing for it.

    GT's tensors are values (every op makes a new id and never writes an
    input), so which memory holds a value is invisible to the client.
    """

    def __init__(self, fn: Callable[[list], Any], example_inputs: list) -> None:
        self.fn = fn
        # Same strides as the inputs the graph was compiled for (Inductor checks them).
        self.static_inputs = [torch.empty_strided(t.size(), t.stride(), dtype=t.dtype, device=t.device).copy_(t)
                              for t in example_inputs]
        self.feedback: dict = {}   # input k -> output j: the graph copies output j into input k's static copy
        self._capture()
        self.held = [weakref.ref(t) for t in example_inputs]   # whose value each static input holds
        self.handed: list = []     # weak references to the outputs handed out by the last replay
        self.calls = 0
        self.learning = _FEEDBACK_TRIES
        self.moved = 0             # outputs moved out of the graph's memory before a replay
        self.copied = 0            # inputs copied in

    def _capture(self) -> None:
        self.graph, outs = _record_cuda_graph(self.fn, self.static_inputs, self.feedback)
        sources = list(outs)
        for k, j in self.feedback.items():
            sources[j] = self.static_inputs[k]
        self.sources = sources   # what each output is handed out as a view of

    def _learn_feedback(self, inputs: list) -> None:
        """Inputs that are the last replay's outputs get the graph's own copies (once found, the graph is
        captured again with them; tried at the first calls that follow a replay of this graph)."""
        handed = {}
        for j, ref in enumerate(self.handed):
            out = ref()
            if out is not None:
                handed.setdefault(id(out), j)
        own = {t.untyped_storage().data_ptr() for t in self.static_inputs}
        feedback = {}
        for k, t in enumerate(inputs):
            j = handed.get(id(t))
            static = self.static_inputs[k]
            if (j is not None and j not in feedback.values() and t.dtype == static.dtype
                    and t.shape == static.shape and t.stride() == static.stride()
                    and self.sources[j].untyped_storage().data_ptr() not in own):
                feedback[k] = j
        if not feedback:
            return
        self.learning = 0
        self.feedback = feedback
        try:
            self._capture()
        except Exception as exc:  # noqa: BLE001 - the first capture still runs, copying those inputs in
            self.feedback = {}
            log.warning("[HotPath] a CUDA graph could not be captured again with its outputs fed back (%s: %s)",
                        type(exc).__name__, exc)
            return
        self.handed = []   # they view the first capture's memory, which no replay writes again

    def _move_held_outputs(self, inputs: list, tensors: dict | None, freed_ids) -> None:
        """Move the last replay's outputs that outlive this batch out of the graph's memory."""
        alive = [out for out in (ref() for ref in self.handed) if out is not None]
        self.handed = []
        if not alive:
            return
        known = _dropped_refs(inputs, tensors, freed_ids)
        for out, refs in zip(alive, _refs_beyond(alive)):
            if refs > known.get(id(out), 0):
                out.set_(torch.empty_strided(out.size(), out.stride(), dtype=out.dtype,
                                             device=out.device).copy_(out))
                self.moved += 1

    def __call__(self, inputs: list, tensors: dict | None = None, freed_ids=()) -> list:
        """Replay on ``inputs``; ``tensors`` (the worker's table) and ``freed_ids`` (the ids it drops
        after this batch) tell which of the last replay's outputs die with this batch."""
        self.calls += 1
        if self.learning and self.handed:
            self.learning -= 1
            self._learn_feedback(inputs)
        self._move_held_outputs(inputs, tensors, freed_ids)
        held, static = self.held, self.static_inputs
        dst, src = [], []
        for k, t in enumerate(inputs):
            if held[k]() is not t:
                dst.append(static[k])
                src.append(t)
                held[k] = weakref.ref(t)
        if dst:
            torch._foreach_copy_(dst, src)
            self.copied += len(dst)
        self.graph.replay()
        outs = [t.detach() for t in self.sources]
        for k, j in self.feedback.items():
            held[k] = weakref.ref(outs[j])
        self.handed = [weakref.ref(t) for t in outs]
        return outs


class _SymbolicGraphs:
    """A pattern's graphs compiled with symbolic sizes (at most MAX_SYMBOLIC_GRAPHS), each with its guards.

    With ``capture`` (a CUDA worker), sizes the pattern runs at again are captured as CUDA graphs
    of the graph whose guards they pass, up to MAX_CUDA_GRAPH_SIZES sizes (a size met once, as
    in a loop of random batch sizes, is not worth a capture); a captured size goes straight to
    its capture, without evaluating the guards.
    """

    __slots__ = ("graphs", "capture", "captured", "seen")

    def __init__(self, capture: Callable | None = None) -> None:
        self.graphs: list = []   # (guard code or None, shape env, call)
        self.capture = capture
        # the inputs' sizes, strides and offsets -> a capture of the call they take (None: no capture)
        self.captured: dict | None = {} if capture is not None else None
        self.seen: set = set()   # sizes met once (as captured's keys)

    def find(self, inputs: list, batch: Batch) -> Callable | None:
        captured = self.captured
        if captured is not None:
            key = tuple([(t.shape, t.stride(), t.storage_offset()) for t in inputs])
            fn = captured.get(key)
            if fn is not None:
                return fn
        for code, shape_env, fn in self.graphs:
            if code is None or shape_env.evaluate_guards_expression(code, inputs):
                if captured is not None and len(captured) < MAX_CUDA_GRAPH_SIZES:
                    if key in self.seen:
                        t0 = time.perf_counter()
                        fn = captured[key] = self.capture(fn, inputs)
                        batch.compile_seconds = time.perf_counter() - t0   # not this run's time
                        self.seen.discard(key)
                        if len(captured) == MAX_CUDA_GRAPH_SIZES:
                            self.seen.clear()
                            log.warning("[HotPath] a pattern with symbolic sizes now has CUDA graphs for %d "
                                        "sizes; its other sizes run compiled without one", MAX_CUDA_GRAPH_SIZES)
                    elif len(self.seen) < _SEEN_SIZES_LIMIT:
                        self.seen.add(key)
                return fn
        return None


class Engine:
    """Executes batches for one worker on one device."""

    def __init__(self, device: str | torch.device = "cpu", enable_compilation: bool = False,
                 cuda_graphs: bool = True) -> None:
        self.device = torch.device(device)
        self.enable_compilation = enable_compilation
        self.cuda_graphs = cuda_graphs   # capture static graphs on CUDA (GT_CUDA_GRAPHS)
        funcs = list(_ops.OP_FUNCS)
        for name in _ops.DEVICE_OPS:
            code = _ops.OPCODE[name]
            funcs[code] = _on_device(funcs[code], self.device)
        # Eager runs check index ranges on CUDA first (gt.worker.checks); graphs trace the
        # kernels themselves, but linear in a form that keeps a batched input's sizes symbolic.
        self.funcs = _checks.wrap(tuple(funcs), self.device)
        funcs[_ops.OPCODE["linear"]] = _traced_linear
        self.graph_funcs = tuple(funcs)
        self._cache: OrderedDict = OrderedDict()
        self._scalars: dict = {}
        self.cache_hits = 0
        self.cache_misses = 0
        self.compile_seconds = 0.0
        self.compile_failures = 0
        self.mismatches = 0   # compiled graphs whose first run differed from eager execution
        self.aot = None       # gt.worker.aot_graphs.AotGraphs: graphs built ahead of time (the worker sets it)
        # A CPU worker process's thread count, small graphs running on one (SMALL_GRAPH_ELEMENTS);
        # None: torch's setting is left alone (an embedded worker shares it with its user).
        self.threads: int | None = None
        # How a symbolic pattern's graph is captured per size (None: not captured; see _SymbolicGraphs).
        self.capture = _captured if cuda_graphs and self.device.type == "cuda" else None

    def fit_threads(self, tensors: list) -> None:
        """A worker process runs an op or graph whose inputs are small on one thread, other work
        on all of its threads (``threads``, SMALL_GRAPH_ELEMENTS)."""
        want = 1 if sum(map(_numel, tensors)) < SMALL_GRAPH_ELEMENTS else self.threads
        if want != torch.get_num_threads():
            torch.set_num_threads(want)

    # -- eager -------------------------------------------------------------
    def _run_eager(self, operations: list, tensors: dict, batch: Batch | None) -> dict:
        funcs = self.funcs
        env = {}
        threads = self.threads
        for opcode, result_id, input_ids, params, scalars in operations:
            args = [env[i] if i in env else tensors[i] for i in input_ids]
            if threads is not None:
                self.fit_threads(args)
            try:
                env[result_id] = funcs[opcode](*args, *scalars, *params)
            except Exception as exc:
                err = OperationError(_ops.OP_NAMES[opcode], exc)
                # What ran before the failing op stays valid: hand it back with the error.
                keep = batch.live_ids if batch is not None else env
                err.partial = {i: env[i] for i in keep if i in env}
                raise err from exc
        if batch is None:
            return env
        return {i: env[i] for i in batch.live_ids}

    # -- compiled ------------------------------------------------------------
    def _scalar_tensor(self, value: float) -> torch.Tensor:
        # Keyed by the float's bits: 0.0 == -0.0 in Python, and nan != nan.
        key = _float_bits(value)
        t = self._scalars.get(key)
        if t is None:
            if len(self._scalars) >= _SCALAR_CACHE_LIMIT:
                self._scalars.clear()
            t = torch.tensor(value, dtype=torch.float64, device=self.device)
            self._scalars[key] = t
        return t

    def _build_graph(self, operations: list, batch: Batch) -> torch.fx.GraphModule:
        graph = torch.fx.Graph()
        nodes = {i: graph.placeholder(f"in{k}") for k, i in enumerate(batch.ext_ids)}
        n_scalars = sum(len(op[4]) for op in operations)
        scalar_nodes = iter([graph.placeholder(f"s{k}") for k in range(n_scalars)])
        sizes: dict = {}
        for i, j, k, d, c, o in batch.sym_params:
            size = graph.call_function(torch.ops.aten.sym_size.int, (nodes[batch.ext_ids[k]], d))
            if c != 1:
                size = graph.call_function(operator.mul, (size, c))
            if o:
                size = graph.call_function(operator.add, (size, o))
            sizes.setdefault(i, {})[j] = size
        for n, (opcode, result_id, input_ids, params, scalars) in enumerate(operations):
            args = [nodes[i] for i in input_ids]
            args.extend(graph.call_function(_ops.scalar_as, (next(scalar_nodes), args[0])) for _ in scalars)
            args.extend(_with_sizes(params, sizes[n], count()) if n in sizes else params)
            nodes[result_id] = graph.call_function(self.graph_funcs[opcode], tuple(args))
        graph.output(tuple(nodes[i] for i in batch.live_ids))
        graph.lint()
        return torch.fx.GraphModule(torch.nn.Module(), graph)

    def _inputs(self, operations: list, tensors: dict, batch: Batch) -> list:
        inputs = list(map(tensors.__getitem__, batch.ext_ids))
        for k in batch.contiguous:
            inputs[k] = inputs[k].contiguous()
        scalar_tensor = self._scalar_tensor
        for op in operations:
            if op[4]:
                inputs.extend(map(scalar_tensor, op[4]))
        return inputs

    def _run_compiled(self, operations: list, tensors: dict, batch: Batch) -> dict | None:
        if batch.key is None:
            batch.key = (batch.canon, batch.metas)
        fn = entry = self._cache.get(batch.key)
        inputs = self._inputs(operations, tensors, batch)
        if self.threads is not None:   # (before compiling too: Inductor's C++ fixes a kernel's thread count)
            self.fit_threads(inputs)
        if batch.dynamic is not None:
            entry = entry if isinstance(entry, _SymbolicGraphs) else _SymbolicGraphs(self.capture)
            fn = entry.find(inputs, batch)
            if fn is None and len(entry.graphs) >= MAX_SYMBOLIC_GRAPHS:
                return None    # sizes none of the pattern's graphs takes: eager
        expected = None
        loaded = verified = False
        if fn is None:
            self.cache_misses += 1
            t0 = time.perf_counter()
            try:
                with torch.no_grad():
                    if batch.dynamic is not None:
                        entry.graphs.append(_compile_symbolic(self._build_graph(operations, batch), inputs,
                                                              batch.dynamic))
                        fn = entry.graphs[-1][2]
                    else:
                        fn, verified = self.aot.load(batch.key) if self.aot is not None else (None, False)
                        loaded = fn is not None
                        if loaded:
                            fn = entry = _on_graphs(fn, inputs, self.cuda_graphs)
                        else:
                            gm = self._build_graph(operations, batch)
                            # Two arguments unless capture is off: tests stand in for _compile_graph(gm, inputs).
                            fn = entry = (_compile_graph(gm, inputs) if self.cuda_graphs
                                          else _compile_graph(gm, inputs, False))
            except Exception as exc:  # noqa: BLE001 - any compile failure falls back to eager
                self._mark_failed(batch, f"{type(exc).__name__}: {exc}")
                return None
            finally:
                batch.compile_seconds = time.perf_counter() - t0
                self.compile_seconds += batch.compile_seconds
            self._cache[batch.key] = entry
            if len(self._cache) > _MANUAL_CACHE_LIMIT and not isinstance(batch.key, int):
                self._cache.popitem(last=False)
            # A library that its builder checked on the inputs its pattern first compiled with is not checked again.
            if (loaded and not verified) or (not loaded and not any(op[0] in _UNCHECKED_OPS for op in operations)):
                t0 = time.perf_counter()
                try:
                    expected = self._run_eager(operations, {i: tensors[i].clone() for i in batch.ext_ids}, batch)
                except OperationError:   # the batch fails as it does eagerly; its graph is checked next time
                    self._cache.pop(batch.key, None)
                    raise
                finally:
                    batch.compile_seconds += time.perf_counter() - t0
        else:
            self.cache_hits += 1
        try:
            # Inputs never require grad: no autograd state to switch off.
            if self.threads is not None and expected is not None:   # the check's eager ops set their own
                self.fit_threads(inputs)
            outs = fn(inputs, tensors, batch.freed_ids) if type(fn) is _CudaGraphRunner else fn(inputs)
        except Exception as exc:  # noqa: BLE001
            if loaded:
                return self._discard_loaded(batch, f"{type(exc).__name__}: {exc}", expected)
            self._mark_failed(batch, f"{type(exc).__name__}: {exc}")
            return None
        results = dict(zip(batch.live_ids, outs))
        if expected is None:
            batch.compiled = True
            return results
        difference = self._first_difference(operations, batch, results, expected)
        if loaded and difference:
            return self._discard_loaded(batch, difference, expected)
        if difference:
            # A wrong number from a compiler bug is never kept: eager's results, and the pattern fails.
            self.mismatches += 1
            self._mark_failed(batch, f"its compiled graph computed other values than eager execution "
                                     f"({difference}); the eager results are used")
            return expected
        batch.compiled = True
        if not loaded and self.aot is not None:
            self.aot.request(batch.key, operations, batch, tensors)
        return results

    def _first_difference(self, operations: list, batch: Batch, results: dict, expected: dict) -> str:
        """How a graph's first run differs from eager execution's (``expected``, computed on
        copies of the inputs before the graph ran, so no update applies twice); "" if not."""
        close = _close([results[i] for i in batch.live_ids], [expected[i] for i in batch.live_ids])
        for k, i in enumerate(batch.live_ids):
            difference = "" if close[k] else _difference(results[i], expected[i])
            if difference:
                op = next(op[0] for op in operations if op[1] == i)
                return f"result {k}, of op '{_ops.OP_NAMES[op]}': {difference}"
        return ""

    def _discard_loaded(self, batch: Batch, reason: str, expected: dict | None) -> dict | None:
        """A graph loaded ahead of time failed or differs from eager: deleted, and the pattern
        compiles with Inductor at its next run (this run is eager's)."""
        self.aot.discard(batch.key, reason)
        self._cache.pop(batch.key, None)
        return expected

    def _mark_failed(self, batch: Batch, error: str) -> None:
        """Compiling or running compiled failed: this run falls back to eager; the caller's
        policy decides whether the pattern is tried again."""
        self.compile_failures += 1
        self._cache.pop(batch.key, None)
        batch.failed = True
        batch.error = error   # whole: the warning shows its first line, debug logging all of it

    def forget(self, key: Any) -> None:
        """Drop a pattern's compiled graph (its pattern was evicted, or reverted to eager)."""
        self._cache.pop(key, None)

    # -- public ----------------------------------------------------------------
    def execute_batch(self, operations: list, tensors: dict, batch: Batch | None = None,
                      compile: bool | None = None) -> dict:
        """Run ``operations`` against ``tensors``; return ``{result_id: tensor}``.

        With a canonical ``batch`` only its live results are returned.  ``compile``
        is this batch's decision (per pattern, from the hot-path detector); when
        None, the engine's ``enable_compilation`` applies to batches of 2+ ops.
        """
        if compile is None:
            compile = self.enable_compilation and len(operations) >= 2
        if compile:
            if batch is None:
                batch = _canonical_batch(operations, tensors)
            results = self._run_compiled(operations, tensors, batch)
            if results is not None:
                return results
        return self._run_eager(operations, tensors, batch)

    def get_compilation_stats(self) -> dict:
        """Compiled-graph cache statistics."""
        lookups = self.cache_hits + self.cache_misses
        return {
            "enabled": self.enable_compilation,
            "cache_size": len(self._cache),
            "cache_hits": self.cache_hits,
            "cache_misses": self.cache_misses,
            "hit_rate": self.cache_hits / lookups if lookups else 0.0,
            "compile_seconds": self.compile_seconds,
            "compile_failures": self.compile_failures,
            "mismatches": self.mismatches,
        }


def _difference(actual: Any, expected: Any) -> str:
    """How a compiled result differs from eager execution's ("" when it does not, within _TOLERANCES)."""
    if not isinstance(expected, torch.Tensor) or expected.layout != torch.strided:
        return "" if type(actual) is type(expected) else f"{type(actual).__name__}, eager {type(expected).__name__}"
    if actual.shape != expected.shape or actual.dtype != expected.dtype:
        return f"{actual.dtype} {tuple(actual.shape)}, eager {expected.dtype} {tuple(expected.shape)}"
    if not (expected.is_floating_point() or expected.is_complex()):
        return "" if torch.equal(actual, expected) else "values differ"
    if expected.numel() == 0:
        return ""
    rtol, atol = _TOLERANCES.get(expected.dtype, _LOOSE)
    scale = expected.abs().nan_to_num(0.0, 0.0, 0.0).max().item()
    if torch.allclose(actual, expected, rtol, atol + rtol * scale, equal_nan=True):
        return ""
    diff = (actual - expected).abs().nan_to_num(float("inf"), float("inf")).max().item()
    return f"max abs difference {diff:.3g} where the values reach {scale:.3g}"


def _close(actual: list, expected: list) -> list:
    """Per result, True when it is within _TOLERANCES of eager's by one test of all floating results
    at once (a few kernels in all, where _difference costs a few per result): its largest difference
    is finite and within atol + rtol * its largest magnitude, which implies _difference's test.
    False: _difference decides (not a floating tensor, an inf, a NaN, a difference near the bound)."""
    picked = [k for k, (a, e) in enumerate(zip(actual, expected))
              if isinstance(e, torch.Tensor) and e.dtype in _TOLERANCES and e.layout == torch.strided and e.numel()
              and type(a) is torch.Tensor and a.shape == e.shape and a.dtype == e.dtype]
    close = [False] * len(expected)
    if not picked:
        return close
    actual, expected = [actual[k] for k in picked], [expected[k] for k in picked]
    diffs = torch._foreach_norm(torch._foreach_sub(actual, expected), float("inf"))
    values = torch.stack(diffs + torch._foreach_norm(expected, float("inf"))).tolist()
    for j, k in enumerate(picked):
        rtol, atol = _TOLERANCES[expected[j].dtype]
        diff = values[j]
        close[k] = math.isfinite(diff) and diff <= atol + rtol * values[len(picked) + j]
    return close


def meta_of(t: torch.Tensor) -> tuple:
    """What a compiled graph is specialised on: dtype, shape and strides (see _compile_graph)."""
    return (t.dtype, tuple(t.shape), t.stride())


def _canonical_batch(operations: list, tensors: dict) -> Batch:
    """Canonicalise a list of Operations that did not come through a worker's batcher."""
    from gt.worker import _batcher
    canon, ext_ids, live_ids, _ = _batcher.Batcher(_ops.NUM_OPCODES).flush_ops(list(operations), [])
    # Inputs the table does not hold (a detector used on its own) count as "unknown".
    metas = tuple(meta_of(tensors[i]) if i in tensors else None for i in ext_ids)
    # A fresh batcher numbers params from 0: the key carries the params themselves, exactly.
    params = tuple((_exact(op[3]), tuple(type(s) for s in op[4])) for op in operations)
    return Batch(canon, ext_ids, live_ids, metas=metas, key=(canon, metas, params))


def _with_sizes(params: tuple, sizes: dict, position) -> tuple:
    """``params`` with the ints at ``sizes``' positions (counted over the nested ints, as
    ``position`` counts them) replaced by the graph's size nodes."""
    out = []
    for v in params:
        if type(v) is int:
            p = next(position)
            out.append(sizes.get(p, v))
        elif isinstance(v, tuple):
            out.append(_with_sizes(v, sizes, position))
        else:
            out.append(v)
    return tuple(out)


def _exact(value):
    """``value`` (nested tuples of params) as a key that tells apart what ``==`` merges, as the
    C batcher's interning does: -0.0 from 0.0 (float bits), 1 from True from 1.0 (types)."""
    if type(value) is tuple:
        return tuple(map(_exact, value))
    if type(value) is float:
        return float, _float_bits(value)
    return type(value), value
