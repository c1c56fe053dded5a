"""The sandbox's clock and the schedules it fires (docs/cloud.md, "In the sandbox").

moto stores EventBridge Scheduler schedules but never fires them. The sandbox keeps a
clock of its own (the real time plus what ``prism sandbox advance`` added);
:func:`advance` moves it forward and fires every enabled schedule that became due, in
time order, as the scheduler would: ``StartExecution`` of the target's state machine
with the target's input. Each execution runs (moto's interpreter) to completion before
the next fires. A rate counts from the schedule's creation on the sandbox's clock; a
paused schedule's firings are skipped, not made up when it resumes (as on AWS).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass
class ScheduleClock:
    """The sandbox's clock and, per schedule ARN, how far its firings were considered."""

    offset: timedelta = timedelta()
    origins: dict[str, datetime] = field(default_factory=dict)
    cursors: dict[str, datetime] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> datetime:
        """The sandbox's time."""
        return datetime.now(UTC) + self.offset

    def clear(self) -> None:
        self.offset = timedelta()
        self.origins.clear()
        self.cursors.clear()


def _schedules() -> list[Any]:
    """Every schedule moto holds (any account, region and group)."""
    from moto.scheduler.models import scheduler_backends

    found = []
    for account in list(scheduler_backends):
        for region in list(scheduler_backends[account]):
            backend = scheduler_backends[account][region]
            for group in list(backend.schedule_groups.values()):
                found.extend(group.schedules.values())
    return found


def _due(clock: ScheduleClock, end: datetime) -> list[tuple[datetime, Any]]:
    """``(time, schedule)`` of every firing from each schedule's cursor up to ``end``."""
    from prism_core.cloud import cron
    from prism_core.exceptions import InputError

    now = clock.now()
    due = []
    for schedule in _schedules():
        arn = schedule.arn
        if arn not in clock.origins:  # first seen: created on the sandbox's clock now
            created = datetime.fromtimestamp(float(schedule.creation_date), UTC)
            clock.origins[arn] = created + clock.offset
            clock.cursors[arn] = clock.origins[arn]
        cursor = clock.cursors[arn]
        clock.cursors[arn] = max(cursor, end)
        if schedule.state != "ENABLED":
            continue
        try:
            expression = cron.parse(schedule.schedule_expression)
        except InputError:
            continue  # not one the sandbox computes: it never fires here
        zone = schedule.schedule_expression_timezone or "UTC"
        when = expression.next_after(max(cursor, now - timedelta(days=366)), zone,
                                     start=clock.origins[arn])
        while when <= end:
            due.append((when, schedule))
            when = expression.next_after(when, zone, start=clock.origins[arn])
    return sorted(due, key=lambda item: (item[0], item[1].arn))


def _fire(sandbox: Any, schedule: Any, timeout: float) -> dict[str, Any]:
    """Start the schedule's target and wait for the execution to end."""
    target = schedule.target
    region = schedule.arn.split(":")[3]
    sfn = sandbox.client("stepfunctions", region)
    try:
        # AWS names an execution started without a name by a UUID; moto 5.2 names
        # every one "None"
        started = sfn.start_execution(stateMachineArn=target["Arn"], name=str(uuid.uuid4()),
                                      input=target.get("Input") or "{}")
    except Exception as exc:  # noqa: BLE001 - the scheduler's failed invocation
        return {"schedule": schedule.name, "status": "not started", "error": str(exc)}
    arn = started["executionArn"]
    deadline = time.monotonic() + timeout
    status = "RUNNING"
    while time.monotonic() < deadline:
        status = sfn.describe_execution(executionArn=arn)["status"]
        if status != "RUNNING":
            break
        time.sleep(0.05)
    return {"schedule": schedule.name, "execution": arn, "status": status}


def advance(sandbox: Any, seconds: float, timeout: float = 600.0) -> list[dict[str, Any]]:
    """Move the sandbox's clock ``seconds`` forward, firing what became due, in order."""
    clock: ScheduleClock = sandbox.schedule_clock
    with clock.lock:  # one advance at a time
        end = clock.now() + timedelta(seconds=seconds)
        fired = []
        for when, schedule in _due(clock, end):
            clock.offset = when - datetime.now(UTC)
            result = _fire(sandbox, schedule, timeout)
            fired.append({"time": when.isoformat(), **result})
        clock.offset = end - datetime.now(UTC)
        return fired


def answer(sandbox: Any, body: bytes) -> tuple[str, bytes]:
    """The sandbox API ``POST /prism-sandbox/advance`` (``{"seconds": N}``)."""
    try:
        seconds = float(json.loads(body.decode("utf-8") or "{}").get("seconds", 0))
    except (ValueError, AttributeError):
        return "400 Bad Request", b'{"error": "give {\\"seconds\\": N}"}'
    if not 0 <= seconds <= 10 * 366 * 86400:
        return "400 Bad Request", b'{"error": "seconds out of range"}'
    fired = advance(sandbox, seconds)
    return "200 OK", json.dumps({"now": sandbox.schedule_clock.now().isoformat(),
                                 "fired": fired}).encode("utf-8")
