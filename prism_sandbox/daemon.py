"""The background sandbox server: its files in a folder its caller names, and its lifecycle.

Files: ``server.pid`` (written by the server process as it starts), ``server.json``
(pid, host, port, timings, workstations; written once it serves), ``server.log``,
``seed.json`` (what the server starts with: :class:`prism_sandbox.seed.Seed`) and
``home/`` (the ``PRISM_HOME`` that ``prism sandbox env`` sets). prism keeps that folder
in ``$PRISM_HOME/sandbox``; this module does not know where (nor imports moto): the
server process is ``python -m prism_sandbox --dir FOLDER``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from prism_core.exceptions import InputError, OperationFailed
from prism_sandbox.seed import Seed

PID_FILE, STATE_FILE, LOG_FILE = "server.pid", "server.json", "server.log"
SEED_FILE = "seed.json"
#: The instances' disks as directory trees (``prism sandbox add-file`` writes there).
TREES = "trees"
HOST = "127.0.0.1"
TIMINGS = ("demo", "fast")


@dataclass
class ServerInfo:
    """A running background sandbox."""

    pid: int
    host: str
    port: int
    timings: str
    started: str
    instances: list[str]

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) sandbox server process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process: the pid was reused
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            stat = (proc / "stat").read_text()
            if stat.rsplit(")", 1)[-1].split()[0] == "Z":
                return False
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            return False
        return b"prism_sandbox" in cmdline
    return True


def _read_pid(folder: Path) -> int | None:
    try:
        return int((folder / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def remove_files(folder: Path, pid: int | None = None) -> None:
    """Remove the pid and state files (only if they belong to ``pid``, when given)."""
    if pid is not None and _read_pid(folder) not in (pid, None):
        return
    for name in (STATE_FILE, PID_FILE):
        (folder / name).unlink(missing_ok=True)


def running(folder: Path) -> ServerInfo | None:
    """The server running in ``folder``, if any; stale files of a dead one are removed."""
    pid = _read_pid(folder)
    if pid is None:
        if (folder / STATE_FILE).exists():
            remove_files(folder)
        return None
    if not _alive(pid):
        remove_files(folder)
        return None
    try:
        data = json.loads((folder / STATE_FILE).read_text())
        return ServerInfo(**data)
    except (OSError, ValueError, TypeError):
        return None  # alive but still starting


def write_state(folder: Path, info: ServerInfo) -> None:
    """Write ``server.json`` atomically (the server calls this once it serves)."""
    tmp = folder / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(asdict(info), indent=2))
    os.replace(tmp, folder / STATE_FILE)


def start(
    folder: Path,
    seed: Seed | None = None,
    port: int = 0,
    timings: str = "demo",
    timeout: float = 120.0,
) -> ServerInfo:
    """Start the server as a detached process with its files in ``folder`` (created,
    private, if missing), planting ``seed``; wait until it serves."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    current = running(folder)
    pid = _read_pid(folder)
    if current is not None or (pid is not None and _alive(pid)):
        where = f" at {current.endpoint}" if current else ""
        raise InputError(
            f"a sandbox is already running{where} (pid {current.pid if current else pid})",
            "stop it first with `prism sandbox stop`",
        )
    command = [
        sys.executable,
        "-m",
        "prism_sandbox",
        "--dir",
        str(folder),
        "--port",
        str(port),
        "--timings",
        timings,
    ]
    if seed is not None:
        seed_file = folder / SEED_FILE
        seed_file.unlink(missing_ok=True)
        descriptor = os.open(seed_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(seed.to_json())
        command += ["--seed", str(seed_file)]
    with open(folder / LOG_FILE, "wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            raise _start_failed(folder, f"the sandbox server exited with code {code}")
        info = running(folder)
        if info is not None and info.pid == process.pid:
            return info
        time.sleep(0.05)
    process.terminate()
    process.wait(10)
    remove_files(folder, process.pid)
    raise _start_failed(folder, f"the sandbox server did not start within {timeout:.0f}s")


def _start_failed(folder: Path, message: str) -> OperationFailed:
    try:
        lines = (folder / LOG_FILE).read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    detail = lines[-1] if lines else "no output"
    return OperationFailed(f"{message}: {detail}", f"see {folder / LOG_FILE}")


def stop(folder: Path, timeout: float = 15.0) -> ServerInfo | None:
    """Stop the server running in ``folder`` (SIGTERM, then SIGKILL) and remove its files."""
    info = running(folder)
    pid = info.pid if info else _read_pid(folder)
    if pid is None or not _alive(pid):
        remove_files(folder)
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        while _alive(pid) and time.monotonic() < deadline + 5:
            time.sleep(0.05)
    remove_files(folder)
    (folder / LOG_FILE).unlink(missing_ok=True)
    (folder / SEED_FILE).unlink(missing_ok=True)
    shutil.rmtree(folder / "home", ignore_errors=True)  # templates of a cloud that is gone
    shutil.rmtree(folder / TREES, ignore_errors=True)  # and the disks of its instances
    return info or ServerInfo(pid, HOST, 0, "?", "?", [])
