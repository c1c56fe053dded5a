"""The live wait lines (spinner) of a real `prism save` in a pseudo-terminal leave nothing
behind: after success, after an error, after Ctrl-C, and piped (no control codes at all).

The terminal's final screen is rebuilt from everything prism wrote with a VT100 emulator
(pyte), so what is checked is what the user sees.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pexpect
import pyte
import pytest
from helpers import spawn_prism_in_pty

from prism_core.cli.progress import SPINNER_FANCY, SPINNER_PLAIN
from prism_core.testing import prism_argv
from prism_sandbox import Timings

TIMEOUT = 90
ESCAPE = re.compile(r"\x1b")
#: A live wait line as Progress draws it (spinner frame, "waiting for", elapsed time).
LIVE = re.compile(rf"^ *[{re.escape(SPINNER_FANCY + SPINNER_PLAIN)}] waiting for .*\(")


@pytest.fixture
def slow_cloud(prism_sandbox, monkeypatch):
    """Waits long enough for the live lines to be drawn (and redrawn) many times."""
    prism_sandbox.timings = Timings(stop=0.5, start=0.3, snapshot=1.0, image=1.5, copy=1.5)
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "0.1")
    prism_sandbox.create_instance("box")
    return prism_sandbox


def _spawn(columns: int, *args: str) -> tuple[pexpect.spawn, list[str]]:
    child = spawn_prism_in_pty(columns, *args, timeout=TIMEOUT, drop=("NO_COLOR",))
    seen: list[str] = []
    child.logfile_read = _Collect(seen)
    return child, seen


class _Collect:
    """pexpect's logfile_read: keeps every byte prism wrote to the terminal."""

    def __init__(self, into: list[str]) -> None:
        self.into = into

    def write(self, text: str) -> None:
        self.into.append(text)

    def flush(self) -> None:
        pass


def _screen(raw: str, columns: int) -> pyte.Screen:
    """The terminal after ``raw``: tall enough that nothing scrolls off."""
    screen = pyte.Screen(columns, 400)
    stream = pyte.Stream(screen)
    stream.feed(raw)
    return screen


def _assert_clean(raw: str, columns: int) -> list[str]:
    screen = _screen(raw, columns)
    lines = [line.rstrip() for line in screen.display]
    shown = [line for line in lines if line]
    assert shown, raw
    leftovers = [line for line in shown if LIVE.search(line) or set(line) & set(SPINNER_FANCY)]
    assert not leftovers, "\n".join(shown)
    assert not screen.cursor.hidden
    assert raw.count("\x1b[?25l") == raw.count("\x1b[?25h")
    # the cursor waits at the start of the line below the last thing written
    last = max(i for i, line in enumerate(lines) if line)
    assert (screen.cursor.y, screen.cursor.x) == (last + 1, 0), (screen.cursor.y, last)
    return shown


@pytest.mark.parametrize("columns", [80, 120])
def test_nothing_left_after_a_save(slow_cloud, columns):
    child, seen = _spawn(columns, "save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes")
    child.expect(pexpect.EOF)
    child.close()
    raw = "".join(seen)
    assert child.exitstatus == 0, raw
    assert "waiting for" in raw  # the live lines were drawn
    shown = _assert_clean(raw, columns)
    assert any("prism launch env1" in line for line in shown), shown
    # prism wrapped every line itself, at word boundaries (the plan's long lines included)
    written = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw).replace("\r", "\n").split("\n")
    wide = [w for w in written if len(w) >= columns and len(w.split()) > 1]
    assert not wide, wide  # only a single word (a long path) may be wider than the terminal
    assert any(line.startswith("               cleanly") for line in shown) or columns > 80


def test_nothing_left_after_an_error(slow_cloud):
    slow_cloud.faults.fail_image(reason="Client.VolumeError: volume vol-1 is corrupted")
    child, seen = _spawn(80, "save", "box", "env1", "--yes")
    child.expect(pexpect.EOF)
    child.close()
    raw = "".join(seen)
    assert child.exitstatus == 1, raw
    shown = _assert_clean(raw, 80)
    assert any("vol-1 is corrupted" in line for line in shown), shown


@pytest.mark.parametrize("moment", ["AMI creation started", "Copying AMI to"])
def test_nothing_left_after_ctrl_c(slow_cloud, moment):
    child, seen = _spawn(
        80, "save", "box", "env1", "--copy-to-regions", "us-east-2,us-west-2", "--yes"
    )
    child.expect_exact(moment)
    child.expect_exact("waiting for")  # a live line is on screen
    child.sendcontrol("c")
    child.expect(pexpect.EOF)
    child.close()
    raw = "".join(seen)
    assert child.exitstatus == 1, raw
    shown = _assert_clean(raw, 80)
    assert any("interrupted by Ctrl-C" in line for line in shown), shown


def test_piped_progress_has_no_control_codes(slow_cloud):
    result = subprocess.run(
        prism_argv("save", "box", "env1", "--yes"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=dict(os.environ, TERM="xterm", LANG="C.UTF-8"),
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    for stream in (result.stdout, result.stderr):
        assert not ESCAPE.search(stream) and "\r" not in stream
        assert not any(c in stream for c in SPINNER_FANCY)
    assert "Instance saved as AMI successfully" in result.stdout + result.stderr


CHILD = """
import sys, time
from prism_core.cli.progress import Progress
progress = Progress(sys.stderr)
progress.line("save", "start")
try:
    with progress.waiting("the first thing") as first, progress.waiting("another") as second:
        began = time.monotonic()
        while True:  # redraw as often as possible: Ctrl-C lands mid-draw sooner or later
            first(time.monotonic() - began)
            second(time.monotonic() - began)
except KeyboardInterrupt:
    print("prism: error: interrupted", file=sys.stderr)
    sys.exit(1)
"""


def _as_from_a_terminal() -> None:
    """In the child before exec: the signal state a shell gives a command (nothing blocked,
    Ctrl-C not ignored), whatever earlier tests left in this pytest worker."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_in_the_middle_of_a_redraw_leaves_nothing(tmp_path):
    """The live lines are redrawn in one write that no signal cuts, and the line of a wait
    that ends is removed even when Ctrl-C arrives as it ends."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, TERM="xterm", LANG="C.UTF-8", PYTHONUTF8="1")
    env.pop("NO_COLOR", None)
    for attempt in range(12):
        seen: list[str] = []
        child = pexpect.spawn(
            sys.executable, [str(script)], env=env, dimensions=(40, 80), encoding="utf-8",
            timeout=TIMEOUT, preexec_fn=_as_from_a_terminal,
        )  # fmt: skip
        child.logfile_read = _Collect(seen)
        child.expect_exact("waiting for")
        for _ in range(attempt % 4):
            child.expect_exact("waiting for")  # vary the moment
        child.sendcontrol("c")
        try:
            child.expect(pexpect.EOF)
        except pexpect.TIMEOUT:  # say why the Ctrl-C had no effect, then fail
            with open(f"/proc/{child.pid}/status") as handle:
                state = [line for line in handle if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
            child.terminate(force=True)
            pytest.fail(f"Ctrl-C ignored at attempt {attempt}; child signal state {state}")
        child.close()
        raw = "".join(seen)
        assert child.exitstatus == 1, raw
        shown = _assert_clean(raw, 80)
        assert shown[-1] == "prism: error: interrupted", shown
