"""The restart watchdog of ``prism save --stop``: a process outside prism's.

prism starts ``python -m prism_core.save.watchdog`` in its own session
(``start_new_session=True``, :func:`prism_core.save.watchdog_spawn.spawn`) before it
sends StopInstances, and waits until it reports ready. A closed terminal (SIGHUP to
the session), Ctrl-C or Ctrl-\\ (to the foreground process group) and ``kill -9`` of
prism therefore never reach it.

What the watchdog knows it was told when it started, on its command line: the save,
the instance and its region, the image's name, and its owner (prism's pid and start
time). Files others can write do not steer it: its owner tells it through a pipe
of its own (its stdin) once the instance runs again (``WatchdogHandle.release``),
and then it exits. If the owner goes without saying so (killed, crashed, exited, or
suspended by SIGSTOP for longer than a grace, in which case the watchdog ends it), the
watchdog asks EC2: an instance up is left alone, one terminated or gone is left at
once, one stopped is started (after EC2 lists the snapshots of an image already
requested, bounded), and what it did is written to the save's journal (rewritten
from the watchdog's last reading if someone removed it), so ``prism save --resume``
and ``--abort`` find the save and say what happened.

While it lives it holds the save's lease (:mod:`prism_core.save.watchdog_lease`): a
second save of the instance does not take the lock as stale, and ``--resume`` leaves
the save alone, until the watchdog is done. It writes nothing to a terminal.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import sys
import time
from pathlib import Path
from typing import Any

from prism_core.aws.waiting import SYSTEM_CLOCK, Clock
from prism_core.save.owner import Owner, OwnerWatch, process_status
from prism_core.save.restart import Restart, RestartTimings
from prism_core.save.watchdog_duty import DONE, LEAVE, START, next_step
from prism_core.save.watchdog_spawn import READY, RELEASED


class Watchdog:
    """Guards one instance for one owner; brings the instance back if the owner goes."""

    def __init__(
        self,
        args: argparse.Namespace,
        owner: OwnerWatch,
        *,
        ec2: Any = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """``args``: its command line; ``ec2``: the client for the instance (by default
        one made from ``--region`` and ``--profile`` when first needed); ``clock``: the
        time and pauses of its looks at the instance and of the restart."""
        self.path = Path(args.journal)
        self.save_id: str = args.save_id
        self.instance_id: str = args.instance_id
        self.region: str = args.region
        self.image_name: str = args.image_name
        self.owner = owner
        self.poll = max(0.01, float(args.poll))
        self.stop_timeout = float(args.stop_timeout)
        self.start_timeout = float(args.start_timeout)
        self.snapshots_timeout = float(args.snapshots_timeout)
        self.profile: str | None = args.profile
        #: The save's state as last read from its journal (``None``: never readable).
        self.memory: Any = None
        self._ec2: Any = ec2
        self.clock = clock
        self.timings = RestartTimings(
            poll=self.poll,
            stop=self.stop_timeout,
            start=self.start_timeout,
            snapshots=self.snapshots_timeout,
        )
        self._restart: Restart | None = None
        self._channel = sys.stdin.buffer
        self._said = b""

    # ----------------------------------------------------------------- watching
    def _read_journal(self) -> Any:
        """The journal, if it can be read and is this save's; it updates :attr:`memory`."""
        from prism_core.exceptions import InputError
        from prism_core.save.journal import Journal

        try:
            journal = Journal.load(self.path)
        except (InputError, OSError):
            return None
        if journal.state.save_id != self.save_id:
            return None
        self.memory = journal.state
        return journal

    def _listen(self, timeout: float) -> str | None:
        """``"released"`` if the owner said the instance runs, ``"closed"`` if its end of
        the pipe closed without that (it exited), else ``None`` after ``timeout``."""
        try:
            ready, _, _ = select.select([self._channel], [], [], timeout)
        except (OSError, ValueError):
            time.sleep(timeout)
            return None
        if not ready:
            return None
        chunk = os.read(self._channel.fileno(), 64)
        self._said += chunk
        if RELEASED in self._said:
            return "released"
        return "closed" if not chunk else None

    def run(self) -> int:
        """Watch until released or the owner is gone; return the exit code."""
        channel_open = True
        while True:
            self._read_journal()
            heard = self._listen(self.poll) if channel_open else None
            if not channel_open:
                time.sleep(self.poll)
            if heard == "released":
                return 0
            if heard == "closed":
                channel_open = False
            # a closed pipe alone proves nothing (the owner may have dropped its end while
            # it runs on): the process table decides
            why = self.owner.gone()
            if why is not None:
                if why == "suspended":
                    self._end_owner()
                self.take_over(why)
                return 0

    def _end_owner(self) -> None:
        """End an owner suspended for longer than the grace (it holds the instance down
        and runs no code): it is this watchdog's parent, checked by its start time."""
        owner = self.owner.owner
        status = process_status(owner.pid)
        if status is None or (owner.started is not None and status[1] != owner.started):
            return
        try:
            os.kill(owner.pid, signal.SIGKILL)
        except OSError:
            return
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            now = process_status(owner.pid)
            if now is None or now[0] in ("Z", "X", "x") or now[1] != status[1]:
                return
            time.sleep(0.02)

    # ----------------------------------------------------------------- acting
    def ec2(self) -> Any:
        """A client with a small botocore budget; throttling is retried by prism's loop."""
        if self._ec2 is None:
            from prism_core.aws.clients import AwsClients

            self._ec2 = AwsClients(self.region, profile=self.profile).critical_ec2(self.region)
        return self._ec2

    def restarter(self) -> Restart:
        """The restart routine, shared with the guard (:mod:`prism_core.save.restart`)."""
        if self._restart is None:
            self._restart = Restart(
                self.ec2(), self.instance_id, self.region, self.timings, clock=self.clock
            )
        return self._restart

    def _state(self) -> str | None:
        """The instance's state in EC2 (``None``: EC2 does not know it; ``"unknown"``:
        EC2 did not answer, throttling retried for one poll delay)."""
        try:
            return self.restarter().state()
        except Exception:
            return "unknown"

    def _settle(self) -> str | None:
        """Look at the instance until the next step is clear; its last state, or
        ``"stopped"`` once the stop timeout passed with the instance still stopping."""
        clock = self.clock
        deadline = clock.monotonic() + self.stop_timeout + self.poll
        seen_back = False
        settle = max(self.poll, 1.0)
        while True:
            state = self._state()
            # whatever the journal says, a StopInstances sent just before the owner went
            # may not show yet: an instance found up is looked at once more
            step = next_step(state, seen_back=seen_back, stop_in_flight=True)
            if step in (DONE, LEAVE, START):
                return state
            if state in ("pending", "running"):
                seen_back = True
                clock.pause(settle)
                continue
            if clock.monotonic() >= deadline:
                return "stopped"  # try the start anyway: EC2 says why it refuses
            clock.pause(self.poll)

    def take_over(self, why: str) -> None:
        """The owner is gone: bring the instance back if it is down, and journal it."""
        self._read_journal()
        state = self._settle()
        if state in ("pending", "running"):
            return  # never stopped, or restarted already: nothing to do
        if next_step(state, seen_back=True, stop_in_flight=False) == LEAVE:
            self._record_gone(state)
            return
        self._take_journal()
        image = self._image_requested()
        waits_for = image.image_id if image is not None and not image.snapshot_ids else None
        error: str | None = None
        try:
            done = self.restarter().bring_back(waits_for)
        except Exception as exc:
            from prism_core.aws.clients import error_message

            error = error_message(exc)
        else:
            if done.gone:
                self._record_gone(done.state)
                return
            if done.snapshot_ids is not None and image is not None:
                image.snapshot_ids = done.snapshot_ids
        self._record_start(why, image, error)
        if error is None:
            self._confirm_running()

    def _record_gone(self, state: str | None) -> None:
        gone = "no longer exists" if state is None else f"is {state}"

        def record(saved: Any) -> None:
            self._note(
                saved,
                f"instance {self.instance_id} {gone}: its watchdog had nothing to restart "
                "when prism went",
            )
            if saved.status == "running":
                saved.status = "interrupted"
            saved.pid = saved.pid_started = None

        self._journal(record)

    def _take_journal(self) -> None:
        """Record this process as the save's, so ``--resume`` leaves it alone meanwhile."""
        from prism_core.save.journal import this_process

        owner = this_process()

        def mine(state: Any) -> None:
            state.pid, state.pid_started = owner["pid"], owner["pid_started"]

        self._journal(mine)

    def _image_requested(self) -> Any:
        """The source image (a :class:`RegionImage`) if one was requested (its snapshots
        are waited for by the restart, bounded); ``None`` if there is none.

        The image is the one EC2 shows with the save's image name and save id (both from
        the command line): an id in the journal is not waited for unless EC2 shows it so
        (a forged id cannot keep the instance down). It is looked for once, or for up to
        ten poll delays (at least 30 s) when the journal said one was requested (a new
        image can take a moment to be listed)."""
        from prism_core.save.restart import recover_image_id
        from prism_core.save.state import PENDING, REQUESTED, RegionImage

        memory = self.memory
        image = memory.images.get(self.region) if memory is not None else None
        patient = image is not None and image.image_id is not None
        try:
            found = recover_image_id(
                self.ec2(),
                self.image_name,
                self.save_id,
                patience=min(self.snapshots_timeout, max(30.0, 10 * self.poll)) if patient else 0,
                poll=self.poll,
                clock=self.clock,
            )
        except Exception:
            found = None
        if found is None:
            return image if image is not None and image.image_id is None else None
        if image is None or image.image_id != found:
            image = RegionImage(region=self.region)
        image.image_id = found
        if image.state == REQUESTED:
            image.state = PENDING
        return image

    def _record_start(self, why: str, image: Any, error: str | None) -> None:
        imaged = image is not None and bool(image.image_id)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        how = (
            "prism was suspended for too long, so its watchdog ended it"
            if why == "suspended"
            else "prism exited"
        )

        def record(state: Any) -> None:
            if error is None:
                note = (
                    f"{how} while instance {self.instance_id} was stopped; its watchdog "
                    f"started it again at {stamp}"
                )
                if not imaged:
                    note += " (before the image was requested: the save stops it once more)"
                    state.stopped_by_prism = False
                    state.instance_restarted = False
                    state.downtime_started = None
                else:
                    state.instance_restarted = True
                self._note(state, note)
            else:
                state.failures.append(
                    f"the watchdog could not start instance {self.instance_id} after prism "
                    f"exited: {error}; start it from the console or run `prism save --resume`"
                )
            if image is not None:
                state.images[self.region] = image
            if state.status not in ("aborting", "aborted"):
                state.status = "interrupted"  # whatever it said, the save is not over
            state.pid = state.pid_started = None

        self._journal(record)

    def _confirm_running(self) -> None:
        """Wait until the instance runs (its downtime ends then), leaving at once if it
        was terminated meanwhile; bounded by the start timeout. An instance that does not
        come up is journaled as a failure and as not restarted, so ``--resume`` starts it."""
        from prism_core.aws.clients import error_message
        from prism_core.exceptions import WaitTimeout
        from prism_core.save.restart import InstanceGone, StartFailed

        try:
            self.restarter().confirm_running(first_check_after=self.poll)
        except InstanceGone:
            return
        except (StartFailed, WaitTimeout) as exc:
            why = error_message(exc)

            def failed(state: Any) -> None:
                state.failures.append(
                    f"the watchdog started instance {self.instance_id} but it did not come "
                    f"up: {why}; start it from the console or run `prism save --resume`"
                )
                if state.stopped_by_prism:
                    state.instance_restarted = False

            self._journal(failed)
            return
        except Exception:
            return  # EC2 did not answer: the restart was journaled, nothing more is known
        ended = time.time()

        def back(state: Any) -> None:
            if state.instance_restarted and state.downtime_ended is None:
                state.downtime_ended = ended

        self._journal(back)

    # ----------------------------------------------------------------- the journal
    @staticmethod
    def _note(state: Any, note: str) -> None:
        if note not in state.summary:
            state.summary.append(note)

    def _journal(self, change: Any) -> None:
        """Apply ``change`` to the save's journal and write it; a journal removed (or
        damaged) meanwhile is written again from the last reading, saying so."""
        from prism_core.save.journal import Journal

        journal = self._read_journal()
        if journal is None:
            if self.memory is None:
                return  # never read: nothing to write back
            journal = Journal(self.path.parent, self.memory)
            journal.path = self.path
            self._note(
                self.memory,
                f"the journal {self.path.name} had been removed or damaged while the save "
                "ran; its watchdog wrote it again from its last reading",
            )
        with journal.lock:
            change(journal.state)
            journal.write()
        self.memory = journal.state


