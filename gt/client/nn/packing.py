"""``gt.nn.utils.rnn``: padded and packed batches of variable-length sequences, as torch.nn.utils.rnn.

As in torch, ``PackedSequence.batch_sizes`` is a CPU ``torch.int64`` tensor (metadata
the client keeps, so an RNN reads it without a round trip); ``data`` and the index
tensors are gt tensors.  Packing and padding are torch's kernels with their gradients.
"""
from __future__ import annotations

from typing import Iterable, NamedTuple

import torch

from gt.client.creation import tensor as _tensor
from gt.client.emit import apply
from gt.client.movement import stack
from gt.client.nn import functional as F
from gt.client.tensor import Tensor
from gt.ops import OPCODE
from gt.ops.layer_kernels import counts_above


class PackedSequence(NamedTuple):
    """A packed batch: ``data`` (sum of lengths, *), ``batch_sizes`` per time step, and the permutations
    that sorted the batch by length (None when it came sorted)."""

    data: Tensor
    batch_sizes: torch.Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def to(self, *args, **kwargs) -> "PackedSequence":
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else self._replace(data=data)

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda

    def is_pinned(self) -> bool:
        return False


def _as_lengths(lengths) -> list:
    if isinstance(lengths, (Tensor, torch.Tensor)):
        return [int(n) for n in lengths.tolist()]
    return [int(n) for n in lengths]


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (T x B x * or B x T x *) of sequences of ``lengths``."""
    lengths = _as_lengths(lengths)
    sorted_indices = unsorted_indices = None
    if not enforce_sorted:
        order = torch.sort(torch.tensor(lengths, dtype=torch.int64), descending=True)
        lengths = order.values.tolist()
        sorted_indices = _tensor(order.indices)
        unsorted_indices = _tensor(torch.empty_like(order.indices).scatter_(
            0, order.indices, torch.arange(len(lengths))))
        input = input.index_select(0 if batch_first else 1, sorted_indices)
    # torch's checks of the lengths (sorted, positive, one per sequence, no longer than the input)
    torch.ops.aten._pack_padded_sequence(torch.empty(tuple(input.shape), device="meta"),
                                         torch.tensor(lengths, dtype=torch.int64), bool(batch_first))
    data = apply(OPCODE["pack_padded"], (input,), (tuple(lengths), bool(batch_first)))
    batch_sizes = torch.tensor(counts_above(lengths), dtype=torch.int64)
    return PackedSequence(data, batch_sizes, sorted_indices, unsorted_indices)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """The padded batch and each sequence's length (in the order the batch was packed from)."""
    batch_sizes = tuple(sequence.batch_sizes.tolist())
    max_seq_length = len(batch_sizes)
    if total_length is not None:
        if total_length < max_seq_length:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, "
                             f"but got total_length={total_length} and max sequence length being "
                             f"{max_seq_length}")
        max_seq_length = total_length
    padded = apply(OPCODE["pad_packed"], (sequence.data,),
                   (batch_sizes, bool(batch_first), float(padding_value), max_seq_length))
    lengths = _tensor(counts_above(batch_sizes), dtype=torch.int64)
    if sequence.unsorted_indices is not None:
        batch_dim = 0 if batch_first else 1
        return (padded.index_select(batch_dim, sequence.unsorted_indices),
                lengths.index_select(0, sequence.unsorted_indices))
    return padded, lengths


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack sequences of different lengths (L_i x *) into one padded batch, as torch's pad_sequence."""
    if not isinstance(sequences, Iterable) or isinstance(sequences, Tensor):
        if isinstance(sequences, Tensor):
            sequences = sequences.unbind(0)
        else:
            raise RuntimeError(f"pad_sequence: Expected iterable for input sequences, but got arg of type: "
                               f"{type(sequences)}")
    sequences = tuple(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    longest = max(s.size(0) for s in sequences)
    padded = []
    for s in sequences:
        short = longest - s.size(0)
        span = (0, short) if padding_side == "right" else (short, 0)
        padded.append(F.pad(s, (0, 0) * (s.dim() - 1) + span, value=padding_value) if short else s)
    return stack(padded, 0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences of different lengths."""
    lengths = [s.size(0) for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list[Tensor]:
    """The sequences of a padded batch, each cut to its length."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [seq[:n] for seq, n in zip(padded_sequences.unbind(0), _as_lengths(lengths))]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The sequences of a packed batch."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


__all__ = ["PackedSequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence", "pad_sequence",
           "unpack_sequence", "unpad_sequence"]
