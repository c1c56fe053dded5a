"""The entry point of the engine's Lambda function ``prism-engine-region``: the per-region
operations of :mod:`prism_core.cloud.region_handler` and the scheduled-save operations
of :mod:`prism_core.cloud.scheduled` (``observe``, ``prepare``, ``unprepare``,
``retain``, ``notify``)."""

from __future__ import annotations

from typing import Any

from prism_core.cloud import region_handler

#: Operations of scheduled saves (prism's save and retention code).
SCHEDULED_OPERATIONS = ("observe", "prepare", "unprepare", "retain", "notify")


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The Lambda entry point: run ``event["op"]`` with boto3's default clients."""
    return run(event, region_handler._boto3_clients)


def run(event: dict[str, Any], clients: region_handler.ClientFactory) -> dict[str, Any]:
    """Run one operation with clients from ``clients``."""
    if event.get("op") in SCHEDULED_OPERATIONS:
        from prism_core.cloud import scheduled

        operation = getattr(scheduled, str(event["op"]))
        return operation(event, clients)  # type: ignore[no-any-return]
    return region_handler.run(event, clients)
