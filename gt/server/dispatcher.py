"""The dispatcher: one ROUTER socket that admits clients and workers and routes between them.

Clients and workers both connect to the one port the user names (one socket
also means one address to open, tunnel or firewall).  Each peer's first
message says what it is (``ClientHello`` / ``WorkerHello``); the dispatcher
checks the token and protocol version, then:

- assigns each client a session on the least loaded worker (fewest sessions),
  with a random per-session secret; a worker that takes direct connections gets
  the secret, the client gets the secret and the worker's address, and from then
  on talks to its worker directly (the worker checks the secret, and copies each
  stream to the dispatcher for the instruction log while there is one);
- for a client that cannot or may not connect directly (``GT_DIRECT=0``),
  forwards its instruction streams to the worker, and the worker's answers back,
  without decoding either body;
- tracks liveness from heartbeats: a silent worker is dropped and every client
  on it is told (``WorkerLost``), which its next sync point raises; a silent or
  departed client's session is closed on its worker, which frees its tensors;
- gathers every worker's statistics for ``gt.debug.get_worker_stats()``;
- forms data-parallel groups: a client asking for n workers (``GroupRequest``) gets n idle
  ones (no group, no other client's session); rank 0 opens a rendezvous on a free port of its
  machine and reports it, the others are sent there, and once every rank has joined the client
  gets their names in rank order and connects to each by name.  A group that has not formed
  within ``GROUP_TIMEOUT`` (a rank died or hung) fails with an error naming the ranks missing;
  the group ends when its client leaves.

Access: with a token (``GT_TOKEN``) a client must present it; without one, a
ZAP handler admits only loopback addresses, so nothing from another host even
completes the ZeroMQ handshake.  Workers present their own credential
(``GT_WORKER_TOKEN``, else one this server writes for its user), so neither a
client nor another local user can pose as a worker.  An address that presents a
wrong credential has its next hellos checked only after a growing pause (guessing
is slow), and refusals are logged in aggregate.  A malformed message is logged
(rate limited) and dropped; a registered client also gets an ``Error`` back.
"""
from __future__ import annotations

import hmac
import itertools
import logging
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import zmq

from gt.server.instruction_log import InstructionLog
from gt.transport import settings as _settings
from gt.transport.curve import Keys
from gt.transport import wire

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "::1")
_FORWARD = wire.encode(wire.Forward())


@dataclass
class _Peer:
    rid: bytes
    pid: int
    last_seen: float


@dataclass
class _WorkerPeer(_Peer):
    name: str = ""
    device: str = ""
    direct: str = ""  # endpoint of the worker's direct socket ("": none)
    local: str = ""  # ... for clients on the worker's machine
    sessions: set = field(default_factory=set)
    group: "_Group | None" = None


@dataclass
class _ClientPeer(_Peer):
    session: int = 0
    worker: _WorkerPeer | None = None
    deliver: bytes = b""  # the Deliver header of this client's streams, encoded once
    lost: wire.WorkerLost | None = None


@dataclass
class _Group:
    """A data-parallel group formed for ``client``: ``workers`` in rank order."""
    name: str
    client: _ClientPeer
    req: int
    workers: list
    deadline: float
    ready: set = field(default_factory=set)
    formed: bool = False


@dataclass
class _Guard:
    """An address that presented a wrong credential: its hellos wait until ``until``."""
    failures: int = 0
    until: float = 0.0
    queue: deque = field(default_factory=deque)


_GUARD_BASE = 0.05     # s; doubles with each wrong credential from an address...
_GUARD_MAX = 2.0       # ... up to this: about one guess per 2 s per address
_GUARD_QUEUE = 16      # hellos kept waiting per address
_GUARD_FORGET = 600.0  # s without a wrong credential before an address starts afresh
_GUARD_ADDRESSES = 10_000


@dataclass
class _Gather:
    client: _ClientPeer
    req: int
    waiting: set
    stats: dict


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host == "localhost"


