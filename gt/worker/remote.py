"""A worker process of GT's remote mode: executes the streams of the clients the dispatcher assigns.

The process holds one ``Worker`` per client session: each client's tensors live
in their own table, one client's frees or errors never reach another's, and
each session's hot-path detector sees one client's pattern stream.  Messages
arrive on one DEALER socket connected to the dispatcher and are applied in
order; only a ``Fetch`` or ``Sync`` item (the client waits for those) and a
stats query are answered.

The direct path: the worker also binds a ROUTER socket of its own (a free port,
``--direct-host``), named in its hello.  A client the dispatcher assigned here
connects to it and presents its session's secret (which the dispatcher gave
both); from then on that client's streams and answers skip the dispatcher, so a
read costs one hop each way.  The worker also listens on a plain Unix socket of
a random name in Linux's abstract namespace (``unix://@...``, named in the hello
too: no file to remove; ``gt.transport.local``), which a client on this machine
uses instead: its frames pass no ZeroMQ I/O thread on either side, which cut a
bare round trip to a third on 2 cores.  While the dispatcher keeps an
instruction log, each direct stream is also copied to it (the same frame, sent
asynchronously).

Every body is decoded against ``gt.transport.wire``'s schema before use; a body
that fails is not applied, and its client gets the reason at its next sync point.
"""
from __future__ import annotations

import hmac
import logging
import os
import select
import socket
import time
from collections import deque

import msgspec
import torch
import zmq

from gt import config as _config
from gt.transport import local as _local
from gt.transport import settings as _settings
from gt.transport import wire
from gt.transport.curve import Keys
from gt.transport.heartbeat import HeartbeatLink
from gt.worker import distributed
from gt.worker.worker import Worker, context_lost, default_device

log = logging.getLogger(__name__)

_PARAMS_CACHE_BYTES = 1 << 20  # per session: the encodings kept as keys (the decoded tuples are of like size)
_PARAMS_CACHE_ITEM = 4096
# serve()'s status when the CUDA context is lost: ``python -m gt.worker`` starts itself afresh.
RESTART = 3
_SNDMORE = int(zmq.SNDMORE)


class QuotaExceeded(RuntimeError):
    """A client's tensors would take more than its quota (``--max-client-mb``)."""


