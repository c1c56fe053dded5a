"""The engine's state machine: the Amazon States Language definition of a detached save's
phases after CreateImage (drawn in docs/cloud.md).

Execution input: ``{"save": {...}, "regions": [source, copy regions...]}``; ``save`` is
built by :mod:`prism_core.cloud.executions` and read by
:mod:`prism_core.cloud.region_handler`. A scheduled save starts with
``{"schedule": {...}}`` (:mod:`prism_core.cloud.schedules`): ``Prepare`` makes the
``save`` first (CreateImage included), ``Retain`` prunes and moves the channel after a
success, ``NotifyFailure`` publishes a failure.
A detached ``--stop`` save hands its restart duty over with ``save.restart_instance``:
``RestartInstance`` (the ``restart`` operation, repeated while it answers ``waiting``)
starts the instance once the image's snapshots are listed, before anything else; every
failure path passes ``RecoverInstance`` (the same operation) before it releases the lock,
so a failed execution still leaves the instance running. A ``--stop`` schedule's failed
``Prepare`` passes ``UnprepareStep`` (the ``unprepare`` operation) first. ``$.instance``
records what became of it (``InstanceStarted`` / ``InstanceRecovered`` /
``InstanceUnprepared``; ``InstanceUntouched`` when the save did not stop it).
Output: ``{"status": "done"|"partial", "regions": [...], "registry": {...},
"instance": {...}}``; a failed execution's error and cause say why.
"""

from __future__ import annotations

import json
from typing import Any