class _LoopbackOnly:
    """ZeroMQ's ZAP handler (a thread): admits loopback peers only.  A refused peer's handshake
    fails (its socket monitor sees it, which GT's client turns into an error naming the reason);
    refusals are logged here in aggregate."""

    ADMITTED = frozenset((*LOOPBACK, "::ffff:127.0.0.1"))  # an IPv6 socket sees IPv4 peers mapped
    REASON = b"without GT_TOKEN this GT server admits only connections from its own machine"

    def __init__(self, ctx: zmq.Context) -> None:
        self._sock = ctx.socket(zmq.REP)
        self._sock.linger = 0
        self._sock.bind("inproc://zeromq.zap.01")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gt-zap", daemon=True)
        self._thread.start()

    def stop(self) -> None:  # as zmq.auth's ThreadAuthenticator, used instead of this with CURVE
        self._stop.set()
        self._thread.join()
        self._sock.close(0)

    def _run(self) -> None:
        refused, last_log, sock = 0, -1e9, self._sock
        while not self._stop.is_set():
            if not sock.poll(100):
                continue
            msg = sock.recv_multipart()
            address = msg[3].decode("utf-8", "replace") if len(msg) >= 6 else "?"
            ok = address in self.ADMITTED
            sock.send_multipart([b"1.0", msg[1] if len(msg) > 1 else b"", b"200" if ok else b"400",
                                 b"OK" if ok else self.REASON, b"", b""])
            if not ok:
                refused += 1
                now = time.monotonic()
                if now - last_log >= 10.0:
                    log.warning("GT server: refused %d connection(s) from outside this machine (latest from %s): "
                                "without GT_TOKEN only loopback peers are admitted", refused, address)
                    refused, last_log = 0, now


