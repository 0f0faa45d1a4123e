"""Summarise a valgrind memcheck log, keeping only what involves GT's C core.

Usage: python tests/c/valgrind_filter.py valgrind.log

Prints the totals valgrind reports for the whole process (Python has its own
noise) and every error or definite leak whose stack has a frame in
_batcher/_hotpath.  Exit status 1 if there is any such record.
"""
import re
import sys

OURS = re.compile(r"_batcher|_hotpath")


def records(lines):
    block = []
    for line in lines:
        body = re.sub(r"^==\d+== ?", "", line.rstrip("\n"))
        if body.strip() == "":
            if block:
                yield block
            block = []
        else:
            block.append(body)
    if block:
        yield block


def main(path):
    with open(path, errors="replace") as f:
        lines = f.readlines()
    ours_errors, ours_leaks, summary = [], [], []
    tracemalloc_noise = 0
    for line in lines:
        if re.search(r"ERROR SUMMARY|definitely lost:|in use at exit", line):
            summary.append(line.rstrip("\n"))
    for rec in records(lines):
        head = rec[0]
        if not any(l.lstrip().startswith(("at 0x", "by 0x")) for l in rec):
            continue
        if not any(OURS.search(l) for l in rec):
            continue
        if "definitely lost" in head:
            if any("_tracemalloc.c" in l for l in rec):
                # tracemalloc's own traceback bookkeeping (the leak tests turn
                # tracemalloc on); the block is not one our code allocated.
                tracemalloc_noise += 1
                continue
            ours_leaks.append(rec)
        elif "lost in loss record" in head:
            continue        # possibly/indirectly lost or reachable: Python's own caches
        else:
            ours_errors.append(rec)
    if not any("ERROR SUMMARY" in l for l in summary):
        print("valgrind_filter: no ERROR SUMMARY in %s: valgrind did not finish the run" % path)
        return 2
    for l in summary:
        print("valgrind (whole process, Python included):", l.strip())
    for kind, recs in (("ERROR", ours_errors), ("DEFINITELY LOST", ours_leaks)):
        for rec in recs:
            print("\n[%s in _batcher/_hotpath]" % kind)
            print("\n".join(rec))
    if tracemalloc_noise:
        print("ignored %d definitely-lost record(s) allocated by tracemalloc itself" % tracemalloc_noise)
    print("\nvalgrind_filter: %d error(s), %d definitely-lost record(s) with frames in _batcher/_hotpath"
          % (len(ours_errors), len(ours_leaks)))
    return 1 if ours_errors or ours_leaks else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
