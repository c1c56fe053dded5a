"""Snapshot progress as numbers: the percentage EC2 reports for an image's snapshots and
an estimate of the time left from the rate observed so far."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from prism_core.aws.ec2 import image_snapshot_ids


@dataclass
class Reading:
    """One progress reading of an image's snapshots."""

    percent: float
    seconds_left: float | None

    def text(self) -> str:
        """``45% of the snapshots, about 3m 20s left``."""
        left = ""
        if self.seconds_left is not None:
            minutes, seconds = divmod(int(self.seconds_left + 0.5), 60)
            left = f", about {minutes}m {seconds:02d}s left" if minutes else (
                f", about {seconds}s left")
        return f"{self.percent:.0f}% of the snapshots{left}"

    def to_dict(self) -> dict[str, Any]:
        """For machine-readable output."""
        return {"percent": round(self.percent, 1),
                "eta_seconds": None if self.seconds_left is None else round(self.seconds_left)}


def percent(snapshots: list[dict[str, Any]]) -> float | None:
    """The least advanced snapshot's ``Progress`` (completed ones count 100)."""
    values: list[float] = []
    for snapshot in snapshots:
        if snapshot.get("State") == "completed":
            values.append(100.0)
            continue
        try:
            values.append(float(str(snapshot.get("Progress", "")).strip().rstrip("%")))
        except ValueError:
            return None
    return min(values) if values else None


def eta(first: tuple[float, float], last: tuple[float, float]) -> float | None:
    """Seconds left at the rate from ``first`` to ``last`` (each ``(time, percent)``)."""
    (t0, p0), (t1, p1) = first, last
    if p1 <= p0 or t1 <= t0:
        return None
    return (100.0 - p1) * (t1 - t0) / (p1 - p0)


class SnapshotMeter:
    """Reads the snapshots of a pending image; a new :class:`Reading` only when the
    percentage moved (one DescribeSnapshots per call once the snapshots are listed)."""

    def __init__(self, ec2: Any, clock: Any = time.monotonic) -> None:
        self.ec2 = ec2
        self.clock = clock
        self.first: tuple[float, float] | None = None
        self.last_percent: float | None = None

    def read(self, image: dict[str, Any] | None) -> Reading | None:
        """The reading for ``image`` (a DescribeImages record) if its progress changed."""
        ids = image_snapshot_ids(image) if image else None
        if not ids:
            return None
        try:
            snapshots = self.ec2.describe_snapshots(SnapshotIds=ids)["Snapshots"]
        except Exception:  # noqa: BLE001  (progress is informative only)
            return None
        done = percent(snapshots)
        if done is None or done == self.last_percent:
            return None
        now = self.clock()
        if self.first is None:
            self.first = (now, done)
        self.last_percent = done
        return Reading(done, eta(self.first, (now, done)))


def progress_report(ctx: Any, label: str, **data: Any) -> Any:
    """``report(percent, seconds_left)`` for a save's waits: a progress line
    ``label: 45% of the snapshots, about 2m 10s left`` on ``ctx.progress``, kept with
    ``data`` (phase, region, image) for the ``-o json`` result's ``progress``."""

    def report(done: float, left: float | None) -> None:
        reading = Reading(done, left)
        ctx.progress.reading(f"{label}: {reading.text()}", {**data, **reading.to_dict()})

    return report


def progress_finished(
    progress: Any, resource: str, text: str, *, phase: str, region: str | None = None
) -> None:
    """Tell ``progress`` that ``resource`` (an image or a copy) is complete: the last
    ``--progress json`` event of its waits, at 100% (a progress object without
    ``finished``, e.g. a plugin's own, is left alone)."""
    finished = getattr(progress, "finished", None)
    if callable(finished):
        finished(resource, text, phase=phase, region=region)
