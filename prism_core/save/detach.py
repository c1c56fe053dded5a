"""``prism save --detach``: the save up to and including CreateImage here, the rest in one
execution of the save engine in the account (docs/cloud.md)."""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prism_core.aws.clients import error_message
from prism_core.aws.ec2 import describe_image
from prism_core.aws.tags import lock_value, tags_of
from prism_core.exceptions import InputError, OperationFailed
from prism_core.plugin_manager import PrismPluginManager
from prism_core.save import locks
from prism_core.save.context import SaveContext
from prism_core.save.guard import InstanceGuard
from prism_core.save.journal import this_process
from prism_core.save.pipeline import release_lock, run_image_phase, set_lock
from prism_core.templates import detached_pending as pending
from prism_core.templates import registry

#: The tag on the lock's holder once the engine holds a detached save's lock.
ENGINE_HOST = "prism-save-engine"


@dataclass
class Detached:
    """A save handed to the engine."""

    save_id: str
    execution: str
    image_id: str
    region: str
    #: ``--stop``: the engine holds the restart duty of the stopped instance.
    engine_restarts: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"save_id": self.save_id, "status": "detached", "execution": self.execution,
                "image_id": self.image_id, "region": self.region,
                "restart_duty": "engine" if self.engine_restarts else None,
                "show": f"prism saves show {self.save_id}", "exit_code": 0}


def _share(share_with: list[str]) -> dict[str, list[str]]:
    accounts = [s for s in share_with if s.isdigit()]
    units = [s for s in share_with if ":ou/" in s]
    organizations = [s for s in share_with if ":organization/" in s]
    return {"share_accounts": accounts, "share_units": units,
            "share_organizations": organizations}


def save_input(ctx: Any, image_tags: dict[str, str], poll_seconds: float) -> dict[str, Any]:
    """The execution input of a detached save whose source image has been requested."""
    from prism_core.save.template_doc import build_document

    request, state = ctx.request, ctx.state
    source = ctx.source_image()
    document = build_document(ctx)
    arch = source.architecture or ctx.instance.architecture
    document["ami_config"]["amis"] = {ctx.source_region: {arch: source.image_id}}
    if state.inventory is not None:  # stored (or given up) once the image was requested
        document["inventory"] = dict(state.inventory)
    prefix = ctx.settings.registry_prefix
    version = int(state.template_version or 1)
    lock_region, _, lock = (state.lock or "").partition(":")
    save = {
        "save_id": state.save_id,
        "source_region": ctx.source_region,
        "image_id": source.image_id,
        "image_name": state.image_name,
        "image_description": request.description or state.image_name,
        "architecture": arch,
        "tags": {k: v for k, v in image_tags.items() if not k.startswith("aws:")},
        "public": bool(request.public),
        "deprecate_after_days": getattr(request, "deprecate_after_days", None),
        "kms_keys": dict(ctx.settings.kms_keys or {}),
        "lock_parameter": lock,
        "instance_id": request.instance_id,
        # --stop: the engine holds the restart duty of an instance this save stopped (it
        # was running when the save began); it starts it once the snapshots are listed
        "restart_instance": bool(state.stopped_by_prism and not state.instance_restarted),
        "instance_original_state": state.instance_original_state,
        "snapshots_timeout": float(ctx.settings.timeouts["snapshots"]),
        "requested_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "poll_seconds": max(0, math.ceil(poll_seconds)),
        "document": document,
        "registry": {
            "version_parameter": registry.version_parameter(prefix, request.template_name,
                                                            version),
            "version_description": f"prism template {request.template_name} version {version}",
            "current_parameter": registry.current_parameter(prefix, request.template_name),
            "current_description": registry.summary(document),
        },
        **_share(list(request.share_with or [])),
    }
    return {"save": save, "regions": [ctx.source_region, *request.copy_to_regions]}


