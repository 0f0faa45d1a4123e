"""Type stubs for gt.worker._batcher (C extension, csrc/_batcher.c).

The worker's pending-instruction buffer.  Canonical form (``canon``): bytes of
little-endian int32 words ``[n_ops, n_ext, then per op: opcode, param_code,
n_inputs, input refs..., live_flag]``; a ref is ``j >= 0`` for the result of
op ``j`` of the batch and ``-(k+1)`` for external input ``k`` (an index into
``ext_ids``).  Tensor ids never appear in ``canon``.
"""
from typing import Any, Hashable, List, Optional, Sequence, Tuple

_FlushResult = Tuple[bytes, Tuple[int, ...], Tuple[int, ...], Tuple[int, ...]]
# The worker's pending-op layout: (opcode, result_id, input_ids, params, scalars).
_Op = Tuple[int, int, Tuple[int, ...], Tuple[Hashable, ...], Tuple[Any, ...]]

class Batcher:
    """Struct-of-arrays buffer of pending ops.  Not subclassable.

    Ints are Python ``int`` (subclasses such as ``bool`` included); other types
    raise TypeError, out-of-range values ValueError naming the argument.
    """

    def __init__(self, max_size: int, num_opcodes: int, *,
                 param_codes_limit: int = 65536) -> None:
        """All >= 1 (ValueError otherwise); num_opcodes and param_codes_limit
        < 2**31.  param_codes_limit bounds flush_ops()'s params interning table
        (see flush_ops)."""
    @property
    def max_size(self) -> int: ...
    @property
    def num_opcodes(self) -> int: ...
    @property
    def param_code_count(self) -> int:
        """Number of params currently interned by flush_ops() (<= param_codes_limit)."""
    @property
    def param_codes_limit(self) -> int: ...
    def append(self, opcode: int, param_code: int, result_id: int,
               inputs: Tuple[int, ...], /) -> bool:
        """Add one op; True when the buffer now holds >= max_size ops.

        0 <= opcode < num_opcodes, 0 <= param_code < 2**31, result_id and every
        input id in [0, 2**63).  inputs must be a tuple (TypeError otherwise).
        ValueError if result_id is already produced, used as an input or freed
        in the pending batch, or is one of the op's own inputs.  A rejected op
        leaves the buffer unchanged.
        """
    def free(self, tensor_id: int, /) -> None:
        """Note that the client freed tensor_id (0 <= tensor_id < 2**63).

        Result of a pending op -> that op's live flag becomes 0.  Otherwise the
        id is reported in the next flush()'s freed_ids (once, even if freed
        repeatedly).
        """
    def flush(self) -> Optional[_FlushResult]:
        """None when nothing is pending and no free is noted; otherwise
        (canon, ext_ids, live_ids, freed_ids), and the buffer is reset.

        RuntimeError if called re-entrantly (e.g. from a finalizer) while a
        flush() or flush_ops() of the same Batcher runs; append(), free(),
        flush_ops() and clear() raise the same way during that window.
        """
    def flush_ops(self, ops: List[_Op], frees: List[int], /) -> Optional[_FlushResult]:
        """Canonicalize a whole batch in one call: return exactly what append()
        of every op (in order), then free() of every id in ``frees``, then
        flush() would return, with param codes interned here.  None when both
        lists are empty.  Neither list is modified.  The ids in the result are
        the caller's own int objects (new ints where an id was given as a bool
        or an int subclass, so the result is type-identical to flush()'s).

        ops: list of (opcode, result_id, input_ids, params, scalars) tuples,
        exactly 5 items; opcode in [0, num_opcodes), result_id and every id
        of the tuple input_ids in [0, 2**63); params a hashable tuple; scalars
        a tuple (not part of the canonical form).  frees: list of ids (ints in
        [0, 2**63)) freed since the last flush, any order: an id produced by
        an op of ``ops`` makes that result dead, any other is reported in
        freed_ids once.

        Param codes: two params share a code only if they are equal and their
        items have identical types, recursively through tuples (tuple
        subclasses keeping tuple's __eq__/__hash__, e.g. torch.Size, are
        walked too, and their type counts), so (1,), (True,), (1.0,) and
        torch.Size([1]) get different codes; other items must be hashable
        (TypeError naming ``ops[i][3]`` otherwise) and compare with ==
        (0.0 and -0.0 share a code).  The same params get the same code in
        every batch, so a loop body repeated with fresh ids gives the same
        canon.  Codes come from a counter and are never reused: once
        param_codes_limit params are interned the table is emptied and known
        params get new codes (OverflowError after 2**31 codes in all).

        Errors: TypeError for wrong types, ValueError for out-of-range values,
        wrong op length, duplicate or non-fresh result ids; messages name the
        item (``ops[3][2][1]``, ``frees[0]``).  On any error the batch is
        dropped and the Batcher left empty (params interned before the error
        stay interned).  RuntimeError, leaving the pending state untouched, if
        ops or frees from append()/free() are pending (mixing the two APIs in
        one batch is a bug), or if called re-entrantly.  Python code may run
        during the call (an item's __hash__/__eq__, finalizers); the lists
        may change meanwhile: each index is read when reached.
        """
    def clear(self) -> None:
        """Drop every pending op and noted free (not the interned params)."""
    def __len__(self) -> int:
        """Number of pending ops."""

def canonicalize(ops: Sequence[Tuple[int, int, int, Tuple[int, ...]]],
                 num_opcodes: int, /) -> _FlushResult:
    """Append every (opcode, param_code, result_id, inputs) of ``ops`` (a list
    or tuple, non-empty: ValueError otherwise) to a fresh batch and flush it.
    Error messages are prefixed with ``ops[i]:``."""

def decode(canon: bytes, /) -> List[Tuple[int, int, Tuple[int, ...], bool]]:
    """Validate ``canon`` fully and return (opcode, param_code, input_refs, live)
    per op.  ValueError on malformed bytes: length not a multiple of 4, fewer
    than 2 words, negative counts/opcode/param_code/n_inputs, truncated ops,
    internal refs not pointing to an earlier op, external refs >= n_ext, live
    flags other than 0/1, trailing words.  TypeError if canon is not bytes."""
