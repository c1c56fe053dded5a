"""``python -m prism_sandbox``: serve a sandbox cloud on loopback until SIGTERM/SIGINT.

Started in the background by ``prism sandbox start``; it writes its pid and state
files into ``--dir`` and removes them when it stops. ``--seed FILE`` names what it
starts with (:class:`prism_sandbox.seed.Seed` as JSON); without it the cloud is empty.
"""

from __future__ import annotations

import argparse
import datetime
import os
import signal
import socket
import sys
import threading
from pathlib import Path

from prism_sandbox import INSTALL_HINT


def _port_free(host: str, port: int) -> bool:
    if not port:
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    """Run the server; returns the process exit code."""
    from prism_sandbox import daemon

    parser = argparse.ArgumentParser(prog="python -m prism_sandbox")
    parser.add_argument("--dir", type=Path, required=True, help="folder for pid/state files")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--timings", choices=daemon.TIMINGS, default="demo")
    parser.add_argument(
        "--seed", type=Path, default=None, help="images and workstations to start with (JSON)"
    )
    args = parser.parse_args(argv)
    folder = args.dir
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    from prism_sandbox.seed import Seed

    try:
        seed = Seed.from_json(args.seed.read_text(encoding="utf-8")) if args.seed else Seed()
    except (OSError, ValueError, TypeError) as exc:
        print(f"prism sandbox: cannot read the seed {args.seed}: {exc}", file=sys.stderr)
        return 2
    # moto reads the AWS configuration when imported: never the user's.
    from prism_sandbox.environment import changes, sandbox_variables

    for key, value in changes(sandbox_variables("http://127.0.0.1:0", folder), os.environ).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value

    try:
        from prism_sandbox import Sandbox, Timings
        from prism_sandbox.seed import plant
    except ImportError:
        print(
            f"prism sandbox: moto is not installed; install the sandbox extra: {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 2
    if not _port_free(daemon.HOST, args.port):
        print(
            f"prism sandbox: port {args.port} is in use; pick another with --port", file=sys.stderr
        )
        return 2
    try:
        fd = os.open(folder / daemon.PID_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(
            f"prism sandbox: {folder / daemon.PID_FILE} exists; is a sandbox running?",
            file=sys.stderr,
        )
        return 2
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{os.getpid()}\n")

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    timings = Timings.demo() if args.timings == "demo" else Timings.fast()
    sandbox = Sandbox(timings, port=args.port, host=daemon.HOST, trees=folder / daemon.TREES)
    try:
        sandbox.start()
        instances = plant(sandbox, seed)
        started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        info = daemon.ServerInfo(
            os.getpid(), daemon.HOST, sandbox.port, args.timings, started, sorted(instances)
        )
        daemon.write_state(folder, info)
        print(f"sandbox serving at {info.endpoint} (pid {info.pid})", flush=True)
        while not stopping.wait(1.0):
            pass
    finally:
        sandbox.stop()
        daemon.remove_files(folder, os.getpid())
    print("sandbox stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
