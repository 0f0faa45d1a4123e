"""Type stubs for gt.worker._hotpath (C extension, csrc/_hotpath.c).

Batch signatures and the bounded hot-path pattern table.
"""
from typing import Dict, Final, List, Tuple, Union

COLD: Final[int]      # 0
HOT: Final[int]       # 1
COMPILED: Final[int]  # 2
FAILED: Final[int]    # 3

def signature(canon: bytes, metas: Tuple[int, ...], /) -> int:
    """64-bit structural hash, as an int in [0, 2**64).

    FNV-1a 64 over canon's int32 words (each as an unsigned 32-bit value),
    then over each meta's low and high 32 bits, then murmur3's fmix64.
    canon is validated like _batcher.decode (ValueError if malformed); metas
    is a tuple of ints in [0, 2**63), one per external input (ValueError if
    len(metas) != n_ext).
    """

class PatternTable:
    """Counts batch patterns; bounded, LRU eviction preferring COLD/FAILED
    entries.  Not subclassable."""

    def __init__(self, threshold: int, capacity: int = 1024, *,
                 hash_bits: int = 64) -> None:
        """threshold >= 1, capacity >= 1.

        hash_bits (1..64) is a testing aid: signatures are masked to their low
        hash_bits bits so that collisions can be forced.  Keep 64 in production.
        """
    @property
    def threshold(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def hash_bits(self) -> int: ...
    def record(self, canon: bytes, metas: Tuple[int, ...], /) -> Tuple[int, int, int]:
        """Count one occurrence; return (entry_id, count, state).

        The first ``threshold`` occurrences are COLD; occurrence threshold+1
        turns a COLD entry HOT.  Entries are matched by signature and then by
        full canon+metas content, so colliding patterns stay distinct.
        entry_id is never reused.  A new pattern in a full table evicts the
        least recently used COLD/FAILED entry, else the least recently used
        entry; evicted ids go to take_evicted().
        """
    def set_state(self, entry_id: int, state: int, /) -> None:
        """KeyError for an unknown/evicted id, ValueError unless 0 <= state <= 3."""
    def add_time(self, entry_id: int, seconds: float, compiled: bool) -> None:
        """Accumulate one run (seconds: float or int, finite and >= 0; compiled:
        bool).  Unknown ids are ignored.  Accepts keywords."""
    def take_evicted(self) -> Tuple[int, ...]:
        """Ids evicted since the last call; the queue is then emptied."""
    def entry(self, entry_id: int, /) -> Dict[str, Union[int, float]]:
        """{'entry_id', 'signature', 'n_ops', 'count', 'state', 'eager_runs',
        'eager_seconds', 'compiled_runs', 'compiled_seconds'}; KeyError if
        unknown.  'signature' is the masked signature (see hash_bits)."""
    def top(self, n: int, /) -> List[Dict[str, Union[int, float]]]:
        """entry() dicts of the n (>= 0) highest-count entries, highest first;
        ties broken by entry_id (older first)."""
    def stats(self) -> Dict[str, int]:
        """{'total_batches', 'hot_batches_executed', 'unique_patterns',
        'hot_paths', 'hot_threshold', 'evictions', 'collisions', 'capacity'}.
        'collisions' counts new entries created while an entry with the same
        (masked) signature but different content was present."""
    def clear(self) -> None:
        """Remove every entry, reset stats, empty the evicted queue (ids are
        still never reused)."""
    def __len__(self) -> int: ...
