"""The direct path between a client and a worker on one machine: a plain Unix socket.

A ZeroMQ round trip passes four threads besides the two that talk (each side's
I/O thread, there and back); a plain stream socket read and written by the two
main threads passes none of them.  On a 2-core machine a 64 B echo took 41 us
over a plain abstract Unix socket against 128 us through ZeroMQ.  So a worker
listens on an abstract Unix socket (Linux: a name, no file to remove) and a
client on its machine talks to it there; other clients use ZeroMQ over TCP.

Messages are frames: a 4-byte little-endian length, then that many bytes.  A
frame longer than the receiver's limit ends the connection (``FrameTooLarge``).

The worker's side never blocks: ``Reader.pull`` takes what a readable socket
holds and ``Connection.send`` queues what the socket does not take at once
(``Connection.flush`` sends it when the socket is writable again), so one
client that stops reading stalls no other.  The client's side blocks, in slices
of its heartbeat interval, so that it can check between them that its worker
and server still live.

A waiting end polls its socket for up to ``SPIN_SECONDS`` before it sleeps, while
its last wait was shorter than that (``Spinner``): a loop that reads every step
waits about 100 us at each end, and on a 2-core VM waking a sleeping process
took about as long as the wait itself.  With the worker running such small work
on one thread (``gt.worker.engine.SMALL_GRAPH_ELEMENTS``) the tiny MLP reading
its loss every step went from 278-378 to 171-205 us a step there (README,
"Three terminals").  A wait longer than the window (a large step) stops the polling
until waits are short again, and a polling end yields its core to any thread
that can run.
"""
from __future__ import annotations

import os
import select
import socket
import struct
import sys
import time
from collections import deque
from itertools import islice

_HEAD = struct.Struct("<I")
_CHUNK = 1 << 16
PREFIX = "unix://@"


SPIN_SECONDS = 300e-6


class Spinner:
    """Polls ``ready`` (a zero-timeout poll: falsy until there is something) for up to SPIN_SECONDS,
    while the last wait (``waited``) was shorter than that."""

    __slots__ = ("ready", "last")

    def __init__(self, ready) -> None:
        self.ready = ready
        self.last = 0.0

    def spin(self, start: float):
        """What ``ready`` returned once it was true, or None (the window passed, or is closed)."""
        if self.last >= SPIN_SECONDS:
            return None
        ready, clock, end, pause = self.ready, time.perf_counter, start + SPIN_SECONDS, os.sched_yield
        while clock() < end:
            got = ready()
            if got:
                return got
            pause()   # another thread that can run here runs first
        return None

    def waited(self, start: float) -> None:
        self.last = time.perf_counter() - start


class FrameTooLarge(ConnectionError):
    """A frame's length exceeds what the receiver takes."""


def available() -> bool:
    return sys.platform.startswith("linux") and hasattr(socket, "AF_UNIX")


def _address(endpoint: str) -> str:
    return "\0" + endpoint.removeprefix(PREFIX)


def listen() -> tuple[socket.socket, str]:
    """A non-blocking listening socket of a random abstract name, and its endpoint."""
    endpoint = f"{PREFIX}gt-worker-{os.urandom(12).hex()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(_address(endpoint))
        sock.listen(64)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock, endpoint


