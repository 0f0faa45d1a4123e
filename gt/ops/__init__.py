"""GT's op table: every op defined once, read by the client and the worker alike.

Each entry (``gt.ops.table.Op``) is the op's schema, as PyTorch's
native_functions.yaml + derivatives.yaml are: its worker kernel, its shape-rule
kind, its typed signature with torch's argument names and defaults, its variants
(function, method, in-place, ``out=``), where it is exported (``gt``,
``gt.linalg``, ``gt.fft``, ``gt.special``) and its gradient functions.  The table
is plain data, checked when it loads (``gt.ops.table.load``): unknown kinds, types
or variants, a gradient taking a name the entry does not have, a malformed
signature.  The client makes the functions, methods and in-place forms from it
(``gt.client.generate``) and sends every op through one path (``gt.client.emit.send``);
the worker runs ``OP_FUNCS[opcode]`` eagerly or inside fx graphs.  Opcodes are
small ints: an entry's position in ``OPS``.

Adding an op is one entry, in ``gt/ops/math.py`` (``core.py`` for the ops every
training step uses, ``nn.py`` for nn's fused layers and losses)::

    elementwise("log1p", torch.log1p, lambda g, x: g / (x + 1), "log1_p", export=("gt", "gt.special")),
    Op("roll", torch.roll, "meta", grad=(lambda g, shifts, dims: g.roll(tuple(-s for s in shifts), dims),),
       node="roll", sig="input: Tensor, shifts: int[], dims: int[]? = None", variants=("function", "method")),

1. The kernel: a torch function, or a small function taking
   ``(*tensor_inputs, *scalars, *params)`` (the signature's tensors, then the rest).
2. The kind says how the client infers the result (see ``gt.ops.table.KINDS``):
   "elementwise"/"broadcast"/"scalar" and "meta" need no client code at all;
   "data" runs on the values (a sync point: ``unique``, ``nonzero``).  With a
   ``sig`` the client function binds and checks the arguments as torch does;
   an op of several results names them, ``"A: Tensor -> (Q, R)"``.  An op whose
   arguments need more than a signature has a hand-written client function that
   ends in ``emit.apply(OPCODE[name], inputs, params)`` and is declared to
   ``gt.client.surface``.  An entry on a training path may give ``rule=`` (``gt.ops.rules``):
   its result's shape and dtype without the meta kernel, which for torch's losses and
   backward kernels is Python whose first call imports torch._dynamo (seconds).
3. The gradient: one function per tensor input, taking any of ``g``, ``out``,
   ``inputs`` and the entry's argument names, computing with GT tensor methods
   and ``ops.<entry>`` (torch's backward kernels are "gradient" entries:
   ``lambda g, out: ops.sigmoid_backward(g, out)``); or ``VJP``, torch's own
   backward of the kernel.  Formula strings (the older form) still load.
``tests/test_op_table.py`` checks every entry of ``core.py`` and ``math.py`` against
torch (values, dtypes, gradients, errors) and fails when one has no check; the other
modules' entries have their own tests.
"""
from __future__ import annotations

from gt.ops import core, creation, distributed, distributions, math, nn, optim, sparse
from gt.ops.table import KINDS, VJP, Op, load, ops

OPS: tuple = load(core.ENTRIES + nn.ENTRIES + optim.ENTRIES + creation.ENTRIES + math.ENTRIES + distributions.ENTRIES
                  + sparse.ENTRIES + distributed.ENTRIES)

OP_NAMES = tuple(e.name for e in OPS)
OP_FUNCS = tuple(e.kernel for e in OPS)
OP_RULES = tuple(e.rule for e in OPS)
OPCODE = {name: i for i, name in enumerate(OP_NAMES)}
NUM_OPCODES = len(OPS)
# Creation kernels take the worker's device as a keyword (the engine binds it).
DEVICE_OPS = tuple(e.name for e in OPS if e.kind == "creation")
scalar_as = core.k.scalar_as

__all__ = ["DEVICE_OPS", "KINDS", "NUM_OPCODES", "OPCODE", "OPS", "OP_FUNCS", "OP_NAMES", "OP_RULES", "Op", "VJP", "ops",
           "scalar_as"]