class Dispatcher:
    """Routes clients to workers on ``tcp://host:port`` (port 0: any free port, see ``self.port``)."""

    GROUP_TIMEOUT = 12.0  # s: a group not formed by then fails (workers' GT_DP_TIMEOUT is 10 s)

    def __init__(self, host: str = "127.0.0.1", port: int = 0, cfg: _settings.RemoteSettings | None = None,
                 exit_with_parent: int | None = None) -> None:
        self.cfg = cfg if cfg is not None else _settings.from_env()
        self._token = self.cfg.token.encode()
        self._exit_with_parent = exit_with_parent
        self.ctx = zmq.Context()
        # CURVE: only the authorized keys may talk to us, encrypted.  Else, without a token, only this
        # machine.  The ZAP handler checks either during the handshake, before any message arrives.
        keys = Keys(self.cfg.curve_keys) if self.cfg.curve_keys else None
        if keys is not None:
            self._auth = keys.authenticator(self.ctx)
        else:
            self._auth = None if self._token else _LoopbackOnly(self.ctx)
        if not is_loopback(host) and keys is None:
            log.warning("GT server: listening on %s, reachable from other machines; %s", host,
                        "peers must present GT_TOKEN (sent in clear: use a private network or a tunnel)"
                        if self._token else "without GT_TOKEN only loopback peers are admitted")
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.ipv6 = True  # IPv4 still works: an IPv6 socket takes both
        self.sock.zap_domain = b"gt"
        if keys is not None:
            keys.serve(self.sock, "server")
        self.sock.linger = 0
        # A message over the limit is answered with an error naming it; ZeroMQ itself drops the
        # connection only of a peer sending twice the limit (no GT client does).
        self.sock.maxmsgsize = 2 * self.cfg.max_message_bytes + (1 << 16)
        # Flow is bounded by the clients' send windows, never by dropping here.
        self.sock.sndhwm = self.sock.rcvhwm = 0
        endpoint = _settings.tcp_endpoint(host, port)
        if port == 0:
            self.port = self.sock.bind_to_random_port(endpoint.rsplit(":", 1)[0])
        else:
            self.sock.bind(endpoint)
            self.port = port
        self.host = host
        self._worker_token, self._worker_token_file = self._make_worker_token()
        self._guards: dict[str, _Guard] = {}
        self._refusals = 0  # wrong credentials since the last aggregate log line
        self._last_refusal_log = 0.0
        self._peers: dict[bytes, _Peer] = {}
        self._workers: list[_WorkerPeer] = []
        self._sessions: dict[int, _ClientPeer] = {}
        self._waiting: list[_ClientPeer] = []
        self._gathers: dict[int, _Gather] = {}
        self._next_session = itertools.count(1).__next__
        self._next_gather = itertools.count(1).__next__
        self._groups: dict[str, _Group] = {}
        self._next_group = itertools.count(1).__next__
        self._log = (InstructionLog(self.cfg.instruction_log, self.cfg.instruction_log_max_mb << 20)
                     if self.cfg.instruction_log else None)
        self._dropped = 0
        self._last_drop_log = 0.0
        self._running = True

    # -- main loop ------------------------------------------------------------------------
    def serve(self) -> None:
        """Serve until ``stop()`` (or SIGINT / the parent's exit with ``exit_with_parent``)."""
        log.info("GT server listening on %s:%d (%s%s)", self.host, self.port,
                 "token required" if self._token else "no token", ", CURVE keys of " + self.cfg.curve_keys
                 if self.cfg.curve_keys else "" if self._token else ", loopback peers only")
        tick = self.cfg.heartbeat_interval
        next_check = time.monotonic() + tick
        try:
            while self._running:
                if self.sock.poll(tick * 1e3):
                    for _ in range(1000):  # bounded, so liveness checks still run under load
                        try:
                            frames = self.sock.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        try:
                            self._handle(frames)
                        except Exception:  # noqa: BLE001 - one message must never stop the server
                            log.exception("GT server: failed on a message; dropped it")
                now = time.monotonic()
                if now >= next_check:
                    next_check = now + tick
                    self._reap(now)
                    self._release_guarded(now)
                    if self._exit_with_parent is not None and os.getppid() != self._exit_with_parent:
                        log.info("GT server: parent process %d exited; stopping", self._exit_with_parent)
                        break
        finally:
            self.close()

    def _make_worker_token(self) -> tuple[bytes, str | None]:
        """The credential workers must present (never the clients' token): GT_WORKER_TOKEN, else a
        random one written where only this user can read it, for workers on this machine."""
        if self.cfg.worker_token:
            return self.cfg.worker_token.encode(), None
        token = secrets.token_hex(24)
        path = _settings.worker_token_path(self.port)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
        os.replace(tmp, path)
        log.info("GT server: worker credential in %s (workers of this user on this machine read it; "
                 "elsewhere set GT_WORKER_TOKEN on the server and its workers)", path)
        return token.encode(), path

    def stop(self) -> None:
        self._running = False

    def close(self) -> None:
        if self._worker_token_file is not None:
            try:
                with open(self._worker_token_file) as f:
                    ours = f.read().strip().encode() == self._worker_token
                if ours:  # a server started since on this port keeps its own
                    os.remove(self._worker_token_file)
            except OSError:
                pass
            self._worker_token_file = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        self.sock.close(0)
        self.ctx.term()

    # -- messages --------------------------------------------------------------------------
    def _drop(self, rid: bytes, why: str) -> None:
        """Log (at most once a second, with a count) and forget a message."""
        self._dropped += 1
        now = time.monotonic()
        if now - self._last_drop_log >= 1.0:
            log.warning("GT server: dropped %d message(s); latest from peer %s: %s", self._dropped, rid.hex()[:12],
                        why)
            self._dropped = 0
            self._last_drop_log = now

    def _send(self, rid: bytes, *frames) -> None:
        try:
            self.sock.send_multipart((rid, *frames), zmq.NOBLOCK, copy=False)
        except zmq.ZMQError as exc:  # the peer vanished: its heartbeat silence handles it
            log.debug("GT server: could not send to %s: %s", rid.hex()[:12], exc)

    def _handle(self, frames: list) -> None:
        rid = frames[0].bytes
        if not 2 <= len(frames) <= 3:
            self._drop(rid, f"{len(frames) - 1} frames (expected 1 or 2)")
            return
        try:
            msg = wire.decode_header(frames[1].buffer)
        except wire.WireError as exc:
            self._drop(rid, str(exc))
            peer = self._peers.get(rid)
            if isinstance(peer, _ClientPeer):
                self._send(rid, wire.encode(wire.Error(str(exc))))
            return
        kind = type(msg)
        body = frames[2] if len(frames) == 3 else None
        if body is not None and len(body.buffer) > self.cfg.max_message_bytes:
            why = (f"a message of {len(body.buffer)} bytes exceeds the server's limit "
                   f"GT_MAX_MESSAGE_BYTES={self.cfg.max_message_bytes}")
            self._drop(rid, why)
            if rid in self._peers:
                self._send(rid, wire.encode(wire.Error(why)))
            return
        now = time.monotonic()
        if kind is wire.Ping:
            target = self._peers.get(msg.link)
            if target is not None:
                target.last_seen = now
            self._send(rid, wire.encode(wire.Pong(target is not None)))
            return
        peer = self._peers.get(rid)
        if kind is wire.ClientHello or kind is wire.WorkerHello:
            self._guarded_hello(frames[1].get("Peer-Address"), rid, msg, now)
            return
        if peer is None:
            self._drop(rid, f"{kind.__name__} from a peer that has not said hello")
            return
        peer.last_seen = now
        if isinstance(peer, _ClientPeer):
            self._from_client(peer, msg, body)
        else:
            self._from_worker(peer, msg, body)

    # -- admission ---------------------------------------------------------------------------
    def _guarded_hello(self, address: str, rid: bytes, msg, now: float) -> None:
        """Credentials are checked at most once per penalty period per address once one was wrong:
        hellos arriving meanwhile wait their turn (a bounded queue), so guessing is slow."""
        guard = self._guards.get(address)
        if guard is not None and (now < guard.until or guard.queue):
            if len(guard.queue) < _GUARD_QUEUE:
                guard.queue.append((rid, msg))
            else:
                self._refused(address, "hello dropped: too many waiting")
            return
        self._hello(address, rid, msg, now)

    def _release_guarded(self, now: float) -> None:
        for address, guard in list(self._guards.items()):
            if now >= guard.until and guard.queue:
                rid, msg = guard.queue.popleft()
                self._hello(address, rid, msg, now)
            elif not guard.queue and now - guard.until > _GUARD_FORGET:
                del self._guards[address]

    def _refused(self, address: str, why: str) -> None:
        """Count a refused hello; logged in aggregate, at most every 10 s."""
        self._refusals += 1
        now = time.monotonic()
        if now - self._last_refusal_log >= 10.0:
            log.warning("GT server: refused %d hello(s) since the last such line (latest from %s: %s)",
                        self._refusals, address or "?", why)
            self._refusals = 0
            self._last_refusal_log = now

    def _hello(self, address: str, rid: bytes, msg, now: float) -> None:
        if msg.version != wire.PROTOCOL_VERSION:
            self._send(rid, wire.encode(wire.Refused(
                f"protocol version {msg.version} != the server's {wire.PROTOCOL_VERSION}: same GT on both sides")))
            return
        is_worker = type(msg) is wire.WorkerHello
        expected = self._worker_token if is_worker else self._token
        if (expected or is_worker) and not hmac.compare_digest(msg.token.encode(), expected):
            guard = self._guards.get(address)
            if guard is None:
                if len(self._guards) >= _GUARD_ADDRESSES:
                    self._guards.clear()
                guard = self._guards[address] = _Guard()
            guard.failures += 1
            guard.until = now + min(_GUARD_BASE * 2 ** guard.failures, _GUARD_MAX)
            self._refused(address, f"wrong {'worker credential' if is_worker else 'token'} (pid {msg.pid})")
            self._send(rid, wire.encode(wire.Refused(
                f"wrong worker credential: set GT_WORKER_TOKEN to the server's (on the server's machine a "
                f"server without it writes one to {_settings.worker_token_path(self.port)})" if is_worker
                else "wrong token: set GT_TOKEN to the server's token")))
            return
        peer = self._peers.get(rid)
        if peer is not None:  # the same connection says hello again: start it over
            self._forget(peer, "it registered again")
        if type(msg) is wire.ClientHello:
            client = _ClientPeer(rid, msg.pid, now, session=self._next_session())
            self._peers[rid] = client
            self._sessions[client.session] = client
            if msg.worker:
                self._assign_named(client, msg.worker)
            elif self._workers:
                self._assign(client)
            else:
                log.info("GT server: client %d (pid %d) waits for a worker", client.session, msg.pid)
                self._waiting.append(client)
            return
        name = msg.name
        taken = {w.name for w in self._workers}
        for i in itertools.count(2):
            if name not in taken:
                break
            name = f"{msg.name}#{i}"
        worker = _WorkerPeer(rid, msg.pid, now, name=name, device=msg.device, direct=msg.direct,
                             local=msg.local if msg.direct else "")
        self._peers[rid] = worker
        self._workers.append(worker)
        log.info("GT server: worker %s (%s, pid %d) joined", name, msg.device, msg.pid)
        self._send(rid, wire.encode(wire.Welcome(name, msg.device, 0, self.cfg.max_message_bytes,
                                                 self._log is not None)))
        waiting, self._waiting = self._waiting, []
        for client in waiting:
            self._assign(client)

    def _assign_named(self, client: _ClientPeer, name: str) -> None:
        """A connection to one worker of this client's group (the client process is named by its
        address and pid, as it has no other name before this connection says hello)."""
        worker = next((w for w in self._workers if w.name == name), None)
        if worker is None or worker.group is None or (worker.group.client.pid != client.pid):
            self._forget(client, f"it asked for worker {name}, not of a group of its process")
            self._send(client.rid, wire.encode(wire.Refused(f"no worker {name} in a group formed for this client")))
            return
        self._assign(client, worker)

    def _assign(self, client: _ClientPeer, worker: _WorkerPeer | None = None) -> None:
        if worker is None:  # grouped workers serve their group's client: others go elsewhere while they can
            worker = min(self._workers, key=lambda w: (w.group is not None, len(w.sessions)))
        client.worker = worker
        client.deliver = wire.encode(wire.Deliver(client.session))
        worker.sessions.add(client.session)
        secret = secrets.token_bytes(24) if worker.direct else b""
        self._send(worker.rid, wire.encode(wire.SessionOpen(client.session, secret)))
        self._send(client.rid, wire.encode(wire.Welcome(worker.name, worker.device, client.session,
                                                        self.cfg.max_message_bytes, self._log is not None,
                                                        worker.direct, secret, worker.local)))
        log.info("GT server: client %d (pid %d) -> worker %s", client.session, client.pid, worker.name)

    def _from_client(self, client: _ClientPeer, msg, body) -> None:
        kind = type(msg)
        if kind is wire.Stream:
            if body is None:
                self._drop(client.rid, "Stream without a body")
            elif client.lost is not None:
                self._send(client.rid, wire.encode(client.lost))
            elif client.worker is None:
                self._send(client.rid, wire.encode(wire.Error("instructions before the server assigned a worker")))
            else:
                if self._log is not None:
                    self._log.record(client.session, client.worker.name, body)
                self._send(client.worker.rid, client.deliver, body)
        elif kind is wire.StatsRequest:
            self._gather_stats(client, msg.req)
        elif kind is wire.GroupRequest:
            self._form_group(client, msg.req, msg.n)
        elif kind is wire.Bye:
            self._forget(client, "it said goodbye")
        else:
            self._drop(client.rid, f"a client may not send {kind.__name__}")

    def _from_worker(self, worker: _WorkerPeer, msg, body) -> None:
        kind = type(msg)
        if kind is wire.Reply:
            client = self._sessions.get(msg.session)
            if body is not None and client is not None and client.worker is worker:
                self._send(client.rid, _FORWARD, body)
        elif kind is wire.StreamCopy:
            client = self._sessions.get(msg.session)
            if self._log is not None and body is not None and client is not None and client.worker is worker:
                self._log.record(client.session, worker.name, body)
        elif kind is wire.StatsAnswer:
            gather = self._gathers.get(msg.req)
            if gather is not None and worker.rid in gather.waiting:
                gather.waiting.discard(worker.rid)
                gather.stats[worker.name] = msg.stats
                self._finish_gather(msg.req)
        elif kind is wire.GroupStatus:
            self._group_status(worker, msg)
        else:
            self._drop(worker.rid, f"a worker may not send {kind.__name__}")

    # -- stats ------------------------------------------------------------------------------
    def _gather_stats(self, client: _ClientPeer, req: int) -> None:
        key = self._next_gather()
        self._gathers[key] = _Gather(client, req, {w.rid for w in self._workers}, {})
        for w in self._workers:
            self._send(w.rid, wire.encode(wire.StatsQuery(key, client.session if client.worker is w else 0)))
        self._finish_gather(key)

    def _finish_gather(self, key: int) -> None:
        gather = self._gathers[key]
        if not gather.waiting:
            del self._gathers[key]
            if gather.client.rid in self._peers:
                self._send(gather.client.rid, wire.encode(wire.StatsResult(gather.req, gather.stats)))

    # -- data-parallel groups ------------------------------------------------------------------
    def _form_group(self, client: _ClientPeer, req: int, n: int) -> None:
        if any(g.client is client for g in self._groups.values()):
            self._send(client.rid, wire.encode(wire.GroupFormed(req, [], "this client already has a group")))
            return
        idle = [w for w in self._workers if w.group is None and w.sessions <= {client.session}]
        if len(idle) < n or n < 1:
            self._send(client.rid, wire.encode(wire.GroupFormed(
                req, [], f"the GT server has {len(idle)} idle worker(s) of the {n} asked for "
                         f"({len(self._workers)} registered)", retry=n >= 1)))
            return
        group = _Group(f"gt-group{self._next_group()}", client, req, idle[:n], time.monotonic() + self.GROUP_TIMEOUT)
        self._groups[group.name] = group
        for w in group.workers:
            w.group = group
        log.info("GT server: forming group %s for client %d: %s", group.name, client.session,
                 ", ".join(w.name for w in group.workers))
        self._send(group.workers[0].rid, wire.encode(wire.GroupJoin(group.name, 0, n)))

    def _group_status(self, worker: _WorkerPeer, msg: wire.GroupStatus) -> None:
        group = worker.group
        if group is None or group.name != msg.group or group.formed:
            return
        rank = group.workers.index(worker)
        if msg.error:
            self._end_group(group, f"worker {worker.name} (rank {rank}) could not join ({msg.error}); not joined "
                                   f"yet: {self._not_ready(group)}")
        elif msg.init and rank == 0:
            for r, w in enumerate(group.workers[1:], 1):
                self._send(w.rid, wire.encode(wire.GroupJoin(group.name, r, len(group.workers), msg.init)))
        elif msg.ready:
            group.ready.add(worker.name)
            if len(group.ready) == len(group.workers):
                group.formed = True
                log.info("GT server: group %s formed", group.name)
                self._send(group.client.rid, wire.encode(wire.GroupFormed(group.req, [w.name for w in group.workers])))

    def _end_group(self, group: _Group, why: str) -> None:
        """Free the group's workers; a group still forming fails its client's request with ``why``."""
        self._groups.pop(group.name, None)
        for w in group.workers:
            if w.group is group:
                w.group = None
                self._send(w.rid, wire.encode(wire.GroupLeave(group.name)))
        if not group.formed:
            log.warning("GT server: group %s failed: %s", group.name, why)
            self._send(group.client.rid, wire.encode(wire.GroupFormed(group.req, [], f"group {group.name}: {why}")))
        else:
            log.info("GT server: group %s ended: %s", group.name, why)

    # -- liveness ---------------------------------------------------------------------------
    def _reap(self, now: float) -> None:
        limit = self.cfg.heartbeat_timeout
        for peer in [p for p in self._peers.values() if now - p.last_seen > limit]:
            self._forget(peer, f"no heartbeat for {now - peer.last_seen:.1f} s")
        for group in [g for g in self._groups.values() if not g.formed and now > g.deadline]:
            self._end_group(group, f"worker(s) {self._not_ready(group)} did not join within "
                                   f"{self.GROUP_TIMEOUT:.0f} s")

    @staticmethod
    def _not_ready(group: _Group) -> str:
        return ", ".join(f"{w.name} (rank {r})" for r, w in enumerate(group.workers) if w.name not in group.ready)

    def _forget(self, peer: _Peer, why: str) -> None:
        self._peers.pop(peer.rid, None)
        if isinstance(peer, _ClientPeer):
            self._sessions.pop(peer.session, None)
            if self._log is not None:
                self._log.forget(peer.session)
            if peer in self._waiting:
                self._waiting.remove(peer)
            if peer.worker is not None and peer.lost is None:
                peer.worker.sessions.discard(peer.session)
                self._send(peer.worker.rid, wire.encode(wire.SessionClose(peer.session)))
            for group in [g for g in self._groups.values() if g.client is peer]:
                self._end_group(group, f"its client left ({why})")
            log.info("GT server: client %d (pid %d) left: %s", peer.session, peer.pid, why)
            return
        self._workers.remove(peer)
        if peer.group is not None and not peer.group.formed:
            self._end_group(peer.group, f"worker {peer.name} was lost while the group formed ({why})")
        log.warning("GT server: worker %s (pid %d) lost: %s; %d client(s) affected", peer.name, peer.pid, why,
                    len(peer.sessions))
        lost = wire.WorkerLost(peer.name, why)
        for session in peer.sessions:
            client = self._sessions.get(session)
            if client is not None:
                client.lost = lost
                self._send(client.rid, wire.encode(lost))
        for key, gather in list(self._gathers.items()):
            if peer.rid in gather.waiting:
                gather.waiting.discard(peer.rid)
                self._finish_gather(key)
