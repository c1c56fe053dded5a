"""The lease a live watchdog holds on its save: ``journal/.<save-id>.watchdog``.

The watchdog opens the file and takes an exclusive ``flock`` on it for as long as it
lives; the kernel drops the lock when the process ends, however it ends (``kill -9``
included). So whether a watchdog still holds a save's restart duty is known from the
lock, never from whether a file exists: the lease file of a dead watchdog is only a
leftover, and a save whose journal disappeared is still known to be guarded.

The file stays empty: on a full disk it costs no data block (taking it never fails for
lack of room, and removing it frees none that a test or a user would notice).
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".watchdog"
#: ``.<save-id>.watchdog``, a save id as prism makes them (see ``save.locks``).
_LEASE = re.compile(r"^\.([A-Za-z0-9][A-Za-z0-9._-]{0,199})\.watchdog$")


def lease_path(journal_dir: Path, save_id: str) -> Path:
    """Where the watchdog of ``save_id`` holds its lease."""
    return journal_dir / f".{save_id}{SUFFIX}"


@dataclass
class Holder:
    """A live watchdog: the save whose lease it holds."""

    save_id: str


class Lease:
    """An exclusive lease, held until :meth:`release` or the process ends."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        """Remove the file and drop the lock."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None


class Held(OSError):
    """Another live watchdog holds the lease."""


def take(journal_dir: Path, save_id: str) -> Lease:
    """Take the lease of ``save_id``; raises :class:`Held` if another watchdog holds
    it, OSError if the file cannot be made."""
    from prism_core.files import ensure_private_dir

    ensure_private_dir(journal_dir)
    path = lease_path(journal_dir, save_id)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise Held(f"another watchdog holds {path}") from exc
    except BaseException:
        os.close(fd)
        raise
    return Lease(path, fd)


def _open_quietly(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def holder(journal_dir: Path, save_id: str) -> Holder | None:
    """The live watchdog holding the lease of ``save_id``, or ``None``."""
    path = lease_path(journal_dir, save_id)
    fd = _open_quietly(path)
    if fd is None:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:  # held: a watchdog lives
            return Holder(save_id)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def lease_files(journal_dir: Path) -> list[tuple[str, Path]]:
    """``(save id, path)`` of every lease file (live or left over) in ``journal_dir``."""
    try:
        names = os.listdir(journal_dir)
    except OSError:
        return []
    found = []
    for name in sorted(names):
        match = _LEASE.match(name)
        if match:
            found.append((match.group(1), journal_dir / name))
    return found


def live_holders(journal_dir: Path) -> list[Holder]:
    """Every live watchdog of a save in ``journal_dir``."""
    holders = [holder(journal_dir, save_id) for save_id, _ in lease_files(journal_dir)]
    return [h for h in holders if h is not None]
