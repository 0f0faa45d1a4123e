"""The client's link to its worker: id allocation and the instruction channel.

The embedded worker (the default) lives in this process and its methods are
called directly: no threads, no sockets.  The client allocates tensor ids
itself, so no operation waits for the worker; only reading data does.

Remote mode (``connect_server(address)``, ``GT_SERVER=host:port`` or
``gpu_workers(n)``) sends the same calls to a worker behind a GT server through
``RemoteWorker``, which has the embedded worker's client-facing methods.  Each
thread gets its own connection (its own tensor namespace and hot-path stream on
the worker), opened on its first op: a ZeroMQ socket belongs to one thread.  A
tensor belongs to the thread that made it; a free that another thread's
garbage collection triggers does not reach that thread's connection, and the
tensor is released when its own connection closes.
"""
from __future__ import annotations

import atexit
import itertools
import logging
import os
import threading
import time

import torch
import zmq

from gt.ops import OP_NAMES
from gt.transport import local as _unix
from gt.transport import settings as _settings
from gt.transport import wire
from gt.transport.curve import Keys
from gt.transport.heartbeat import HeartbeatLink
from gt.transport.protocol import OUT_OF_MEMORY, WorkerFlush, WorkerGetStats, WorkerResponse

log = logging.getLogger(__name__)

worker = None
# Data-parallel mode (gt.client.data_parallel) averages the gradients a backward pass gave:
# ``after_backward(leaves)`` runs at its end (gt.client.autograd), with the leaves that received one.
after_backward = None
# Every op's result takes one: the counter's own C method, a call without a Python frame.
new_id = itertools.count(1).__next__


def _not_connected(*args) -> None:
    pass


# The per-op entry points are the worker's bound methods themselves (set by
# connect), so an op or a free costs one Python call into the worker.  In remote
# mode they are _remote_submit & co., which pick the calling thread's connection.
submit = free = mark_boundary = _not_connected


def _route(target) -> None:
    global submit, free, mark_boundary
    submit, free, mark_boundary = target.submit, target.free, target.mark_boundary


def connect(new_worker) -> None:
    """Route every thread's instructions to ``new_worker``: an in-process ``Worker`` (or a
    ``RemoteWorker`` used from one thread).  Connections that ``connect_server`` opened stay
    open until ``disconnect()``."""
    global worker, _remote
    _remote = None
    worker = new_worker
    _route(new_worker)


def get_worker():
    """The worker this thread talks to: its remote connection, or the embedded worker (started on first use)."""
    if _remote is not None:
        return _thread_connection()
    if worker is None:
        from gt.worker.worker import Worker
        connect(Worker("worker_0"))
    return worker


# -- remote mode -------------------------------------------------------------------------------
_remote: tuple[str, str] | None = None  # (address, token) while this process uses a server
_local = threading.local()
_connections: list["RemoteWorker"] = []
_lock = threading.Lock()
_servers: list = []  # LocalServers started by gpu_workers


def _thread_connection() -> "RemoteWorker":
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = RemoteWorker(*_remote)
        with _lock:
            _connections.append(conn)
    return conn


def _remote_submit(opcode: int, result_id: int, input_ids: tuple, params: tuple = (), scalars: tuple = (),
                   shape: tuple | None = None) -> None:
    try:
        conn = _local.conn
    except AttributeError:
        conn = _thread_connection()
    conn.submit(opcode, result_id, input_ids, params, scalars, shape)


def _remote_free(tensor_id: int) -> None:
    conn = getattr(_local, "conn", None)
    if conn is not None:  # a thread without a connection holds none of this process's tensors
        conn.free(tensor_id)


def _remote_mark_boundary(compile_region: bool | None = None) -> None:
    conn = getattr(_local, "conn", None)
    if compile_region is not None:  # a region's state lives on the worker: it needs a connection
        conn = _thread_connection()
    if conn is not None:
        conn.mark_boundary(compile_region)


class _ThreadRouted:
    submit = staticmethod(_remote_submit)
    free = staticmethod(_remote_free)
    mark_boundary = staticmethod(_remote_mark_boundary)


