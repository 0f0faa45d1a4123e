"""GT's op table: every op defined once, read by the client and the worker alike.

Each entry (``gt.ops.table.Op``) names an op and gives its worker kernel, its
shape-rule kind, the names of its arguments and its gradient formulas.  The
client infers results and records autograd from it (``gt.client.emit.apply``);
the worker runs ``OP_FUNCS[opcode]`` eagerly or inside fx graphs.  Opcodes are
small ints: an entry's position in ``OPS``.

Adding an op is one entry, in ``gt/ops/core.py`` (or ``gt/ops/nn.py`` for nn's
fused layers and losses)::

    Op("sin", torch.sin, "elementwise", ("x",), ("g * x.cos()",), "sin", public=True)

1. The kernel: a torch function, or a small function in ``gt/ops/kernels.py``
   taking ``(*tensor_inputs, *scalars, *params)``.
2. The kind says how the client infers the result (see ``gt.ops.table.KINDS``):
   "elementwise"/"broadcast"/"scalar" and "meta" need no client code at all;
   ``public=True`` exposes them as ``gt.<name>`` and ``Tensor.<name>``.  For a
   custom signature, write the client function and end it with
   ``emit.apply(OPCODE[name], inputs, params)`` (meta inference, autograd).
3. The gradient: one formula per tensor input over the entry's ``args`` plus
   ``g`` and ``out``, using GT tensor methods and gradient entries by name; where
   torch has a backward kernel, add it as a "gradient" entry and call it:
   ``"softmax_backward(g, out, dim)"``.
``tests/test_op_table.py`` checks every core entry against torch (values, dtypes, gradients,
errors) and fails when one has no check; the other modules' entries have their own tests.
"""
from __future__ import annotations

from gt.ops import core, creation, distributed, distributions, nn, optim, sparse
from gt.ops.table import KINDS, Op, check

OPS: tuple = (core.ENTRIES + nn.ENTRIES + optim.ENTRIES + creation.ENTRIES + distributions.ENTRIES
              + sparse.ENTRIES + distributed.ENTRIES)
check(OPS)

OP_NAMES = tuple(e.name for e in OPS)
OP_FUNCS = tuple(e.kernel for e in OPS)
OPCODE = {name: i for i, name in enumerate(OP_NAMES)}
NUM_OPCODES = len(OPS)
DEVICE_OPS = core.DEVICE_OPS + creation.DEVICE_OPS
scalar_as = core.k.scalar_as

__all__ = ["DEVICE_OPS", "KINDS", "NUM_OPCODES", "OPCODE", "OPS", "OP_FUNCS", "OP_NAMES", "Op", "scalar_as"]
