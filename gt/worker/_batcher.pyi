"""Type stubs for gt.worker._batcher (C extension, csrc/_batcher.c).

The worker's pending-instruction buffer.  Canonical form (``canon``): bytes of
little-endian int32 words ``[n_ops, n_ext, then per op: opcode, param_code,
n_inputs, input refs..., live_flag]``; a ref is ``j >= 0`` for the result of
op ``j`` of the batch and ``-(k+1)`` for external input ``k`` (an index into
``ext_ids``).  Tensor ids never appear in ``canon``.
"""
from typing import List, Optional, Sequence, Tuple

_FlushResult = Tuple[bytes, Tuple[int, ...], Tuple[int, ...], Tuple[int, ...]]

class Batcher:
    """Struct-of-arrays buffer of pending ops.  Not subclassable.

    Ints are Python ``int`` (subclasses such as ``bool`` included); other types
    raise TypeError, out-of-range values ValueError naming the argument.
    """

    def __init__(self, max_size: int, num_opcodes: int) -> None:
        """Both >= 1 (ValueError otherwise); num_opcodes < 2**31."""
    @property
    def max_size(self) -> int: ...
    @property
    def num_opcodes(self) -> int: ...
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
        flush() of the same Batcher is building its result; append(), free()
        and clear() raise the same way during that window.
        """
    def clear(self) -> None:
        """Drop every pending op and noted free."""
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
