"""The journal: one JSON file per save in progress, rewritten atomically on every change."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

from prism_core.exceptions import InputError
from prism_core.save.state import SaveState
from prism_core.settings import ensure_private_dir


def write_private_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file, fsync, rename), mode 0600."""
    ensure_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Journal:
    """Persists one save's :class:`SaveState`; thread-safe (copies write concurrently)."""

    def __init__(self, directory: Path, state: SaveState) -> None:
        self.path = directory / f"{state.save_id}.json"
        self.state = state
        self._lock = threading.RLock()
        #: Set by :meth:`finish`: later changes (e.g. releasing the lock) are not written.
        self.finished = False

    def write(self) -> None:
        """Write the current state; called before the next step starts."""
        with self._lock:
            if self.finished:
                return
            write_private_atomic(self.path, json.dumps(self.state.to_dict(), indent=2))

    def finish(self) -> None:
        """Remove the journal of a save that completed fully."""
        with self._lock:
            self.finished = True
            self.path.unlink(missing_ok=True)

    @property
    def lock(self) -> threading.RLock:
        """The lock to hold while changing the state."""
        return self._lock

    @classmethod
    def load(cls, path: Path) -> Journal:
        """Read a journal file; a damaged one is an input error naming it."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            state = SaveState.from_dict(data)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise InputError(
                f"journal {path} cannot be read ({exc})",
                "move it aside and check the resources it lists by hand",
            ) from None
        journal = cls(path.parent, state)
        journal.path = path
        return journal


def unfinished(directory: Path) -> list[Path]:
    """Journal files of saves not finished, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime)


def running_elsewhere(state: SaveState) -> bool:
    """Whether another live prism process on this machine is running this save."""
    if state.status != "running" or not state.pid or state.pid == os.getpid():
        return False
    try:
        os.kill(state.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        cmdline = Path(f"/proc/{state.pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: assume the pid is still ours
    return b"prism" in cmdline
