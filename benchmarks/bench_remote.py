"""Remote mode against the embedded worker, side by side in one run.

    python benchmarks/bench_remote.py [--steps N] [--rounds R] [--device cpu|cuda:0] [--models tiny,medium]

Starts two local GT servers with one worker each (eager: batch size 1; and
auto-compile), then times, in interleaved windows (each mode keeps its best):

- ms per training step of the tiny and medium MLPs (benchmarks/bench_mlp.py's models, optimizer loop),
  embedded vs over localhost, eager and auto-compile; and of the tiny MLP reading its loss
  every step (a sync point a step: the round trip is paid every step);
- the round trip of one sync point (``item()`` of a scalar);
- the throughput of a stream of small ops (ops/s), synchronised at its end.

Goals (issue 9): tiny step over localhost at most 2x embedded, medium at most 1.2x.

Next to them, measured in the same run (issue 18): a bare pyzmq DEALER -> ROUTER echo
(another process, 64 B and 1 MB messages), the transport's floor for a read's round trip,
and the same echo under ZeroMQ's CURVE (authenticated and encrypted): what encryption
would cost per message.
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time

import torch
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gt  # noqa: E402
from bench_mlp import build  # noqa: E402
from gt import config as gt_config  # noqa: E402
from gt.client import runtime  # noqa: E402
from gt.transport import launch  # noqa: E402
from gt.worker.worker import Worker  # noqa: E402


def embedded(device: str, auto: bool) -> Worker:
    cfg = gt_config.Config(auto_compile=auto, hot_threshold=10, batch_size=1024 if auto else 1, compile=False,
                           device=device)
    return Worker("embedded_auto" if auto else "embedded_eager", batch_size=cfg.batch_size, config=cfg)


def remote(server: launch.LocalServer) -> runtime.RemoteWorker:
    conn = runtime.RemoteWorker(server.address, "")
    conn.open()
    return conn


def best_windows(modes: dict, run, rounds: int) -> dict:
    """Best seconds per window for each mode, windows alternating between modes."""
    best = {name: float("inf") for name in modes}
    for _ in range(rounds):
        for name, (target, state) in modes.items():
            runtime.connect(target)
            t0 = time.perf_counter()
            run(state)
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def bench_steps(targets: dict, model: str, steps: int, warm: int, rounds: int, read_every_step: bool = False) -> dict:
    modes = {}
    for name, target in targets.items():
        runtime.connect(target)
        step = build(gt, gt.nn, model, "optimizer")
        for _ in range(warm):
            step()
        step().item()
        modes[name] = (target, step)

    def run(step):
        for _ in range(steps):
            loss = step()
            if read_every_step:
                loss.item()
        loss.item()

    return {name: s / steps * 1e3 for name, s in best_windows(modes, run, rounds).items()}


def bench_sync(targets: dict, n: int, rounds: int) -> dict:
    modes = {}
    for name, target in targets.items():
        runtime.connect(target)
        modes[name] = (target, gt.ones(()) * 2)

    def run(x):
        for _ in range(n):
            x.item()

    return {name: s / n * 1e6 for name, s in best_windows(modes, run, rounds).items()}


def bench_stream(targets: dict, n: int, rounds: int) -> dict:
    modes = {}
    for name, target in targets.items():
        runtime.connect(target)
        modes[name] = (target, gt.ones(4))

    def run(x):
        y = x
        for _ in range(n):
            y = y + 1.0
        y.sum().item()

    return {name: n / s for name, s in best_windows(modes, run, rounds).items()}


ECHO_SERVER = """
import sys, zmq
sock = zmq.Context().socket(zmq.ROUTER)
if sys.argv[1] != "-":
    sock.curve_server = True
    sock.curve_secretkey = sys.argv[1].encode()
print(sock.bind_to_random_port("tcp://127.0.0.1"), flush=True)
while True:
    sock.send_multipart(sock.recv_multipart(copy=False), copy=False)
