"""The state of one save, journaled after every change so a save can be resumed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Image states as prism tracks them (EC2's own plus prism's "requested").
REQUESTED = "requested"
PENDING = "pending"
AVAILABLE = "available"
FAILED = "failed"


@dataclass
class RegionImage:
    """The image of one save in one region: the source image or a copy."""

    region: str
    image_id: str | None = None
    state: str = REQUESTED
    snapshot_ids: list[str] = field(default_factory=list)
    architecture: str | None = None
    shared: bool = False
    client_token: str | None = None
    error: str | None = None
    deprecated: str | None = None  # the deprecation time set (--deprecate-after)
    #: Another account holding this copy (``--copy-to-accounts``); None: this account.
    account: str | None = None

    @property
    def ok(self) -> bool:
        """Available and without error."""
        return self.state == AVAILABLE and self.error is None


@dataclass
class SaveState:
    """Everything a save has planned and created, in journal form."""

    save_id: str
    request: dict[str, Any]
    started_at: str
    image_name: str
    instance_original_state: str
    status: str = "running"  # running | partial | failed | interrupted | done | aborting | aborted
    pid: int | None = None  # the process running the save, while it runs
    pid_started: int | None = None  # when that process started (pids are reused)
    stopped_by_prism: bool = False
    instance_restarted: bool = False
    #: Default mode: CreateImage was sent without NoReboot, EC2 reboots the instance.
    rebooted_by_ec2: bool = False
    #: The save lock this save holds (``region:parameter``), while it holds it.
    lock: str | None = None
    #: Version numbers claimed in the registry (``region:parameter``) not yet registered.
    claims: list[str] = field(default_factory=list)
    downtime_started: float | None = None
    downtime_ended: float | None = None
    phases_done: list[str] = field(default_factory=list)
    images: dict[str, RegionImage] = field(default_factory=dict)
    #: Copies in other accounts (``--copy-to-accounts``), by ``ACCOUNT:REGION``.
    account_images: dict[str, RegionImage] = field(default_factory=dict)
    registry: list[str] = field(default_factory=list)
    #: ``--fast-restore`` pairs this save asked EC2 to enable, ``region:snapshot:zone``
    #: (journaled before the request: ``--abort`` disables them).
    fast_restores: list[str] = field(default_factory=list)
    template_path: str | None = None
    #: Throwaway ``--validate`` instances not terminated yet, as ``region:instance-id``.
    boot_instances: list[str] = field(default_factory=list)
    template_version: int | None = None
    #: Seconds the source image took from CreateImage to ``available`` (EC2's
    #: CreationDate to prism seeing it): the copies' expected duration.
    image_seconds: float | None = None
    #: The rendered template document (``prism_template_render``) and the images it was
    #: rendered for: the registry and the template file hold exactly this.
    document: dict[str, Any] | None = None
    document_images: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    #: What the inspection found (``Report.to_dict()``: counts and secrets' paths, never
    #: the package list), or None before it ran.
    inspection: dict[str, Any] | None = None
    #: The version's inventory as the template records it: the SBOM's reference in the
    #: store (``sbom``, ``region``, ``sha256``) and the counts, or why there is none.
    inventory: dict[str, Any] | None = None
    #: ``--scrub``: the helper's journaled steps (``prism_core.save.scrub``): stage,
    #: region, security group, client token, helper id, the derivative's name.
    scrub: dict[str, Any] | None = None
    #: ``--scrub``: the scrubbed derivative images (the shared ones), by region.
    scrub_images: dict[str, RegionImage] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    #: ``--detach``: the save engine's execution this save is handed to (recorded before
    #: StartExecution): ``--resume`` asks the engine whether it has it before acting.
    engine_execution: str | None = None
    #: Who holds the restart duty of an instance this save stopped: ``local`` (this
    #: process and its watchdog) or ``engine`` (``--detach --stop``, once handed over).
    restart_duty: str = "local"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe copy for the journal."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SaveState:
        """Rebuild from :meth:`to_dict` output."""
        data = dict(data)
        fields = set(RegionImage.__dataclass_fields__)
        for key in ("images", "account_images", "scrub_images"):
            data[key] = {
                r: RegionImage(**{k: v for k, v in i.items() if k in fields})
                for r, i in data.get(key, {}).items()
            }
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def downtime_seconds(self) -> float | None:
        """Seconds the instance was down because of this save, once it is back."""
        if self.downtime_started is None or self.downtime_ended is None:
            return None
        return max(0.0, self.downtime_ended - self.downtime_started)
