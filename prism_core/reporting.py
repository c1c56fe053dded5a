"""How the engine reports what it does: the small protocol the save, the launch and the
copies write their progress to, and which the command line implements
(:class:`prism_core.cli.progress.Progress`: lines on a terminal, plain text, or
``--progress json`` events).

The engine never imports the terminal: it is given a :class:`ProgressReporter` (the CLI's
``Progress``, the scheduled save's :class:`NullReporter`, a test's recorder) and calls
only the methods below. Plugins see the same object as ``ctx.progress``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

#: What :meth:`ProgressReporter.waiting` yields: called with the seconds waited so far.
Tick = Callable[[float], None]


class ProgressReporter(Protocol):
    """Where the engine reports progress (``ctx.progress``)."""

    def line(self, kind: str, text: str, indent: int = 0, *, since: str | None = None) -> None:
        """One line of ``kind`` (``save``, ``stop``, ``image``, ``copy``, ... a step that
        starts; ``ok``/``fail`` its outcome; ``info``, ``warn``). ``since`` names an
        earlier line's kind: the time elapsed since it is shown with this one."""
        ...

    def blank(self) -> None:
        """An empty separator line."""
        ...

    def waiting(
        self,
        what: str,
        *,
        resource: str | None = None,
        region: str | None = None,
        phase: str | None = None,
    ) -> AbstractContextManager[Tick]:
        """``what`` is awaited while the block runs; the block calls the yielded tick
        with the seconds waited so far. ``resource`` (an image id), ``region`` and
        ``phase`` say what the wait is about."""
        ...

    def reading(self, text: str, data: dict[str, Any]) -> None:
        """A reading with numbers: ``data`` has ``phase``, ``region``, ``image_id``,
        ``percent`` and ``eta_seconds``."""
        ...

    def finished(
        self, resource: str, text: str, *, phase: str | None = None, region: str | None = None
    ) -> None:
        """``resource`` (an image, a copy) is complete."""
        ...


class NullReporter:
    """A :class:`ProgressReporter` that shows nothing (the scheduled save in the cloud,
    where nobody watches)."""

    def line(self, kind: str, text: str, indent: int = 0, *, since: str | None = None) -> None:
        """Nothing is shown."""

    def blank(self) -> None:
        """Nothing is shown."""

    @contextmanager
    def waiting(
        self,
        what: str,
        *,
        resource: str | None = None,
        region: str | None = None,
        phase: str | None = None,
    ) -> Iterator[Tick]:
        """A wait with a tick that does nothing."""
        yield lambda elapsed: None

    def reading(self, text: str, data: dict[str, Any]) -> None:
        """Nothing is shown."""

    def finished(
        self, resource: str, text: str, *, phase: str | None = None, region: str | None = None
    ) -> None:
        """Nothing is shown."""


def format_duration(seconds: float) -> str:
    """``8m 32s`` style, ``0.4s`` under ten seconds."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"
