"""Progress lines on stderr: each phase with its outcome and elapsed time.

On a terminal that can show them, lines carry the seed workflow's emoji; elsewhere
(pipes, ``NO_COLOR``, ``TERM=dumb``, non-UTF-8 encodings) they are plain text. While
something is awaited (:meth:`Progress.waiting`), a terminal shows one live line per
wait with a spinner and the elapsed time, redrawn in place below the permanent lines;
anywhere else a plain "still waiting" line is printed every ``status_every`` seconds
and no control codes are written. Standard output stays free for the result document.
The live lines are cleared and redrawn in one write that no signal interrupts, so Ctrl-C,
an error or the end of a wait never leaves a spinner line behind; the cursor is never
hidden, so there is nothing to restore.

With ``--progress json`` (stderr is then a
:class:`~prism_core.cli.progress_events.ProgressStream`) the same calls write JSON Lines
events instead (docs/progress-events.md); with ``--progress none`` only warnings and
failures are printed.

A write that fails (a closed pipe, a terminal gone after SIGHUP, a full disk) never
raises: progress goes silent for the rest of the run (``Progress.broken``) and the
save goes on, so no output problem can keep the instance from being brought back.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from prism_core.reporting import format_duration
from prism_core.validation import printable

ICONS = {
    "save": ("💾", "*"),
    "info": ("📍", "-"),
    "warn": ("⚠️ ", "!"),
    "stop": ("🛑", ">"),
    "image": ("📸", ">"),
    "start": ("🔄", ">"),
    "wait": ("⏳", ">"),
    "copy": ("🌍", ">"),
    "share": ("🔗", ">"),
    "register": ("📝", ">"),
    "template": ("📄", ">"),
    "ok": ("✅", "ok"),
    "fail": ("❌", "FAILED"),
    "done": ("🎉", "*"),
    "time": ("🕒", "-"),
    "next": ("✨", "-"),
}
#: ``Storage:    ...``: the label of a plan line, whose value continues under itself.
LABEL = re.compile(r"^ *[A-Z][A-Za-z ]{0,14}: +(?=\S)")
#: Line kinds that start a step of the command (a ``phase`` event with ``status: started``).
PHASE_KINDS = frozenset(
    {"save", "stop", "image", "start", "wait", "copy", "share", "register", "template", "done"}
)
SPINNER_FANCY = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
SPINNER_PLAIN = "|/-\\"
REDRAW_SECONDS = 0.2
STATUS_EVERY_SECONDS = 30.0


#: Signals whose handlers raise (Ctrl-C, and those prism turns into ``Terminated``).
HELD_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
    if hasattr(signal, name)
)


def _hold(signum: int, frame: Any) -> None:
    _held.append(signum)


_held: list[int] = []


@contextmanager
def signals_held() -> Iterator[None]:
    """Run the block without being cut by a signal's exception (Ctrl-C's KeyboardInterrupt,
    prism's ``Terminated``): a signal that arrives meanwhile is delivered right after it.

    Drawing the live lines must not stop half-way, or a spinner line is left on the
    terminal that prism no longer knows about. Python runs signal handlers in the main
    thread only, so other threads need (and get) nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in HELD_SIGNALS}
    if any(handler is None for handler in previous.values()):  # not set from Python
        yield
        return
    for signum in previous:
        signal.signal(signum, _hold)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        pending, _held[:] = list(dict.fromkeys(_held)), []
        for signum in pending:
            signal.raise_signal(signum)


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(getattr(stream, "isatty", lambda: False)())
    except (ValueError, OSError):  # a closed stream
        return False


