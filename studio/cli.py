"""`paint-studio`: the design studio — a web page and a JSON API for designers, served by Ray Serve.

    paint-studio                                   # the demo's checkpoints (runs/demo), http://127.0.0.1:8000/
    paint-studio --checkpoints runs/quality --replicas 2 --port 8080
    paint-studio --address auto --host 0.0.0.0     # on a running Ray cluster, reachable from other machines

Everything cheap (checkpoint folders, output folder, port) is checked before Ray starts; a mistake is one line on
stderr and exit code 2. Ctrl-C stops the application (and the local Ray it started).
"""
from __future__ import annotations

import argparse
import socket
import sys

from paint.checkpoint import CheckpointError
from paint.inference import parse_named_checkpoints
from design.errors import DesignError
from studio.settings import StudioSettings

PROG = "paint-studio"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise ValueError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="The design studio: a web page and JSON API served by Ray Serve.")
    p.add_argument("--checkpoints", nargs="+", metavar="DIR|STAGE=PATH",
                   help="a folder holding lgn/ tsn/ afn/, or lgn=… tsn=… afn=… (default: runs/demo)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    p.add_argument("--replicas", type=int, default=1, help="model replicas (default 1)")
    p.add_argument("--use-gpu", action="store_true", help="one GPU per model replica (device cuda)")
    p.add_argument("--cpus-per-replica", type=float, default=1.0, help="CPUs (and torch threads) per model replica")
    p.add_argument("--max-batch-size", type=int, default=8, help="variants per Serve batch; 1 turns batching off")
    p.add_argument("--out", default="runs/studio", help="folder for the designs' files (default runs/studio)")
    p.add_argument("--address", default=None, help="a running Ray cluster (e.g. auto); default: start a local Ray")
    return p


def settings_from(args: argparse.Namespace) -> StudioSettings:
    items = args.checkpoints
    checkpoints = None if not items else items[0] if len(items) == 1 and "=" not in items[0] \
        else parse_named_checkpoints(items)
    return StudioSettings(checkpoints=checkpoints, out=args.out, device="cuda" if args.use_gpu else "cpu",
                          replicas=args.replicas, max_batch_size=args.max_batch_size,
                          cpus_per_replica=args.cpus_per_replica).resolved()


def check_port(host: str, port: int) -> None:
    """The port is free on `host` (checked before Ray starts, so a clash is one line, not a Serve traceback)."""
    if not 1 <= port <= 65535:
        raise ValueError(f"--port {port}: give 1 … 65535")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ValueError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port or --host") \
                from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
        settings = settings_from(args)
        check_port(args.host, args.port)
    except (ValueError, CheckpointError, DesignError) as exc:
        print(f"{PROG}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    from studio.serve_app import serve_forever   # Ray is imported only once the inputs are known to be good

    return serve_forever(settings, args.host, args.port, args.address,
                         announce=lambda url: print(f"{PROG}: the design studio is at {url} (API docs: {url}docs); "
                                                    f"Ctrl-C stops it", flush=True))


if __name__ == "__main__":
    sys.exit(main())
