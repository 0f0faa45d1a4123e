"""``python -m gt.worker --host localhost -p PORT [--device cuda:0|cpu]``: one worker process.

Run one per GPU (``CUDA_VISIBLE_DEVICES`` picks it).  The worker settings are
the embedded worker's GT_* variables; the flags below override them.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from gt import config as _config
from gt.transport import settings as _settings
from gt.worker import distributed
from gt.worker.remote import RESTART, WorkerProcess


def _flag(value: str) -> bool:
    if value not in ("0", "1"):
        raise argparse.ArgumentTypeError(f"expected 0 or 1, got {value!r}")
    return value == "1"


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gt.worker", description="GT worker: executes clients' instructions.")
    ap.add_argument("--host", default="localhost", help="the dispatcher's host (default localhost)")
    ap.add_argument("-p", "--port", type=int, default=12345, help="the dispatcher's port (default 12345)")
    ap.add_argument("--device", help="torch device, e.g. cuda:0 or cpu (default: GT_DEVICE, else cuda:0 if "
                                     "available, else cpu)")
    ap.add_argument("--name", help="the name clients see in errors and stats (default host-pid-device)")
    ap.add_argument("--batch-size", type=_positive, help="GT_WORKER_BATCH_SIZE")
    ap.add_argument("--direct-host", default=None,
                    help="address the worker binds for its clients' direct connections (a free port); '*': every "
                         "interface, named to clients by this machine's host name; 'off': clients go through the "
                         "server (default: the server's host when it is this machine's loopback, else '*')")
    ap.add_argument("--curve-keys", metavar="DIR", help="GT_CURVE_KEYS: the server's ZeroMQ CURVE key directory")
    ap.add_argument("--max-client-mb", type=_positive,
                    help="memory quota of each client's tensors on this worker (default: none)")
    ap.add_argument("--auto-compile", type=_flag, metavar="0|1", help="GT_AUTO_COMPILE")
    ap.add_argument("--hotpath-threshold", type=_positive, help="GT_HOTPATH_THRESHOLD")
    ap.add_argument("--compile", type=_flag, metavar="0|1", help="GT_COMPILE")
    ap.add_argument("--heartbeat-interval", type=float, help="GT_HEARTBEAT_INTERVAL (seconds)")
    ap.add_argument("--heartbeat-timeout", type=float, help="GT_HEARTBEAT_TIMEOUT (seconds)")
    ap.add_argument("--exit-with-parent", type=int, metavar="PID", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    try:
        config = _config.from_env()
        cfg = _settings.from_env()
        host, port = _settings.parse_address(f"{args.host}:{args.port}")
    except (_config.ConfigError, ValueError) as exc:
        ap.error(str(exc))
    config = dataclasses.replace(config, **{k: v for k, v in (
        ("auto_compile", args.auto_compile), ("hot_threshold", args.hotpath_threshold), ("compile", args.compile),
        ("batch_size", args.batch_size)) if v is not None})
    try:
        cfg = _settings.with_flags(cfg, heartbeat_interval=args.heartbeat_interval,
                                   heartbeat_timeout=args.heartbeat_timeout, curve_keys=args.curve_keys)
    except _config.ConfigError as exc:
        ap.error(str(exc))
    direct_host = args.direct_host
    if direct_host is None:
        direct_host = "127.0.0.1" if host == "localhost" else host if host in ("127.0.0.1", "::1") else "*"
    distributed.init_from_env(args.device or config.device)
    worker = WorkerProcess(_settings.tcp_endpoint(host, port), device=args.device, name=args.name, cfg=cfg,
                           config=config, batch_size=args.batch_size, exit_with_parent=args.exit_with_parent,
                           max_client_mb=args.max_client_mb, direct_host=None if direct_host == "off" else direct_host)
    try:
        status = worker.serve()
    except KeyboardInterrupt:
        return 0
    if status == RESTART:   # a lost CUDA context cannot be mended in this process: start afresh
        os.execv(sys.executable, [sys.executable, "-m", "gt.worker", *(sys.argv[1:] if argv is None else argv)])
    return status


if __name__ == "__main__":
    sys.exit(main())
