"""Heartbeats: a peer's proof of life to the dispatcher, and the dispatcher's to the peer.

Each client connection and each worker process runs one ``HeartbeatLink``: a
daemon thread with its own DEALER socket that sends ``Ping(link)`` every
interval and records the dispatcher's ``Pong``.  A thread of its own keeps the
heartbeat going while the owner is busy (a long compile, user code between two
GT calls), and a socket of its own keeps the data socket single-threaded, as
ZeroMQ requires.  The link id is the data socket's random 16-byte routing id,
so the dispatcher can tell which registered peer a ping vouches for.
"""
from __future__ import annotations

import logging
import threading
import time

import zmq

from gt.transport import wire

log = logging.getLogger(__name__)


class HeartbeatLink:
    """Pings the dispatcher at ``endpoint`` for ``link`` until closed."""

    def __init__(self, ctx: zmq.Context, endpoint: str, link: bytes, interval: float, secure=None) -> None:
        """``secure(sock)``: what the owner's data socket was given before connecting (CURVE keys)."""
        self.last_answer = time.monotonic()
        self.registered = False  # a Pong(known=True) has arrived
        self.forgotten = False   # ... and later a Pong(known=False): the dispatcher restarted
        self._ctx, self._endpoint, self._ping, self._interval = ctx, endpoint, wire.encode(wire.Ping(link)), interval
        self._secure = secure
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gt-heartbeat", daemon=True)
        self._thread.start()

    def silent_for(self) -> float:
        """Seconds since the dispatcher last answered a ping."""
        return time.monotonic() - self.last_answer

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        sock = self._ctx.socket(zmq.DEALER)
        sock.ipv6 = True
        sock.linger = 0
        if self._secure is not None:
            self._secure(sock)
        sock.connect(self._endpoint)
        try:
            while True:
                try:
                    sock.send(self._ping, zmq.NOBLOCK)
                except zmq.Again:
                    pass  # not connected yet: the silence is what we measure
                # Waiting on the event (not the socket) lets close() end the thread at once;
                # answers are read once per interval, so silence is measured that coarsely.
                if self._stop.wait(self._interval):
                    break
                while sock.poll(0):
                    self._answer(sock.recv())
        except zmq.ZMQError as exc:  # the context was terminated at exit
            log.debug("heartbeat to %s stopped: %s", self._endpoint, exc)
        finally:
            sock.close(0)

    def _answer(self, frame: bytes) -> None:
        try:
            msg = wire.decode_header(frame)
        except wire.WireError as exc:
            log.warning("ignoring a malformed heartbeat answer from %s: %s", self._endpoint, exc)
            return
        if type(msg) is wire.Pong:
            self.last_answer = time.monotonic()
            if msg.known:
                self.registered = True
            elif self.registered:
                self.forgotten = True
