"""ZeroMQ CURVE for remote mode: ``GT_CURVE_KEYS=DIR`` (or ``--curve-keys DIR``) on every process.

With it, every connection (client and worker to the server, heartbeats, a
client to its worker's direct socket) is encrypted and both ends are
authenticated by their keys: the client and the worker know the server's
public key (and the client the workers'), so a peer cannot talk to an impostor
server or worker, and the server and the workers admit only the public keys in
``DIR/authorized/`` (a ZAP handler, before any message arrives).  ``GT_TOKEN``
and ``GT_WORKER_TOKEN`` are still checked on top.

``python -m gt.server --make-curve-keys DIR`` makes a directory of keys (each a
ZeroMQ certificate pair ``NAME.key`` / ``NAME.key_secret``):

- ``server``: the server's pair (the server needs its secret; everyone its public key);
- ``worker``: the workers' pair (workers need its secret; clients its public key);
- ``client``: the clients' pair (clients need its secret);
- ``authorized/``: the public keys the server and the workers admit (``worker.key``, ``client.key``).

On one machine the whole directory serves everyone; across machines give each
host only the files its role needs.
"""
from __future__ import annotations

import os
import shutil

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from gt.config import ConfigError


def make_keys(directory: str) -> None:
    """Write the server's, the workers' and the clients' key pairs and ``authorized/`` to ``directory``."""
    authorized = os.path.join(directory, "authorized")
    os.makedirs(authorized, mode=0o700, exist_ok=True)
    for name in ("server", "worker", "client"):
        zmq.auth.create_certificates(directory, name)
        os.chmod(os.path.join(directory, f"{name}.key_secret"), 0o600)
    for name in ("worker", "client"):
        shutil.copy(os.path.join(directory, f"{name}.key"), authorized)


class Keys:
    """The keys in ``directory``, applied to sockets as a role needs them."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _load(self, name: str) -> tuple[bytes, bytes | None]:
        path = os.path.join(self.directory, name)
        try:
            return zmq.auth.load_certificate(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"GT_CURVE_KEYS={self.directory}: cannot read {path} ({exc}); "
                              "make a key directory with python -m gt.server --make-curve-keys DIR") from None

    def serve(self, sock: zmq.Socket, name: str) -> None:
        """Make ``sock`` (before it binds) a CURVE server with the key pair ``name``."""
        public, secret = self._load(f"{name}.key_secret")
        sock.curve_server = True
        sock.curve_publickey, sock.curve_secretkey = public, secret

    def client(self, sock: zmq.Socket, server: str, own: str) -> None:
        """Make ``sock`` (before it connects) a CURVE client of the holder of key ``server``, as ``own``."""
        sock.curve_serverkey = self._load(f"{server}.key")[0]
        sock.curve_publickey, sock.curve_secretkey = self._load(f"{own}.key_secret")

    def authenticator(self, ctx: zmq.Context) -> ThreadAuthenticator:
        """The ZAP handler of ``ctx``: admits the public keys in ``authorized/``, from any address."""
        location = os.path.join(self.directory, "authorized")
        if not os.path.isdir(location):
            raise ConfigError(f"GT_CURVE_KEYS={self.directory}: no directory {location} of admitted public keys")
        auth = ThreadAuthenticator(ctx, log=None)
        auth.start()
        auth.configure_curve(domain="gt", location=location)  # the sockets' zap_domain
        return auth