def connect_server(address: str, token: str | None = None) -> "RemoteWorker":
    """Run this process's tensors on the GT server at ``address`` (``"host:port"``).

    Call it before the first tensor is made.  ``token`` defaults to ``GT_TOKEN``.
    Each thread gets its own connection; the calling thread's opens now, so a
    server that is down or refuses this client raises here (ConnectionError),
    not at the first op.
    """
    global _remote
    _settings.parse_address(address)
    if token is None:
        token = _settings.from_env().token
    if _remote == (address, token) and _thread_connection()._dead is not None:
        disconnect()  # connecting again after a fault: start afresh (the old tensors are gone)
    if _remote != (address, token):
        if _remote is None:
            held = get_worker().get_stats()["tensors"]
            if held:
                raise RuntimeError(f"gt.connect({address!r}) must come before the first tensor is made: "
                                   f"{held} tensor(s) already live on the worker in use")
        disconnect()
        _remote = (address, token)
        _route(_ThreadRouted)
    conn = _thread_connection()
    try:
        conn.open()
    except BaseException:
        disconnect()
        raise
    return conn


def disconnect() -> None:
    """Close every connection ``connect_server`` opened (their workers free their tensors at
    once) and go back to the worker in use before."""
    global _remote, _local
    with _lock:
        conns = _connections[:]
        _connections.clear()
    for conn in conns:
        conn.close()
    _local = threading.local()
    if _remote is not None:
        _remote = None
        if worker is not None:
            _route(worker)


@atexit.register
def _at_exit() -> None:
    disconnect()
    while _servers:
        _servers.pop().stop()


