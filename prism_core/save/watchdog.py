"""The restart watchdog of ``prism save --stop``: a process outside prism's.

:func:`spawn` starts ``python -m prism_core.save.watchdog`` in its own session
(``start_new_session=True``) before prism sends StopInstances, and waits until it
reports ready. A closed terminal (SIGHUP to the session), Ctrl-C or Ctrl-\\ (to the
foreground process group) and ``kill -9`` of prism therefore never reach it.

The watchdog reads the save's journal every poll delay. It exits as soon as the
journal says the instance was restarted, or is gone (the save finished). If the
process that owns the save (the journal's ``pid``) is gone while the instance is
down, the watchdog takes the restart duty: it lets EC2 list the snapshots of an
image already requested (bounded), starts the instance (retrying throttling until
``timeouts.start``), records that in the journal so ``prism save --resume`` knows,
and exits once the instance runs (or the start timeout passed).

It writes nothing to a terminal: what it did is in the journal, and in the summary
of the ``--resume`` that follows.
"""

from __future__ import annotations

import argparse
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from prism_core.save.context import SaveContext
from prism_core.save.journal import process_alive

READY = "prism-watchdog-ready"
#: How long prism waits for the watchdog to report ready before refusing to stop.
READY_TIMEOUT = 30.0


def spawn(ctx: SaveContext) -> subprocess.Popen[bytes]:
    """Start the watchdog of ``ctx``'s save; return once it watches. Raises OSError."""
    ctx.journal.write()  # the watchdog reads it at once
    settings = ctx.settings
    command = [
        sys.executable,
        "-m",
        "prism_core.save.watchdog",
        "--journal",
        str(ctx.journal.path),
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
        stdin=subprocess.DEVNULL,
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
    return proc


class Watchdog:
    """Watches one save's journal; brings the instance back if its owner dies."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.path = Path(args.journal)
        self.poll = max(0.01, float(args.poll))
        self.stop_timeout = float(args.stop_timeout)
        self.start_timeout = float(args.start_timeout)
        self.snapshots_timeout = float(args.snapshots_timeout)
        self.profile: str | None = args.profile
        self._ec2: Any = None

    def _load(self) -> Any:
        from prism_core.exceptions import InputError
        from prism_core.save.journal import Journal

        if not self.path.exists():
            return None
        try:
            return Journal.load(self.path)
        except InputError:
            return None  # being replaced this instant: read it at the next poll

    def _wait_quietly(self, check: Any, what: str, timeout: float) -> Any:
        """``check``'s first non-``None`` answer (throttling retried), or ``None`` if it
        never came or failed: the watchdog goes on to its next duty either way."""
        from prism_core.aws.waiting import wait_for

        try:
            return wait_for(
                check, what=what, timeout=timeout, poll=self.poll, retry_throttling=True
            )
        except Exception:
            return None

    def run(self) -> int:
        """Poll until the instance is back or the save is over; return the exit code."""
        while True:
            journal = self._load()
            if journal is None and not self.path.exists():
                return 0
            if journal is not None:
                state = journal.state
                if state.instance_restarted:
                    return 0
                if not process_alive(state.pid, state.pid_started):
                    if state.stopped_by_prism:
                        self.take_over(journal)
                    return 0
            time.sleep(self.poll)

    def ec2(self, region: str) -> Any:
        """A client with a small botocore budget; throttling is retried by prism's loop."""
        if self._ec2 is None:
            from prism_core.aws.clients import AwsClients

            self._ec2 = AwsClients(region, profile=self.profile).critical_ec2(region)
        return self._ec2

    def take_over(self, journal: Any) -> None:
        """The owner died with the instance down: start it, journal it, confirm it runs."""
        from prism_core.aws.ec2 import describe_instance, find_saved_image, listed_snapshots
        from prism_core.aws.waiting import retry_throttled
        from prism_core.save.journal import this_process
        from prism_core.save.state import PENDING

        state = journal.state
        region, instance_id = state.request["region"], state.request["instance_id"]
        ec2 = self.ec2(region)
        with journal.lock:
            owner = this_process()  # `prism save --resume` leaves the save alone meanwhile
            state.pid, state.pid_started = owner["pid"], owner["pid_started"]
            journal.write()
        image = state.images.get(region)
        if image is not None and image.image_id is None:
            try:
                found = retry_throttled(
                    lambda: find_saved_image(ec2, state.image_name, state.save_id),
                    what="the requested image",
                    timeout=self.snapshots_timeout,
                    poll=self.poll,
                )
            except Exception:
                found = None
            if found is not None:
                image.image_id, image.state = str(found["ImageId"]), PENDING
        if image is not None and image.image_id and not image.snapshot_ids:
            image_id = image.image_id
            # start anyway if this fails: a stranded instance is worse than an unusable image
            listed = self._wait_quietly(
                lambda: listed_snapshots(ec2, image_id), "the snapshots", self.snapshots_timeout
            )
            if listed is not None:
                image.snapshot_ids = listed

        def current() -> str:
            return retry_throttled(
                lambda: describe_instance(ec2, instance_id, region).state,
                what="the instance's state",
                timeout=self.start_timeout,
                poll=self.poll,
            )

        def settled() -> bool | None:
            return True if current() != "stopping" else None

        self._wait_quietly(settled, "the stop", self.stop_timeout)
        started_at = time.time()
        error = None
        try:
            if current() == "stopped":
                retry_throttled(
                    lambda: ec2.start_instances(InstanceIds=[instance_id]),
                    what="the start",
                    timeout=self.start_timeout,
                    poll=self.poll,
                )
        except Exception as exc:
            from prism_core.aws.clients import error_message

            error = error_message(exc)
        imaged = image is not None and bool(image.image_id)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started_at))
        with journal.lock:
            if error is None:
                note = (
                    f"prism exited while instance {instance_id} was stopped; its watchdog "
                    f"started it again at {stamp}"
                )
                if not imaged:
                    note += " (before the image was requested: the save stops it once more)"
                    state.stopped_by_prism = False
                    state.instance_restarted = False
                    state.downtime_started = None
                else:
                    state.instance_restarted = True
                if note not in state.summary:
                    state.summary.append(note)
            else:
                state.failures.append(
                    f"the watchdog could not start instance {instance_id} after prism exited: "
                    f"{error}; start it from the console or run `prism save --resume`"
                )
            if image is not None:
                state.images[region] = image
            state.status = "interrupted"
            state.pid = state.pid_started = None
            journal.write()
        if error is not None:
            return

        def running() -> bool | None:
            return True if current() == "running" else None

        if self._wait_quietly(running, "the instance to run", self.start_timeout) is None:
            return
        if imaged:
            fresh = self._load()
            if (
                fresh is not None
                and fresh.state.downtime_ended is None
                and not process_alive(fresh.state.pid, fresh.state.pid_started)
            ):
                with fresh.lock:
                    fresh.state.downtime_ended = time.time()
                    fresh.write()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m prism_core.save.watchdog``."""
    parser = argparse.ArgumentParser(prog="prism-watchdog")
    parser.add_argument("--journal", required=True)
    parser.add_argument("--poll", type=float, default=7.5)
    parser.add_argument("--stop-timeout", type=float, default=1200.0)
    parser.add_argument("--start-timeout", type=float, default=1200.0)
    parser.add_argument("--snapshots-timeout", type=float, default=1800.0)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    # Its own session already keeps the terminal's signals away; be explicit anyway.
    for name in ("SIGHUP", "SIGINT", "SIGQUIT", "SIGPIPE"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    watchdog = Watchdog(args)
    try:
        sys.stdout.write(READY + "\n")
        sys.stdout.flush()
        sys.stdout.close()
    except OSError:
        pass
    try:
        return watchdog.run()
    except Exception:
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