"""


def bare_echo(n: int, rounds: int, size: int, curve: bool) -> float:
    """Best microseconds per round trip of a ``size``-byte message to a ROUTER echo in another process."""
    public = secret = None
    if curve:
        public, secret = zmq.curve_keypair()
    proc = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, secret.decode() if curve else "-"],
                            stdout=subprocess.PIPE, text=True)
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    try:
        port = int(proc.stdout.readline())
        if curve:
            sock.curve_serverkey = public
            sock.curve_publickey, sock.curve_secretkey = zmq.curve_keypair()
        sock.connect(f"tcp://127.0.0.1:{port}")
        payload = os.urandom(size)
        best = float("inf")
        for _ in range(rounds + 1):  # the first round warms up
            t0 = time.perf_counter()
            for _ in range(n):
                sock.send(payload, copy=False)
                sock.recv(copy=False)
            best = min(best, time.perf_counter() - t0)
        return best / n * 1e6
    finally:
        sock.close()
        proc.kill()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200,
                    help="MLP steps per timing window (each window ends with one read, as a loop that "
                         "prints its loss every that many steps)")
    ap.add_argument("--warm", type=int, default=30, help="warm-up steps (auto-compile compiles here)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved windows per mode")
    ap.add_argument("--syncs", type=int, default=500, help="round trips per window")
    ap.add_argument("--ops", type=int, default=5000, help="small ops per stream window")
    ap.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--models", default="tiny,medium")
    args = ap.parse_args()
    logging.getLogger("gt").setLevel(logging.WARNING)
    env = dict(os.environ, GT_DEVICE=args.device)
    if args.device == "cpu":  # one worker's threads, as gt.gpu_workers(1) sets them
        env.update(launch.local_devices(1)[0][1])
    servers, conns = {}, []
    try:
        for mode, flags in (("eager", ("--auto-compile", "0", "--batch-size", "1")),
                            ("auto-compile", ("--auto-compile", "1"))):
            srv = servers[mode] = launch.start_server(env=env, args=("--heartbeat-interval", "1"),
                                                      output=open(os.devnull, "wb"))
            srv.add_worker(args.device, args=flags, output=open(os.devnull, "wb"))
        conns += [remote(servers["eager"]), remote(servers["auto-compile"])]
        targets = {"eager": {"embedded": embedded(args.device, False), "remote": conns[0]},
                   "auto-compile": {"embedded": embedded(args.device, True), "remote": conns[1]}}
        print(f"torch {torch.__version__}, device {args.device}, {os.cpu_count()} CPUs; best of {args.rounds} "
              "interleaved windows")
        print(f"{'measure':38} {'embedded':>12} {'remote':>12} {'remote/embedded':>16}")

        def row(label: str, res: dict, unit: str, fmt: str = "{:12.4f}") -> None:
            e, r = res["embedded"], res["remote"]
            print(f"{label:38} {fmt.format(e)} {fmt.format(r)} {r / e:15.2f}x   {unit}")

        for model in args.models.split(","):
            for mode, t in targets.items():
                row(f"{model} MLP step, {mode}", bench_steps(t, model, args.steps, args.warm, args.rounds), "ms/step")
        for mode, t in targets.items():   # a loop that prints its loss every step: one round trip a step
            row(f"tiny step + item() each, {mode}", bench_steps(t, "tiny", args.steps, args.warm, args.rounds, True),
                "ms/step")
        for side, target in targets["auto-compile"].items():
            ops = target.get_stats()["operations"]
            print(f"  auto-compile {side}: {ops['compiled']} of {ops['total']} ops ran compiled")
        eager = targets["eager"]
        sync = bench_sync(eager, args.syncs, args.rounds)
        row("sync round trip (item())", sync, "us", "{:12.1f}")
        echo = {}
        for size, n in ((64, args.syncs), (1 << 20, 50)):
            for curve in (False, True):
                echo[size, curve] = bare_echo(n, args.rounds, size, curve)
        print(f"{'bare pyzmq DEALER->ROUTER echo, 64 B':38} {echo[64, False]:12.1f} us   (sync round trip / echo: "
              f"{sync['remote'] / echo[64, False]:.2f}x)")
        for size, label in ((64, "64 B"), (1 << 20, "1 MB")):
            plain, curve = echo[size, False], echo[size, True]
            print(f"{'  same under CURVE, ' + label:38} {curve:12.1f} us   (plain {plain:.1f} us: CURVE adds "
                  f"{curve - plain:.1f} us per round trip)")
        row("small-op stream (x + 1.0)", bench_stream(eager, args.ops, args.rounds), "ops/s", "{:12.0f}")
    finally:
        for conn in conns:
            conn.close()
        for srv in servers.values():
            srv.stop()


if __name__ == "__main__":
    main()
