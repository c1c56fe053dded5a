"""The instance's safety during the image: whatever happens, it ends as it began.

Three image modes (``SaveRequest.image_mode``):

- ``reboot`` (default): CreateImage without NoReboot. EC2 shuts the OS down, takes the
  snapshots and boots the instance again, server-side; prism never stops it. The guard
  only measures the downtime: from CreateImage until the instance passes its status
  checks again (in the background, while the save goes on).
- ``stop``: the guard stops the instance and starts it as soon as the image lists its
  snapshots (not when the image is available). From before StopInstances until the
  instance runs again a watchdog process (:mod:`prism_core.save.watchdog`) holds the
  restart duty too, so ``kill -9`` of prism or a closed terminal cannot strand it. On
  any failure, Ctrl-C included, the guard waits (bounded) for the snapshots of an image
  already requested, then starts the instance; a second signal cannot interrupt that.
- ``no-reboot``: nothing to guard.

An instance found ``stopping`` is waited for (CreateImage refuses it) and stays stopped.
Calls made while the instance is down retry AWS throttling until the stop/start timeouts.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prism_core.aws.clients import error_code, error_message
from prism_core.aws.ec2 import describe_instance
from prism_core.aws.waiting import SYSTEM_CLOCK, Clock, retry_throttled, wait_for
from prism_core.exceptions import OperationFailed
from prism_core.reporting import format_duration
from prism_core.save import image_mode, suspend_shield
from prism_core.save.context import SaveContext
from prism_core.save.journal import write_failure
from prism_core.save.restart import Restart, RestartTimings

#: Signals handled like Ctrl-C (the terminal closing, Ctrl-\\, ``kill``), deferred here.
SHIELDED = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
    if hasattr(signal, name)
)


@contextmanager
def sigint_shield(progress: Any) -> Iterator[None]:
    """Defer Ctrl-C, SIGTERM, SIGHUP and SIGQUIT while the instance is brought back.

    Runs in the main thread only. A signal that arrives inside is delivered again as
    soon as the block ends.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def deferred(signum: int, frame: Any) -> None:
        caught.append(signum)
        progress.line("warn", "Bringing the instance back first; prism stops when it is done.")

    previous = {signum: signal.signal(signum, deferred) for signum in SHIELDED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if caught:
        signal.raise_signal(caught[0])


def status_checks(ec2: Any, instance_id: str) -> tuple[str, str]:
    """(instance state, combined status) from DescribeInstanceStatus.

    The combined status is ``ok`` when both the instance and the system checks pass,
    ``impaired`` if either failed, else the first one that is not ``ok``.
    """
    answer = ec2.describe_instance_status(InstanceIds=[instance_id], IncludeAllInstances=True)
    statuses = answer.get("InstanceStatuses") or []
    if not statuses:
        return "unknown", "unknown"
    record = statuses[0]
    state = str((record.get("InstanceState") or {}).get("Name", "unknown"))
    checks = [
        str((record.get(key) or {}).get("Status", "unknown"))
        for key in ("InstanceStatus", "SystemStatus")
    ]
    if all(c == "ok" for c in checks):
        return state, "ok"
    if "impaired" in checks:
        return state, "impaired"
    return state, next(c for c in checks if c != "ok")


def _stopped_a_running_instance(answer: Any) -> bool:
    """Whether StopInstances' answer says the instance was running (or pending) before
    it: this request stopped it (not one that was stopping or stopped already)."""
    try:
        return answer["StoppingInstances"][0]["PreviousState"]["Name"] in ("pending", "running")
    except (KeyError, IndexError, TypeError):
        return False


def image_requested(ctx: SaveContext) -> bool:
    """Whether the source image was requested already (EC2 gave its id)."""
    source = ctx.source_image()
    return source is not None and source.image_id is not None


def stops_again(ctx: SaveContext) -> bool:
    """Whether resuming ``ctx`` stops its instance: ``--stop``, the image not requested
    yet, and the instance up now (started again by hand, or by the watchdog)."""
    state = ctx.state
    return (
        image_mode.stops(ctx.request.image_mode, state.instance_original_state)
        and not state.instance_restarted
        and not image_requested(ctx)
        and ctx.instance.state in ("pending", "running")
    )


class InstanceGuard:
    """Keeps the instance safe through the image phase, in the request's image mode."""

    def __init__(self, ctx: SaveContext, *, ec2: Any = None, clock: Clock = SYSTEM_CLOCK) -> None:
        """``ec2``: the client for the calls made while the instance is down (by default
        ``ctx.aws.critical_ec2``); ``clock``: the restart's time and pauses."""
        self.ctx = ctx
        self.ec2 = ec2 if ec2 is not None else ctx.aws.critical_ec2(ctx.source_region)
        #: The restart routine, shared with the watchdog.
        self.restarter = Restart(
            self.ec2,
            ctx.request.instance_id,
            ctx.source_region,
            RestartTimings.from_settings(ctx.settings),
            clock=clock,
            notify=ctx.progress.line,
        )
        self._watcher: threading.Thread | None = None
        self._watchdog: Any = None
        #: Whether this run told :mod:`suspend_shield` the instance is held down.
        self._held_down = False
        self.start_error: str | None = None
        #: How long this run's StopInstances took to show ``stopped`` (seconds): the
        #: expected duration of the start, whose polls are scheduled from it.
        self.stop_seconds: float | None = None

    # ----------------------------------------------------------------- what happens
    @property
    def will_stop(self) -> bool:
        """Whether this save stops the instance (``--stop``, running when it began)."""
        return image_mode.stops(self.ctx.request.image_mode, self.ctx.state.instance_original_state)

    @property
    def will_reboot(self) -> bool:
        """Whether EC2 reboots the instance during CreateImage (reboot mode, running when
        the save began)."""
        return image_mode.reboots(
            self.ctx.request.image_mode, self.ctx.state.instance_original_state
        )

    def prepare(self) -> None:
        """Before anything else: an instance still ``stopping`` is waited for (it ends
        ``stopped``, as its owner wanted); CreateImage refuses a stopping instance."""
        ctx = self.ctx
        if ctx.state.instance_original_state != "stopping" or ctx.source_image() is not None:
            return
        instance_id = ctx.request.instance_id
        ctx.progress.line("wait", f"Instance {instance_id} is stopping; waiting until stopped...")

        def stopped() -> bool | None:
            now = describe_instance(self.ec2, instance_id, ctx.source_region).state
            if now == "stopped":
                return True
            if now != "stopping":
                raise OperationFailed(
                    f"instance {instance_id} became {now} while prism waited for it to stop",
                    "run the save again",
                )
            return None

        ctx.wait(stopped, what=f"instance {instance_id} to stop", limit="stop")
        ctx.progress.line("ok", "Instance stopped; it stays stopped", since="wait")

    # ----------------------------------------------------------------- stop mode
    def stop(self) -> None:
        """Start the watchdog, stop the instance, wait until ``stopped`` (journaled first)."""
        ctx, state = self.ctx, self.ctx.state
        if not self.will_stop or state.instance_restarted:
            return
        if image_requested(ctx):  # resumed: the snapshots are of that moment already
            if state.stopped_by_prism and ctx.instance.state in ("stopping", "stopped"):
                self._start_watchdog()  # still down: guarded until the restart
            return
        instance_id = ctx.request.instance_id
        self._start_watchdog()
        if not state.stopped_by_prism:
            ctx.record(stopped_by_prism=True, downtime_started=time.time())
            if ctx.journal.write_error:  # the watchdog and --resume would not know
                ctx.state.stopped_by_prism = False
                ctx.state.downtime_started = None
                what, todo = write_failure(
                    ctx.settings.home, ctx.journal.write_error, ctx.journal.out_of_room
                )
                raise OperationFailed(
                    f"{what}, so the stop could not be recorded; the instance was not stopped",
                    f"{todo}, then save again",
                )
        suspend_shield.instance_down(instance_id)  # Ctrl-Z is ignored until it runs again
        self._held_down = True
        ctx.progress.line("stop", "Stopping instance for consistent AMI creation...")
        requested: float | None = None
        try:  # no DescribeInstances first: EC2 answers a stopped or stopping one as it is
            answer = retry_throttled(
                lambda: self.ec2.stop_instances(InstanceIds=[instance_id]),
                what=f"stopping {instance_id}",
                timeout=ctx.settings.timeouts["stop"],
                poll=ctx.settings.critical_poll_delay,
            )
        except Exception as exc:
            if error_code(exc) != "IncorrectInstanceState":
                raise
            current = self.restarter.state(patience=ctx.settings.timeouts["start"])
            if current in ("pending", "running"):
                raise
            if current not in ("stopping", "stopped"):
                now = "no longer exists" if current is None else f"is {current}"
                raise OperationFailed(
                    f"instance {instance_id} {now} and cannot be stopped"
                ) from None
        else:
            if _stopped_a_running_instance(answer):
                requested = time.monotonic()

        def stopped() -> bool | None:
            now = describe_instance(self.ec2, instance_id, ctx.source_region).state
            if now == "stopped":
                return True
            if now not in ("stopping", "pending", "running"):
                raise OperationFailed(f"instance {instance_id} became {now} while stopping")
            return None

        # a stop takes tens of seconds: every half poll delay from the first, no back-off
        ctx.wait(
            stopped,
            what=f"instance {instance_id} to stop",
            limit="stop",
            critical=True,
            down=True,
            steady=True,
        )
        if requested is not None:
            self.stop_seconds = time.monotonic() - requested
        ctx.progress.line("ok", "Instance stopped", since="stop")

    def _start_watchdog(self) -> None:
        """The watchdog must be running before the instance goes down, or nothing stops."""
        from prism_core.save import watchdog_spawn

        if self._watchdog is not None and self._watchdog.alive():
            return
        try:
            self._watchdog = watchdog_spawn.spawn(self.ctx)
        except OSError as exc:
            raise OperationFailed(
                f"could not start the restart watchdog ({exc}); the instance was not stopped",
                "save without --stop (EC2 then reboots the instance itself)",
            ) from None
        self.ctx.progress.line(
            "info",
            f"Watchdog (pid {self._watchdog.pid}) will start the instance again if prism dies",
        )

    def restart(self, image_id: str | None = None) -> None:
        """Start the instance now if prism stopped it (after EC2 lists the snapshots of
        ``image_id``, bounded); confirm ``running`` in the background."""
        ctx, state = self.ctx, self.ctx.state
        if not state.stopped_by_prism or state.instance_restarted:
            return
        with sigint_shield(ctx.progress):
            self.restarter.bring_back(image_id)
            # sent, or needless (up or gone meanwhile): the confirmation tells which
            ctx.record(instance_restarted=True)
        self._instance_up()
        self._watcher = threading.Thread(
            target=self._confirm_running, daemon=True, name="prism-start"
        )
        self._watcher.start()

    def _confirm_running(self) -> None:
        ctx = self.ctx
        # A start takes about as long as the stop did: polls scheduled from that (from
        # three quarters of it, then one per critical poll delay), but never later than
        # two poll delays in (a slow stop says little about the start; a failed start,
        # back to stopped, is seen and reported without delay).
        expected = ctx.settings.critical_poll_delay
        if self.stop_seconds:
            expected = min(0.75 * self.stop_seconds, 2 * ctx.settings.poll_delay)
        try:
            info = self.restarter.confirm_running(first_check_after=expected)
        except Exception as exc:
            self.start_error = error_message(exc)
            return
        ctx.record(downtime_ended=time.time())
        self._release_watchdog()  # the instance runs: the watchdog's duty is done
        ctx.progress.line("ok", "Instance restarted successfully", since="start")
        self._note_address(info.public_ip)

    def _note_address(self, public_ip: str | None) -> None:
        """The summary gives the restarted instance's public IP (a stop releases the old
        one unless an Elastic IP is attached)."""
        ctx = self.ctx
        if not public_ip:
            return
        before = ctx.instance.public_ip if ctx.instance is not None else None
        name = ctx.request.instance_name or ctx.request.instance_id
        if before and before == public_ip:
            ctx.summary_note(f"Instance public IP unchanged: {public_ip}")
            return
        was = f" (was {before})" if before else ""
        ctx.summary_note(
            f"Instance's new public IP: {public_ip}{was}; connect with `prism connect {name}`"
        )

    def _instance_up(self) -> None:
        if self._held_down:
            self._held_down = False
            suspend_shield.instance_up(self.ctx.request.instance_id)

    # ----------------------------------------------------------------- reboot mode
    def begin_reboot(self) -> None:
        """Just before CreateImage without NoReboot: the downtime starts now."""
        ctx = self.ctx
        if not self.will_reboot or ctx.state.rebooted_by_ec2:
            return
        ctx.record(rebooted_by_ec2=True, downtime_started=time.time())

    def reboot_not_sent(self) -> None:
        """CreateImage failed before an image id came back: no reboot to wait for."""
        ctx = self.ctx
        source = ctx.source_image()
        if ctx.state.rebooted_by_ec2 and (source is None or source.image_id is None):
            ctx.record(rebooted_by_ec2=False, downtime_started=None)

    def confirm_reboot(self) -> None:
        """Wait in the background until the rebooted instance passes its status checks."""
        ctx = self.ctx
        if not ctx.state.rebooted_by_ec2 or ctx.state.downtime_ended is not None:
            return
        if self._watcher is not None:
            return
        ctx.progress.line(
            "start", "EC2 is rebooting the instance; waiting for its status checks to pass..."
        )
        self._watcher = threading.Thread(
            target=self._confirm_checks, daemon=True, name="prism-reboot"
        )
        self._watcher.start()

    def _confirm_checks(self) -> None:
        ctx, instance_id = self.ctx, self.ctx.request.instance_id
        last: list[str] = ["unknown"]

        def passed() -> bool | None:
            state, status = status_checks(self.ec2, instance_id)
            last[0] = status
            if state in ("stopped", "stopping", "terminated", "shutting-down"):
                raise OperationFailed(f"instance {instance_id} is {state} after EC2's reboot")
            if state == "running" and status == "impaired":
                raise OperationFailed(f"instance {instance_id} is impaired after EC2's reboot")
            return True if state == "running" and status == "ok" else None

        # A reboot takes tens of seconds: one check per poll delay, the first one in
        # (the instance is back at most one poll delay before prism sees it).
        try:
            wait_for(
                passed,
                what=f"instance {instance_id} to pass its status checks",
                timeout=ctx.settings.timeouts["start"],
                poll=ctx.settings.poll_delay,
                cancel=ctx.cancel,
                retry_throttling=True,
                first_check_after=ctx.settings.poll_delay,
            )
        except Exception as exc:
            message = (
                f"instance {instance_id} had not passed its status checks ({last[0]}) when "
                f"prism stopped watching: {error_message(exc)}"
            )
            ctx.summary_note(message + "; check it in the EC2 console")
            ctx.progress.line("warn", message)
            return
        ctx.record(downtime_ended=time.time())
        downtime = ctx.state.downtime_seconds or 0.0
        ctx.progress.line(
            "ok",
            f"Instance is back: status checks passed (downtime {format_duration(downtime)})",
        )

    # ----------------------------------------------------------------- both
    def join(self) -> None:
        """Wait for the running confirmation; a failure to start is reported.

        The watchdog is released only once the instance was seen running; if the start
        failed it keeps the restart duty and acts when this process exits."""
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None
        if self.ctx.state.instance_restarted and self.start_error is None:
            self._release_watchdog()
        if self.start_error:
            self.ctx.record_failure(
                f"instance {self.ctx.request.instance_id} did not come back: {self.start_error}; "
                "start it from the console or with `aws ec2 start-instances` (its watchdog "
                "tries again once prism exits)"
            )
            self.start_error = None

    def hand_over(self) -> None:
        """``--detach --stop``: the save engine holds the restart duty now; the watchdog
        is released and the instance is no longer held down by this process."""
        self._instance_up()
        self._release_watchdog()

    def _release_watchdog(self) -> None:
        """The instance runs again: the watchdog is told so through its pipe and exits
        (one that does not is ended; while this process lives it only waits)."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.release(wait=max(5.0, 4 * self.ctx.settings.poll_delay))

    def restart_after_failure(self) -> None:
        """On any failure: let requested snapshots be listed (bounded), then restart."""
        try:
            self._restart_after_failure()
        finally:
            state = self.ctx.state
            if not state.stopped_by_prism or state.instance_restarted:
                self._instance_up()
            if not state.stopped_by_prism:  # no stop was sent: nothing to guard
                self._release_watchdog()

    def _restart_after_failure(self) -> None:
        ctx = self.ctx
        if ctx.state.rebooted_by_ec2:
            self.reboot_not_sent()
            self.confirm_reboot()
            return
        if not ctx.state.stopped_by_prism or ctx.state.instance_restarted:
            return
        image = ctx.source_image()
        waits_for = None  # the snapshots of an image requested are listed first (bounded)
        if image is not None and image.image_id and not image.snapshot_ids:
            waits_for = image.image_id
        with sigint_shield(ctx.progress):
            try:
                self.restart(waits_for)
            except Exception as exc:
                ctx.record_failure(
                    f"could not restart instance {ctx.request.instance_id}: "
                    f"{error_message(exc)}; the watchdog keeps trying; or run "
                    "`prism save --resume` or start it from the console"
                )
                ctx.progress.line("fail", f"Could not restart the instance: {error_message(exc)}")
                return
        self.join()