def _invoke(function_arn: str, op: str, payload: dict[str, Any], result_path: str,
            next_state: str, catch: str | None = None,
            catch_path: str = "$.error") -> dict[str, Any]:
    """A Task state invoking the region function with ``{"op": op, ...payload}``."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn, "Payload": {"op": op, **payload}},
        "ResultSelector": {"value.$": "$.Payload"},
        "ResultPath": result_path,
        "OutputPath": "$",
        "Retry": [
            {
                "ErrorEquals": ["Lambda.TooManyRequestsException", "Lambda.ServiceException"],
                "IntervalSeconds": 2,
                "MaxAttempts": 4,
                "BackoffRate": 2.0,
            }
        ],
        "Next": next_state,
    }
    if catch:
        state["Catch"] = [
            {"ErrorEquals": ["States.ALL"], "ResultPath": catch_path, "Next": catch}
        ]
    return state


def _region_branch(function_arn: str) -> dict[str, Any]:
    """One region: start (copy), poll until available, finish (share, deprecate)."""
    common = {"save.$": "$.save", "region.$": "$.region"}
    with_image = {**common, "image_id.$": "$.start.value.image_id"}
    return {
        "StartAt": "Start",
        "States": {
            "Start": _invoke(function_arn, "start", common, "$.start", "Poll", "RegionFailed"),
            "Poll": _invoke(function_arn, "poll", with_image, "$.poll", "Available",
                            "RegionFailed"),
            "Available": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.poll.value.state", "StringEquals": "available",
                     "Next": "Finish"}
                ],
                "Default": "WaitCopy",
            },
            "WaitCopy": {"Type": "Wait", "SecondsPath": "$.save.poll_seconds", "Next": "Poll"},
            "Finish": {
                **_invoke(function_arn, "finish", with_image, "$.finish", "RegionDone",
                          "RegionFailed"),
            },
            "RegionDone": {"Type": "Pass", "OutputPath": "$.finish.value", "End": True},
            "RegionFailed": {
                "Type": "Pass",
                "Parameters": {
                    "region.$": "$.region",
                    "status": "failed",
                    "error.$": "$.error.Error",
                    "cause.$": "$.error.Cause",
                },
                "End": True,
            },
        },
    }


#: The states that record ``$.instance`` (read back by ``prism saves show``).
INSTANCE_STATES = ("InstanceStarted", "InstanceRecovered", "InstanceUntouched",
                   "InstanceUnprepared")


def _restart_loop(function_arn: str, prefix: str, done: str, failed: str,
                  failed_path: str) -> dict[str, dict[str, Any]]:
    """``<prefix>``: the ``restart`` step, repeated after a poll delay while it answers
    ``duty: waiting``; then ``done`` (with ``$.instance``), or ``failed`` on an error."""
    step, check, wait = f"{prefix}Step", f"{prefix}Check", f"{prefix}Wait"
    recorded = "InstanceStarted" if prefix == "Restart" else "InstanceRecovered"
    task = _invoke(function_arn, "restart", {"save.$": "$.save"}, "$.restart", check,
                   failed, failed_path)
    # a refused start (capacity, throttling) is tried again (5, 10, 20, 40 s later), then
    # once more by the failure path's loop
    task["Retry"].append({"ErrorEquals": ["States.ALL"], "IntervalSeconds": 5,
                          "MaxAttempts": 4, "BackoffRate": 2.0})
    return {
        step: task,
        check: {
            "Type": "Choice",
            "Choices": [{"Variable": "$.restart.value.duty", "StringEquals": "waiting",
                         "Next": wait}],
            "Default": recorded,
        },
        wait: {"Type": "Wait", "SecondsPath": "$.save.poll_seconds", "Next": step},
        recorded: {
            "Type": "Pass",
            "Parameters": {
                "instance_id.$": "$.restart.value.instance_id",
                "restart.$": "$.restart.value.restart",
                "state.$": "$.restart.value.state",
                "started.$": "$.restart.value.started",
                "note.$": "$.restart.value.note",
                "by": "save-engine",
            },
            "ResultPath": "$.instance",
            "Next": done,
        },
    }


def _unprepare_loop(function_arn: str) -> dict[str, dict[str, Any]]:
    """``UnprepareStep``: the ``unprepare`` step, repeated while it answers ``waiting``;
    then ``InstanceUnprepared`` (``$.instance``) and the failure notice."""
    task = _invoke(function_arn, "unprepare",
                   {"schedule.$": "$.schedule", "execution.$": "$$.Execution.Name",
                    "at_start.$": "$.at_start.value"},
                   "$.restart", "UnprepareCheck", "FailureNotice", "$.recover_error")
    task["Retry"].append({"ErrorEquals": ["States.ALL"], "IntervalSeconds": 5,
                          "MaxAttempts": 4, "BackoffRate": 2.0})
    return {
        "UnprepareStep": task,
        "UnprepareCheck": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.restart.value.duty", "StringEquals": "waiting",
                         "Next": "UnprepareWait"}],
            "Default": "InstanceUnprepared",
        },
        "UnprepareWait": {"Type": "Wait", "SecondsPath": "$.schedule.poll_seconds",
                          "Next": "UnprepareStep"},
        "InstanceUnprepared": {
            "Type": "Pass",
            "Parameters": {
                "instance_id.$": "$.restart.value.instance_id",
                "restart.$": "$.restart.value.restart",
                "state.$": "$.restart.value.state",
                "started.$": "$.restart.value.started",
                "note.$": "$.restart.value.note",
                "by": "save-engine",
            },
            "ResultPath": "$.instance",
            "Next": "FailureNotice",
        },
    }


def _restart_wanted(name: str, yes: str, no: str) -> dict[str, dict[str, Any]]:
    """A Choice: ``save.restart_instance`` true -> ``yes``, else ``no``."""
    return {name: {
        "Type": "Choice",
        "Choices": [{"And": [
            {"Variable": "$.save.restart_instance", "IsPresent": True},
            {"Variable": "$.save.restart_instance", "BooleanEquals": True},
        ], "Next": yes}],
        "Default": no,
    }}


def definition(function_arn: str) -> dict[str, Any]:
    """The state machine of a detached save, invoking the region function ``function_arn``."""
    return {
        "Comment": "prism: a detached save after CreateImage (docs/cloud.md)",
        "StartAt": "Kind",
        "States": {
            "Kind": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.schedule", "IsPresent": True,
                             "Next": "ObserveInstance"}],
                "Default": "RestartWanted",
            },
            **_restart_wanted("RestartWanted", "RestartStep", "InstanceUntouched"),
            **_restart_loop(function_arn, "Restart", "ImageState", "RecoverInstance",
                            "$.error"),
            "InstanceUntouched": {
                "Type": "Pass",
                "Result": {"restart": False, "started": False, "by": "save-engine",
                           "note": "the save did not stop the instance"},
                "ResultPath": "$.instance",
                "Next": "ImageState",
            },
            # a --stop schedule's instance state before anything changes: Prepare stops
            # only an instance that was running then, UnprepareStep starts only such a one
            "ObserveInstance": _invoke(
                function_arn, "observe", {"schedule.$": "$.schedule"}, "$.at_start",
                "Prepare", "FailureNotice",
            ),
            "Prepare": _invoke(
                function_arn, "prepare",
                {"schedule.$": "$.schedule", "execution.$": "$$.Execution.Name",
                 "execution_arn.$": "$$.Execution.Id", "at_start.$": "$.at_start.value"},
                "$.prepared", "Prepared", "UnprepareWanted",
            ),
            # a failed Prepare of a --stop schedule (its function may have been cut off by
            # its timeout): the instance runs again before the failure is reported
            "UnprepareWanted": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.schedule.request.stop_instance_id",
                             "IsPresent": True, "Next": "UnprepareStep"}],
                "Default": "FailureNotice",
            },
            **_unprepare_loop(function_arn),
            "Prepared": {
                "Type": "Pass",
                "Parameters": {"save.$": "$.prepared.value.save",
                               "regions.$": "$.prepared.value.regions",
                               "schedule.$": "$.schedule"},
                "Next": "RestartWanted",
            },
            "ImageState": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:ec2:describeImages",
                "Parameters": {"ImageIds.$": "States.Array($.save.image_id)"},
                # the first (only) image, then its State: a path indexing in the middle
                # ($.Images[0].State) is answered as a list by moto's interpreter
                "ResultSelector": {"first.$": "States.ArrayGetItem($.Images, 0)"},
                "ResultPath": "$.image",
                "Retry": [
                    {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 5,
                     "BackoffRate": 2.0}
                ],
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                     "Next": "RecoverInstance"}
                ],
                "Next": "ImageReady",
            },
            "ImageReady": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.image.first.State", "StringEquals": "available",
                     "Next": "Regions"},
                    {"Variable": "$.image.first.State", "StringEquals": "failed",
                     "Next": "ImageFailed"},
                ],
                "Default": "WaitImage",
            },
            "WaitImage": {"Type": "Wait", "SecondsPath": "$.save.poll_seconds",
                          "Next": "ImageState"},
            "ImageFailed": {
                "Type": "Pass",
                "Parameters": {"Error": "ImageFailed",
                               "Cause": "the source image ended in state failed"},
                "ResultPath": "$.error",
                "Next": "RecoverInstance",
            },
            "Regions": {
                "Type": "Map",
                "ItemsPath": "$.regions",
                "MaxConcurrency": 0,
                "Parameters": {"save.$": "$.save", "region.$": "$$.Map.Item.Value"},
                "Iterator": _region_branch(function_arn),
                "ResultPath": "$.results",
                "Next": "Register",
            },
            "Register": _invoke(
                function_arn, "register",
                {"save.$": "$.save", "results.$": "$.results"}, "$.registry", "AfterRegister",
                "RecoverInstance",
            ),
            "AfterRegister": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.schedule", "IsPresent": True,
                             "Next": "RetainWanted"}],
                "Default": "Outcome",
            },
            "RetainWanted": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.registry.value.status", "StringEquals": "failed",
                             "Next": "Outcome"}],
                "Default": "Retain",
            },
            "Retain": _invoke(
                function_arn, "retain", {"schedule.$": "$.schedule", "save.$": "$.save"},
                "$.retained", "Outcome", "Outcome", "$.retain_error",
            ),
            "Outcome": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.registry.value.status", "StringEquals": "done",
                     "Next": "Done"},
                    {"Variable": "$.registry.value.status", "StringEquals": "partial",
                     "Next": "Partial"},
                ],
                "Default": "NoRegionSucceeded",
            },
            "NoRegionSucceeded": {
                "Type": "Pass",
                "Parameters": {"Error": "SaveFailed", "Cause": "no region succeeded"},
                "ResultPath": "$.error",
                "Next": "FailureNotice",
            },
            "FailureNotice": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.schedule", "IsPresent": True,
                             "Next": "NotifyWanted"}],
                "Default": "Failed",
            },
            "NotifyWanted": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.schedule.notify_topic", "StringEquals": "",
                             "Next": "ScheduledFailed"}],
                "Default": "NotifyFailure",
            },
            "NotifyFailure": _invoke(
                function_arn, "notify",
                {"schedule.$": "$.schedule", "execution.$": "$$.Execution.Name",
                 "error.$": "$.error"},
                "$.notified", "ScheduledFailed", "ScheduledFailed", "$.notify_error",
            ),
            "ScheduledFailed": {
                "Type": "Fail",
                "ErrorPath": "$.error.Error",
                "CausePath": "$.error.Cause",
            },
            "Partial": {
                "Type": "Pass",
                "Parameters": {"status": "partial", "regions.$": "$.results",
                               "registry.$": "$.registry.value",
                               "instance.$": "$.instance"},
                "End": True,
            },
            "Done": {
                "Type": "Pass",
                "Parameters": {"status": "done", "regions.$": "$.results",
                               "registry.$": "$.registry.value",
                               "instance.$": "$.instance"},
                "End": True,
            },
            # every failure after the hand-over: the instance runs again before the lock goes
            **_restart_wanted("RecoverInstance", "RecoverStep", "ReleaseAfterFailure"),
            **_restart_loop(function_arn, "Recover", "ReleaseAfterFailure",
                            "ReleaseAfterFailure", "$.recover_error"),
            "ReleaseAfterFailure": _invoke(
                function_arn, "abort", {"save.$": "$.save", "regions": []}, "$.released",
                "FailureNotice",
            ),
            "Failed": {  # every path here set $.error: what went wrong, for `saves show`
                "Type": "Fail",
                "ErrorPath": "$.error.Error",
                "CausePath": "$.error.Cause",
            },
        },
    }


def definition_text(function_arn: str) -> str:
    """:func:`definition` as the JSON Step Functions stores (stable key order)."""
    return json.dumps(definition(function_arn), sort_keys=True, separators=(",", ":"))