class RemoteWorker:
    """One connection to a GT server: the client-facing methods of the embedded ``Worker``.

    Instructions are buffered and sent as one message at a batch boundary once
    ``COALESCE_ITEMS`` items are buffered or ``COALESCE_SECONDS`` have passed since
    the last send (so a steady loop sends about once a step or every few steps,
    and the first boundary after a pause goes out at once), at every sync point,
    and every ``MAX_ITEMS``; only ``fetch``, stats and ``_flush_batch`` wait for an
    answer.  Through ZeroMQ each message costs every process and I/O thread on its
    way a wake-up, which on a small machine costs more than the instructions it
    carries.  Over a worker's plain Unix socket a message is one system call, but
    sending at every boundary there still made the tiny MLP's step 1.1-1.5x slower
    on 2 cores (benchmarks/bench_local_worker.py): the worker's OpenMP threads then
    compete with the client still building the step.  After a read the worker is
    idle, though, while the client builds the next step: on a local connection the
    first ``EARLY_ITEMS`` items after a read go at once, and the worker decodes and
    takes them in while the rest is built (a tiny MLP step reading its loss every
    step, 2 cores: 0.163 to 0.139 ms with an optimizer, 0.206 to 0.199 with a
    manual update, bench_local_worker.py's "no early" column).  Over ZeroMQ an
    extra message costs the client more than the worker gains (TCP direct, 2
    cores: 491 to 528 us, 648 to 681 with a manual update; routed level), so
    there the step waits for its boundary.  Every ``WINDOW``
    messages a ``Sync`` asks the worker to acknowledge, and the next window
    waits for that acknowledgement: a client can run at most
    two windows ahead of its worker, so queues stay bounded without a round trip
    per message.

    Once the server has assigned a worker, the connection talks to it directly
    when the worker offers a direct socket (``GT_DIRECT=1``, the default): it
    presents its session's secret there, and streams and answers then skip the
    server, which still sees this client's heartbeats, stats requests and
    goodbye, and tells it when the worker is lost.  A worker on this machine is
    reached on a plain Unix socket (its ``local`` endpoint, when one answers here;
    ``gt.transport.local``), which no ZeroMQ thread handles, others over TCP.  A worker that does not answer within ``DIRECT_TIMEOUT``
    (not reachable from here) leaves the streams going through the server.
    """

    WINDOW = 32
    MAX_ITEMS = 4096
    COALESCE_ITEMS = 256
    COALESCE_SECONDS = 0.001
    EARLY_ITEMS = 16
    DIRECT_TIMEOUT = 2.0

    def __init__(self, address: str, token: str, worker: str = "") -> None:
        """``worker``: the worker to be given (of a group the server formed for this process)."""
        self.address = address
        self.cfg = _settings.from_env()
        self._token = token
        self._worker = worker
        self.worker_id: str | None = None
        self.session = 0  # the server's number for this connection (in its instruction log)
        self.direct = ""  # the worker's endpoint this connection talks to directly ("": through the server)
        self._device: torch.device | None = None
        self._sock = None   # to the server
        self._data = None   # where streams go: the worker's direct socket, else the server's
        self._poller: zmq.Poller | None = None
        self._heartbeat: HeartbeatLink | None = None
        self._items: list = []
        self._req = 0
        self._sent = 0
        self._window_req = 0
        self._dead: str | None = None  # why this connection can no longer work
        self._max_bytes = self.cfg.max_message_bytes
        self.closed = False
        self._last_send = 0.0  # perf_counter() of the last message sent
        self._flush_at = self.MAX_ITEMS  # buffered items that make submit() send
        self._probe_req = 0  # the probe a wait sent after a request (0: none)
        self._log_shapes = False  # the server logs instructions: send result shapes

    # -- connection ------------------------------------------------------------------------
    def open(self) -> None:
        """Connect and wait for the server to assign a worker (ConnectionError when it cannot)."""
        if self._sock is not None:
            return
        if self.closed:
            raise RuntimeError(f"this GT connection to {self.address} is closed")
        host, port = _settings.parse_address(self.address)
        endpoint = _settings.tcp_endpoint(host, port)
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.DEALER)
        sock.ipv6 = True
        link = os.urandom(16)
        sock.routing_id = link
        sock.linger = 1000  # lets the goodbye leave at exit
        sock.sndhwm = sock.rcvhwm = 0  # bounded by the send window instead
        # a server refusing this machine's address says so only in the handshake, seen by a monitor
        monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        keys = Keys(self.cfg.curve_keys) if self.cfg.curve_keys else None
        secure = None if keys is None else lambda s: keys.client(s, "server", "client")
        if secure is not None:
            secure(sock)
        sock.connect(endpoint)
        heartbeat = HeartbeatLink(ctx, endpoint, link, self.cfg.heartbeat_interval, secure)
        try:
            try:
                sock.send(wire.encode(wire.ClientHello(wire.PROTOCOL_VERSION, self._token, os.getpid(), self._worker)))
                welcome = self._await_welcome(sock, monitor, heartbeat)
            finally:
                sock.disable_monitor()
                monitor.close(0)
        except BaseException:
            heartbeat.close()
            sock.close(0)
            raise
        self._sock, self._heartbeat = sock, heartbeat
        direct = endpoint = None
        if welcome.direct and self.cfg.direct:
            here = False   # the worker is on this machine (its Unix socket takes connections)
            if welcome.local and keys is None and _unix.available():  # CURVE: the worker proves its key
                direct, here = self._direct_local(welcome)
                endpoint = welcome.local
            if direct is None and not here:
                direct, endpoint = self._direct(ctx, welcome, welcome.direct, keys), welcome.direct
        self._data = sock if direct is None else direct
        self.direct = "" if direct is None else endpoint
        self._poller = zmq.Poller()
        for s in {sock, self._data}:
            self._poller.register(s, zmq.POLLIN)
        self.worker_id = welcome.worker
        self.session = welcome.session
        self._device = torch.device(welcome.device)
        self._max_bytes = welcome.max_message_bytes
        self._log_shapes = welcome.log_shapes
        log.debug("GT client: connected to %s, worker %s (%s)", self.address, self.worker_id, welcome.device)

    def _direct(self, ctx: zmq.Context, welcome: wire.Welcome, endpoint: str, keys: Keys | None):
        """A socket connected to the worker's direct ``endpoint`` and admitted there, or None."""
        sock = ctx.socket(zmq.DEALER)
        if keys is not None:
            keys.client(sock, "worker", "client")
        sock.ipv6 = True
        sock.linger = 1000
        sock.sndhwm = sock.rcvhwm = 0
        try:
            sock.connect(endpoint)
            sock.send(wire.encode(wire.DirectHello(welcome.session, welcome.secret)), zmq.NOBLOCK)
            if sock.poll(self.DIRECT_TIMEOUT * 1e3):
                msg = wire.decode_direct(sock.recv())
                if type(msg) is wire.DirectWelcome and msg.session == welcome.session:
                    sock.rcvtimeo = int(self.cfg.heartbeat_interval * 1e3)  # _wait's slice
                    return sock
                log.warning("GT client: worker %s did not admit the direct connection (%s); going through the "
                            "server", welcome.worker, getattr(msg, "reason", type(msg).__name__))
            else:
                log.info("GT client: worker %s did not answer at %s within %.1f s; going through the server",
                         welcome.worker, endpoint, self.DIRECT_TIMEOUT)
        except (zmq.ZMQError, wire.WireError) as exc:
            log.warning("GT client: no direct connection to worker %s at %s (%s); going through the server",
                        welcome.worker, endpoint, exc)
        sock.close(0)
        return None

    def _direct_local(self, welcome: wire.Welcome) -> tuple[_unix.Channel | None, bool]:
        """A plain Unix socket to the worker's ``local`` endpoint, admitted there (or None), and whether one
        took the connection: when none did the worker runs on another machine and TCP may reach it, when
        it did but did not admit it in time TCP would not do better."""
        try:
            sock = _unix.connect(welcome.local, self.DIRECT_TIMEOUT)
        except OSError:
            return None, False
        channel = _unix.Channel(sock, welcome.max_message_bytes + (1 << 16), self.DIRECT_TIMEOUT)
        try:
            channel.send(wire.encode(wire.DirectHello(welcome.session, welcome.secret)))
            msg = wire.decode_direct(channel.recv())
            if type(msg) is wire.DirectWelcome and msg.session == welcome.session:
                sock.settimeout(self.cfg.heartbeat_interval)  # _wait's slice
                return channel, True
            log.warning("GT client: worker %s did not admit the local connection (%s); going through the server",
                        welcome.worker, getattr(msg, "reason", type(msg).__name__))
        except TimeoutError:
            log.info("GT client: worker %s did not answer at %s within %.1f s; going through the server",
                     welcome.worker, welcome.local, self.DIRECT_TIMEOUT)
        except (OSError, wire.WireError) as exc:
            log.warning("GT client: no local connection to worker %s at %s (%s); going through the server",
                        welcome.worker, welcome.local, exc)
        channel.close()
        return None, True

    def _await_welcome(self, sock, monitor, heartbeat: HeartbeatLink) -> wire.Welcome:
        limit = self.cfg.connect_timeout
        deadline = time.monotonic() + limit
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if heartbeat.registered:
                    raise ConnectionError(f"the GT server at {self.address} has no worker: none joined within "
                                          f"{limit:.0f} s (start one with python -m gt.worker)")
                raise ConnectionError(f"no answer from a GT server at {self.address} within {limit:.0f} s: is "
                                      "`python -m gt.server` running there?  (Without GT_TOKEN it admits only "
                                      "this machine.)")
            if monitor.poll(0):
                if self.cfg.curve_keys:
                    raise ConnectionRefusedError(f"the GT server at {self.address} refused this client's CURVE key "
                                                 f"(GT_CURVE_KEYS={self.cfg.curve_keys}): its public key is not "
                                                 "among the server's authorized keys")
                raise ConnectionRefusedError(f"the GT server at {self.address} refused this machine's connection: "
                                             "without GT_TOKEN a GT server admits only connections from its own "
                                             "machine (set GT_TOKEN on the server and here)")
            if sock.poll(min(remaining, 0.1) * 1e3):
                msg = wire.decode_header(sock.recv_multipart()[0])
                if type(msg) is wire.Welcome:
                    return msg
                if type(msg) is wire.Refused:
                    raise ConnectionRefusedError(f"the GT server at {self.address} refused this client: "
                                                 f"{msg.reason}")

    def close(self) -> None:
        """Say goodbye (the worker frees this connection's tensors now) and close."""
        if self.closed:
            return
        self.closed = True
        if self._sock is None:
            return
        if self._dead is None:
            try:
                self._sock.send(wire.encode(wire.Bye()), zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
        self._heartbeat.close()
        if self._data is not self._sock:
            self._data.close()
        self._sock.close()

    @property
    def device(self) -> torch.device:
        self.open()
        return self._device

    # -- instruction intake ---------------------------------------------------------------
    def submit(self, opcode: int, result_id: int, input_ids: tuple, params: tuple = (), scalars: tuple = (),
               shape: tuple | None = None) -> None:
        if len(input_ids) > _MAX_INPUTS or len(scalars) > _MAX_SCALARS or params and params not in _params_ok:
            self._check_op(opcode, input_ids, params, scalars)
        items = self._items
        if self._log_shapes and shape is not None:
            items.append((0, opcode, result_id, input_ids, params, scalars, tuple(shape)))
        else:
            items.append((0, opcode, result_id, input_ids, params, scalars))
        if len(items) >= self._flush_at:
            self._flush_at = self.MAX_ITEMS  # one early send per read (_read lowers it)
            self._send()

    @staticmethod
    def _check_op(opcode: int, input_ids: tuple, params: tuple, scalars: tuple) -> None:
        """Refuse at the call an op the worker would refuse (ValueError naming the limit)."""
        try:
            wire.check_op(input_ids, params, scalars)
        except wire.WireError as exc:
            raise ValueError(f"{OP_NAMES[opcode]}: {exc}") from None
        if len(_params_ok) >= 4096:
            _params_ok.clear()
        _params_ok.add(params)

    def free(self, tensor_id: int) -> None:
        self._items.append((1, tensor_id))

    def mark_boundary(self, compile_region: bool | None = None) -> None:
        if compile_region is not None:
            self._items.append((2, compile_region))
            self._send()
        elif self._items:
            items = self._items
            items.append((2,))
            if len(items) >= self.COALESCE_ITEMS or _clock() - self._last_send >= self.COALESCE_SECONDS:
                self._send()

    def put(self, tensor_id: int, value: torch.Tensor) -> None:
        """Send a tensor created from data (no answer needed; ordered with the ops)."""
        dtype, shape, data = wire.tensor_payload(value)
        self.open()
        if len(data) > self._max_bytes:
            raise ValueError(f"a tensor of {len(data)} bytes exceeds the GT server's message limit "
                             f"GT_MAX_MESSAGE_BYTES={self._max_bytes}")
        self._items.append((3, tensor_id, dtype, shape, data))
        self._send()

    def _send(self, sync: bool = False) -> int:
        """Send what is buffered (with a ``Sync`` when asked); returns the sync's request number."""
        self.open()
        items, self._items = self._items, []  # swapped first: a finalizer may free() during encoding
        if self._dead is not None or not (items or sync):
            return 0
        req = 0
        self._sent += 1
        if self._sent >= self.WINDOW:
            self._sent = 0
            if self._window_req:
                self._wait(self._window_req)
            req = self._window_req = self._next_req()
            items.append((5, req))
        if sync and not req:
            req = self._next_req()
            items.append((5, req))
        body = wire.encode(items)
        if len(body) > self._max_bytes:
            self._send_split(items)
        else:
            self._post(body)
        self._last_send = _clock()
        return req

    def _send_split(self, items: list) -> None:
        """Send ``items`` in messages within the server's limit, in order; one item alone over it
        (a tensor or params too large to send) is refused with a ValueError naming the limit."""
        body = wire.encode(items)
        if len(body) <= self._max_bytes:
            self._post(body)
        elif len(items) == 1:
            raise ValueError(f"a message of {len(body)} bytes exceeds the GT server's message limit "
                             f"GT_MAX_MESSAGE_BYTES={self._max_bytes}")
        else:
            half = len(items) // 2
            self._send_split(items[:half])
            self._send_split(items[half:])

    def _post(self, body) -> None:
        """Send an instruction list: one frame on the direct path, a ``Stream`` to the server else."""
        data = self._data
        if data is self._sock:
            self._sock.send_multipart((_STREAM, body), copy=False)
            return
        try:
            data.send(body, copy=False)
        except TimeoutError:  # a local connection's worker took nothing for a heartbeat interval
            self._stalled_send()
        except OSError as exc:
            self._lost_local(exc)

    def _stalled_send(self) -> None:
        """Finish a local send the worker is slow to take, as long as its server says it lives."""
        while True:
            self._news()
            try:
                return self._data.finish_send()
            except TimeoutError:
                pass
            except OSError as exc:
                self._lost_local(exc)

    def _news(self) -> None:
        """RuntimeError when the server reported this client's worker lost, or stopped answering."""
        server = self._sock
        while server.poll(0):
            self._from_server(server.recv_multipart(), 0)
        self._check_alive()

    def _check_alive(self) -> None:
        """RuntimeError when the server forgot this client or its heartbeat has gone silent."""
        if self._heartbeat.forgotten:
            self._fail(f"the GT server at {self.address} no longer knows this client (it restarted?): the "
                       "tensors this client held are gone")
        if self._heartbeat.silent_for() > self.cfg.heartbeat_timeout:
            self._unreachable()

    def _lost_local(self, exc: OSError) -> None:
        """The worker closed the local connection: what it said last (a lost dispatcher, say), else that."""
        for frame in self._data.last_words():
            try:
                answer = wire.decode_direct(frame)
            except wire.WireError:
                continue
            if type(answer) is wire.WorkerLost:
                self._answered(answer, 0)
        self._fail(f"GT worker {self.worker_id} was lost (its connection closed: {exc}): the tensors this client "
                   "held there are gone")

    def _next_req(self) -> int:
        self._req += 1
        return self._req

    # -- sync points -------------------------------------------------------------------------
    def fetch(self, tensor_id: int) -> torch.Tensor:
        """A tensor's value (a sync point): everything sent before runs first."""
        answer = self._read(tensor_id)
        return wire.tensor_from(answer.dtype, answer.shape, answer.data)

    def item(self, tensor_id: int):
        """A one-element tensor's value as a Python number (a sync point), without building a tensor."""
        answer = self._read(tensor_id)
        return wire.item_from(answer.dtype, answer.shape, answer.data)

    def _read(self, tensor_id: int) -> wire.Value:
        self.open()
        req = self._next_req()
        self._items.append((4, req, tensor_id))
        self._send()
        answer = self._wait(req)
        if isinstance(self._data, _unix.Channel):  # the worker is idle now: the next step's first items go at once
            self._flush_at = self.EARLY_ITEMS
        return answer

    def _flush_batch(self) -> None:
        """Run everything pending on the worker and wait until it has."""
        self._items.append((2,))
        self._wait(self._send(sync=True))

    def get_all_stats(self) -> dict:
        """``{worker name: stats}`` for every worker of the server (a sync point)."""
        if self._data is self._sock:
            self._send()  # the server forwards it before the stats query
        else:  # the stream takes another way: applied before the query is sent
            self._wait(self._send(sync=True))
        req = self._next_req()
        self._sock.send(wire.encode(wire.StatsRequest(req)))
        return dict(self._wait(req, probe=False).stats)

    def request_group(self, n: int) -> wire.GroupFormed:
        """Ask the server to form a process group of ``n`` idle workers for this process."""
        req = self._next_req()
        self._sock.send(wire.encode(wire.GroupRequest(req, n)))
        return self._wait(req, probe=False)

    def get_stats(self) -> dict:
        """This connection's worker's statistics, this connection's session in the embedded form."""
        return self.get_all_stats()[self.worker_id]

    def handle(self, cmd) -> WorkerResponse:
        """The seed's control commands, as the embedded worker answers them."""
        try:
            if isinstance(cmd, WorkerGetStats):
                return WorkerResponse(success=True, data=self.get_stats())
            if isinstance(cmd, WorkerFlush):
                self._flush_batch()
                return WorkerResponse(success=True)
        except RuntimeError as exc:
            return WorkerResponse(success=False, error=str(exc))
        return WorkerResponse(success=False, error=f"unknown command {type(cmd).__name__}")

    def _wait(self, req: int, probe: bool = True):
        """The answer to request ``req``; RuntimeError when the worker or the server is gone, or
        when the request was lost.  ``probe``: ``req`` travelled in a stream to the worker, which
        answers in order; after a heartbeat timeout without the answer, a ``Sync`` probe follows
        it, and the probe answered first means the request never reached the worker."""
        if self._dead is not None:
            raise RuntimeError(self._dead)
        heartbeat, server, data, timeout = self._heartbeat, self._sock, self._data, self.cfg.heartbeat_timeout
        now = time.monotonic()
        if now - heartbeat.last_answer > timeout:  # the worker may still answer directly: not for long
            self._unreachable()
        probe_at = now + timeout if probe else float("inf")
        self._probe_req = 0
        while True:
            if data is not server and probe:  # the fast path: a blocking read of the worker's answer
                try:
                    answer = self._answered(wire.decode_direct(data.recv()), req)
                except (zmq.Again, TimeoutError):  # a heartbeat interval without an answer: has the server news?
                    while server.poll(0):
                        self._from_server(server.recv_multipart(), req)
                except OSError as exc:   # a local connection's worker went
                    self._lost_local(exc)
                else:
                    if answer is not None:
                        return answer
            else:
                for sock, _ in self._poller.poll(self.cfg.heartbeat_interval * 1e3):
                    if sock is server:
                        answer = self._from_server(server.recv_multipart(), req)
                    else:
                        try:
                            answer = self._answered(wire.decode_direct(data.recv(zmq.NOBLOCK)), req)
                        except TimeoutError:   # a local frame not complete yet
                            continue
                        except OSError as exc:
                            self._lost_local(exc)
                    if answer is not None:
                        return answer
            self._check_alive()
            if not self._probe_req and time.monotonic() > probe_at:
                self._probe_req = self._next_req()
                self._post(wire.encode([(5, self._probe_req)]))

    def _answered(self, answer, req: int):
        """``answer`` when it answers ``req``; None for another request's answer; RuntimeError when it
        reports a failure of ``req``, a lost request, or a lost worker."""
        kind = type(answer)
        if kind is wire.WorkerLost:
            self._fail(f"GT worker {answer.worker} was lost ({answer.reason}): the tensors this client held "
                       "there are gone")
        if kind is wire.Error:  # instructions were lost with it: this connection cannot go on
            self._fail(f"the GT server at {self.address} refused a message of this client: {answer.reason}")
        if kind is not wire.Value and kind is not wire.Failure and kind is not wire.Ack:
            return None  # a late answer to the direct hello
        failed = kind is wire.Failure
        if answer.req == self._window_req:
            self._window_req = 0  # the send window's acknowledgement
            if failed:  # only a worker that lost this session refuses an acknowledgement
                self._fail(answer.message)
        if answer.req == req:
            if failed:   # a worker's out of memory keeps torch's type (gt.worker.worker._note_error)
                oom = answer.message.startswith("GT worker: operation") and OUT_OF_MEMORY in answer.message
                raise (torch.OutOfMemoryError if oom else RuntimeError)(answer.message)
            return answer
        if answer.req == self._probe_req:
            self._fail(f"GT worker {self.worker_id} answered a later request before request {req}: a "
                       "message of this client was lost on the way (larger than the server's limit "
                       f"GT_MAX_MESSAGE_BYTES={self._max_bytes}?); the tensors this client held "
                       "there may be wrong")
        return None

    def _from_server(self, frames: list, req: int):
        """A message from the server: a forwarded answer, a stats result, or news of a lost worker."""
        msg = wire.decode_header(frames[0])
        kind = type(msg)
        if kind is wire.Forward and len(frames) == 2:
            return self._answered(wire.decode_answer(frames[1]), req)
        if kind is wire.StatsResult or kind is wire.GroupFormed:
            return msg if msg.req == req else None
        return self._answered(msg, req)  # WorkerLost, Error

    def _unreachable(self) -> None:
        self._fail(f"the GT server at {self.address} is unreachable: no heartbeat answer for "
                   f"{self._heartbeat.silent_for():.1f} s")

    def _fail(self, message: str) -> None:
        self._dead = message
        raise RuntimeError(message)


_STREAM = wire.encode(wire.Stream())
_MAX_INPUTS, _MAX_SCALARS = wire.MAX_INPUTS, wire.MAX_SCALARS
_params_ok: set = set()  # op params already checked against the wire's limits
_clock = time.perf_counter

_env = _settings.from_env()
if _env.server is not None:  # GT_SERVER: remote from the start; each thread connects on its first op
    _remote = (_env.server, _env.token)
    _route(_ThreadRouted)
