"""The engine's operations for scheduled saves, run by the region function (its package
bundles prism, docs/cloud.md): ``prepare`` (the laptop's part of a detached save, done
in the account), ``retain`` (``--keep N`` and ``--channel`` after a success) and
``notify`` (a failure published to the schedule's SNS topic).

Each reuses prism's own code: :func:`prism_core.save.pipeline.plan_save`, the
pre-flight, :func:`prism_core.save.detach.execute_detached`; the retention decisions of
:mod:`prism_core.templates.retention` and :func:`prism_core.templates.lifecycle.promote`.
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prism_core.aws.clients import AwsClients, error_message

ClientFactory = Callable[[str, str], Any]
#: The tag on every image (and copy) a schedule made: the schedule's name.
SCHEDULE_TAG = "prism:schedule"
#: An execution name EventBridge Scheduler gives, used as the save's id.
EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


class FactoryClients(AwsClients):
    """prism's client cache over a ``(service, region) -> client`` factory (the function's
    boto3 clients on AWS, the sandbox's in the sandbox)."""

    def __init__(self, region: str, factory: ClientFactory) -> None:
        super().__init__(region)
        self._factory = factory

    def client(self, service: str, region: str | None = None, *, attempts: int = 0) -> Any:
        key = (service, region or self.region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._factory(*key)
            return self._clients[key]

    def prewarm(self, services: Iterable[str], regions: Iterable[str]) -> None:
        """Nothing: every client comes from the factory, when first asked for (a client
        built ahead by :class:`AwsClients` would bypass it)."""


def _settings(schedule: dict[str, Any]) -> Any:
    from prism_core.settings import Settings

    settings = Settings(home=Path(tempfile.mkdtemp(prefix="prism-engine-")))
    settings.registry_prefix = schedule.get("registry_prefix") or "/prism/"
    settings.poll_delay = float(schedule.get("poll_seconds") or 0)
    saved = schedule.get("settings") or {}
    settings.kms_keys = dict(saved.get("kms_keys") or {})
    settings.deprecate_after_days = saved.get("deprecate_after_days")
    return settings


def _hooks() -> Any:
    """The built-in plugins only (the engine never runs a third-party plugin)."""
    from prism_core.plugin_manager import PluginSelection, PrismPluginManager

    return PrismPluginManager(disabled=set(), selection=PluginSelection(
        entry_points=frozenset())).load()


def save_options(request: dict[str, Any]) -> Any:
    """The :class:`SaveOptions` of a schedule's stored request."""
    from prism_core.save.pipeline import SaveOptions

    fields = set(SaveOptions.__dataclass_fields__)
    return SaveOptions(**{k: copy.deepcopy(v) for k, v in request.items() if k in fields})


def prepare(event: dict[str, Any], clients: ClientFactory) -> dict[str, Any]:
    """Plan, pre-flight, lock, claim and request the image as ``prism save --detach`` does;
    the execution input of the rest (``{"save", "regions"}``). The save's id is the
    execution's name."""
    from prism_core.reporting import NullReporter
    from prism_core.save.detach import execute_detached
    from prism_core.save.pipeline import plan_save, preflight

    schedule, execution = event["schedule"], str(event["execution"])
    if not EXECUTION_NAME.fullmatch(execution):
        raise ValueError(f"execution name {execution[:90]!r} cannot be a save id")
    aws = FactoryClients(schedule["region"], clients)
    settings = _settings(schedule)
    hooks = _hooks()
    ctx = plan_save(save_options(schedule["request"]), settings, aws, NullReporter())
    ctx.state.save_id = execution
    _check_stoppable(ctx, schedule, event.get("at_start"))
    preflight(ctx, hooks)
    captured: dict[str, Any] = {}

    def launch(data: dict[str, Any]) -> str:
        save = data["save"]
        save["tags"][SCHEDULE_TAG] = schedule["name"]
        aws.ec2(save["source_region"]).create_tags(
            Resources=[save["image_id"]], Tags=[{"Key": SCHEDULE_TAG, "Value": schedule["name"]}])
        captured.update(data)
        return str(event.get("execution_arn") or execution)

    try:
        execute_detached(ctx, hooks, launch)
    except Exception as exc:
        cause = exc.__context__ if isinstance(exc.__context__, Exception) else exc
        undone = _undo(ctx, clients)
        raise ScheduledSaveFailed(
            f"{error_message(cause)}" + (f"; removed {', '.join(undone)}" if undone else "")
        ) from exc
    return {"save": captured["save"], "regions": captured["regions"]}


class ScheduledSaveFailed(Exception):
    """A scheduled save failed before the engine took it over (nothing is left held)."""


def _check_stoppable(ctx: Any, schedule: dict[str, Any],
                     at_start: dict[str, Any] | None) -> None:
    """``--stop``: the instance must still carry the tag ``schedule add --stop`` put (the
    function's role may stop no other), and be running only if it was when the execution
    began (``ObserveInstance``: what ``unprepare`` trusts); refused before anything
    changes."""
    from prism_core.cloud.schedules import STOP_TAG

    if ctx.request.image_mode != "stop":
        return
    instance_id = ctx.request.instance_id
    if ctx.instance.tags.get(STOP_TAG) != schedule["name"]:
        raise ScheduledSaveFailed(
            f"instance {instance_id} does not carry {STOP_TAG}={schedule['name']} "
            "(put by `prism schedule add --stop`), so this schedule may not stop it; nothing "
            "was changed")
    if ctx.instance.state == "running" and (at_start or {}).get("state") != "running":
        raise ScheduledSaveFailed(
            f"instance {instance_id} was {(at_start or {}).get('state') or 'not seen'} when "
            "the save began and runs now; nothing was changed (the next firing saves it)")


def observe(event: dict[str, Any], clients: ClientFactory) -> dict[str, Any]:
    """A ``--stop`` schedule's instance state when the execution begins (``{}`` for other
    schedules): ``unprepare`` starts the instance only if it was ``running`` then."""
    request = event["schedule"].get("request") or {}
    instance_id = request.get("stop_instance_id")
    if request.get("image_mode") != "stop" or not instance_id:
        return {}
    region = str(request.get("stop_region") or event["schedule"]["region"])
    found = _instances(clients("ec2", region), str(instance_id))
    state = str((found[0].get("State") or {}).get("Name")) if found else "gone"
    return {"instance_id": instance_id, "state": state}


def _instances(ec2: Any, instance_id: str) -> list[dict[str, Any]]:
    """DescribeInstances of one instance (``[]`` when EC2 does not know it)."""
    try:
        return [i for r in ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
                for i in r.get("Instances", [])]
    except Exception as exc:
        if "InvalidInstanceID" not in str(exc):
            raise
        return []


def unprepare(event: dict[str, Any], clients: ClientFactory) -> dict[str, Any]:
    """After a failed ``Prepare`` of a ``--stop`` schedule (even one cut off by the
    function's timeout): one step of bringing the instance back, as the engine's
    ``restart`` step does; only an instance stopped with this save's ``prism:save-lock``
    tag (the execution's name is the save id) that was running when the execution began
    (``at_start``, from ``observe``) is started, after the snapshots of this save's image
    (proven by its ``prism:save-id`` tag), if any, are listed."""
    from prism_core.aws.tags import LOCK_TAG, SAVE_ID_TAG, locked_by
    from prism_core.cloud import region_handler
    from prism_core.settings import DEFAULT_TIMEOUTS

    schedule, execution = event["schedule"], str(event["execution"])
    request = schedule.get("request") or {}
    instance_id = request.get("stop_instance_id")
    answer: dict[str, Any] = {"instance_id": instance_id, "restart": False, "state": None,
                              "started": False, "duty": "done", "note": ""}
    if request.get("image_mode") != "stop" or not instance_id:
        return {**answer, "note": "the schedule does not stop the instance"}
    if (event.get("at_start") or {}).get("state") != "running":
        return {**answer, "note": "not running when the save began: left as it is"}
    region = str(request.get("stop_region") or schedule["region"])
    ec2 = clients("ec2", region)
    found = _instances(ec2, str(instance_id))
    tags = {t["Key"]: t["Value"] for i in found for t in i.get("Tags") or []}
    if not found or not locked_by(tags, execution):
        return {**answer, "note": "not locked by this save: left as it is"}
    images = ec2.describe_images(Owners=["self"], Filters=[
        {"Name": f"tag:{SAVE_ID_TAG}", "Values": [execution]}])["Images"]
    save = {"save_id": execution, "instance_id": instance_id, "source_region": region,
            "restart_instance": True, "lock_tag_value": tags[LOCK_TAG],
            "image_id": images[0]["ImageId"] if images else None,
            "snapshots_timeout": float(DEFAULT_TIMEOUTS["snapshots"])}
    answer = region_handler.restart({"save": save}, clients)
    if answer["duty"] == "done" and answer["state"] == "running":  # its job is done
        ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": LOCK_TAG, "Value": tags[LOCK_TAG]}])
    return answer


def _undo(ctx: Any, clients: ClientFactory) -> list[str]:
    """After a failed ``prepare``: this save's image and snapshots (proven by the
    ``prism:save-id`` tag), its version claim and its lock go; what was removed."""
    from prism_core.cloud import region_handler
    from prism_core.inspection.store import remove_saved
    from prism_core.templates import registry

    state, region = ctx.state, ctx.source_region
    lock = (state.lock or "").partition(":")[2]
    save = {"save_id": state.save_id, "source_region": region, "lock_parameter": lock,
            "instance_id": ctx.request.instance_id}
    removed = list(region_handler.abort({"save": save, "regions": [region]}, clients)["removed"])
    name = registry.version_parameter(ctx.settings.registry_prefix, ctx.request.template_name,
                                      int(state.template_version or 1))
    if registry.release_claim(clients("ssm", region), name, state.save_id):
        removed.append(f"{region}:{name}")
    # the SBOM stored once the image was requested (its tags name this save)
    removed.extend(remove_saved(ctx.aws, state.inventory, state.save_id, region)[0])
    return removed


def _schedule_versions(found: Any, name: str) -> Any:
    """``found`` narrowed to the versions whose images carry ``prism:schedule=name``."""
    from prism_core.aws.tags import tags_of

    narrowed = copy.copy(found)
    narrowed.versions = {
        number: parts for number, parts in found.versions.items()
        if any(tags_of(record).get(SCHEDULE_TAG) == name
               for record in parts.image_records.values())
    }
    return narrowed


def retain(event: dict[str, Any], clients: ClientFactory) -> dict[str, Any]:
    """After a success: prune the schedule's versions beyond ``keep`` (never a channel
    target, a protected version or one instances use: retention's own decisions; their
    SBOMs go with them, proven by their tags as `templates delete --purge` does), then
    point ``channel`` at the new version. Failures are reported, not raised."""
    from prism_core.templates import lifecycle, retention
    from prism_core.templates.cleanup import inventory

    schedule, save = event["schedule"], event["save"]
    aws = FactoryClients(schedule["region"], clients)
    settings = _settings(schedule)
    name, version = str(save["document"]["name"]), int(save["document"]["version"])
    who = f"prism schedule {schedule['name']}"
    report: dict[str, Any] = {"pruned": [], "held": {}, "channel": None, "failures": [],
                              "removed": [], "kept": []}
    keep = int(schedule.get("keep") or 0)
    channel = schedule.get("channel") or ""
    if channel:
        try:
            target = lifecycle.locate(name, version, settings, aws, schedule["region"])
            outcome = lifecycle.promote(aws, settings.registry_prefix, target, channel, who)
            report["channel"] = {"channel": channel, "version": version}
            report["failures"] += outcome.failures
        except Exception as exc:  # noqa: BLE001 - reported: the save itself succeeded
            report["failures"].append(f"channel {channel}: {error_message(exc)}")
    if keep:
        try:
            found = _schedule_versions(inventory(name, settings, aws, schedule["region"]),
                                       schedule["name"])
            due = retention.plan(found, retention.Policy(keep=keep),
                                 retention.in_use(aws, found))
            outcome = retention.apply(aws, settings.registry_prefix, found, due, who)
            report["pruned"] = [s.version for s in due.steps]
            report["held"] = {str(v): why for v, why in due.held.items()}
            # what went with them (images, snapshots, entries, SBOMs) and what was not ours
            report["removed"], report["kept"] = outcome.changed, outcome.kept
            report["failures"] += outcome.failures
        except Exception as exc:  # noqa: BLE001 - reported: the save itself succeeded
            report["failures"].append(f"keep {keep}: {error_message(exc)}")
    return report


def notify(event: dict[str, Any], clients: ClientFactory) -> dict[str, Any]:
    """Publish a failed scheduled save to the schedule's SNS topic."""
    schedule = event["schedule"]
    topic = schedule.get("notify_topic") or ""
    if not topic:
        return {"published": False}
    error = event.get("error") or {}
    cause = str(error.get("Cause") or "")
    try:  # a function's error arrives as JSON with its message
        cause = str(json.loads(cause).get("errorMessage") or cause)
    except (ValueError, AttributeError):
        pass
    request = schedule.get("request") or {}
    subject = f"prism: scheduled save {schedule['name']} failed"
    message = "\n".join([
        f"The scheduled save {schedule['name']} of {request.get('instance')} as template "
        f"{request.get('template')} failed.",
        f"Save: {event.get('execution', '')}",
        f"Error: {error.get('Error', 'unknown')}: {cause[:2000]}",
        f"See it with `prism saves show {event.get('execution', '')}`.",
    ])
    region = topic.split(":")[3]
    answer = clients("sns", region).publish(TopicArn=topic, Subject=subject[:100],
                                            Message=message)
    return {"published": True, "message_id": answer.get("MessageId")}
