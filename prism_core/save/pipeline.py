"""The save pipeline: plan and check, then run the phases in order with the guard.

``plan_save`` validates input and resolves the instance (nothing changes);
``preflight`` runs every check and the ``prism_pre_stop`` hooks (nothing changes);
``execute`` runs the phases of :mod:`prism_core.save.phases` in their order (each step
in :data:`STEPS`), journaling each, and returns the outcome.

``execute`` works only through collaborators it is given: the AWS clients, the journal
and the progress reporter of ``ctx``, the plugin manager calling the phase hooks, the
instance's guard (a :class:`Guard` made by ``guard=``), the clock, and the
:class:`~prism_core.aws.waiting.WaitSchedule` every wait of the save derives from. The
unit tests (tests/unit/test_pipeline_seam.py) pass in-memory fakes of each.
"""

from __future__ import annotations

import secrets
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from prism_core import validation
from prism_core.aws import fast_restore
from prism_core.aws.clients import AwsClients, error_message
from prism_core.aws.ec2 import find_instance, instance_record, instance_state
from prism_core.aws.tags import BOOT_CHECK_TAG, LOCK_TAG, lock_value, tag_list, tags_of
from prism_core.aws.waiting import Clock, WaitSchedule
from prism_core.exceptions import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_PARTIAL,
    InputError,
    Interrupted,
    OperationFailed,
    PluginRefusal,
    PrismError,
    Terminated,
    ValidationFailed,
)
from prism_core.plugin_manager import PrismPluginManager
from prism_core.reporting import ProgressReporter
from prism_core.save import image_mode, locks, phases
from prism_core.save.context import SaveContext
from prism_core.save.guard import InstanceGuard
from prism_core.save.journal import NO_ROOM, Journal, this_process, write_failure
from prism_core.save.options import SaveOptions, config_flags, request_fields
from prism_core.save.phase_providers import check_providers
from prism_core.save.request import SaveRequest
from prism_core.save.request_fields import AFTER_LOCKS, AFTER_REGIONS, Given
from prism_core.save.state import FAILED, PENDING, RegionImage, SaveState
from prism_core.save.template_doc import instance_facts
from prism_core.save.version_inheritance import merge, previous_version
from prism_core.settings import Settings
from prism_core.templates import document as templates
from prism_core.templates.name_clash import refuse_case_twin

#: What stops a save outright instead of failing one phase: Ctrl-C and SIGTERM, both
#: BaseExceptions (see ``main()``), so no ``except Exception`` on the way swallows them.
INTERRUPTS: tuple[type[BaseException], ...] = (KeyboardInterrupt, Terminated)


class Guard(Protocol):
    """What the pipeline asks of the instance's guard (:class:`InstanceGuard`): the
    instance ends as it began, whatever happens in the image phase."""

    def prepare(self) -> None:
        """Before anything else: an instance still ``stopping`` is waited for."""

    def stop(self) -> None:
        """``--stop``: start the watchdog, stop the instance, wait until ``stopped``."""

    def begin_reboot(self) -> None:
        """Reboot mode, just before CreateImage: the downtime starts now."""

    def restart(self) -> None:
        """The snapshots are listed: start the instance prism stopped."""

    def confirm_reboot(self) -> None:
        """Reboot mode: wait in the background until the instance passes its checks."""

    def restart_after_failure(self) -> None:
        """On any failure: bring the instance back if the save left it down."""

    def join(self) -> None:
        """Wait for the background confirmation; a failure to start is recorded."""


#: Makes the guard of a save (the default: :class:`InstanceGuard`).
GuardFactory = Callable[[SaveContext], Guard]
#: What one row of the phase table runs (:data:`STEPS`).
Step = Callable[[SaveContext, PrismPluginManager, Guard], None]


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15, etc."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


