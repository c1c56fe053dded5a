"""Bringing back an instance prism stopped: the one restart routine of ``--stop``.

The guard (:mod:`prism_core.save.guard`, in prism's process) and the watchdog
(:mod:`prism_core.save.watchdog`, outside it) both restart the instance with
:class:`Restart`; neither has its own copy of these steps:

1. let EC2 list the snapshots of an image already requested, bounded (a stranded
   instance is worse than an unusable image; once listed, the start changes nothing
   they hold);
2. StartInstances, throttling retried until the start timeout; a start EC2 refuses
   because the instance is still stopping is sent once more when it has stopped, and
   an instance up or gone meanwhile needs nothing more;
3. confirm it runs: back to ``stopped`` (EC2 had no capacity) or gone is an error.

:func:`recover_image_id` finds a save's image by its name when its id never came back
(a killed run, a lost CreateImage response): the watchdog, the failure and interrupt
paths of the pipeline and the built-in image plugin look for it the same way.

Collaborators are given, not found: the EC2 client, a :class:`~prism_core.aws.waiting.Clock`,
the :class:`RestartTimings` and a ``notify(kind, text)`` callback for progress lines;
what the caller journals it does itself with the answers. Unit tests run the rules
with a stubbed client and a fake clock, in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prism_core.aws.clients import error_code, error_message
from prism_core.aws.ec2 import (
    InstanceInfo,
    find_image_by_name,
    instance_record,
    instance_state,
    listed_snapshots,
)
from prism_core.aws.tags import SAVE_ID_TAG, tags_of
from prism_core.aws.waiting import (
    SYSTEM_CLOCK,
    Clock,
    WaitSchedule,
    retry_throttled,
    wait_for,
)
from prism_core.exceptions import OperationFailed, WaitTimeout

#: EC2 states of an instance that is up, or on its way up.
UP = frozenset({"pending", "running"})
#: States (``None``: EC2 does not know the instance) of an instance nobody can start.
GONE = frozenset({None, "shutting-down", "terminated"})
#: Error codes of a request naming an instance EC2 does not know.
UNKNOWN_INSTANCE = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})

#: ``notify(kind, text)``: a progress line (kinds as :meth:`Progress.line` takes them).
Notify = Callable[[str, str], None]


def _silent(kind: str, text: str) -> None:
    """The watchdog's notifier: it writes nothing to a terminal."""


class InstanceGone(OperationFailed):
    """The instance was terminated (or EC2 no longer knows it): nothing to restart."""


class StartFailed(OperationFailed):
    """EC2 accepted the start but the instance did not come up (back to ``stopped``)."""


@dataclass(frozen=True)
class RestartTimings:
    """How often the restart looks at the instance, and how long each step may take.

    ``poll``: seconds between two looks while the instance is down (prism's critical
    poll delay: every second is downtime); ``stop``: the longest wait for a ``stopping``
    instance; ``start``: how long throttled starts are retried, and then how long the
    instance may take to run; ``snapshots``: the longest wait for EC2 to list an
    image's snapshots before the start.
    """

    poll: float
    stop: float
    start: float
    snapshots: float

    @classmethod
    def from_settings(cls, settings: Any) -> RestartTimings:
        """The timings of prism's settings (``prism.timeouts``, the poll delay)."""
        return cls(
            poll=float(settings.critical_poll_delay),
            stop=float(settings.timeouts["stop"]),
            start=float(settings.timeouts["start"]),
            snapshots=float(settings.timeouts["snapshots"]),
        )

    def schedule(self, timeout: float, first_check_after: float | None = None) -> WaitSchedule:
        """A wait while the instance is down: every ``poll`` (backing off from a quarter
        of it), throttling retried until ``timeout``."""
        return WaitSchedule(
            poll=self.poll,
            timeout=timeout,
            first_check_after=first_check_after,
            retry_throttling=True,
        )


@dataclass(frozen=True)
class Restarted:
    """What :meth:`Restart.bring_back` did.

    ``state``: ``"pending"`` once EC2 accepted the start, else the state that made it
    needless (up already: ``"pending"``/``"running"``; gone: see :data:`GONE`).
    ``snapshot_ids``: the image's snapshots EC2 listed before the start (``None``: no
    image to wait for, or not listed within the bound).
    """

    state: str | None
    snapshot_ids: list[str] | None = None

    @property
    def gone(self) -> bool:
        """Whether the instance was gone when the start was sent: nothing was started."""
        return self.state in GONE


