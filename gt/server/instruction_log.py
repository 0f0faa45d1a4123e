"""The dispatcher's instruction log, written by a thread of its own so that routing never waits on it.

The routing thread hands each client stream (the ZeroMQ frame, not a copy) to a
queue and goes on; the writer thread decodes it and writes one line per
instruction.  The queue holds at most ``max_bytes`` of bodies: past that a
stream is dropped and counted, and the next line written says how many were.
The file rotates at ``max_bytes`` (``PATH`` -> ``PATH.1``, replacing the older
one), so the log never takes more than twice that.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque

from gt.ops import OP_NAMES
from gt.transport import wire

log = logging.getLogger(__name__)

_FORGET = object()  # queue marker: a session ended, drop the shapes kept for it


class InstructionLog:
    """``record(session, worker, frame)`` from the routing thread; ``close()`` writes what is queued."""

    def __init__(self, path: str, max_bytes: int) -> None:
        self.path, self.max_bytes = path, max_bytes
        self.dropped = 0  # streams not logged since the last notice (read and reset under the lock)
        self._file = open(path, "a", buffering=1 << 16)
        self._queue: deque = deque()
        self._queued_bytes = 0
        self._cond = threading.Condition()
        self._closing = False
        self._unreported, self._last_report = 0, -1e9  # drops not yet in a warning, and when the last went out
        self._shapes: dict[int, dict] = {}  # session -> tensor id -> shape, as the client sent them
        self._thread = threading.Thread(target=self._run, name="gt-instruction-log", daemon=True)
        self._thread.start()

    def record(self, session: int, worker: str, frame) -> None:
        size = len(frame.buffer)
        with self._cond:
            if self._queued_bytes + size > self.max_bytes:
                self.dropped += 1
                return
            self._queued_bytes += size
            self._queue.append((time.time(), session, worker, frame))
            self._cond.notify()

    def forget(self, session: int) -> None:
        with self._cond:
            self._queue.append((0.0, session, "", _FORGET))
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()
        self._file.close()

    # -- the writer thread ---------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                stamp, session, worker, frame = self._queue.popleft()
                dropped, self.dropped = self.dropped, 0
                if frame is not _FORGET:
                    self._queued_bytes -= len(frame.buffer)
            if frame is _FORGET:
                self._shapes.pop(session, None)
                continue
            try:
                if dropped:
                    self._dropped_notice(dropped)
                lines = self._lines(stamp, session, worker, frame.buffer)
                for start in range(0, len(lines), 1024):
                    self._file.write("".join(lines[start:start + 1024]))
                    if self._file.tell() >= self.max_bytes:
                        self._rotate()
                if not self._queue:
                    self._file.flush()
            except Exception:  # noqa: BLE001 - a full disk must not end the writer
                log.exception("GT server: writing the instruction log %s failed", self.path)

    def _dropped_notice(self, dropped: int) -> None:
        """A line in the log where the gap is; a warning, counted, at most every 10 s."""
        self._file.write(f"{time.time():.6f} dropped {dropped} message(s): the instruction log could not keep up\n")
        self._unreported += dropped
        now = time.monotonic()
        if now - self._last_report >= 10.0:
            log.warning("GT server: the instruction log could not keep up: %d message(s) not logged",
                        self._unreported)
            self._unreported, self._last_report = 0, now

    def _rotate(self) -> None:
        self._file.close()
        os.replace(self.path, self.path + ".1")
        self._file = open(self.path, "a", buffering=1 << 16)

    def _lines(self, stamp: float, session: int, worker: str, body) -> list[str]:
        """One line per instruction: time, client, worker, op, result and input ids with their
        shapes (as the client sent them: ops carry their result's shape while logging), params."""
        prefix = f"{stamp:.6f} client={session} worker={worker}"
        try:
            items = wire.decode_items(body)
        except wire.WireError as exc:
            return [f"{prefix} malformed: {exc}\n"]
        shapes = self._shapes.setdefault(session, {})
        lines = []
        for item in items:
            kind = type(item)
            if kind is wire.Op:
                try:
                    params = wire.decode_params(item.params)
                except wire.WireError as exc:
                    params = f"<{exc}>"
                if item.shape is not None:
                    shapes[item.result] = item.shape
                inputs = ",".join(f"{i}:{shapes.get(i, '?')}" for i in item.inputs)
                lines.append(f"{prefix} op={OP_NAMES[item.opcode]} out={item.result} "
                             f"shape={item.shape if item.shape is not None else '?'} in={inputs} "
                             f"params={params} scalars={item.scalars}\n")
            elif kind is wire.Put:
                shapes[item.id] = item.shape
                lines.append(f"{prefix} op=put out={item.id} shape={tuple(item.shape)} dtype={item.dtype}\n")
            elif kind is wire.Free:
                shapes.pop(item.id, None)
                lines.append(f"{prefix} op=free id={item.id}\n")
            elif kind is wire.Fetch:
                lines.append(f"{prefix} op=fetch id={item.id}\n")
            elif kind is wire.Boundary and item.region is not None:
                lines.append(f"{prefix} op=boundary region={'open' if item.region else 'close'}\n")
            else:
                lines.append(f"{prefix} op={kind.__name__.lower()}\n")
        return lines
