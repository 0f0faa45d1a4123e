"""Type stubs for gt.worker._hotpath (C extension, csrc/_hotpath.c).

The bounded hot-path pattern table and the cycle detector.
"""
from typing import Final, List, Tuple

COLD: Final[int]      # 0
HOT: Final[int]       # 1
COMPILED: Final[int]  # 2
FAILED: Final[int]    # 3
MAX_PERIOD: Final[int]  # 16

class PatternTable:
    """Counts batch patterns.  Not subclassable.

    A full table evicts, for a new pattern, the least recently used COLD
    entry, else the least recently used entry (record and set_state count as
    uses).  Entries are found by bucket (signature mod the smallest power of 2
    >= capacity) and matched on content (canon bytes and metas), never on the
    signature alone.
    """

    def __init__(self, threshold: int, capacity: int = 1024) -> None:
        """1 <= threshold < 2**63; 1 <= capacity <= 2**24."""
    @property
    def evictions(self) -> int: ...
    def __len__(self) -> int: ...
    def record(self, canon: bytes, metas: Tuple[int, ...], /) -> Tuple[int, int, int, int]:
        """Count one occurrence: (entry_id, count, state, signature).

        canon: bytes of whole int32 words with the (n_ops, n_ext) header;
        metas: n_ext ints in [0, 2**63), one per external input's dtype and
        shape.  A COLD entry seen more than threshold times turns HOT.  The
        signature is FNV-1a 64 over canon's words, then each meta's low and
        high 32 bits, then murmur3's fmix64: an int in [0, 2**64).  entry_id
        is never reused, also after eviction.
        """
    def set_state(self, entry_id: int, state: int, /) -> None:
        """KeyError for an unknown or evicted id, ValueError unless 0 <= state <= 3."""
    def state(self, entry_id: int, /) -> int:
        """The entry's state; KeyError for an unknown or evicted id."""
    def take_evicted(self) -> Tuple[int, ...]:
        """Entry ids evicted since the last call."""
    def entries(self) -> List[Tuple[int, int, int, int, int]]:
        """(entry_id, signature, n_ops, count, state) of every entry: COLD ones
        least recently used first, then the others likewise."""
    def observe_segment(self, key: int, /) -> int:
        """Feed the key (an int in [0, 2**64)) of the next executed batch.

        Returns the smallest period P in 1..MAX_PERIOD such that the last 2P
        keys are two equal runs of length P, else 0.  O(MAX_PERIOD), no
        allocation.
        """
    def reset_cycle(self) -> None:
        """Forget the keys seen by observe_segment."""
