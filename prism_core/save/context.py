"""The save context passed to every hook as ``ctx``."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from prism_core.aws.clients import AwsClients
from prism_core.aws.ec2 import InstanceInfo
from prism_core.aws.waiting import SYSTEM_CLOCK, Clock, WaitSchedule, wait_for
from prism_core.reporting import ProgressReporter
from prism_core.save import image_mode
from prism_core.save.journal import Journal
from prism_core.save.request import SaveRequest
from prism_core.save.state import RegionImage, SaveState
from prism_core.settings import Settings

T = TypeVar("T")


@dataclass
class SaveContext:
    """Everything a phase needs: the request, AWS clients, the journal, progress output.

    Plugins read ``ctx.request`` and ``ctx.instance``, call AWS through
    ``ctx.aws.client(service, region)``, report with ``ctx.progress``, record what they
    create with :meth:`record_image` / :meth:`record`, and may keep their own data in
    ``ctx.plugin_data[plugin_name]``.
    """

    request: SaveRequest
    settings: Settings
    aws: AwsClients
    progress: ProgressReporter
    journal: Journal
    instance: InstanceInfo
    cancel: threading.Event = field(default_factory=threading.Event)
    plugin_data: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    #: Runs the ``prism_template_render`` hooks (set by the pipeline).
    renderer: Callable[[SaveContext], dict[str, Any] | None] | None = None
    _render_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: True while ``prism save --resume`` re-checks and finishes a journaled save: the
    #: request is the journaled one and the instance may already be locked or imaged.
    resuming: bool = False
    #: When this process asked EC2 for each image of this save (``time.time()``, by image
    #: id): the start of its snapshots' progress. Not journaled: a resumed save counts
    #: from the snapshots' ``StartTime``.
    _requested: dict[str, float] = field(default_factory=dict, repr=False)
    #: How this save's waits poll and when they give up; ``None``: from the settings
    #: (``PRISM_POLL_DELAY_SECONDS``, ``prism.timeouts``). ``pipeline.execute`` sets it.
    waits: WaitSchedule | None = None
    #: What the waits read the time from and pause with.
    clock: Clock = SYSTEM_CLOCK
    #: ``prism save --detach --stop``: the save engine holds the restart duty, so the image
    #: phase returns once EC2 gave the image's id (the engine waits for the snapshots and
    #: starts the instance).
    engine_restarts: bool = False
    #: ``prism save --detach`` (and a scheduled save's Prepare): the save engine runs every
    #: phase after the image request, without this process's plugins. A built-in plugin
    #: whose later phase must happen on this side does it in its ``prism_image`` wrapper,
    #: once the image is requested (ssm_inspect stores the SBOM there).
    detached: bool = False

    @property
    def state(self) -> SaveState:
        """The journaled state of this save."""
        return self.journal.state

    @property
    def options(self) -> dict[str, Any]:
        """Values of the ``prism save`` options plugins added, by dest (journaled)."""
        return self.request.options

    def plugin_settings(self, section: str) -> dict[str, Any]:
        """A plugin's section of the configuration, defaults applied and validated."""
        return dict(self.settings.plugin_config.get(section, {}))

    def summary_note(self, text: str) -> None:
        """Add a line to the closing summary (and ``notes`` in ``-o json``)."""
        with self.journal.lock:
            if text not in self.state.summary:
                self.state.summary.append(text)
                self.journal.write()

    def attach(self, name: str, text: str) -> bool:
        """Keep ``text`` (too big for the journal) beside this save's journal until the
        save finishes or is aborted, so ``--resume`` has it after a kill; False if it
        could not be written. ``name``: letters, digits, '-' and '.'."""
        return self.journal.attach(name, text)

    def attached(self, name: str) -> str | None:
        """What :meth:`attach` kept under ``name`` (this process or a killed one)."""
        return self.journal.attached(name)

    def mark_requested(self, image_id: str) -> None:
        """Note that this process just asked EC2 for ``image_id`` (CreateImage, CopyImage)."""
        self._requested[image_id] = time.time()

    def requested_at(self, image_id: str) -> float | None:
        """When this process asked for ``image_id`` (``time.time()``), if it did in this
        save; pass it to ``completion_estimate(..., since=)``."""
        return self._requested.get(image_id)

    @property
    def will_stop(self) -> bool:
        """Whether prism stops the instance for this save (``--stop``, running now)."""
        return image_mode.stops(self.request.image_mode, self.instance.state)

    @property
    def will_reboot(self) -> bool:
        """Whether EC2 reboots the instance during CreateImage (reboot mode, running now)."""
        return image_mode.reboots(self.request.image_mode, self.instance.state)

    @property
    def source_region(self) -> str:
        """The region of the instance and of the first image."""
        return self.request.region

    def record(self, **changes: Any) -> None:
        """Set state fields and write the journal before the next step starts."""
        with self.journal.lock:
            for key, value in changes.items():
                setattr(self.state, key, value)
        self.journal.write()  # outside the lock: concurrent records share one write

    def record_image(self, image: RegionImage) -> None:
        """Record (or update) the image of one region in the journal."""
        with self.journal.lock:
            self.state.images[image.region] = image
        self.journal.write()

    def record_account_image(self, image: RegionImage) -> None:
        """Record (or update) a copy in another account (``--copy-to-accounts``)."""
        with self.journal.lock:
            self.state.account_images[f"{image.account}:{image.region}"] = image
        self.journal.write()

    def account_copies(self) -> dict[str, dict[str, RegionImage]]:
        """Available copies in other accounts: account -> region -> image."""
        found: dict[str, dict[str, RegionImage]] = {}
        for image in self.state.account_images.values():
            if image.ok and image.account:
                found.setdefault(image.account, {})[image.region] = image
        return found

    def record_failure(self, message: str) -> None:
        """Record a failed step; it is reported and makes the save partial or failed."""
        with self.journal.lock:
            self.state.failures.append(message)
        self.journal.write()

    def volumes(self) -> list[dict[str, Any]]:
        """The instance's EBS volumes (``DescribeVolumes``, asked once per save)."""
        cached = self.plugin_data.get("_volumes")
        if cached is None:
            volume_ids = sorted(set(self.instance.volumes.values()))
            cached = []
            if volume_ids:
                ec2 = self.aws.ec2(self.source_region)
                cached = ec2.describe_volumes(VolumeIds=volume_ids)["Volumes"]
            self.plugin_data["_volumes"] = cached
        return list(cached)

    def template_document(self) -> dict[str, Any] | None:
        """The rendered template document: what the registry stores and the file holds.

        Renders (every ``prism_template_render`` implementation and wrapper) on the
        first call for the current set of images, validates the result against the
        template schema, journals it, and returns a deep copy on every call, so no
        caller can change what another one gets. ``None`` if nothing was rendered.
        """
        from prism_core.templates.document import validate_document

        images = {r: i.image_id or "" for r, i in self.images().items()}
        for account, copies in self.account_copies().items():
            images.update({f"{account}:{r}": i.image_id or "" for r, i in copies.items()})
        images.update(  # --scrub: the shared derivatives (a resumed scrub adds them)
            {f"shared:{r}": i.image_id or "" for r, i in self.state.scrub_images.items() if i.ok}
        )
        with self._render_lock:
            if self.state.document is None or self.state.document_images != images:
                rendered = self.renderer(self) if self.renderer is not None else None
                if rendered is None:
                    return None
                name = self.request.template_name
                validate_document(rendered, f"the rendered template {name}")
                self.record(document=copy.deepcopy(rendered), document_images=images)
            return copy.deepcopy(self.state.document)

    def source_image(self) -> RegionImage | None:
        """The image in the source region, once requested."""
        return self.state.images.get(self.source_region)

    def images(self) -> dict[str, RegionImage]:
        """Every region whose image is available and without error, source first."""
        ordered = [self.source_region] + [r for r in self.state.images if r != self.source_region]
        return {
            r: self.state.images[r]
            for r in ordered
            if r in self.state.images and self.state.images[r].ok
        }

    @property
    def wait_schedule(self) -> WaitSchedule:
        """The save's :class:`WaitSchedule`: each wait derives its own from it
        (``ctx.wait_schedule.limit("image").state_change()``)."""
        return self.waits if self.waits is not None else WaitSchedule.from_settings(self.settings)

    def wait(
        self,
        check: Callable[[], T | None],
        *,
        what: str,
        limit: str | None = None,
        schedule: WaitSchedule | None = None,
        hint: str | None = None,
        critical: bool = False,
        down: bool = False,
        first_check_after: float | None = None,
        steady: bool = False,
        expected_at: Callable[[], float | None] | None = None,
        resource: str | None = None,
        region: str | None = None,
        phase: str | None = None,
    ) -> T:
        """Poll ``check`` as ``schedule`` says (by default :attr:`wait_schedule` within the
        ``limit`` named timeout), showing ``what`` as a live progress line.

        ``schedule`` is one value (:class:`WaitSchedule`) built from
        :attr:`wait_schedule`; the flags are the same in words, kept for plugins:
        ``critical=True`` polls at half the delay, for waits whose lag the user feels
        directly: while the instance is down (every second is downtime).
        ``down=True`` (waits while prism has the instance stopped) retries AWS throttling
        with back-off until the timeout instead of failing after botocore's budget.
        ``first_check_after`` (seconds) schedules the polls from an expected completion:
        none before it, then one per poll delay (the copies use the source image's
        creation time). ``steady=True``: one check per poll delay (half of it if
        ``critical``), the first one delay in, no back-off: for waits on EC2 state
        changes, which never end within a fraction of a second. ``expected_at()``: when
        the wait should end (seconds from its start), see :func:`wait_for`.
        ``resource`` (e.g. the image id), ``region`` and ``phase`` label the wait's
        ``--progress json`` events, which then carry the resource's percentage.
        """
        if schedule is None:
            if limit is None:
                raise TypeError("ctx.wait needs a schedule or a limit")
            schedule = self.wait_schedule.limit(limit)
        if critical:
            schedule = schedule.critical()
        if down:
            schedule = schedule.while_down()
        if steady:
            schedule = schedule.state_change()
        if first_check_after is not None:
            schedule = schedule.expecting(first_check_after)
        about = {k: v for k, v in (("resource", resource), ("region", region),
                                    ("phase", phase)) if v is not None}
        with self.progress.waiting(what, **about) as on_tick:
            return wait_for(
                check,
                what=what,
                schedule=schedule,
                hint=hint,
                cancel=self.cancel,
                on_tick=on_tick,
                expected_at=expected_at,
                clock=self.clock,
            )
