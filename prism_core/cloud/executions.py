"""Executions of the save engine: starting one with a detached save's input (built by
:func:`prism_core.save.detach.save_input`), and reading them back (``prism saves``) from
any machine."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from prism_core.exceptions import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_PARTIAL,
    InputError,
    OperationFailed,
)
from prism_core.save.phases import AFTER_IMAGE_HOOKS

#: Hooks that would run in the cloud (every phase after the image's): a plugin that is
#: not built in and implements one of them makes --detach refuse (docs/cloud.md).
CLOUD_PHASES = AFTER_IMAGE_HOOKS


def refuse_cloud_plugins(manager: Any, what: str = "--detach") -> None:
    """Refuse ``what`` (--detach, a schedule) when a non-built-in plugin implements a
    cloud phase."""
    for plugin in manager.plugins():
        if plugin.source == "built-in":
            continue
        phases = sorted(h for h in plugin.hooks if h in CLOUD_PHASES)
        if phases:
            raise InputError(
                f"plugin {plugin.name} implements {', '.join(phases)}, which the save engine "
                f"does not run in the cloud; {what} would skip it",
                f"save without {what}, or disable it with PRISM_DISABLE_PLUGINS={plugin.name}"
                if what == "--detach"
                else f"disable it with PRISM_DISABLE_PLUGINS={plugin.name}",
            )


def start(aws: Any, machine_arn: str, region: str, save_id: str, data: dict[str, Any]) -> str:
    """Start the execution named ``save_id``; its ARN."""
    answer = aws.client("stepfunctions", region).start_execution(
        stateMachineArn=machine_arn, name=save_id, input=json.dumps(data, sort_keys=True)
    )
    return str(answer["executionArn"])


@dataclass
class SaveRun:
    """One detached save as its execution tells it."""

    save_id: str
    arn: str
    status: str  # running | done | partial | failed | aborted
    started: str
    stopped: str | None
    template: str
    version: str
    regions: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    #: The schedule that started it (``prism schedule``), if any.
    schedule: str | None = None
    #: What became of the instance (``$.instance``: restart wanted, state, started),
    #: once the engine recorded it; ``None`` before.
    instance: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        return {"done": EXIT_OK, "partial": EXIT_PARTIAL}.get(self.status, EXIT_FAILURE)

    def to_dict(self) -> dict[str, Any]:
        return {"save_id": self.save_id, "execution": self.arn, "status": self.status,
                "started": self.started, "stopped": self.stopped, "template": self.template,
                "version": self.version, "regions": self.regions, "error": self.error,
                "exit_code": self.exit_code, "phases": self.events,
                "schedule": self.schedule, "instance": self.instance}


_STATUS = {"RUNNING": "running", "SUCCEEDED": "done", "FAILED": "failed",
           "TIMED_OUT": "failed", "ABORTED": "aborted"}


def read(sfn: Any, arn: str, history: bool = True) -> SaveRun:
    """The save of execution ``arn``: request, status, per-region results, phases."""
    described = sfn.describe_execution(executionArn=arn)
    data = json.loads(described.get("input") or "{}")
    schedule = data.get("schedule") or {}
    save = data.get("save") or (prepared(sfn, arn) or {}).get("save") or {}
    status = _STATUS.get(described["status"], described["status"].lower())
    output = json.loads(described.get("output") or "null") or {}
    regions: list[dict[str, Any]] = []
    instance = None
    if isinstance(output, dict):
        status = output.get("status", status) if status == "done" else status
        regions = [dict(r) for r in output.get("regions") or []]
        instance = output.get("instance") if isinstance(output.get("instance"), dict) else None
    run = SaveRun(
        save_id=described.get("name", save.get("save_id", "")),
        arn=arn,
        status=status,
        started=str(described.get("startDate", "")),
        stopped=str(described["stopDate"]) if described.get("stopDate") else None,
        template=str((save.get("document") or {}).get("name", "")
                     or (schedule.get("request") or {}).get("template", "")),
        version=str((save.get("document") or {}).get("version", "")),
        regions=regions,
        error=(f"{described.get('error', '')}: {described.get('cause', '')}".strip(": ")
               if status == "failed" else None),
        schedule=schedule.get("name"),
        instance=instance,
    )
    if history:
        run.events = phases(sfn, arn)
        if run.instance is None:
            run.instance = instance_record(sfn, arn)
        if not regions:
            run.regions = [{"region": r, "status": "running" if status == "running"
                            else status} for r in data.get("regions") or []]
    return run


def prepared(sfn: Any, arn: str) -> dict[str, Any] | None:
    """A scheduled save's ``{"save", "regions"}`` as its ``Prepared`` state left them
    (``None`` before, or when ``Prepare`` failed)."""
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        for event in page["events"]:
            details = event.get("stateExitedEventDetails") or {}
            if details.get("name") == "Prepared":
                found = json.loads(details.get("output") or "{}")
                return {"save": found.get("save"), "regions": found.get("regions") or []}
        if not page.get("nextToken"):
            return None
        kwargs["nextToken"] = page["nextToken"]


def instance_record(sfn: Any, arn: str) -> dict[str, Any] | None:
    """``$.instance`` as the last state that recorded it left it (``None`` before)."""
    from prism_core.cloud.state_machine import INSTANCE_STATES

    found = None
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        for event in page["events"]:
            details = event.get("stateExitedEventDetails") or {}
            if details.get("name") in INSTANCE_STATES:
                value = json.loads(details.get("output") or "{}").get("instance")
                found = value if isinstance(value, dict) else found
        if not page.get("nextToken"):
            return found
        kwargs["nextToken"] = page["nextToken"]


def phases(sfn: Any, arn: str) -> list[dict[str, Any]]:
    """The states entered and left, in order (name, event, time)."""
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        for event in page["events"]:
            for key in ("stateEnteredEventDetails", "stateExitedEventDetails"):
                details = event.get(key)
                if details:
                    found.append({"state": details.get("name"),
                                  "event": "entered" if "Entered" in key else "exited",
                                  "time": str(event.get("timestamp", ""))})
        if not page.get("nextToken"):
            return found
        kwargs["nextToken"] = page["nextToken"]


def list_runs(sfn: Any, machine_arn: str, limit: int = 50) -> list[SaveRun]:
    """The newest ``limit`` detached saves (without their histories)."""
    executions = sfn.list_executions(stateMachineArn=machine_arn, maxResults=limit)["executions"]
    return [read(sfn, e["executionArn"], history=False) for e in executions]


def execution_arn(machine_arn: str, save_id: str) -> str:
    """The ARN of the execution that runs save ``save_id``."""
    return machine_arn.replace(":stateMachine:", ":execution:") + f":{save_id}"


def restart_instance(save: dict[str, Any], clients: Any, poll_seconds: float,
                     timeout: float) -> dict[str, Any] | None:
    """The engine's restart duty, done here (``prism saves abort`` stopped the execution,
    so its failure path will not run): the ``restart`` step repeated until it is done
    (bounded by ``timeout``); ``None`` when the save did not stop the instance."""
    import time

    from prism_core.cloud import region_handler

    if not save.get("restart_instance"):
        return None
    deadline = time.monotonic() + timeout
    while True:
        answer = region_handler.restart({"save": save}, clients)
        if answer["duty"] != "waiting":
            return {**answer, "by": "saves-abort"}
        if time.monotonic() > deadline:
            raise OperationFailed(
                f"instance {save.get('instance_id')} is not running yet ({answer['note']}); "
                "nothing of the save was removed",
                f"start it from the console, then run `prism saves abort {save['save_id']}` "
                "again")
        time.sleep(poll_seconds)


def abort(aws: Any, sfn: Any, arn: str, poll_seconds: float = 5.0,
          timeout: float = 900.0) -> dict[str, Any]:
    """Stop the execution (if it runs); bring the instance back if the save stopped it
    and the engine had not started it yet; then remove what the save made, each proven
    by its tags or its claim: images and snapshots tagged with the save id, the version
    claims (or this save's version entries) in the registry, the lock."""
    from prism_core.cloud import region_handler
    from prism_core.inspection.store import remove_saved
    from prism_core.templates import registry

    described = sfn.describe_execution(executionArn=arn)
    data = json.loads(described.get("input") or "{}")
    if ("save" not in data and described["status"] == "RUNNING"
            and not (prepared(sfn, arn) or {}).get("save")):
        # the function is requesting the image; stopping the execution would not stop
        # it, and nothing would release the lock and claim it takes
        raise InputError(
            "this scheduled save is still preparing (lock, claim, CreateImage); "
            "nothing was changed", "abort it again in a minute, once `prism saves show` "
            "lists its Prepared phase")
    if described["status"] == "RUNNING":
        sfn.stop_execution(executionArn=arn, error="prism.Aborted",
                           cause="prism saves abort")
    data = json.loads(described.get("input") or "{}")
    if "save" not in data:  # a scheduled save: what Prepare made, if it got that far
        data = prepared(sfn, arn) or {}
        if not data.get("save"):
            return {"removed": [], "lock_released": False}
    save, regions = data["save"], list(data.get("regions") or [])

    def clients(service: str, region: str) -> Any:
        return aws.client(service, region)

    instance = restart_instance(save, clients, poll_seconds, timeout)
    result = region_handler.abort({"save": save, "regions": regions}, clients)
    if instance is not None:
        result["instance"] = instance
    # the SBOM stored before the hand-over (the document references it), if its tags
    # name this save
    gone, kept = remove_saved(aws, (save.get("document") or {}).get("inventory"),
                              save["save_id"], save["source_region"])
    result["removed"].extend(gone)
    if kept:
        result["problems"] = kept
    name = save["registry"]["version_parameter"]
    for region in regions:
        ssm = aws.client("ssm", region)
        if registry.release_claim(ssm, name, save["save_id"]):
            result["removed"].append(f"{region}:{name}")
            continue
        try:
            value = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
        except Exception:  # noqa: BLE001 - nothing there (or not readable): nothing of ours
            continue
        if isinstance(value, dict) and value.get("save_id") == save["save_id"]:
            ssm.delete_parameter(Name=name)
            result["removed"].append(f"{region}:{name}")
    return result
