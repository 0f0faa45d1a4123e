"""Type stubs for gt.worker._batcher (C extension, csrc/_batcher.c).

The canonical form of a batch of worker instructions.  ``canon`` is bytes of
little-endian int32 words ``[n_ops, n_ext, then per op: opcode, param_code,
n_scalars, n_inputs, input refs..., live]``; a ref is ``j >= 0`` for the result
of op ``j`` of the batch and ``-(k+1)`` for external input ``k`` (``ext_ids[k]``,
in first-use order); ``live`` is 0 for a result the client freed inside the
batch.  Tensor ids never appear in ``canon``: the same loop body gives the same
bytes in every iteration.
"""
from typing import Any, Hashable, List, Tuple

# The worker's pending-op layout: (opcode, result_id, input_ids, params, scalars).
_Op = Tuple[int, int, Tuple[int, ...], Tuple[Hashable, ...], Tuple[Any, ...]]

class Batcher:
    """Not subclassable.  Ids, opcodes and limits are ``int`` (bool included);
    other types raise TypeError, out-of-range values ValueError, with a message
    naming the argument or item (``ops[3][2][1] (input id)``, ``frees[0]``)."""

    def __init__(self, num_opcodes: int, *, params_limit: int = 65536) -> None:
        """1 <= num_opcodes < 2**31; params_limit >= 1 bounds the params table."""
    @property
    def interned(self) -> int:
        """Number of params interned now (at most params_limit)."""
    def flush_ops(self, ops: List[_Op], frees: List[int], /) -> Tuple[
            bytes, Tuple[int, ...], Tuple[int, ...], Tuple[int, ...]]:
        """The batch in canonical form: (canon, ext_ids, live_ids, freed_ids).

        ops: tuples of exactly 5 items; opcode in [0, num_opcodes); result_id and
        every input id in [0, 2**63); input_ids, params, scalars tuples; params
        hashable.  A result id must be fresh in the batch (not produced or read by
        an earlier op, not one of its own inputs): ValueError otherwise.  frees:
        ids in [0, 2**63), any order: a result of ``ops`` becomes dead, any other
        id is reported in freed_ids once.  The returned ids are the caller's own
        objects.  Neither list is modified; both are read once at the start.

        Param codes: equal params of identical types (recursively through tuples
        and tuple subclasses such as torch.Size) share a code; floats and complex
        numbers compare by their bits.  So (1,), (True,), (1.0,) get three codes,
        (0.0,) and (-0.0,) two, and a NaN param a code of its own object.  Codes
        stay the same across batches and are never reused: once params_limit
        params are interned the table is emptied and returning params get new
        codes.  An item's __hash__/__eq__ errors propagate; calling flush_ops of
        the same Batcher from inside one raises RuntimeError.
        """