def wants_emoji(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal that can show emoji."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    return _isatty(stream) and encoding == "utf8"


def wants_live(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal where lines may be redrawn in place."""
    return _isatty(stream) and os.environ.get("TERM") != "dumb"


class _Wait:
    """One thing being waited on, shown as a live line."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.started = time.monotonic()
        self.reported = self.started


class Progress:
    """Writes progress to a stream; thread-safe (region copies report concurrently).

    The command line's :class:`~prism_core.reporting.ProgressReporter`: the engine is
    given one and knows it only through that protocol."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        quiet: bool = False,
        live: bool | None = None,
        status_every: float = STATUS_EVERY_SECONDS,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.emoji = wants_emoji(self.stream)
        self.live = wants_live(self.stream) if live is None else live
        self.status_every = status_every
        self._lock = threading.RLock()
        self._began: dict[str, float] = {}
        self._waits: list[_Wait] = []
        self._drawn = 0
        self._frame = 0
        self._ticker: threading.Thread | None = None
        #: Why writing failed (e.g. ``BrokenPipeError``); nothing is written after that.
        self.broken: str | None = None
        #: Progress readings with numbers (snapshot percent, time left), for ``-o json``.
        self.readings: list[dict[str, Any]] = []
        self._created = time.monotonic()
        mode = getattr(self.stream, "progress_mode", "text")
        #: ``--progress json``: where events go (nothing else is written then).
        self.events: Any = getattr(self.stream, "writer", None) if mode == "json" else None
        #: ``--progress none``: only warnings and failures are printed.
        self.silent = mode == "none"
        self._phase: str | None = None
        #: The last percentage and time left reported per resource (json events).
        self._numbers: dict[str, tuple[float, float | None]] = {}
        #: Fields every event of this progress carries (a batch save: its ``template``).
        self.event_fields: dict[str, Any] = {}

    def _emit(self, event: str, **fields: Any) -> None:
        self.events.emit(event, **fields, **self.event_fields)

    def reading(self, text: str, data: dict[str, Any]) -> None:
        """A progress line with numbers: printed as a ``wait`` line, and kept (with the
        seconds since this progress began) for the result document's ``progress``.
        ``data`` has ``phase``, ``region``, ``image_id`` (the resource), ``percent`` and
        ``eta_seconds``; in ``json`` mode it is a ``progress`` event."""
        with self._lock:
            self.readings.append(
                {**data, "elapsed_seconds": round(time.monotonic() - self._created, 1)}
            )
        if self.events is None:
            self.line("wait", text)
            return
        resource = data.get("image_id") or data.get("resource")
        percent, eta = self._note(resource, data.get("percent"), data.get("eta_seconds"))
        if percent is None or resource is None:  # no number to report: the text only
            self._emit("message", phase=data.get("phase"), message=text)
            return
        self._emit(
            "progress", phase=data.get("phase"), region=data.get("region"),
            resource=resource, percent=percent, eta_seconds=eta, message=text,
        )

    def finished(
        self, resource: str, text: str, *, phase: str | None = None, region: str | None = None
    ) -> None:
        """``resource`` (an image, a copy) is complete: in ``json`` mode a last
        ``progress`` event at 100% with no time left; nothing in text (the ``ok`` line
        that follows says it)."""
        if self.events is None:
            return
        self._note(resource, 100.0, 0.0)
        self._emit(
            "progress", phase=phase or self._phase, region=region, resource=resource,
            percent=100.0, eta_seconds=0, message=text,
        )

    def _note(
        self, resource: str | None, percent: Any, eta: Any
    ) -> tuple[float | None, float | None]:
        """Record a reading; the percentage never goes back for one resource (EC2 reports
        the least advanced snapshot, which may be another one at the next reading)."""
        if not isinstance(percent, int | float) or isinstance(percent, bool):
            return None, None
        value = min(100.0, max(0.0, float(percent)))
        left = None if eta is None else max(0.0, float(eta))
        if resource is None:
            return value, left
        with self._lock:
            previous = self._numbers.get(resource)
            if previous is not None and previous[0] > value:
                value, left = previous
            self._numbers[resource] = (value, left)
        return value, None if left is None else round(left)

    # ------------------------------------------------------------------ lines

    def line(self, kind: str, text: str, indent: int = 0, *, since: str | None = None) -> None:
        """One line with the icon for ``kind``.

        ``since`` names the kind of an earlier line (e.g. ``"copy"``): the time elapsed
        since that line was last printed is appended, so an outcome shows how long its
        phase took.
        """
        if self.quiet or self.broken:
            return
        if self.events is not None:
            self._event_line(kind, text, since)
            return
        if self.silent and kind not in ("warn", "fail"):
            return
        now = time.monotonic()
        with self._lock:
            if since is not None and since in self._began:
                text = f"{text} ({format_duration(now - self._began[since])})"
            if kind not in ("ok", "fail", "info", "warn", ""):
                self._began[kind] = now
            fancy, plain = ICONS.get(kind, ("", ""))
            icon = fancy if self.emoji else plain
            prefix = " " * indent + (f"{icon} " if icon else "")
            body = printable(text)
            if self.live:  # a terminal: wrap at its width, continuing under the text
                start = indent + 3 if icon and self.emoji else len(prefix)  # emoji: 2 columns
                body = prefix + self._wrapped(body, start)
            else:
                body = prefix + body
            self._write_above(body + "\n")

    def _wrapped(self, text: str, start: int) -> str:
        """``text`` at column ``start`` (after the indent and the icon) wrapped at word
        boundaries to the terminal's width; continuation lines start under the text, or
        under the value of a ``Label:   value`` line."""
        from prism_core.cli.layout import wrap

        label = LABEL.match(text)
        under = label.end() if label else len(text) - len(text.lstrip(" "))
        hang = " " * (start + under)
        width = self._width() - 1  # an emoji may take two columns where it counts one
        lines = wrap(" " * start + text, width, hang=hang).split("\n")
        return "\n".join(lines)[start:] if lines else text

    def _event_line(self, kind: str, text: str, since: str | None) -> None:
        """A line as an event: ``phase`` (a step starts, ends ``ok`` or ``failed``),
        ``warning``, or ``message`` (plan lines, notes)."""
        now = time.monotonic()
        with self._lock:
            elapsed = (
                round(now - self._began[since], 1)
                if since is not None and since in self._began
                else None
            )
            if kind in PHASE_KINDS:
                self._began[kind] = now
                self._phase = kind
            phase = since or self._phase
        if kind == "warn":
            self._emit("warning", phase=phase, message=text.strip())
        elif kind in PHASE_KINDS:
            self._emit("phase", phase=kind, status="started", message=text.strip())
        elif kind in ("ok", "fail"):
            self._emit(
                "phase", phase=phase, status="ok" if kind == "ok" else "failed",
                message=text.strip(), elapsed_seconds=elapsed,
            )
        elif text.strip():
            self._emit("message", phase=phase, message=text.strip())

    def blank(self) -> None:
        """An empty separator line."""
        if not self.quiet and self.events is None and not self.silent:
            with self._lock:
                self._write_above("\n")

    # ------------------------------------------------------------------ waits

    @contextmanager
    def waiting(
        self,
        what: str,
        *,
        resource: str | None = None,
        region: str | None = None,
        phase: str | None = None,
    ) -> Iterator[Callable[[float], None]]:
        """Show ``what`` as awaited while the block runs; yields the ``on_tick`` callback.

        The line appears at the first tick (a wait that succeeds at once shows
        nothing) and disappears when the block ends. ``resource`` (an image id),
        ``region`` and ``phase`` go into ``json`` mode's ``wait`` events, which carry the
        resource's latest percentage and time left (see :meth:`reading`).
        """
        if self.events is not None:
            with self._event_wait(what, resource, region, phase) as tick:
                yield tick
            return
        entry = _Wait(what)
        shown = False

        def tick(elapsed: float) -> None:
            nonlocal shown
            if self.quiet or self.broken or self.silent:
                return
            with self._lock:
                if not shown:
                    shown = True
                    self._waits.append(entry)
                    if self.live and self._ticker is None:
                        self._ticker = threading.Thread(
                            target=self._animate, daemon=True, name="prism-progress"
                        )
                        self._ticker.start()
                if self.live:
                    self._redraw()
                elif time.monotonic() - entry.reported >= self.status_every:
                    entry.reported = time.monotonic()
                    self._guarded(
                        f"   ... still waiting for {what} ({format_duration(elapsed)})\n"
                    )

        try:
            yield tick
        finally:
            with self._lock, signals_held():  # a Ctrl-C here must not leave the line drawn
                if entry in self._waits:
                    self._waits.remove(entry)
                    if self.live:
                        self._redraw()

    @contextmanager
    def _event_wait(
        self, what: str, resource: str | None, region: str | None, phase: str | None
    ) -> Iterator[Callable[[float], None]]:
        """A wait as ``wait`` events: when it is first seen still going, every
        :data:`~prism_core.cli.progress_events.WAIT_EVERY_SECONDS`, and when it ends."""
        from prism_core.cli.progress_events import WAIT_EVERY_SECONDS

        began = time.monotonic()
        last: list[float | None] = [None]
        where = phase or self._phase

        def emit(status: str) -> None:
            numbers: dict[str, Any] = {}
            if resource is not None:
                with self._lock:
                    percent, left = self._numbers.get(resource, (None, None))
                numbers = {
                    "percent": percent,
                    "eta_seconds": None if left is None else round(left),
                }
            self._emit(
                "wait", status=status, phase=where, region=region, resource=resource,
                message=f"waiting for {what}",
                elapsed_seconds=round(time.monotonic() - began, 1), **numbers,
            )

        def tick(elapsed: float) -> None:
            if self.quiet:
                return
            now = time.monotonic()
            if last[0] is None or now - last[0] >= WAIT_EVERY_SECONDS:
                emit("waiting" if last[0] is not None else "started")
                last[0] = now

        try:
            yield tick
        finally:
            if last[0] is not None and not self.quiet:
                emit("ended")

    def _animate(self) -> None:
        """Redraw the live lines a few times a second while anything is awaited."""
        while True:
            time.sleep(REDRAW_SECONDS)
            with self._lock:
                if not self._waits:
                    self._ticker = None
                    return
                self._frame += 1
                self._redraw()

    # ------------------------------------------------------------------ drawing

    def _guarded(self, text: str = "", *, redraw: bool = False, above: bool = False) -> None:
        """Write (lock held); the first failure turns progress off instead of raising.

        With ``above`` or ``redraw`` the live lines are cleared, ``text`` written and the
        live lines drawn again in one write that no signal interrupts (:func:`signals_held`),
        so the terminal and :attr:`_drawn` always agree.
        """
        if self.broken:
            return
        out, drawn = text, self._drawn
        if above or redraw:
            clear = f"\x1b[{self._drawn}A\r\x1b[J" if self._drawn else ""
            block = self._block()
            out, drawn = clear + text + "".join(line + "\n" for line in block), len(block)
        if not out:
            return
        with signals_held():
            try:
                self.stream.write(out)
                self.stream.flush()
                self._drawn = drawn
            except (OSError, ValueError) as exc:  # BrokenPipeError, EIO, ENOSPC, closed file
                self.broken = type(exc).__name__
                self._drawn = 0

    def _write_above(self, text: str) -> None:
        """Write permanent text above the live block (lock held)."""
        self._guarded(text, above=True)

    def _block(self) -> list[str]:
        """The live lines: one per wait, each shorter than the terminal is wide (a line
        that wrapped would take two rows, and the clearing counts one)."""
        if not self.live or not self._waits:
            return []
        frames = SPINNER_FANCY if self.emoji else SPINNER_PLAIN
        width = self._width()
        now = time.monotonic()
        lines = []
        for entry in self._waits:
            spinner = frames[self._frame % len(frames)]
            text = f"   {spinner} waiting for {entry.what} ({format_duration(now - entry.started)})"
            if len(text) >= width:
                text = text[: max(1, width - 2)] + "…"[: 1 if self.emoji else 0]
            lines.append(text)
        return lines

    def _redraw(self) -> None:
        self._guarded(redraw=True)

    def _width(self) -> int:
        """The terminal's width; 80 where it reports none (e.g. a pty with no size set)."""
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = shutil.get_terminal_size().columns
        return columns if columns > 0 else 80


class LabelledProgress(Progress):
    """Progress of one save in a batch: every line starts with ``[template]``.

    Shares the batch's lock and stream, never draws live lines (several saves wait at
    once), so lines of concurrent saves never interleave mid-line.
    """

    def __init__(self, shared: Progress, label: str) -> None:
        super().__init__(
            shared.stream, quiet=shared.quiet, live=False, status_every=shared.status_every
        )
        self._lock = shared._lock
        self.label = label
        self.event_fields = {"template": label}

    def line(self, kind: str, text: str, indent: int = 0, *, since: str | None = None) -> None:
        """The line, labelled with the save's template."""
        super().line(kind, f"[{self.label}] {text}", indent, since=since)

    def waiting(self, what: str, **about: Any) -> Any:
        """The wait, labelled with the save's template."""
        return super().waiting(f"{what} [{self.label}]", **about)
