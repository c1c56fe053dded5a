"""How long the sandbox cloud's state transitions take."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Timings:
    """Durations in seconds; 0 means the transition completes at the next request."""

    stop: float = 0.0  # running -> stopping -> stopped
    start: float = 0.0  # stopped -> pending -> running (also RunInstances)
    snapshot: float = 0.0  # CreateImage -> block device mappings list a SnapshotId
    image: float = 0.0  # CreateImage: pending -> available (or failed)
    copy: float = 0.0  # CopyImage: pending -> available (or failed)
    #: CreateImage without NoReboot on a running instance: EC2 shuts the OS down, takes
    #: the snapshots and boots it again. The instance stays ``running`` while its status
    #: checks say ``initializing`` for this long (at least until the snapshots are listed).
    reboot: float = 0.0
    #: EnableFastSnapshotRestores: enabling -> optimizing (half of it) -> enabled.
    fast_restore: float = 0.0
    #: What one second of a save engine's Wait state or Retry interval lasts (moto's
    #: Step Functions interpreter sleeps them for real).
    engine_seconds: float = 1.0
    #: A scrub helper (``prism save --scrub``): how long it runs its user data, from
    #: ``running`` until it powers itself off.
    user_data: float = 0.0

    @classmethod
    def demo(cls) -> Timings:
        """Short but visible: what `prism demo` uses."""
        return cls(
            stop=2.0, start=2.0, snapshot=1.0, image=4.0, copy=4.0, reboot=3.0, fast_restore=4.0
        )

    @classmethod
    def fast(cls) -> Timings:
        """Everything instant (the default for tests); the engine's waits a twentieth."""
        return cls(engine_seconds=0.05)
