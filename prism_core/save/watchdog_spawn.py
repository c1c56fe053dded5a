"""The owner's side of the ``--stop`` watchdog: starting it, and releasing it.

:func:`spawn` starts ``python -m prism_core.save.watchdog`` (:mod:`prism_core.save.watchdog`)
in its own session before prism sends StopInstances and returns once it watches;
:meth:`WatchdogHandle.release` tells it, through its stdin pipe, that the instance runs
again. What it is told on its command line is all it trusts.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys

from prism_core.save.context import SaveContext

READY = "prism-watchdog-ready"
#: What the owner writes to the watchdog's stdin once the instance runs again.
RELEASED = b"restarted\n"
#: How long prism waits for the watchdog to report ready before refusing to stop.
READY_TIMEOUT = 30.0


def suspend_grace(poll_delay: float) -> float:
    """How long an owner may stay suspended (SIGSTOP) before its watchdog ends it:
    four poll delays, at least one second."""
    return max(1.0, 4.0 * poll_delay)


class WatchdogHandle:
    """The owner's side of one running watchdog."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def release(self, wait: float = 5.0) -> None:
        """The instance runs again: tell the watchdog it is done, reap it. One that does
        not exit within ``wait`` seconds is ended (it only waits while its owner lives)."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.write(RELEASED)
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=wait)
            return
        except Exception:  # noqa: BLE001 - TimeoutExpired
            pass
        try:
            self.proc.terminate()
            self.proc.wait(timeout=5.0)
        except Exception:  # noqa: BLE001 - gone already
            pass


def spawn(ctx: SaveContext) -> WatchdogHandle:
    """Start the watchdog of ``ctx``'s save; return once it watches. Raises OSError."""
    from prism_core.save.journal import process_started

    ctx.journal.write()  # the watchdog reads it at once
    settings, state = ctx.settings, ctx.state
    started = process_started(os.getpid())
    command = [
        sys.executable,
        "-m",
        "prism_core.save.watchdog",
        "--journal",
        str(ctx.journal.path),
        "--save-id",
        state.save_id,
        "--instance-id",
        ctx.request.instance_id,
        "--region",
        ctx.source_region,
        "--image-name",
        state.image_name,
        "--owner-pid",
        str(os.getpid()),
        "--owner-started",
        "" if started is None else str(started),
        "--grace",
        repr(suspend_grace(settings.poll_delay)),
        "--poll",
        repr(settings.critical_poll_delay),
        "--stop-timeout",
        repr(settings.timeouts["stop"]),
        "--start-timeout",
        repr(settings.timeouts["start"]),
        "--snapshots-timeout",
        repr(settings.timeouts["snapshots"]),
    ]
    profile = getattr(ctx.aws, "profile", None)
    if profile:  # the same AWS credentials as the save (`--profile`)
        command += ["--profile", str(profile)]
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    assert proc.stdout is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT)
        line = proc.stdout.readline() if ready else b""
    finally:
        proc.stdout.close()
    if line.strip() != READY.encode():
        proc.kill()
        proc.wait()
        raise OSError(f"the watchdog did not start (exit code {proc.returncode})")
    return WatchdogHandle(proc)
