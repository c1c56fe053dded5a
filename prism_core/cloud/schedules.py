"""Scheduled saves: EventBridge Scheduler schedules whose target is the save engine.

A schedule is named ``prism-save-<name>`` in the account's ``default`` schedule group;
its target is the state machine ``prism-save-engine`` (role ``prism-engine-scheduler``)
with the whole save request as input, ``{"schedule": {...}}`` (see :func:`target_input`).
Scheduler schedules carry no tags, so a schedule is proven prism's by its name, its
target (the engine's state machine) and its input naming it (:func:`is_ours`) before
``pause``, ``resume`` or ``remove`` touch it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prism_core.exceptions import InputError

PREFIX = "prism-save-"
GROUP = "default"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,49}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,}$")
SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$")
#: The tag on SNS topics prism creates for ``--notify EMAIL``.
TOPIC_TAG = "prism:schedule"
MAX_KEEP = 1000


def schedule_name(name: str) -> str:
    """A schedule's own name (``env-nightly``): 1-50 lower-case letters, digits, ``.-_``."""
    if not NAME.fullmatch(name or ""):
        raise InputError(f"invalid schedule name {str(name)[:60]!r}",
                         "use 1-50 lower-case letters, digits, '.', '-' or '_' (--name)")
    return name


def default_name(template: str, instance: str) -> str:
    """``<template>-<instance>``, made a valid schedule name."""
    text = re.sub(r"[^a-z0-9._-]+", "-", f"{template}-{instance}".lower()).strip("-._")
    return schedule_name(text[:50].rstrip("-._") or "save")


def keep_count(value: int | None) -> int | None:
    """``--keep N``: 1..1000 versions made by the schedule."""
    if value is not None and not 1 <= value <= MAX_KEEP:
        raise InputError(f"--keep must be from 1 to {MAX_KEEP}",
                         "the newest version is always kept; --keep 1 keeps only it")
    return value


def notify_target(text: str | None) -> tuple[str, str] | None:
    """``--notify``: ``("email", address)`` or ``("topic", arn)``; ``None`` when not given."""
    if not text:
        return None
    if SNS_ARN.fullmatch(text):
        return "topic", text
    if EMAIL.fullmatch(text):
        return "email", text
    raise InputError(f"--notify {text[:60]!r} is neither an email address nor an SNS topic ARN",
                     "give e.g. --notify ops@example.org or an arn:aws:sns:... topic")


def topic_name(name: str) -> str:
    """The SNS topic prism creates for a schedule's ``--notify EMAIL``."""
    return f"{PREFIX}{name}"[:256]


#: On an instance a ``--stop`` schedule may stop: the schedule's name. ``prism schedule add
#: --stop`` puts it with the caller's credentials, ``schedule remove`` takes it off; the
#: engine's function role may stop only an instance that carries it, and cannot put it.
STOP_TAG = "prism:schedule-stop"


def check_stoppable(tags: dict[str, str], instance: str, name: str) -> None:
    """Refuse a second ``--stop`` schedule of one instance (the tag names one schedule)."""
    other = tags.get(STOP_TAG)
    if other and other != name:
        raise InputError(
            f"{instance} is stopped by schedule {other!r} already (its {STOP_TAG} tag); "
            "nothing was changed",
            f"one --stop schedule per instance: remove {other!r} first, or schedule this one "
            "without --stop",
        )


def mark_stoppable(ec2: Any, instance_id: str, name: str) -> None:
    """Let the engine stop ``instance_id`` for schedule ``name`` (the :data:`STOP_TAG`)."""
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": STOP_TAG, "Value": name}])


def unmark_stoppable(ec2: Any, instance_id: str, name: str) -> list[str]:
    """Take :data:`STOP_TAG` off ``instance_id`` if it names schedule ``name``; what went."""
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except Exception as exc:
        if "InvalidInstanceID" in str(exc):
            return []  # the instance is gone, and its tag with it
        raise
    for reservation in reservations:
        for instance in reservation.get("Instances", []):
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags") or []}
            if tags.get(STOP_TAG) == name:
                ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": STOP_TAG, "Value": name}])
                return [f"tag {STOP_TAG} of {instance_id}"]
    return []


def release_stop(aws: Any, request: dict[str, Any], name: str, region: str) -> list[str]:
    """The mark of a ``--stop`` schedule's instance, taken off once the schedule goes."""
    instance_id = request.get("stop_instance_id")
    if not instance_id:
        return []
    ec2 = aws.ec2(str(request.get("stop_region") or region))
    return unmark_stoppable(ec2, str(instance_id), name)


@dataclass
class Schedule:
    """One schedule as the scheduler has it."""

    name: str
    expression: str
    time_zone: str
    state: str  # ENABLED | DISABLED
    request: dict[str, Any]
    keep: int | None
    channel: str | None
    notify: str | None
    notify_topic: str | None
    created: str
    next_run: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "expression": self.expression, "time_zone": self.time_zone,
                "state": self.state, "instance": self.request.get("instance"),
                "template": self.request.get("template"), "request": self.request,
                "keep": self.keep, "channel": self.channel, "notify": self.notify,
                "notify_topic": self.notify_topic, "created": self.created,
                "next_run": self.next_run}


