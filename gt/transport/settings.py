"""Remote mode's settings: GT_SERVER, GT_TOKEN, timeouts and limits, read and checked once.

The dispatcher, the worker process and the client read the same variables; the
command-line flags of ``python -m gt.server`` / ``python -m gt.worker`` override them.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from gt.config import ConfigError, flag, positive_int

DEFAULT_HEARTBEAT_INTERVAL = 1.0
# A lost peer is noticed within interval + timeout = 11 s, inside the 15 s the
# issue allows, while a busy peer (its heartbeat thread starved for seconds) is not
# declared dead.
DEFAULT_HEARTBEAT_TIMEOUT = 10.0
DEFAULT_CONNECT_TIMEOUT = 15.0
DEFAULT_MAX_MESSAGE_BYTES = 1 << 30
DEFAULT_INSTRUCTION_LOG_MAX_MB = 256


def _positive_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name}={raw!r}: must be a positive finite number")
    return value


def parse_address(address: str) -> tuple[str, int]:
    """``"host:port"`` -> (host, port), or ValueError naming what is wrong."""
    if not isinstance(address, str):
        raise TypeError(f"a GT server address is a 'host:port' string, got {type(address).__name__}")
    host, sep, port = address.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad GT server address {address!r}: expected 'host:port' with a port in 1..65535")
    return host, int(port)


def worker_token_path(port: int) -> str:
    """Where a server without GT_WORKER_TOKEN keeps the worker credential it made (readable by its user only)."""
    return os.path.join(os.path.expanduser("~"), ".gt", f"worker-token-{port}")


def worker_token(cfg: "RemoteSettings", port: int) -> str:
    """The credential a worker presents: GT_WORKER_TOKEN, else the one a server on this machine wrote."""
    if cfg.worker_token:
        return cfg.worker_token
    try:
        with open(worker_token_path(port)) as f:
            return f.read().strip()
    except OSError:
        return ""


def format_address(host: str, port: int) -> str:
    """``host:port``, an IPv6 host in brackets (``[::1]:12345``), as GT_SERVER takes it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def tcp_endpoint(host: str, port: int) -> str:
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


@dataclass(frozen=True)
class RemoteSettings:
    server: str | None
    token: str
    worker_token: str
    heartbeat_interval: float
    heartbeat_timeout: float
    connect_timeout: float
    max_message_bytes: int
    instruction_log: str | None
    instruction_log_max_mb: int
    direct: bool = True  # a client talks to its worker directly when it can (GT_DIRECT=0: always via the server)
    curve_keys: str | None = None  # GT_CURVE_KEYS: encrypt and authenticate every connection (gt.transport.curve)


def from_env() -> RemoteSettings:
    """Read GT_SERVER, GT_TOKEN, GT_WORKER_TOKEN, GT_HEARTBEAT_INTERVAL, GT_HEARTBEAT_TIMEOUT, GT_CONNECT_TIMEOUT,
    GT_MAX_MESSAGE_BYTES, GT_INSTRUCTION_LOG, GT_INSTRUCTION_LOG_MAX_MB, GT_DIRECT and GT_CURVE_KEYS."""
    server = os.environ.get("GT_SERVER", "").strip() or None
    if server is not None:
        try:
            parse_address(server)
        except ValueError as exc:
            raise ConfigError(f"GT_SERVER: {exc}") from None
    return _checked(RemoteSettings(
        server=server,
        token=os.environ.get("GT_TOKEN", ""),
        worker_token=os.environ.get("GT_WORKER_TOKEN", ""),
        heartbeat_interval=_positive_float("GT_HEARTBEAT_INTERVAL", DEFAULT_HEARTBEAT_INTERVAL),
        heartbeat_timeout=_positive_float("GT_HEARTBEAT_TIMEOUT", DEFAULT_HEARTBEAT_TIMEOUT),
        connect_timeout=_positive_float("GT_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT),
        max_message_bytes=positive_int("GT_MAX_MESSAGE_BYTES", DEFAULT_MAX_MESSAGE_BYTES),
        instruction_log=os.environ.get("GT_INSTRUCTION_LOG", "").strip() or None,
        instruction_log_max_mb=positive_int("GT_INSTRUCTION_LOG_MAX_MB", DEFAULT_INSTRUCTION_LOG_MAX_MB),
        direct=flag("GT_DIRECT", "1"),
        curve_keys=os.environ.get("GT_CURVE_KEYS", "").strip() or None,
    ))


def with_flags(cfg: RemoteSettings, **flags) -> RemoteSettings:
    """``cfg`` with the command-line flags that were given (not None), checked as the variables are."""
    cfg = dataclasses.replace(cfg, **{k: v for k, v in flags.items() if v is not None})
    for name in ("heartbeat_interval", "heartbeat_timeout", "max_message_bytes", "instruction_log_max_mb"):
        if not getattr(cfg, name) > 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(cfg, name)}")
    return _checked(cfg)


def _checked(cfg: RemoteSettings) -> RemoteSettings:
    if cfg.heartbeat_timeout <= cfg.heartbeat_interval:
        raise ConfigError(f"the heartbeat timeout ({cfg.heartbeat_timeout} s, GT_HEARTBEAT_TIMEOUT) must exceed "
                          f"the heartbeat interval ({cfg.heartbeat_interval} s, GT_HEARTBEAT_INTERVAL)")
    return cfg
