"""``python -m gt.server -p PORT [--host 127.0.0.1]``: run the dispatcher until interrupted."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from gt.config import ConfigError
from gt.server.dispatcher import Dispatcher
from gt.transport import settings as _settings
from gt.transport.curve import make_keys

log = logging.getLogger("gt.server")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gt.server", description="GT dispatcher: routes clients to workers.")
    ap.add_argument("-p", "--port", type=int, default=12345, help="TCP port (0: any free port; default 12345)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    ap.add_argument("--heartbeat-interval", type=float, help="seconds between heartbeats (GT_HEARTBEAT_INTERVAL)")
    ap.add_argument("--heartbeat-timeout", type=float,
                    help="seconds of silence after which a peer is lost (GT_HEARTBEAT_TIMEOUT)")
    ap.add_argument("--max-message-bytes", type=int, help="largest message accepted (GT_MAX_MESSAGE_BYTES)")
    ap.add_argument("--instruction-log", help="write one line per instruction to this file (GT_INSTRUCTION_LOG)")
    ap.add_argument("--instruction-log-max-mb", type=int,
                    help="rotate the instruction log at this size, keeping one older file (GT_INSTRUCTION_LOG_MAX_MB, "
                         "default 256)")
    ap.add_argument("--curve-keys", metavar="DIR",
                    help="encrypt and authenticate every connection with ZeroMQ CURVE keys from DIR (GT_CURVE_KEYS; "
                         "make them with --make-curve-keys DIR)")
    ap.add_argument("--make-curve-keys", metavar="DIR",
                    help="write key pairs for the server, workers and clients and the authorized keys to DIR, and exit")
    ap.add_argument("--port-file", help="write the bound port to this file once listening")
    ap.add_argument("--exit-with-parent", type=int, metavar="PID", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.make_curve_keys:
        make_keys(args.make_curve_keys)
        print(f"GT CURVE keys written to {args.make_curve_keys}: set GT_CURVE_KEYS={args.make_curve_keys} (or "
              "--curve-keys) for the server, its workers and its clients")
        return 0
    try:
        cfg = _settings.with_flags(_settings.from_env(), heartbeat_interval=args.heartbeat_interval,
                                   heartbeat_timeout=args.heartbeat_timeout,
                                   max_message_bytes=args.max_message_bytes, instruction_log=args.instruction_log,
                                   instruction_log_max_mb=args.instruction_log_max_mb, curve_keys=args.curve_keys)
    except ConfigError as exc:
        ap.error(str(exc))
    if not 0 <= args.port < 65536:
        ap.error(f"port {args.port} is not in 0..65535")
    dispatcher = Dispatcher(args.host, args.port, cfg, exit_with_parent=args.exit_with_parent)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(dispatcher.port))
        os.replace(tmp, args.port_file)
    signal.signal(signal.SIGTERM, lambda *_: dispatcher.stop())  # stop cleanly: the credential file goes too
    try:
        dispatcher.serve()
    except KeyboardInterrupt:
        log.info("GT server: interrupted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