def target_input(name: str, request: dict[str, Any], region: str, keep: int | None,
                 channel: str | None, notify: str | None, topic: str | None,
                 prefix: str, poll_seconds: int) -> dict[str, Any]:
    """The execution input every firing of the schedule starts the engine with."""
    return {"schedule": {
        "name": name, "request": request, "region": region, "keep": keep or 0,
        "channel": channel or "", "notify": notify or "", "notify_topic": topic or "",
        "registry_prefix": prefix, "poll_seconds": poll_seconds,
    }}


def is_ours(answer: dict[str, Any], machine_arn: str) -> bool:
    """Whether a GetSchedule answer is a schedule prism made for this engine."""
    target = answer.get("Target") or {}
    try:
        data = json.loads(target.get("Input") or "{}")
    except ValueError:
        return False
    return (str(answer.get("Name", "")).startswith(PREFIX)
            and target.get("Arn") == machine_arn
            and (data.get("schedule") or {}).get("name") == answer["Name"][len(PREFIX):])


def from_answer(answer: dict[str, Any], now: datetime | None = None) -> Schedule:
    """A :class:`Schedule` from GetSchedule's answer (next run computed when enabled)."""
    from prism_core.cloud import cron

    data = json.loads((answer.get("Target") or {}).get("Input") or "{}")["schedule"]
    created = answer.get("CreationDate")
    created_at = created if isinstance(created, datetime) else datetime.now(UTC)
    zone = answer.get("ScheduleExpressionTimezone") or "UTC"
    expression = answer["ScheduleExpression"]
    following = None
    if answer.get("State") == "ENABLED":
        try:
            following = cron.parse(expression).next_after(
                now or datetime.now(UTC), zone, start=created_at).isoformat(timespec="seconds")
        except InputError:
            following = None
    return Schedule(
        name=answer["Name"][len(PREFIX):], expression=expression, time_zone=zone,
        state=answer.get("State", "ENABLED"), request=data.get("request") or {},
        keep=data.get("keep") or None, channel=data.get("channel") or None,
        notify=data.get("notify") or None, notify_topic=data.get("notify_topic") or None,
        created=created_at.isoformat(timespec="seconds"), next_run=following,
    )


def get(scheduler: Any, name: str, machine_arn: str) -> dict[str, Any]:
    """GetSchedule of ``prism-save-<name>``, refused unless :func:`is_ours`."""
    try:
        answer = scheduler.get_schedule(Name=PREFIX + name, GroupName=GROUP)
    except Exception as exc:
        if "ResourceNotFound" in str(exc) or "does not exist" in str(exc).lower():
            raise InputError(f"no schedule {name!r}", "see `prism schedule list`") from None
        raise
    if not is_ours(answer, machine_arn):
        raise InputError(f"schedule {PREFIX}{name} is not one prism made for its save engine",
                         "leave it alone, or manage it with the AWS console") from None
    return dict(answer)


def listed(scheduler: Any, machine_arn: str) -> list[dict[str, Any]]:
    """Every prism schedule of the engine (GetSchedule of each ``prism-save-*``)."""
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"NamePrefix": PREFIX, "GroupName": GROUP}
    while True:
        page = scheduler.list_schedules(**kwargs)
        for summary in page.get("Schedules", []):
            answer = scheduler.get_schedule(Name=summary["Name"], GroupName=GROUP)
            if is_ours(answer, machine_arn):
                found.append(dict(answer))
        if not page.get("NextToken"):
            return sorted(found, key=lambda a: a["Name"])
        kwargs["NextToken"] = page["NextToken"]


def set_state(scheduler: Any, answer: dict[str, Any], state: str) -> None:
    """Pause (``DISABLED``) or resume (``ENABLED``) a schedule, all else unchanged."""
    kwargs = {k: answer[k] for k in ("Name", "GroupName", "ScheduleExpression",
                                     "FlexibleTimeWindow", "Target") if k in answer}
    for key in ("ScheduleExpressionTimezone", "Description"):
        if answer.get(key):
            kwargs[key] = answer[key]
    scheduler.update_schedule(**kwargs, State=state)


def remove_topic(aws: Any, arn: str, name: str) -> list[str]:
    """Delete the topic prism made for schedule ``name``'s ``--notify EMAIL``, proven by
    its ``prism:schedule`` tag; what was removed."""
    region = arn.split(":")[3]
    sns = aws.client("sns", region)
    try:
        tags = sns.list_tags_for_resource(ResourceArn=arn)["Tags"]
    except Exception as exc:
        if "NotFound" in str(exc):
            return []
        raise
    if {"Key": TOPIC_TAG, "Value": name} not in tags:
        return []
    sns.delete_topic(TopicArn=arn)
    return [f"topic {arn.rsplit(':', 1)[-1]}"]