def utc_now() -> str:
    """UTC ISO 8601 with a ``Z``, to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_version(settings: Settings, aws: AwsClients, template: str, regions: list[str]) -> int:
    """One more than the newest version of ``template``, local or in the registry, where
    a registered version counts only if the cloud proves it (:mod:`.proof`): a forged
    entry neither raises the number nor pushes it past the documented range.

    Saving to an existing name never overwrites a version someone else registered: the
    version claim (``Overwrite=False``) moves past every number already taken.
    """
    from prism_core.templates.proof import document_proven
    from prism_core.templates.registry import MAX_VERSION, newest_version

    local = templates.local_version(settings.templates_dir, template)
    shared = newest_version(
        aws,
        settings.registry_prefix,
        template,
        regions,
        proven=lambda number, doc: document_proven(aws, template, number, doc),
    )
    version = max(local, shared) + 1
    if version > MAX_VERSION:
        raise InputError(
            f"template {template} has reached version {MAX_VERSION:,}, the highest there is",
            "save under a new template name",
        )
    return version


#: The clients pre-flight uses in every region of the save (the registry's versions and
#: the EC2 checks), built ahead by :meth:`AwsClients.prewarm`.
PREFLIGHT_SERVICES = ("ssm", "ec2")


def check_regions_enabled(aws: AwsClients, regions: list[str]) -> None:
    """Refuse regions that do not exist or are not enabled for this account."""
    enabled = set(aws.available_regions())
    for region in regions:
        if region not in enabled:
            raise InputError(
                f"region {region} does not exist or is not enabled for this account",
                "enable it in the AWS console (Account > AWS Regions) or drop it",
            )


#: Room the instance name gets in the default description (EC2 allows 255 characters).
DEFAULT_DESCRIPTION_NAME = 160


def default_description(instance: str, day: str) -> str:
    """The description when none is given: the instance's name (control characters
    removed, cut to :data:`DEFAULT_DESCRIPTION_NAME`) and the day, always within EC2's
    255 characters."""
    name = validation.printable(instance, DEFAULT_DESCRIPTION_NAME)
    return f"Saved by prism from {name} on {day}"


def refuse_locked_overrides(
    settings: Settings, mode: str, copy_regions: list[str], region: str
) -> None:
    """Refuse a save option that would change a key the installation locked (image mode,
    default copy regions), naming the lock; restating the locked value is fine. (A locked
    ``deprecate_after_days`` is the ``--deprecate-after`` row's own check.)"""
    settings.refuse_override(
        "image_mode", f"image mode {mode!r} ({config_flags('image_mode')})",
        mode != settings.image_mode,
    )
    default_regions = {r.strip() for r in (settings.default_copy_regions or "").split(",")}
    settings.refuse_override(
        "default_copy_regions",
        config_flags("default_copy_regions"),
        set(copy_regions) != default_regions - {"", region},
    )


def plan_save(
    options: SaveOptions, settings: Settings, aws: AwsClients, progress: ProgressReporter
) -> SaveContext:
    """Validate the options and resolve the instance; nothing changes in the cloud.

    The request fields the options give are checked by the option table
    (:func:`~prism_core.save.options.request_fields`, at three points); what is decided
    here needs the cloud or the previous version: the inheritance, the copy regions and
    description it completes, the image mode, the regions and zones, the instance, the
    save lock."""
    given = Given(settings, aws.region, account=lambda: aws.identity()["Account"])
    fields = request_fields(options, given)
    template, region = fields["template_name"], fields["region"]
    # every region's clients are built in the background while the checks below wait on AWS
    aws.prewarm(PREFLIGHT_SERVICES, [region, *(fields["copy_to_regions"] or [])])
    started = utc_now()
    previous = None if options.no_inherit else previous_version(settings, aws, template, region)
    values = merge(
        previous,
        description=fields["description"],
        project=fields["project_id"],
        tags=fields["tags"],
        public=fields["public"],
        share_with=fields["share_with"],
        copy_regions=fields["copy_to_regions"],
    )
    copy_regions = validation.copy_regions(
        values.copy_regions if values.copy_regions is not None else options.default_copy_regions,
        region,
    )
    description = validation.description(
        values.description
        if values.description is not None
        else default_description(options.instance, started[:10])
    )
    aws.prewarm(PREFLIGHT_SERVICES, copy_regions)
    mode = image_mode.resolve(options.image_mode, options.no_reboot, settings.image_mode)
    refuse_locked_overrides(settings, mode, copy_regions, region)
    fields.update(request_fields(options, given, AFTER_LOCKS))
    check_regions_enabled(aws, [region, *copy_regions])
    fields.update(request_fields(options, given, AFTER_REGIONS))
    fast_restore.check_zones(aws, fields["fast_restore"], [region, *copy_regions])
    refuse_case_twin(template, settings.templates_dir, aws, settings.registry_prefix, region)
    instance = find_instance(aws.ec2(region), options.instance, region)
    if instance.state == "pending":
        raise InputError(
            f"instance {instance.name} ({instance.instance_id}) is pending (starting up)",
            "wait until it is running, then run the save again",
        )
    holder = locks.holder(aws, settings, region, instance.instance_id)
    if holder is not None and not locks.stale(holder, settings):
        raise locks.refusal(instance.name, holder, settings, region, instance.instance_id)
    request = SaveRequest(
        **{
            **fields,  # then the Decided fields, and the inherited ones completed
            "instance_id": instance.instance_id,
            "instance_name": instance.name,
            "description": description,
            "copy_to_regions": copy_regions,
            "tags": values.tags,
            "project_id": values.project,
            "public": values.public,
            "share_with": values.share_with,
            "inherited_from": previous.version if previous is not None else None,
            "inherited": values.inherited,
            "changed": values.changed,
            "no_reboot": mode == image_mode.NO_REBOOT,
            "image_mode": mode,
        }
    )
    version = next_version(settings, aws, template, [region, *copy_regions])
    stamp = started.replace("-", "").replace(":", "")
    state = SaveState(
        save_id=f"{template}-{stamp}-{secrets.token_hex(3)}",
        request=request.to_dict(),
        started_at=started,
        image_name=f"prism-{template}-v{version}-{stamp}",
        instance_original_state=instance.state,
        template_version=version,
    )
    return SaveContext(
        request=request,
        settings=settings,
        aws=aws,
        progress=progress,
        journal=Journal(settings.journal_dir, state),
        instance=instance,
    )


def preflight(ctx: SaveContext, hooks: PrismPluginManager) -> list[str]:
    """Check every phase has a provider, then run the ``prism_pre_stop`` hooks; a
    plugin's exception refuses the save."""
    check_providers(ctx, hooks)
    try:
        notes = hooks.pre_stop(ctx)
    except PrismError:
        raise
    except Exception as exc:
        plugin = hooks.blame(exc) or "a plugin"
        raise PluginRefusal(f"{plugin} refused the save: {exc}") from exc
    ctx.state.notes = notes
    instance_facts(ctx)  # fetched now, while nothing waits on it
    check_registry_size(ctx)
    return notes


def check_registry_size(ctx: SaveContext) -> None:
    """Refuse, before anything changes, a save whose registry entry would not fit in an
    SSM parameter (8 KB): its tags, description or regions make the document too big,
    and the register phase (and every ``--resume``) would fail after the images exist."""
    from prism_core.save.template_doc import provisional_document
    from prism_core.templates import registry

    try:
        registry.encode(provisional_document(ctx))
    except InputError as exc:
        raise InputError(
            f"{exc}; nothing was changed",
            "use fewer or shorter --tag values, a shorter --description or fewer copy regions",
        ) from None


def recheck_journaled(ctx: SaveContext, hooks: PrismPluginManager) -> list[str]:
    """Before a resumed save changes anything more: validate the journaled request as if
    it were typed again and re-run every ``prism_pre_stop`` against it (``ctx.resuming``).

    A journal edited by hand, or a policy installed since the save began, is refused with
    the reason (:class:`InputError`); ``prism save --abort`` undoes such a save.
    """
    request = ctx.request
    what = f"interrupted save {ctx.state.save_id} (journal {ctx.journal.path})"
    hint = "undo it with `prism save --abort`, or fix the policy's complaint and resume"
    try:
        validation.template_name(request.template_name)
        validation.region_name(request.region)
        copies = validation.copy_regions(list(request.copy_to_regions), request.region)
        if copies != list(request.copy_to_regions):
            raise InputError("its copy regions are not a clean list")
        validation.tags([f"{k}={v}" for k, v in dict(request.tags).items()])
        validation.share_targets(list(request.share_with))
        zones = fast_restore.parse_zones(list(request.fast_restore))
        if zones != list(request.fast_restore) or any(
            fast_restore.zone_region(z) not in (request.region, *copies) for z in zones
        ):
            raise InputError("its --fast-restore zones are not a clean list")
        validation.project_id(request.project_id)
        if not isinstance(request.public, bool):
            raise InputError("its public flag is not true or false")
    except (InputError, TypeError, AttributeError, ValueError) as exc:
        raise InputError(f"{what} has an invalid request: {exc}", hint) from None
    ctx.resuming = True
    try:
        check_providers(ctx, hooks)
        return hooks.pre_stop(ctx)
    except Exception as exc:
        if ctx.state.stopped_by_prism and not ctx.state.instance_restarted:
            InstanceGuard(ctx).restart_after_failure()  # restoring is not a further change
        if ctx.state.scrub:  # a --scrub helper a killed run left does not run on either
            from prism_core.save.scrub_helper import finish_helper

            for problem in finish_helper(ctx):
                ctx.progress.line("warn", problem)
        plugin = hooks.blame(exc) or "a plugin"
        reason = str(exc) if isinstance(exc, PrismError) else f"{plugin}: {exc}"
        raise PluginRefusal(
            f"{what} no longer passes the checks: {validation.printable(reason, 300)}", hint
        ) from None


@dataclass
class SaveOutcome:
    """What a save did, for the summary and ``-o json``."""

    ctx: SaveContext
    exit_code: int
    template_path: str | None
    elapsed: float

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable result document."""
        state = self.ctx.state
        return {
            "status": state.status,
            "exit_code": self.exit_code,
            "save_id": state.save_id,
            "template": self.ctx.request.template_name,
            "version": state.template_version,
            "template_path": self.template_path,
            "instance": {
                "id": self.ctx.request.instance_id,
                "name": self.ctx.request.instance_name,
                "downtime_seconds": state.downtime_seconds,
                "image_mode": self.ctx.request.image_mode,
            },
            "amis": {r: i.image_id for r, i in self.ctx.images().items()},
            "images": {r: vars(i) for r, i in state.images.items()},
            "account_images": {k: vars(i) for k, i in state.account_images.items()},
            #: --scrub: the scrubbed derivative images (the shared ones), by region
            "shared_images": {r: vars(i) for r, i in state.scrub_images.items()},
            "registry": list(state.registry),
            #: --fast-restore: ``region:snapshot:zone`` pairs asked of EC2 (billed hourly)
            "fast_restores": list(state.fast_restores),
            "failures": list(state.failures),
            "inspection": state.inspection,
            "notes": list(state.summary),
            "elapsed_seconds": round(self.elapsed, 3),
            "progress": list(getattr(self.ctx.progress, "readings", [])),
        }


def set_lock(ctx: SaveContext) -> None:
    """Take the save lock (SSM, conditional), then tag the instance: the first changes.

    Exactly one save of an instance wins the lock; another is refused (exit 2) naming
    the first. If EC2 refuses the tag, the lock is released and nothing has changed:
    the journal of a new save is dropped and the save is refused with the reason.
    """
    state = ctx.state
    new = not (state.images or state.stopped_by_prism or state.claims or state.phases_done)
    try:
        locks.acquire(ctx)
    except BaseException:
        if new:
            ctx.journal.finish()
        raise
    value = lock_value(ctx.state.save_id, socket.gethostname())
    try:
        ctx.aws.ec2(ctx.source_region).create_tags(
            Resources=[ctx.request.instance_id], Tags=tag_list({LOCK_TAG: value})
        )
    except Exception as exc:
        if new:
            locks.release(ctx)
            ctx.journal.finish()
        raise InputError(
            f"could not tag instance {ctx.request.instance_id} with {LOCK_TAG} "
            f"({error_message(exc)}); nothing was changed",
            "prism needs ec2:CreateTags on the instance",
        ) from None


def release_lock(ctx: SaveContext) -> None:
    """Release the save lock and remove the instance's marker tag (failures are warned);
    both at once (independent requests to two services)."""

    def untag() -> None:
        try:
            ctx.aws.ec2(ctx.source_region).delete_tags(
                Resources=[ctx.request.instance_id], Tags=[{"Key": LOCK_TAG}]
            )
        except Exception as exc:
            ctx.progress.line("warn", f"Could not remove the {LOCK_TAG} tag: {error_message(exc)}")

    try:  # the client is built here, not in two threads at once (untag reports a failure)
        ctx.aws.ec2(ctx.source_region)
    except Exception:  # noqa: BLE001
        pass
    tagger = threading.Thread(target=untag, daemon=True, name="prism-untag")
    tagger.start()
    try:
        locks.release(ctx)
    finally:
        tagger.join()


def terminate_boot_instances(ctx: SaveContext) -> tuple[list[str], list[str]]:
    """Terminate the ``--validate`` instances a killed run left (journaled at launch).

    Only instances tagged ``prism:boot-check`` are terminated. Returns (terminated,
    problems)."""
    done: list[str] = []
    problems: list[str] = []
    for entry in list(ctx.state.boot_instances):
        region, _, instance_id = entry.partition(":")
        ec2 = ctx.aws.ec2(region)
        try:
            record = instance_record(ec2, instance_id)
            if record is not None and BOOT_CHECK_TAG not in tags_of(record):
                problems.append(f"{entry} is not a prism boot-check instance; left alone")
            elif record is not None and instance_state(record) not in (
                "shutting-down",
                "terminated",
            ):
                ec2.terminate_instances(InstanceIds=[instance_id])
                done.append(entry)
                ctx.progress.line("info", f"Terminated boot-check instance {instance_id}")
        except Exception as exc:
            problems.append(f"could not terminate boot-check {entry}: {error_message(exc)}")
            continue
        ctx.record(boot_instances=[e for e in ctx.state.boot_instances if e != entry])
    return done, problems


#: What the late phases (registry, template, claims) import: loaded in the background
#: while the save waits for its images, so the tail after the last copy does not.
LATE_MODULES = (
    "prism_core.templates.document",
    "prism_core.templates.registry",
    "prism_core.templates.compat",
    "prism_core.templates.store",
    "prism_core.templates.cleanup",
    "prism_core.templates.lifecycle",
    "jsonschema",
)


def _prepare_late_phases(ctx: SaveContext) -> None:
    """Import :data:`LATE_MODULES`, build the template schema's validator and the SSM
    client of every region the registry may be written in (a failure here is ignored:
    the phase that needs it does it again and reports)."""
    import importlib

    try:
        for name in LATE_MODULES:
            importlib.import_module(name)
        from prism_core.templates.document import schema_errors

        schema_errors({})
        # building a client is CPU-bound and serial (one lock): 16 regions cost about as
        # much as the registry writes themselves, so build them while the images are made
        for region in dict.fromkeys([ctx.source_region, *ctx.request.copy_to_regions]):
            if ctx.cancel.is_set():
                return
            ctx.aws.client("ssm", region)
    except Exception:  # noqa: BLE001 - only a head start; the real phase reports
        pass


def start_preload(ctx: SaveContext) -> threading.Thread:
    """Start :func:`_prepare_late_phases` in a daemon thread; join it before the late
    phases import anything themselves (no two threads import the same module at once)."""
    thread = threading.Thread(
        target=_prepare_late_phases, args=(ctx,), daemon=True, name="prism-preload"
    )
    thread.start()
    return thread


def run_image_phase(
    ctx: SaveContext, hooks: PrismPluginManager, guard: Guard, restart: bool = True
) -> None:
    """Create the image in the request's mode; the instance ends as it began.

    reboot: EC2 reboots the instance during CreateImage (prism measures the downtime);
    stop: stop, image, restart as soon as the snapshots are listed (watchdog meanwhile);
    no-reboot: image the running instance. ``restart=False`` (``--detach --stop``): the
    instance stays stopped once the image is requested, for the save engine to start;
    on a failure it is restarted here as always.
    """
    if "image" in ctx.state.phases_done:
        guard.restart_after_failure()  # resumed after a kill between image and restart
        return
    try:
        guard.prepare()
        guard.stop()
        guard.begin_reboot()
        image = hooks.image(ctx)
        if image is None or image.image_id is None:
            raise OperationFailed("no plugin created the image", "check `prism plugins`")
        ctx.record_image(image)
        ctx.record(phases_done=[*ctx.state.phases_done, "image"])
        if image.snapshot_ids:
            ctx.progress.line("ok", "EC2 has the snapshots: " + ", ".join(image.snapshot_ids))
        if restart:
            guard.restart()
        guard.confirm_reboot()
    except BaseException:
        guard.restart_after_failure()
        raise


def _discard_failed_source(ctx: SaveContext) -> None:
    """Remove a source image that ended ``failed`` (and its snapshots), and say so."""
    from prism_core.save.images import discard_own_image

    image = ctx.source_image()
    if image is None or image.state != FAILED or image.image_id is None:
        return
    try:
        removed = discard_own_image(ctx, image.region, image.image_id)
        if removed is None:
            ctx.record_failure(
                f"failed image {image.image_id} is not tagged as this save's; not removed"
            )
            return
        if not removed:
            return
        ctx.progress.line(
            "info", f"Removed the failed image and its snapshots: {', '.join(removed)}"
        )
    except Exception as exc:
        ctx.record_failure(f"could not remove failed image {image.image_id}: {error_message(exc)}")


def execute(
    ctx: SaveContext,
    hooks: PrismPluginManager,
    *,
    guard: GuardFactory = InstanceGuard,
    clock: Clock | None = None,
    waits: WaitSchedule | None = None,
    steps: Mapping[str, Step] | None = None,
) -> SaveOutcome:
    """Run the save from wherever its journal says it is; never leaves the instance down.

    ``ctx`` brings the AWS clients, the journal and the progress reporter; ``hooks`` calls
    the phase hooks; ``guard(ctx)`` makes the instance's guard; ``clock`` (default
    ``ctx.clock``) times the save and its waits; ``waits`` (default: from the settings)
    is the schedule every wait of the save derives from; ``steps`` (default
    :data:`STEPS`) what each row of the phase table runs.
    """
    if clock is not None:
        ctx.clock = clock
    if waits is not None:
        ctx.waits = waits
    started = ctx.clock.monotonic()
    state = ctx.state
    ctx.record(status="running", failures=[], **this_process())
    if ctx.journal.write_error and not ctx.journal.path.exists():
        # a save is never started without a journal: refused before the first change
        what, todo = write_failure(
            ctx.settings.home, ctx.journal.write_error, ctx.journal.out_of_room
        )
        raise InputError(f"{what}; nothing was changed", f"{todo}, then save again")
    keeper = guard(ctx)
    ctx.renderer = hooks.template_render
    set_lock(ctx)
    try:
        locks.claim_version(ctx)
    except Exception as exc:
        release_lock(ctx)
        if not (state.images or state.stopped_by_prism or state.claims or state.phases_done):
            ctx.journal.finish()
        if isinstance(exc, InputError):
            raise
        raise InputError(
            f"could not claim a version number of template {ctx.request.template_name} "
            f"in the registry of {ctx.source_region}: {error_message(exc)}; nothing was changed",
            "prism needs ssm:PutParameter, ssm:GetParameter and ssm:DeleteParameter under the "
            "registry prefix",
        ) from None
    try:
        for problem in terminate_boot_instances(ctx)[1]:
            ctx.progress.line("warn", problem)
        failed = _run_phases(ctx, hooks, keeper, started, STEPS if steps is None else steps)
        if failed is not None:
            return failed
        keeper.join()
    except INTERRUPTS as exc:
        ctx.cancel.set()
        keeper.join()
        raise _interrupted(ctx, exc) from None
    except BaseException:
        ctx.cancel.set()
        ctx.record(status="interrupted")
        raise
    finally:
        release_lock(ctx)
    template_path = state.template_path
    broken = getattr(ctx.progress, "broken", None)
    if broken:
        ctx.summary_note(f"progress output failed ({broken}); the save went on without it")
    if template_path:
        locks.release_claims(ctx)
    if ctx.journal.write_error and state.failures:
        _journal_unwritable(ctx)
    if state.failures:
        status, code = ("partial", EXIT_PARTIAL) if template_path else ("failed", EXIT_FAILURE)
        ctx.record(status=status)
    else:
        ctx.record(status="done")
        ctx.journal.finish()
        code = EXIT_OK
    return SaveOutcome(ctx, code, template_path, ctx.clock.monotonic() - started)


def _journal_unwritable(ctx: SaveContext) -> None:
    """The journal could not be kept up to date (PRISM_HOME full?): say what exists."""
    created = [f"{r}: {i.image_id}" for r, i in ctx.state.images.items() if i.image_id]
    created += list(ctx.state.registry)
    where = f"the journal {ctx.journal.path} could not be written ({ctx.journal.write_error})"
    ctx.journal.write()
    if ctx.journal.path.exists():
        todo = (
            f"free space in {ctx.settings.home}, then run `prism save --resume` "
            "(or `prism save --abort`) to finish"
        )
    else:
        todo = (
            "no journal exists, so `prism save --resume` cannot finish it: free space in "
            f"{ctx.settings.home} and save again; deregister these images (and delete their "
            "snapshots) if you do not want them"
        )
    ctx.state.failures.append(f"{where}; created so far: {', '.join(created) or 'nothing'}; {todo}")


def _recover_source_id(ctx: SaveContext) -> RegionImage | None:
    """The source image; if it was requested but its id never came back (an error or
    Ctrl-C during CreateImage), look it up by name so nothing created goes unrecorded."""
    from prism_core.save.restart import recover_image_id

    source = ctx.source_image()
    if source is None or source.image_id is not None:
        return source
    try:
        found = recover_image_id(
            ctx.aws.ec2(source.region), ctx.state.image_name, ctx.state.save_id
        )
    except Exception as exc:
        ctx.record_failure(
            f"could not check whether image {ctx.state.image_name} exists: {error_message(exc)}"
        )
        return source
    if found is not None:
        source.image_id, source.state = found, PENDING
        ctx.record_image(source)
    return source


def _interrupted(ctx: SaveContext, exc: BaseException) -> Interrupted:
    """Record the interruption; drop the journal if nothing was created yet."""
    signum = getattr(exc, "signum", None)
    what = f"signal {signal_name(signum)}" if signum else "Ctrl-C"
    if ctx.state.rebooted_by_ec2:
        back = "EC2 brings the instance back itself (its CreateImage reboot)"
    elif ctx.state.stopped_by_prism:
        back = "the instance is running again"
    else:
        back = "the instance was not stopped"
    source = _recover_source_id(ctx)
    if source is None or source.image_id is None:
        locks.release_claims(ctx)
        ctx.journal.finish()
        return Interrupted(f"interrupted by {what} before anything was created; {back}")
    ctx.record(status="interrupted")
    created = ", ".join(f"{r}: {i.image_id}" for r, i in ctx.state.images.items() if i.image_id)
    return Interrupted(
        f"interrupted by {what}; {back}; created so far: {created}",
        "finish with `prism save --resume`",
    )


def _failed(
    ctx: SaveContext,
    hooks: PrismPluginManager,
    guard: Guard,
    exc: BaseException,
    phase: str,
    started: float,
) -> SaveOutcome:
    """The save cannot go on: instance back, failed image removed, outcome failed.

    The journal is kept when an image that may still become usable exists (so
    ``--resume`` can continue); otherwise nothing is left to resume and it is removed.
    """
    _fail(ctx, hooks, exc, phase)
    guard.join()
    _discard_failed_source(ctx)
    ctx.record(status="failed")
    source = _recover_source_id(ctx)
    locks.release_claims(ctx)  # a failed save registers nothing, not even its number
    if source is None or source.image_id is None or source.state == FAILED:
        ctx.journal.finish()
    return SaveOutcome(ctx, EXIT_FAILURE, None, ctx.clock.monotonic() - started)


def _fail(ctx: SaveContext, hooks: PrismPluginManager, exc: BaseException, phase: str) -> None:
    plugin = None if isinstance(exc, PrismError) else hooks.blame(exc)
    where = f" (plugin {plugin})" if plugin else ""
    message = f"{phase} phase failed{where}: {error_message(exc)}"
    ctx.record_failure(message)
    ctx.progress.line("fail", message)


def _run_phases(
    ctx: SaveContext,
    hooks: PrismPluginManager,
    guard: Guard,
    started: float,
    steps: Mapping[str, Step] | None = None,
) -> SaveOutcome | None:
    """Run :data:`phases.EXECUTED` in order, each as its row says (failure policy,
    resume behaviour); the failed outcome if a phase ends the save, else ``None``."""
    state = ctx.state
    rerun = False  # once a phase runs again, every later phase must too
    preload: threading.Thread | None = None
    preloaded = False
    for phase in phases.EXECUTED:
        if phase.on_resume == phases.SKIP_IF_DONE:
            if not preloaded:  # the instance is safe: load the late phases' modules
                preload, preloaded = start_preload(ctx), True
            if phase.name in state.phases_done and not rerun:
                continue
            if ctx.cancel.is_set():  # a batch interrupted from its main thread
                raise KeyboardInterrupt
            rerun = True
        if phase.late and preload is not None:
            preload.join()
            preload = None
        failures_before = len(state.failures)
        try:
            (STEPS if steps is None else steps)[phase.name](ctx, hooks, guard)
        except INTERRUPTS:
            raise
        except Exception as exc:
            if _ends_save(ctx, phase, exc):
                return _failed(ctx, hooks, guard, exc, phase.name, started)
            _fail(ctx, hooks, exc, phase.name)
            continue
        # a phase with failures recorded is not done: --resume runs it again (the image
        # phase journals itself as done before the restart, see run_image_phase)
        if phase.on_resume == phases.SKIP_IF_DONE and len(state.failures) == failures_before:
            done = [p for p in state.phases_done if p != phase.name]
            ctx.record(phases_done=[*done, phase.name])
    return None


def _ends_save(ctx: SaveContext, phase: phases.Phase, exc: Exception) -> bool:
    """Whether ``exc`` in ``phase`` ends the save, by the row's failure policy."""
    if phase.on_failure == phases.FAIL_SAVE:
        return True
    if phase.on_failure == phases.FAIL_SAVE_IF_UNUSABLE:
        source = ctx.source_image()
        return not (source and source.ok) or isinstance(exc, ValidationFailed)
    return False