class Restart:
    """Restarts one stopped instance; see the module's steps."""

    def __init__(
        self,
        ec2: Any,
        instance_id: str,
        region: str,
        timings: RestartTimings,
        *,
        clock: Clock = SYSTEM_CLOCK,
        notify: Notify = _silent,
    ) -> None:
        self.ec2 = ec2
        self.instance_id = instance_id
        self.region = region
        self.timings = timings
        self.clock = clock
        self.notify = notify

    # ----------------------------------------------------------------- looking
    def _record(self) -> dict[str, Any] | None:
        """The instance's DescribeInstances record (``None``: EC2 does not know it)."""
        try:
            return instance_record(self.ec2, self.instance_id)
        except Exception as exc:
            if error_code(exc) in UNKNOWN_INSTANCE:
                return None
            raise

    def _look(self) -> str | None:
        record = self._record()
        return None if record is None else instance_state(record)

    def state(self, patience: float | None = None) -> str | None:
        """The instance's state in EC2 (``None``: EC2 does not know it); throttling is
        retried for ``patience`` seconds (one poll by default), other errors raise."""
        timings = self.timings
        return retry_throttled(
            self._look,
            what="the instance's state",
            timeout=timings.poll if patience is None else patience,
            poll=timings.poll,
            clock=self.clock,
        )

    # ----------------------------------------------------------------- the steps
    def snapshots(self, image_id: str) -> list[str]:
        """Wait until EC2 lists the snapshots of ``image_id`` (``[]`` for a failed
        image); :class:`~prism_core.exceptions.WaitTimeout` after the snapshots timeout."""
        return wait_for(
            lambda: listed_snapshots(self.ec2, image_id),
            schedule=self.timings.schedule(self.timings.snapshots),
            what=f"the snapshots of {image_id}",
            clock=self.clock,
        )

    def until_not_stopping(self) -> str | None:
        """Wait until the instance is no longer ``stopping``; its state then. Once the
        stop timeout passed it is still ``"stopping"``: the caller starts it anyway and
        EC2 says why it refuses."""

        def settled() -> tuple[str | None] | None:
            now = self._look()
            return None if now == "stopping" else (now,)

        try:
            return wait_for(
                settled,
                schedule=self.timings.schedule(self.timings.stop),
                what=f"instance {self.instance_id} to finish stopping",
                clock=self.clock,
            )[0]
        except WaitTimeout:
            return "stopping"

    def _send_start(self) -> None:
        retry_throttled(
            lambda: self.ec2.start_instances(InstanceIds=[self.instance_id]),
            what=f"starting {self.instance_id}",
            timeout=self.timings.start,
            poll=self.timings.poll,
            clock=self.clock,
        )

    def start(self) -> str | None:
        """Send StartInstances (no DescribeInstances first: EC2 refuses only an instance
        still stopping). ``"pending"`` once EC2 accepted it; a start refused because the
        instance is stopping is sent once more when it stopped; an instance up or gone
        meanwhile returns its state (``None``: EC2 does not know it). Any other refusal
        raises EC2's error (the second one, if the instance never stopped)."""
        for attempt in (1, 2):
            try:
                self._send_start()
                return "pending"
            except Exception as exc:
                code = error_code(exc)
                if code in UNKNOWN_INSTANCE:
                    return None
                if code != "IncorrectInstanceState" or attempt == 2:
                    raise
            state = self.until_not_stopping()
            if state not in ("stopped", "stopping"):
                return state  # up or gone meanwhile
        raise AssertionError("unreachable")  # pragma: no cover

    def bring_back(self, image_id: str | None = None) -> Restarted:
        """Steps 1 and 2: the snapshots of ``image_id`` first (a wait that fails only
        delays the start, and says so), then the start; each announced by ``notify``."""
        listed: list[str] | None = None
        if image_id:
            self.notify("wait", f"Letting EC2 list the snapshots of {image_id} first...")
            try:
                listed = self.snapshots(image_id)
            except Exception as exc:
                self.notify("warn", f"Restarting anyway: {error_message(exc)}")
        self.notify("start", f"Restarting instance {self.instance_id}...")
        return Restarted(self.start(), listed)

    def confirm_running(self, first_check_after: float | None = None) -> InstanceInfo:
        """Step 3: wait until the instance runs (throttling retried until the start
        timeout); its record then. No look before ``first_check_after`` seconds (a start
        takes about as long as the stop did). Back to ``stopped`` raises
        :class:`StartFailed`, gone :class:`InstanceGone`."""
        instance_id = self.instance_id

        def running() -> InstanceInfo | None:
            record = self._record()
            now = None if record is None else instance_state(record)
            if record is not None and now == "running":
                return InstanceInfo.from_api(record, self.region)
            if now in GONE:
                what = "no longer exists" if now is None else f"is {now}"
                raise InstanceGone(f"instance {instance_id} {what} after the restart request")
            if now == "stopped":
                reason = str(((record or {}).get("StateReason") or {}).get("Message") or "")
                why = f" ({reason})" if reason else ""
                raise StartFailed(
                    f"instance {instance_id} is stopped after the restart request{why}"
                )
            return None

        return wait_for(
            running,
            schedule=self.timings.schedule(self.timings.start, first_check_after),
            what=f"instance {instance_id} to run",
            clock=self.clock,
        )


# --------------------------------------------------------------------- images by name
@dataclass(frozen=True)
class NamedImage:
    """An image this account owns, found by its name; ``ours``: the save asking made it
    (its ``prism:save-id`` tag is that save's, or absent)."""

    image_id: str
    ours: bool


def image_named(ec2: Any, name: str, save_id: str) -> NamedImage | None:
    """The live image this account owns named exactly ``name`` (one DescribeImages),
    and whether save ``save_id`` made it; ``None`` if there is none. AWS errors raise."""
    found = find_image_by_name(ec2, name)
    if found is None:
        return None
    owner = tags_of(found).get(SAVE_ID_TAG)
    return NamedImage(image_id=str(found["ImageId"]), ours=owner in (None, save_id))


def recover_image_id(
    ec2: Any,
    name: str,
    save_id: str,
    *,
    patience: float = 0.0,
    poll: float = 1.0,
    clock: Clock = SYSTEM_CLOCK,
) -> str | None:
    """The id of save ``save_id``'s image named ``name`` when its id never came back;
    ``None`` if EC2 shows none (an image of that name made by another save is not
    this save's). Looked for once, or for up to ``patience`` seconds (one look per
    ``poll``, throttling retried): a new image can take a moment to be listed.
    Other AWS errors raise."""

    def mine() -> tuple[str] | None:
        found = image_named(ec2, name, save_id)
        return (found.image_id,) if found is not None and found.ours else None

    if patience <= 0:
        return (mine() or (None,))[0]
    schedule = WaitSchedule(poll=poll, timeout=patience, steady=True, retry_throttling=True)
    try:
        return wait_for(mine, schedule=schedule, what=f"image {name}", clock=clock)[0]
    except WaitTimeout:
        return None