def _owner_from(args: argparse.Namespace) -> Owner | None:
    """The owner named on the command line, if it is this process's parent."""
    started = int(args.owner_started) if args.owner_started.strip().isdigit() else None
    if args.owner_pid != os.getppid():
        return None
    status = process_status(args.owner_pid)
    if status is not None and started is not None and status[1] != started:
        return None
    return Owner(pid=args.owner_pid, started=started)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m prism_core.save.watchdog``."""
    from prism_core.save import watchdog_lease

    parser = argparse.ArgumentParser(prog="prism-watchdog")
    parser.add_argument("--journal", required=True)
    parser.add_argument("--save-id", required=True)
    parser.add_argument("--instance-id", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--image-name", required=True)
    parser.add_argument("--owner-pid", type=int, required=True)
    parser.add_argument("--owner-started", default="")
    parser.add_argument("--grace", type=float, default=60.0)
    parser.add_argument("--poll", type=float, default=7.5)
    parser.add_argument("--stop-timeout", type=float, default=1200.0)
    parser.add_argument("--start-timeout", type=float, default=1200.0)
    parser.add_argument("--snapshots-timeout", type=float, default=1800.0)
    parser.add_argument("--profile", default=None)
    args = parser.parse_args(argv)
    # Its own session already keeps the terminal's signals away; be explicit anyway.
    for name in ("SIGHUP", "SIGINT", "SIGQUIT", "SIGPIPE", "SIGTSTP", "SIGTTIN", "SIGTTOU"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    owner = _owner_from(args)
    if owner is None:
        return 2  # not started by the save it would guard: prism refuses to stop
    lease: watchdog_lease.Lease | None = None
    try:
        lease = watchdog_lease.take(Path(args.journal).parent, args.save_id)
    except watchdog_lease.Held:
        return 2  # another watchdog guards this save: prism refuses to stop
    except OSError:
        pass  # no lease file (PRISM_HOME unwritable): the instance is guarded all the same
    watchdog = Watchdog(args, OwnerWatch(owner, args.grace))
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
    finally:
        if lease is not None:
            lease.release()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
