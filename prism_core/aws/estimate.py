"""When an image or a copy should be done, from its snapshots' progress: the waits
poll at the predicted moment instead of at a fixed rate throughout."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: More snapshots than this in one image: no estimate (one DescribeSnapshots page).
MAX_ESTIMATED_SNAPSHOTS = 100


def snapshots_time_left(
    ec2: Any, snapshot_ids: list[str], since: float | None, limit: float
) -> float | None:
    """Seconds until the slowest of ``snapshot_ids`` completes (see
    :func:`snapshots_progress`), or ``None``."""
    return snapshots_progress(ec2, snapshot_ids, since, limit)[1]


def snapshots_progress(
    ec2: Any, snapshot_ids: list[str], since: float | None, limit: float
) -> tuple[float | None, float | None]:
    """Seconds until the slowest of ``snapshot_ids`` completes, extrapolated from EC2's
    ``Progress`` (one DescribeSnapshots call): time so far x (100 - p) / p, counted from
    ``since`` (a ``time.time()`` stamp of the image's request) or else the snapshot's
    ``StartTime``. ``None`` when it cannot be told (no progress yet, an error, an
    unreadable answer): the waiter then simply polls. Never more than ``limit``.

    Returns ``(percent, seconds left)``: the least advanced snapshot's percentage (for
    the progress line) and the estimate; either may be ``None``.
    """
    if not snapshot_ids or len(snapshot_ids) > MAX_ESTIMATED_SNAPSHOTS:
        return None, None
    try:
        snapshots = ec2.describe_snapshots(SnapshotIds=list(snapshot_ids))["Snapshots"]
    except Exception:  # an estimate only: a refusal or throttling means "unknown"
        return None, None
    now = time.time()
    left: float | None = 0.0
    least: float | None = None
    for snapshot in snapshots if isinstance(snapshots, list) else []:
        if not isinstance(snapshot, dict) or snapshot.get("State") == "completed":
            continue
        if snapshot.get("State") != "pending":
            return least, None
        try:
            progress = float(str(snapshot.get("Progress", "")).strip().rstrip("%"))
            started = since if since is not None else snapshot["StartTime"].timestamp()
        except (ValueError, KeyError, AttributeError, TypeError):
            return least, None
        if 0.0 <= progress <= 100.0:
            least = progress if least is None else min(least, progress)
        elapsed = now - started
        if left is None or not 0.0 < progress < 100.0 or elapsed <= 0.0:
            left = None
            continue
        left = max(left, elapsed * (100.0 - progress) / progress)
    return least, None if left is None else min(left, max(limit, 0.0))


#: At most this many DescribeSnapshots estimates per wait.
MAX_ESTIMATES = 3


def completion_estimate(
    ec2: Any,
    image_id: str,
    snapshot_ids: Callable[[], list[str] | None],
    *,
    poll: float,
    longest: float,
    report: Callable[[float, float | None], None] | None = None,
    since: float | None = None,
) -> tuple[Callable[[], None], Callable[[], float | None]]:
    """``(not_yet, expected_at)`` for a wait on ``image_id``: call ``not_yet()`` when a
    check finds the image pending; it reads the snapshots' progress (one
    DescribeSnapshots) the first time, once more within two poll delays of the expected
    moment (whole percents early on are coarse), and again if that moment passed by a
    poll delay, at most :data:`MAX_ESTIMATES` times. ``expected_at()`` is that moment in
    seconds from the wait's start (:func:`~prism_core.aws.waiting.wait_for`).
    ``report(percent, seconds_left)`` is given each reading (the progress line).
    ``since``: when this process asked for the image (``time.time()``, kept per save by
    :meth:`~prism_core.save.context.SaveContext.mark_requested`); without it (a resumed
    save) the snapshots' ``StartTime``."""
    began = time.monotonic()
    due: list[float | None] = [None]
    asked = [0]

    def not_yet() -> None:
        now = time.monotonic() - began
        if asked[0] >= MAX_ESTIMATES:
            return
        refine = asked[0] == 1 and due[0] is not None and now >= due[0] - 2 * poll
        if due[0] is not None and now < due[0] + poll and not refine:
            return
        ids = snapshot_ids()
        if not ids:
            return
        asked[0] += 1
        done, left = snapshots_progress(ec2, ids, since, longest)
        if report is not None and done is not None:
            report(done, left)
        # counted from the answer, not from before the call (a slow answer is not early)
        due[0] = None if left is None else time.monotonic() - began + left

    return not_yet, lambda: due[0]
