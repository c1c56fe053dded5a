"""The journal: one JSON file per save in progress, rewritten atomically on every change."""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import threading
from pathlib import Path

from prism_core.exceptions import InputError
from prism_core.files import write_private_atomic
from prism_core.save.state import SaveState

#: The suffix of the files a save keeps beside its journal (:meth:`Journal.attach`).
ATTACHMENT = ".attachment"
ATTACHMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,63}")
MAX_ATTACHMENT_BYTES = 64 * 1024 * 1024

#: errno values of a write that failed for lack of room (full disk, quota, file size limit).
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def write_failure(home: Path, error: str, out_of_room: bool) -> tuple[str, str]:
    """(what, what to do) for a journal that cannot be written in ``home``."""
    if out_of_room:
        return (
            f"PRISM_HOME {home} has no room for the save's journal ({error})",
            "free space there (or point PRISM_HOME at a folder with room)",
        )
    return (
        f"the save's journal cannot be written in PRISM_HOME {home} ({error})",
        "fix its permissions (or point PRISM_HOME at a writable folder)",
    )


class Journal:
    """Persists one save's :class:`SaveState`; thread-safe (copies write concurrently)."""

    def __init__(self, directory: Path, state: SaveState) -> None:
        self.path = directory / f"{state.save_id}.json"
        self.state = state
        self._lock = threading.RLock()
        #: Why the last write failed (a full disk, a quota), or ``None`` once it works.
        self.write_error: str | None = None
        #: Whether the last write failed for lack of room (a full disk, a quota).
        self.out_of_room = False
        #: Set by :meth:`finish`: later changes (e.g. releasing the lock) are not written.
        self.finished = False
        # Group commit: every write() serializes the state (numbered) under the state
        # lock, then one thread at a time writes the newest serialization; a write()
        # whose number a newer file already covers returns without writing.
        self._write_lock = threading.Lock()
        self._serial = 0
        self._written = 0
        self._latest: tuple[int, str] = (0, "")

    def write(self) -> None:
        """Write the current state; called before the next step starts.

        A write that fails (a full disk, a quota) does not stop the save: the instance
        must come back whatever happens. The state stays in memory, every later write
        tries again, and :attr:`write_error` says why for the closing message.

        Concurrent writers (the copies, one per region) share the disk writes: when this
        returns, a file holding this state, or a newer one, is on disk (or the write
        failed), but threads that wrote at once cost one or two fsyncs, not one each.
        The thread writing never takes the state lock, so a caller may hold it.
        """
        with self._lock:
            if self.finished:
                return
            self._serial += 1
            serial = self._serial
            self._latest = (serial, json.dumps(self.state.to_dict(), indent=2))
        with self._write_lock:
            if self._written >= serial:
                return  # a newer state, which includes this one, is on disk
            newest, text = self._latest
            try:
                write_private_atomic(self.path, text)
            except OSError as exc:
                self.write_error = exc.strerror or str(exc)
                self.out_of_room = exc.errno in NO_ROOM
                return
            self.write_error = None
            self.out_of_room = False
            self._written = newest
            if self.finished:  # finish() ran meanwhile: the journal must not come back
                self.path.unlink(missing_ok=True)

    def finish(self) -> None:
        """Remove the journal of a save that completed fully (and its attachments)."""
        with self._lock:
            self.finished = True
            self.path.unlink(missing_ok=True)
            for attached in self.path.parent.glob(f"{self.state.save_id}.*{ATTACHMENT}"):
                attached.unlink(missing_ok=True)

    # -- attachments: data too big for the journal, kept beside it ----------------

    def attachment_path(self, name: str) -> Path:
        """``<save-id>.<name>.attachment`` beside the journal (never ``*.json``, so never
        taken for a journal)."""
        if not ATTACHMENT_NAME.fullmatch(name):
            raise ValueError(f"attachment name {name!r}: letters, digits, '-' and '.' only")
        return self.path.parent / f"{self.state.save_id}.{name}{ATTACHMENT}"

    def attach(self, name: str, text: str) -> bool:
        """Keep ``text`` beside the journal (atomic, mode 0600) until the save finishes
        or is aborted; False when it cannot be written (the save goes on without it)."""
        try:
            write_private_atomic(self.attachment_path(name), text)
        except OSError:
            return False
        return True

    def attached(self, name: str, max_bytes: int = MAX_ATTACHMENT_BYTES) -> str | None:
        """The text :meth:`attach` kept under ``name``; ``None`` if there is none, or it
        is not a regular file of this user, or is bigger than ``max_bytes``."""
        from prism_core.safe_yaml import read_text_bounded

        path = self.attachment_path(name)
        try:
            info = path.lstat()
            if (
                not stat.S_ISREG(info.st_mode)
                or info.st_size > max_bytes
                or (hasattr(os, "getuid") and info.st_uid != os.getuid())
            ):
                return None
            return read_text_bounded(path, max_bytes=max_bytes)
        except (OSError, InputError):
            return None

    @property
    def lock(self) -> threading.RLock:
        """The lock to hold while changing the state."""
        return self._lock

    @classmethod
    def load(cls, path: Path) -> Journal:
        """Read a journal file; a damaged one is an input error naming it."""
        from prism_core.safe_yaml import load_json_bounded
        from prism_core.save.journal_schema import check_journal

        hint = "move it aside and check the resources it lists by hand"
        data = load_json_bounded(path, what=f"journal {path}", max_bytes=4 * 1024 * 1024, hint=hint)
        try:
            check_journal(data)
            if data["save_id"] != path.stem:
                raise ValueError(f"its save_id {data['save_id']!r} is not its file name's")
            state = SaveState.from_dict(data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InputError(f"journal {path} cannot be used: {exc}", hint) from None
        journal = cls(path.parent, state)
        journal.path = path
        return journal


def unfinished(directory: Path) -> list[Path]:
    """Journal files of saves not finished, oldest first."""
    if not directory.is_dir():
        return []
    # lstat: a dangling symlink is listed (and refused when loaded), never a crash here
    return sorted(directory.glob("*.json"), key=lambda p: p.lstat().st_mtime)


def process_started(pid: int) -> int | None:
    """When ``pid`` started (``/proc``'s ``starttime``, clock ticks after boot): recorded
    with a pid, it names one process, as the kernel reuses pids (32,768 by default).
    ``None`` where ``/proc`` does not say."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def this_process() -> dict[str, int | None]:
    """The journal's ``pid`` and ``pid_started`` for the running process."""
    pid = os.getpid()
    return {"pid": pid, "pid_started": process_started(pid)}


def _same_process(pid: int, started: object) -> bool:
    """Whether the live ``pid`` is still the process the journal recorded (not a later
    one given the same pid); a journal without a start time trusts the pid."""
    if not isinstance(started, int) or isinstance(started, bool):
        return True
    now = process_started(pid)
    return now is None or now == started


def process_alive(pid: int | None, started: object = None) -> bool:
    """Whether ``pid`` is a live process other than this one (a zombie, killed but not yet
    reaped, is not) and still the one that started at ``started`` (pids are reused)."""
    if not pid or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not _same_process(pid, started):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True  # no /proc: trust kill(0)


def running_elsewhere(state: SaveState) -> bool:
    """Whether another live prism process on this machine is running this save."""
    if state.status not in ("running", "aborting"):
        return False
    if not process_alive(state.pid, state.pid_started):
        return False
    try:
        cmdline = Path(f"/proc/{state.pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: assume the pid is still ours
    return b"prism" in cmdline