class _QuotaTable(dict):
    """A session's tensor table that counts the bytes of the storages it holds (a storage shared by
    views once) and refuses, with ``QuotaExceeded``, a tensor whose new storage would take them past
    ``limit``: each result is checked as it is stored, so a client holds at most its quota, and
    passes it only for the moment between a refused result's computation and its refusal."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.held = self.peak = 0
        self._storages: dict[int, list] = {}  # storage address -> [bytes, tensors in the table using it]

    def __setitem__(self, key: int, value: torch.Tensor) -> None:
        storage = value.untyped_storage()
        address = storage.data_ptr()
        size = storage.nbytes()
        if address not in self._storages and self.held + size > self.limit:
            raise QuotaExceeded(f"a result of {size / 2 ** 20:.1f} MB would take this client's tensors to "
                                f"{(self.held + size) / 2 ** 20:.1f} MB, more than its quota --max-client-mb="
                                f"{self.limit >> 20}: it was refused (free tensors to go on)")
        self.pop(key, None)
        entry = self._storages.get(address)
        if entry is None:
            entry = self._storages[address] = [size, 0]
            self.held += size
            self.peak = max(self.peak, self.held)
        entry[1] += 1
        dict.__setitem__(self, key, value)

    def update(self, other: dict) -> None:
        for key, value in other.items():
            self[key] = value

    def pop(self, key: int, default=None):
        value = dict.pop(self, key, None)
        if value is None:
            return default
        address = value.untyped_storage().data_ptr()
        entry = self._storages[address]
        entry[1] -= 1
        if not entry[1]:
            del self._storages[address]
            self.held -= entry[0]
        return value

    def __delitem__(self, key: int) -> None:
        if self.pop(key) is None:
            raise KeyError(key)

    def clear(self) -> None:
        dict.clear(self)
        self._storages.clear()
        self.held = 0


class _Session:
    """One client's worker, the reason its last message was refused (reported at its next sync), its
    decoded op params by encoding (at most ``_PARAMS_CACHE_BYTES`` of keys; freed with the session), the
    secret its client presents on the direct path and that connection once it has (a ZeroMQ routing id, or
    a ``gt.transport.local.Connection``)."""

    __slots__ = ("worker", "rejected", "params", "params_bytes", "secret", "rid")

    def __init__(self, worker: Worker, secret: bytes) -> None:
        self.worker = worker
        self.secret = secret
        self.rid: bytes | _local.Connection | None = None
        self.rejected: str | None = None
        self.params: dict[bytes, tuple] = {}
        self.params_bytes = 0

    def decode_params(self, raw) -> tuple:
        key = bytes(raw)
        params = self.params.get(key)
        if params is None:
            params = wire.decode_params(raw)
            if len(key) <= _PARAMS_CACHE_ITEM:  # large params are rare: decoded each time, never kept
                if self.params_bytes + len(key) > _PARAMS_CACHE_BYTES:
                    self.params.clear()
                    self.params_bytes = 0
                self.params[key] = params
                self.params_bytes += len(key)
        return params


class WorkerProcess:
    """Connects to the dispatcher at ``endpoint`` and serves until the process is stopped."""

    def __init__(self, endpoint: str, device: str | None = None, name: str | None = None,
                 cfg: _settings.RemoteSettings | None = None, config: _config.Config | None = None,
                 batch_size: int | None = None, exit_with_parent: int | None = None,
                 max_client_mb: int | None = None, direct_host: str | None = None) -> None:
        self.cfg = cfg if cfg is not None else _settings.from_env()
        self.config = config if config is not None else _config.from_env()
        self.batch_size = batch_size
        self.device = str(torch.device(device or self.config.device or default_device()))
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{self.device}"
        self._threads = torch.get_num_threads()
        self.endpoint = endpoint
        self._exit_with_parent = exit_with_parent
        self.sessions: dict[int, _Session] = {}
        self.max_client_bytes = max_client_mb << 20 if max_client_mb else None
        self.max_message_bytes = self.cfg.max_message_bytes
        # stats may hold objects MessagePack has no type for (a torch.device): sent as text
        self._stats_encoder = msgspec.msgpack.Encoder(enc_hook=str)
        self.ctx = zmq.Context()
        self.keys = Keys(self.cfg.curve_keys) if self.cfg.curve_keys else None
        self._auth = self.keys.authenticator(self.ctx) if self.keys is not None and direct_host else None
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.ipv6 = True
        self.link = os.urandom(16)
        self.sock.routing_id = self.link
        self.sock.linger = 0
        self.sock.sndhwm = self.sock.rcvhwm = 0
        self.sock.maxmsgsize = self.cfg.max_message_bytes + 1024
        secure = None if self.keys is None else lambda sock: self.keys.client(sock, "server", "worker")
        if secure is not None:
            secure(self.sock)
        self.sock.connect(endpoint)
        self.heartbeat = HeartbeatLink(self.ctx, endpoint, self.link, self.cfg.heartbeat_interval, secure)
        self.poller = zmq.Poller()
        self.poller.register(self.sock, zmq.POLLIN)
        self.direct, self.direct_endpoint = self._bind_direct(direct_host) if direct_host else (None, "")
        self.local, self.local_endpoint = self._bind_local() if self.direct is not None else (None, "")
        self._conns: dict[int, _local.Connection] = {}  # file descriptor -> a local client's connection
        self._local_poll = select.poll()   # the connections in _conns: polled a while before sleeping
        self._direct_sessions: dict[bytes, int] = {}  # routing id of an admitted direct connection -> session
        self._early: dict[int, tuple] = {}  # session -> (routing id, secret) of a hello before its SessionOpen
        self._copy_streams = False  # the dispatcher keeps an instruction log: copy direct streams to it
        self._gone = "it holds no session for this connection: it restarted, or the server ended the session"
        self.registered = False
        self._hello_sent = 0.0
        self._rejections, self._last_reject_log = 0, -1e9  # refused items not yet in a warning; its time
        self._hellos: deque[str] = deque(maxlen=64)  # the credentials of the hellos not answered yet
        self._heard = time.monotonic()

    def _bind_direct(self, host: str) -> tuple[zmq.Socket, str]:
        """The socket clients connect to directly: ``host`` "*" binds every interface and names this
        machine's host name to clients."""
        sock = self.ctx.socket(zmq.ROUTER)
        sock.ipv6 = True
        sock.linger = 0
        sock.sndhwm = sock.rcvhwm = 0
        sock.maxmsgsize = 2 * self.cfg.max_message_bytes + (1 << 16)
        if self.keys is not None:  # clients present an authorized key, and know this one
            sock.zap_domain = b"gt"
            self.keys.serve(sock, "worker")
        bind = "*" if host == "*" else host
        port = sock.bind_to_random_port(_settings.tcp_endpoint(bind, 0).rsplit(":", 1)[0])
        self.poller.register(sock, zmq.POLLIN)
        return sock, _settings.tcp_endpoint(socket.gethostname() if host == "*" else host, port)

    def _bind_local(self) -> tuple[socket.socket | None, str]:
        """The listening socket for clients on this machine, and its endpoint (None, "" where there is
        none: not Linux)."""
        if not _local.available():
            return None, ""
        try:
            sock, endpoint = _local.listen()
        except OSError as exc:
            log.info("GT worker %s: no local endpoint (%s); clients on this machine use TCP", self.name, exc)
            return None, ""
        self.poller.register(sock, zmq.POLLIN)
        return sock, endpoint

    # -- main loop -------------------------------------------------------------------------
    def serve(self) -> int:
        """Serve until stopped; returns the exit status (2 when the dispatcher refused us, RESTART when
        the CUDA context is lost)."""
        slice_ms = self.cfg.heartbeat_interval * 1e3
        check_every = min(0.05, self.cfg.heartbeat_interval / 4)  # the watches below, between busy messages
        next_check = 0.0
        poll = self.poller.poll
        spinner = _local.Spinner(lambda: self._local_poll.poll(0))
        local_turn = False   # whether the last message came from a client on this machine
        try:
            while True:
                if not self.registered and self._hello_due():
                    self._hello()
                start = time.perf_counter()
                # that client's next message may be a few us away (gt.transport.local): poll for it a while
                events = poll(0 if local_turn and spinner.spin(start) else slice_ms)
                spinner.waited(start)
                local_turn = bool(events) and all(type(sock) is int for sock, _ in events)
                for sock, event in events:
                    try:
                        if sock is self.direct:
                            status = self._handle_direct(sock.recv_multipart(copy=False))
                        elif type(sock) is int:  # a plain socket: the local listener or a connection
                            status = self._on_local(sock, event)
                        else:
                            self._heard = time.monotonic()
                            status = self._handle(sock.recv_multipart(copy=False))
                    except Exception:  # noqa: BLE001 - one message must never stop the worker
                        log.exception("GT worker %s: failed on a message; dropped it", self.name)
                        status = None
                    if status is not None:
                        return status
                now = time.monotonic()
                if now < next_check:
                    continue
                next_check = now + check_every
                # any message is a sign of life too (a returning dispatcher may answer before its pongs do)
                silent = min(self.heartbeat.silent_for(), now - self._heard)
                if self.heartbeat.forgotten or silent > self.cfg.heartbeat_timeout:
                    self._lost_dispatcher()
                if self._exit_with_parent is not None and os.getppid() != self._exit_with_parent:
                    log.info("GT worker %s: parent process exited; stopping", self.name)
                    return 0
        finally:
            self.close()

    def close(self) -> None:
        self.heartbeat.close()
        if self.direct is not None:
            self.direct.close(0)
        for conn in list(self._conns.values()):
            self._close_local(conn)
        if self.local is not None:
            self.local.close()
        if self._auth is not None:
            self._auth.stop()
        self.sock.close()
        self.ctx.term()

    def _hello_due(self) -> bool:
        """Time to (re)send a hello: none for a heartbeat timeout, and a dispatcher is answering pings.

        While the dispatcher is down a hello would wait in the socket's queue, and several queued ones
        reach a dispatcher that comes back together: the second reads as this worker registering
        again, which drops the clients given to it after the first."""
        if time.monotonic() - self._hello_sent <= self.cfg.heartbeat_timeout:
            return False
        return not self._hello_sent or self.heartbeat.silent_for() < 2 * self.cfg.heartbeat_interval

    def _hello(self) -> None:
        token = self._credential()
        self._hellos.append(token)
        self.sock.send(wire.encode(wire.WorkerHello(wire.PROTOCOL_VERSION, token, self.name[:200],
                                                    self.device, os.getpid(), self.direct_endpoint,
                                                    self.local_endpoint)))
        self._hello_sent = time.monotonic()

    def _restart(self) -> int:
        """One client's kernel failed a device-side assert: the CUDA context of this process is gone, for
        every client.  The failing client got the reason in its reply; the others learn from the
        dispatcher that this worker was lost (their tensors with it) when it registers again, fresh."""
        log.error("GT worker %s: the CUDA context is lost; dropping %d client session(s) and restarting",
                  self.name, len(self.sessions))
        self.sock.linger = 2000   # the failing client's reply still leaves
        return RESTART

    def _credential(self) -> str:
        return _settings.worker_token(self.cfg, int(self.endpoint.rsplit(":", 1)[1]))

    def _lost_dispatcher(self) -> None:
        silent = self.heartbeat.silent_for()
        self._gone = f"its GT server is unreachable (silent for {silent:.1f} s): it dropped its clients' sessions"
        if self.registered or self.sessions:
            log.warning("GT worker %s: lost the dispatcher at %s (%s); dropping %d client session(s) and "
                        "registering again when it returns", self.name, self.endpoint,
                        "it forgot this worker" if self.heartbeat.forgotten else
                        f"silent for {self.heartbeat.silent_for():.1f} s", len(self.sessions))
        self.sessions.clear()
        self._direct_sessions.clear()
        lost = wire.encode(wire.WorkerLost(self.name, self._gone))
        for conn in list(self._conns.values()):   # told why before the close: its client reads it after
            self._send_direct(conn, lost)
            self._close_local(conn)
        self._early.clear()
        distributed.leave()   # the server forgot the group with this worker
        self.registered = False
        self.heartbeat.forgotten = False
        self.heartbeat.registered = False

    def _handle(self, frames: list) -> int | None:
        try:
            msg = wire.decode_header(frames[0].buffer)
        except wire.WireError as exc:
            log.warning("GT worker %s: dropped a message from the dispatcher: %s", self.name, exc)
            return None
        kind = type(msg)
        if kind is wire.Deliver:
            if len(frames) != 2:
                log.warning("GT worker %s: dropped a Deliver without a body", self.name)
                return None
            session = self.sessions.get(msg.session)
            if session is None:
                self._answer_orphan(msg.session, frames[1].buffer)
            else:
                if session.rid is not None:  # its client gave up on the direct path: answer the way it asks
                    self._drop_route(session)
                self._apply(msg.session, session, frames[1].buffer)
                if context_lost() is not None:
                    return self._restart()
        elif kind is wire.SessionOpen:
            worker = Worker(f"{self.name}/{msg.session}", batch_size=self.batch_size, device=self.device,
                            config=self.config)
            if worker.engine.device.type == "cpu":   # this process's threads are the worker's own
                worker.engine.threads = self._threads
            if self.max_client_bytes is not None:
                worker.tensors = _QuotaTable(self.max_client_bytes)
            session = self.sessions[msg.session] = _Session(worker, msg.secret)
            early = self._early.pop(msg.session, None)
            if early is not None:
                self._admit(msg.session, session, *early)
        elif kind is wire.SessionClose:
            session = self.sessions.pop(msg.session, None)
            if session is not None and session.rid is not None:
                self._drop_route(session)
        elif kind is wire.StatsQuery:
            self._stats(msg)
        elif kind is wire.GroupJoin:  # blocks this loop until the group forms (the heartbeat has its thread)
            host, port = self.endpoint.removeprefix("tcp://").rsplit(":", 1)
            distributed.join(msg.group, msg.rank, msg.world, msg.init, self.device, (host.strip("[]"), int(port)),
                             lambda **kw: self.sock.send(wire.encode(wire.GroupStatus(msg.group, **kw))))
        elif kind is wire.GroupLeave:
            distributed.leave(msg.group)
        elif kind is wire.Welcome:
            self._hellos.clear()
            self.registered = True
            self.name = msg.worker
            self.max_message_bytes = msg.max_message_bytes
            self._copy_streams = msg.log_shapes
            if self.direct is not None:  # for the clients' connections, all made from now on
                self.direct.maxmsgsize = 2 * msg.max_message_bytes + (1 << 16)
            log.info("GT worker %s (%s) registered with the dispatcher at %s", self.name, self.device, self.endpoint)
        elif kind is wire.Refused:
            # Refusals come in the order of the hellos: one that presented a credential since replaced (a
            # server restarted on the port wrote a new one) is stale, and a later hello presents the new one.
            if self._hellos and self._hellos.popleft() != self._credential():
                return None
            log.error("GT worker: the dispatcher at %s refused this worker: %s", self.endpoint, msg.reason)
            return 2
        else:
            log.warning("GT worker %s: ignored a %s from the dispatcher", self.name, kind.__name__)
        return None

    # -- the direct path ----------------------------------------------------------------------
    def _handle_direct(self, frames: list) -> int | None:
        """A message on the direct socket: one frame from a connection (its routing id first)."""
        rid = frames[0].bytes
        if len(frames) != 2:
            return self._direct_frame(rid, None, None)
        frame = frames[1].buffer
        sid = self._direct_sessions.get(rid)
        if sid is not None and len(frame) > self.max_message_bytes:
            why = (f"a message of {len(frame)} bytes exceeds the server's limit "
                   f"GT_MAX_MESSAGE_BYTES={self.max_message_bytes}")
            self._note_rejection(why)
            self._send_direct(rid, wire.encode(wire.Error(why)))
            return None
        return self._direct_frame(rid, sid, frame)

    def _direct_frame(self, rid, sid: int | None, frame) -> int | None:
        """A frame on a direct connection (a routing id, or a local connection): an instruction list of
        the session ``sid`` it was admitted to, else a client's hello presenting its session's secret.
        Anything else is answered ``WorkerLost``: this worker holds no session for that connection."""
        if sid is not None:
            if self._copy_streams:
                self.sock.send_multipart((wire.encode(wire.StreamCopy(sid)), frame), copy=False)
            self._apply(sid, self.sessions[sid], frame)
            return self._restart() if context_lost() is not None else None
        try:
            msg = wire.decode_header(frame) if frame is not None else None
        except wire.WireError:
            msg = None
        if type(msg) is wire.DirectHello:
            session = self.sessions.get(msg.session)
            if session is not None:
                self._admit(msg.session, session, rid, msg.secret)
            elif len(self._early) < 256:  # the dispatcher's SessionOpen may come later: admitted then
                self._early[msg.session] = (rid, msg.secret)
        else:
            self._note_rejection("a message from a direct connection that holds no session")
            self._send_direct(rid, wire.encode(wire.WorkerLost(self.name, self._gone)))
            if type(rid) is not bytes:
                self._close_local(rid)
        return None

    def _admit(self, sid: int, session: _Session, rid, secret: bytes) -> None:
        """Admit a direct connection (a routing id or a local connection) presenting ``session``'s secret,
        or refuse it, saying so."""
        if session.secret and hmac.compare_digest(secret, session.secret):
            if session.rid is not None:
                self._drop_route(session)
            session.rid = rid
            if type(rid) is bytes:
                self._direct_sessions[rid] = sid
            else:
                rid.session = sid
            self._send_direct(rid, wire.encode(wire.DirectWelcome(sid)))
        else:
            self._note_rejection(f"a direct connection presented a wrong secret for session {sid}")
            self._send_direct(rid, wire.encode(wire.Refused("wrong session secret")))
            if type(rid) is not bytes:
                self._close_local(rid)

    def _drop_route(self, session: _Session) -> None:
        """Forget ``session``'s direct connection (a local one is closed)."""
        rid, session.rid = session.rid, None
        if type(rid) is bytes:
            self._direct_sessions.pop(rid, None)
        elif rid is not None:
            self._close_local(rid)

    def _send_direct(self, rid, body: bytes) -> None:
        """Send a frame on a direct connection: a ZeroMQ routing id's, or a local one (dropped when its
        client does not read)."""
        if type(rid) is bytes:
            self.direct.send_multipart((rid, body))
            return
        try:
            rid.send(body)
        except OSError as exc:  # ConnectionError included: gone, or not reading its answers
            log.warning("GT worker %s: dropped a local client connection: %s", self.name, exc)
            self._close_local(rid)
            return
        if rid.waiting:
            self.poller.modify(rid.sock, zmq.POLLIN | zmq.POLLOUT)

    # -- local clients (a plain Unix socket) ------------------------------------------------
    def _on_local(self, fd: int, event: int) -> int | None:
        if self.local is not None and fd == self.local.fileno():
            self._accept_local()
            return None
        conn = self._conns.get(fd)
        if conn is None:
            return None
        try:
            if event & zmq.POLLOUT:
                conn.flush()
                if not conn.waiting:
                    self.poller.modify(conn.sock, zmq.POLLIN)
            if event & zmq.POLLIN:
                while self._conns.get(fd) is conn:   # what the socket holds now, then back to the poll
                    for frame in conn.reader.pull(conn.sock):
                        sid = conn.session
                        if sid is not None and self.sessions.get(sid) is None:
                            raise ConnectionResetError("its session ended")
                        status = self._direct_frame(conn, sid, frame)
                        if status is not None:
                            return status
        except BlockingIOError:
            pass
        except _local.FrameTooLarge as exc:
            why = f"{exc}: the server's limit GT_MAX_MESSAGE_BYTES={self.max_message_bytes}"
            self._note_rejection(why)
            self._send_direct(conn, wire.encode(wire.Error(why)))
            self._close_local(conn)
        except OSError:   # the client went (a reset, a half frame, a closed socket)
            self._close_local(conn)
        return None

    def _accept_local(self) -> None:
        while True:
            try:
                sock, _ = self.local.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:   # out of descriptors: the client's connect is refused, not this loop
                log.warning("GT worker %s: could not accept a local client: %s", self.name, exc)
                return
            conn = _local.Connection(sock, self.max_message_bytes, 2 * self.max_message_bytes + (1 << 16))
            self._conns[conn.fileno()] = conn
            self.poller.register(sock, zmq.POLLIN)
            self._local_poll.register(sock, select.POLLIN)

    def _close_local(self, conn: _local.Connection) -> None:
        if self._conns.get(conn.fileno()) is conn:   # (a closed one's fileno() is -1)
            del self._conns[conn.fileno()]
            self.poller.unregister(conn.sock)
            self._local_poll.unregister(conn.sock)
            conn.close()
        session = self.sessions.get(conn.session) if conn.session is not None else None
        if session is not None and session.rid is conn:
            session.rid = None

    # -- a client's instructions ------------------------------------------------------------
    def _apply(self, sid: int, session: _Session, body) -> None:
        try:
            items = wire.decode_items(body)
        except wire.WireError as exc:
            self._reject(session, str(exc))
            reqs = wire.requests_in(body)
            if reqs:  # its client waits on these: each gets the reason, never silence
                message, session.rejected = session.rejected, None
                self._fail_requests(sid, reqs, message)
            return
        w = session.worker
        Op, Free, params = wire.Op, wire.Free, session.decode_params
        for item in items:
            kind = type(item)
            try:
                if kind is Op:
                    w.submit(item.opcode, item.result, item.inputs, params(item.params), item.scalars)
                elif kind is Free:
                    w.free(item.id)
                elif kind is wire.Boundary:
                    w.mark_boundary(item.region)
                elif kind is wire.Put:
                    w.put(item.id, wire.tensor_from(item.dtype, item.shape, item.data))
                elif kind is wire.Fetch:
                    self._reply(sid, self._fetch(session, item))
                else:
                    self._reply(sid, wire.Ack(item.req))
            except Exception as exc:  # noqa: BLE001 - one client's failure must not stop the worker
                self._reject(session, str(exc) if isinstance(exc, wire.WireError) else f"{type(exc).__name__}: {exc}")
                if kind is wire.Fetch or kind is wire.Sync:   # its client waits: the reason now, not a timeout
                    message, session.rejected = session.rejected, None
                    self._reply(sid, wire.Failure(item.req, message))

    def _answer_orphan(self, sid: int, body) -> None:
        """A stream for a session this worker does not hold: its waits get an error, never silence."""
        self._fail_requests(sid, wire.requests_in(body), f"GT worker {self.name} holds no session {sid} "
                                                         "(it restarted?): this client's tensors are gone")

    def _fail_requests(self, sid: int, reqs: list, message: str) -> None:
        for req in reqs:
            self._reply(sid, wire.Failure(req, message))

    def _note_rejection(self, reason: str) -> None:
        """Count a refused item or message; warn at most once a second, with the count."""
        self._rejections += 1
        now = time.monotonic()
        if now - self._last_reject_log >= 1.0:
            log.warning("GT worker %s: refused %d item(s) of client messages; latest: %s", self.name,
                        self._rejections, reason)
            self._rejections, self._last_reject_log = 0, now

    def _reject(self, session: _Session, reason: str) -> None:
        """Keep the first reason for the client's next sync (and count it)."""
        self._note_rejection(reason)
        if session.rejected is None:
            session.rejected = f"GT worker {self.name} refused a message from this client: {reason}"

    def _fetch(self, session: _Session, item: wire.Fetch):
        if session.rejected is not None:
            message, session.rejected = session.rejected, None
            return wire.Failure(item.req, message)
        try:
            value = session.worker.fetch(item.id)
        except RuntimeError as exc:
            return wire.Failure(item.req, str(exc)[:4000])
        dtype, shape, data = wire.tensor_payload(value)
        if len(data) > self.max_message_bytes:
            return wire.Failure(item.req, f"tensor {item.id} holds {len(data)} bytes, more than the server's "
                                          f"message limit GT_MAX_MESSAGE_BYTES={self.max_message_bytes}")
        return wire.Value(item.req, dtype, shape, data)

    def _reply(self, sid: int, answer) -> None:
        """Answer session ``sid``'s client: on its direct connection when it has one, else via the dispatcher."""
        session = self.sessions.get(sid)
        rid = None if session is None else session.rid
        if type(rid) is bytes:
            direct = self.direct  # two sends: send_multipart's flag arithmetic costs more than a small answer
            direct.send(rid, _SNDMORE)
            direct.send(wire.encode(answer))
        elif rid is not None:
            self._send_direct(rid, wire.encode(answer))
        else:
            self.sock.send_multipart((wire.encode(wire.Reply(sid)), wire.encode(answer)), copy=False)

    def _stats(self, msg: wire.StatsQuery) -> None:
        stats: dict = {"device": self.device}
        own = self.sessions.get(msg.session)
        if own is not None:
            stats.update(own.worker.get_stats())
            table = own.worker.tensors
            if type(table) is _QuotaTable:
                stats["quota"] = {"limit_bytes": table.limit, "held_bytes": table.held, "peak_bytes": table.peak}
        stats["process"] = {"pid": os.getpid(), "clients": len(self.sessions),
                            "tensors": sum(s.worker.get_stats()["tensors"] for s in self.sessions.values()),
                            "params_cache_bytes": sum(s.params_bytes for s in self.sessions.values()),
                            # a CPU worker's threads: all of them ("max_threads") for large work, one for small
                            "threads": torch.get_num_threads(), "max_threads": self._threads}
        self.sock.send(self._stats_encoder.encode(wire.StatsAnswer(msg.req, stats)))
