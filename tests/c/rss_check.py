"""Check that RSS stays flat over 1e5 iterations of the C core's whole API.

Runs every entry point of gt.worker._batcher / gt.worker._hotpath (success and
error paths) 100,000 times and samples the resident set size.  A leaked
reference or PyMem block per iteration would show as steady growth; the check
fails if RSS grows by more than 2 MiB between the first and last tenth of the
run.

Usage: python tests/c/rss_check.py [iterations]
"""
import gc
import os
import struct
import sys

from gt.worker._batcher import Batcher, canonicalize, decode
from gt.worker._hotpath import PatternTable, signature


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def main(n):
    b = Batcher(64, 8)
    t = PatternTable(3, 32)
    bad_canon = struct.pack("<7i", 1, 0, 0, 0, 1, 0, 1)
    samples = []
    for i in range(n):
        base = 10 * i + 1000
        b.append(0, 1, base, (1, 2))
        b.append(1, i % 50, base + 1, (base, 3))        # 50 distinct patterns
        b.append(2, 0, base + 2, (base + 1, base))
        b.free(base + 1)
        b.free(7)
        canon, ext, live, freed = b.flush()
        decode(canon)
        metas = (0, 1, 2)
        signature(canon, metas)
        eid, count, state = t.record(canon, metas)
        t.add_time(eid, 1e-6, state == 2)
        if state == 1:
            t.set_state(eid, 2)
        t.entry(eid)
        t.take_evicted()
        if i % 100 == 0:
            t.top(3)
            t.stats()
            canonicalize([(0, 0, 5, (1,)), (1, 0, 6, (5, 2))], 2)
        for call in (lambda: b.append(9, 0, base + 3, ()), lambda: b.append(0, 0, base + 3, [1]),
                     lambda: b.free(-1), lambda: decode(bad_canon), lambda: signature(canon, ()),
                     lambda: t.record(bad_canon, ()), lambda: t.set_state(-5, 1),
                     lambda: t.entry(10**30), lambda: canonicalize([], 2)):
            try:
                call()
            except (TypeError, ValueError, KeyError):
                pass
        b.clear()
        if i % (n // 20) == 0:
            gc.collect()
            samples.append(rss_kib())
    gc.collect()
    samples.append(rss_kib())
    first = min(samples[1:3])
    last = max(samples[-3:])
    print("modules:", sys.modules["gt.worker._batcher"].__file__, sys.modules["gt.worker._hotpath"].__file__)
    print("RSS KiB over %d iterations (every %d):" % (n, n // 20), samples)
    print("growth from early run to end: %+d KiB" % (last - first))
    if last - first > 2048:
        print("rss_check: FAIL, RSS keeps growing")
        return 1
    print("rss_check: OK, RSS flat")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