def connect(endpoint: str, timeout: float) -> socket.socket:
    """A socket connected to a worker's ``endpoint`` (OSError where nothing listens there)."""
    if not endpoint.startswith(PREFIX):
        raise OSError(f"not a local endpoint: {endpoint!r}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(_address(endpoint))
    except BaseException:
        sock.close()
        raise
    return sock


def frame_parts(body) -> list:
    return [_HEAD.pack(len(body)), body]


class Reader:
    """Splits a stream into frames of at most ``limit`` bytes."""

    __slots__ = ("limit", "_rest", "_body", "_filled")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._rest = b""        # the start of a frame's header
        self._body: bytearray | None = None   # a frame larger than one read, being filled
        self._filled = 0

    def pull(self, sock: socket.socket) -> list:
        """The frames completed by one read of ``sock`` (possibly none); ConnectionError at its end.
        A blocking socket's read waits (its timeout raises TimeoutError); a non-blocking one's raises
        BlockingIOError when nothing is there."""
        body = self._body
        if body is not None:
            got = sock.recv_into(memoryview(body)[self._filled:])
            if not got:
                raise ConnectionResetError("the connection closed inside a message")
            self._filled += got
            if self._filled < len(body):
                return []
            self._body = None
            return [body]
        chunk = sock.recv(_CHUNK)
        if not chunk:
            raise ConnectionResetError("the connection closed" + (" inside a message" if self._rest else ""))
        if self._rest:
            chunk, self._rest = self._rest + chunk, b""
        frames, pos, end = [], 0, len(chunk)
        view = memoryview(chunk)
        while end - pos >= 4:
            n = _HEAD.unpack_from(chunk, pos)[0]
            if n > self.limit:
                raise FrameTooLarge(f"a message of {n} bytes exceeds the limit of {self.limit} bytes")
            start = pos + 4
            if end - start < n:  # the rest of it comes in later reads, straight into its own buffer
                body = self._body = bytearray(n)
                body[:end - start] = view[start:]
                self._filled = end - start
                return frames
            frames.append(view[start:start + n])
            pos = start + n
        self._rest = chunk[pos:]
        return frames


class Connection:
    """The worker's end of one client's connection: frames in (``reader``), frames out through a queue
    of at most ``max_queued`` bytes that the socket did not take yet."""

    __slots__ = ("sock", "reader", "session", "_out", "_queued", "max_queued")

    def __init__(self, sock: socket.socket, limit: int, max_queued: int) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.reader = Reader(limit)
        self.session: int | None = None   # the session it was admitted to
        self._out: deque = deque()
        self._queued = 0
        self.max_queued = max_queued

    def fileno(self) -> int:
        return self.sock.fileno()

    @property
    def waiting(self) -> bool:
        """Whether frames wait for the socket to take them (poll it for writing)."""
        return bool(self._out)

    def send(self, body) -> None:
        """Send a frame, or queue what the socket does not take now; ConnectionError when the queue
        would pass ``max_queued`` (the client does not read its answers)."""
        parts = frame_parts(body)
        if not self._out:   # else behind what waits already
            try:
                parts = _advance(parts, self.sock.sendmsg(parts))
            except BlockingIOError:
                pass
        if parts:
            self._queue(parts)

    def flush(self) -> None:
        """Send what is queued, as far as the socket takes it (when poll says it is writable)."""
        out = self._out
        while out:
            head = list(islice(out, 64))
            try:
                sent = self.sock.sendmsg(head)
            except BlockingIOError:
                return
            self._queued -= sent
            for _ in head:
                out.popleft()
            out.extendleft(reversed(_advance(head, sent)))

    def _queue(self, parts: list) -> None:
        size = sum(len(p) for p in parts)
        if self._queued + size > self.max_queued:
            raise ConnectionError(f"the client does not read its answers: {self._queued + size} bytes would wait "
                                  f"for it, more than {self.max_queued}")
        self._out.extend(parts)
        self._queued += size

    def close(self) -> None:
        self.sock.close()


def _advance(parts: list, sent: int) -> list:
    """What of ``parts`` is left after the first ``sent`` bytes went."""
    for i, part in enumerate(parts):
        if sent < len(part):
            return [memoryview(part)[sent:], *parts[i + 1:]]
        sent -= len(part)
    return []


class Channel:
    """The client's end: ``send`` a frame, ``recv`` the next one; both wait at most ``slice_s`` at a time
    (TimeoutError, with nothing lost: a send goes on where it stopped at the next call's start)."""

    def __init__(self, sock: socket.socket, limit: int, slice_s: float) -> None:
        sock.settimeout(slice_s)
        self.sock = sock
        self.reader = Reader(limit)
        self._frames: deque = deque()
        self._unsent: list = []
        poll = select.poll()
        poll.register(sock, select.POLLIN)
        self._spinner = Spinner(lambda: poll.poll(0))

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, body, copy: bool = False) -> None:
        """Send one frame whole; a TimeoutError (the worker took nothing for a slice) leaves its rest to
        ``finish_send``, which the next ``send`` and ``recv`` call first."""
        self.finish_send()
        self._unsent = frame_parts(body)
        self.finish_send()

    def finish_send(self) -> None:
        parts = self._unsent
        while parts:
            sent = self.sock.sendmsg(parts)
            parts = self._unsent = _advance(parts, sent)

    def recv(self, flags: int = 0):
        """The next frame (a memoryview or bytearray); ``flags`` (ZeroMQ's) are ignored: a frame begun is
        waited for, at most a slice."""
        frames = self._frames
        if frames:
            return frames.popleft()
        if self._unsent:
            self.finish_send()
        spinner = self._spinner
        start = time.perf_counter()
        spinner.spin(start)
        while True:
            got = self.reader.pull(self.sock)
            if got:
                frames.extend(got[1:])
                spinner.waited(start)
                return got[0]

    def last_words(self) -> list:
        """The frames still readable after the worker closed the connection (what it said before)."""
        frames = list(self._frames)
        self._frames.clear()
        self.sock.setblocking(False)
        try:
            while True:
                frames += self.reader.pull(self.sock)
        except OSError:   # nothing more (BlockingIOError), or the end
            pass
        return frames

    def close(self, linger=None) -> None:
        self.sock.close()