def execute_detached(
    ctx: SaveContext,
    hooks: PrismPluginManager,
    launch: Callable[[dict[str, Any]], str],
    execution_arn: str | None = None,
) -> Detached:
    """Lock, claim the version, request the image, then ``launch(input)`` starts the
    execution (named ``execution_arn``) and the engine takes the lock over.

    ``--stop``: the instance stays stopped once the image is requested and the engine
    holds the restart duty (it starts the instance once the snapshots are listed, before
    anything else). Until the execution has started, this process and its watchdog hold
    it: if the execution cannot be started, the instance is started here before the
    command fails."""
    state = ctx.state
    ctx.record(status="running", failures=[], **this_process())
    guard = InstanceGuard(ctx)
    hand_over = guard.will_stop  # --stop on a running instance: the engine restarts it
    ctx.engine_restarts = hand_over
    ctx.detached = True
    ctx.renderer = hooks.template_render
    set_lock(ctx)
    try:
        locks.claim_version(ctx)
    except Exception as exc:
        release_lock(ctx)
        ctx.journal.finish()
        if isinstance(exc, InputError):
            raise
        raise InputError(
            f"could not claim a version of {ctx.request.template_name}: {error_message(exc)}; "
            "nothing was changed", "check the registry permissions (prism iam-policy)",
        ) from None
    try:
        run_image_phase(ctx, hooks, guard, restart=not hand_over)
        # reboot mode: EC2 boots the instance again itself; its status checks are not
        # waited for (the save is handed over meanwhile)
        source = ctx.source_image()
        assert source is not None and source.image_id
        ec2, image_id = ctx.aws.ec2(ctx.source_region), source.image_id
        # just after CreateImage EC2 may not show the image yet (eventual consistency)
        tags = tags_of(ctx.wait(lambda: describe_image(ec2, image_id),
                                what=f"image {image_id} to be visible", limit="snapshots",
                                critical=hand_over, down=hand_over))
        data = save_input(ctx, tags, ctx.wait_schedule.poll)
        data["save"]["lock_tag_value"] = lock_value(state.save_id, socket.gethostname())
        ctx.record(engine_execution=execution_arn)  # --resume asks the engine first
        execution = launch(data)
    except BaseException as exc:
        ctx.record(engine_execution=None)
        if hand_over:  # the engine never got the duty: the instance runs again first
            ctx.progress.line("warn", "The save engine did not take the save over; "
                                      "starting the instance here")
            guard.restart_after_failure()
        if not (state.stopped_by_prism and not state.instance_restarted):
            release_lock(ctx)
        # else: no start was sent: the instance keeps this save's lock tag, which the
        # watchdog, `--resume` and a scheduled save's `unprepare` step start it by
        ctx.record(status="interrupted")
        if ctx.source_image() is None:
            raise
        started = " (the instance was started again here)" if hand_over else ""
        raise OperationFailed(
            f"the image was requested but the save engine could not take the save over "
            f"({error_message(exc) if isinstance(exc, Exception) else type(exc).__name__})"
            f"{started}",
            "finish it here with `prism save --resume`, or undo it with `prism save --abort`",
        ) from None
    if hand_over:
        ctx.record(restart_duty="engine", engine_execution=execution)
        guard.hand_over()
        ctx.progress.line("info", "The save engine starts the instance once EC2 lists the "
                                  "image's snapshots")
    else:
        ctx.record(engine_execution=execution)
    # the engine holds the lock now: a save of this machine must not take it as stale
    region, _, name = (state.lock or "").partition(":")
    if name:
        holder = {**locks._holder(ctx), "host": ENGINE_HOST, "execution": execution}
        ctx.aws.client("ssm", region).put_parameter(
            Name=name, Value=json.dumps({registry.CLAIM_KEY: holder}, sort_keys=True),
            Type="String", Overwrite=True,
        )
    pending.write(ctx.settings.home, pending.Pending(
        save_id=state.save_id, template=ctx.request.template_name,
        version=int(state.template_version or 1), region=ctx.source_region,
        execution=execution, prefix=ctx.settings.registry_prefix,
        order=pending.document_order(data["save"]["document"], data["regions"]),
    ))
    ctx.record(status="detached")
    ctx.journal.finish()
    return Detached(state.save_id, execution, str(ctx.source_image().image_id),
                    ctx.source_region, hand_over)