def _post_image_step(ctx: SaveContext, hooks: PrismPluginManager, guard: Guard) -> None:
    hooks.post_image(ctx)
    source = ctx.source_image()
    if source is None or not source.ok:
        raise OperationFailed("the source image is not available")


def _copy_step(ctx: SaveContext, hooks: PrismPluginManager, guard: Guard) -> None:
    for region, image in hooks.copy(ctx).items():
        if image.error:
            ctx.record_failure(f"copy to {region} failed: {image.error}")


def _scrub_step(ctx: SaveContext, hooks: PrismPluginManager, guard: Guard) -> None:
    """``--scrub``: the shared image is a scrubbed derivative (prism_core/save/scrub.py)."""
    from prism_core.save import scrub

    scrub.run(ctx)


def _fast_restore_step(
    ctx: SaveContext, hooks: PrismPluginManager, guard: Guard
) -> None:
    from prism_core.save.fast_restore import enable_for_save

    enable_for_save(ctx)


def _register_step(ctx: SaveContext, hooks: PrismPluginManager, guard: Guard) -> None:
    locations = hooks.register(ctx)
    ctx.record(registry=sorted(set(ctx.state.registry) | set(locations)))


def _template_step(ctx: SaveContext, hooks: PrismPluginManager, guard: Guard) -> None:
    ctx.progress.line("template", "Creating template definition...")
    document = ctx.template_document()  # rendered once, shared with the registry phase
    if document is None:
        raise OperationFailed("no region has a usable image, so no template was written")
    if not isinstance(document, dict) or document.get("name") != ctx.request.template_name:
        shown = str(document.get("name") if isinstance(document, dict) else document)[:64]
        raise OperationFailed(
            f"the rendered template is named {shown!r}, not {ctx.request.template_name!r}; "
            "it was not written (it would replace another template)",
            "fix the prism_template_render plugin (see `prism plugins`)",
        )
    try:
        path = templates.write(ctx.settings.templates_dir, document)
    except OSError as exc:
        todo = (
            f"free space in {ctx.settings.templates_dir}"
            if exc.errno in NO_ROOM
            else "fix its permissions"
        )
        raise OperationFailed(
            f"cannot write the template under {ctx.settings.templates_dir} ({exc.strerror})",
            f"{todo}, then run `prism save --resume`",
        ) from None
    ctx.record(template_path=str(path))
    ctx.progress.line("ok", f"Template definition created: {path}", since="template")


#: What each row of :data:`phases.EXECUTED` runs, by the row's name.
STEPS: dict[str, Step] = {
    "image": run_image_phase,
    "post_image": _post_image_step,
    "scrub": _scrub_step,
    "copy": _copy_step,
    "fast_restore": _fast_restore_step,
    "register": _register_step,
    "template": _template_step,
}
