"""The save request: what the user asked for, validated before anything changes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class SaveRequest:
    """One ``prism save``: the fields plugins read as ``ctx.request``."""

    instance_id: str
    instance_name: str
    template_name: str
    region: str
    description: str = ""
    copy_to_regions: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    project_id: str | None = None
    public: bool = False
    share_with: list[str] = field(default_factory=list)
    #: ``--copy-to-accounts``: ``ACCOUNT:ROLE`` entries; the image is copied into each
    #: account (assuming that role there) in every region the save has an image in.
    copy_to_accounts: list[str] = field(default_factory=list)
    #: ``--fast-restore``: availability zones; each applies to the image in its region.
    fast_restore: list[str] = field(default_factory=list)
    #: The version the values were completed from (``None``: a first version or
    #: ``--no-inherit``), what was inherited and what changed, in words for the plan.
    inherited_from: int | None = None
    inherited: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    no_reboot: bool = False  # image_mode == "no-reboot", kept for plugins reading it
    #: ``reboot`` (EC2 reboots the instance in CreateImage), ``stop`` or ``no-reboot``.
    image_mode: str = "reboot"
    #: ``--allow-instance-store-loss``: stop mode may erase instance-store volumes.
    allow_instance_store_loss: bool = False
    validate: bool = False  # boot-check the new image before registering it
    #: EC2 deprecation of the image and every copy, this many days after the save.
    deprecate_after_days: int | None = None
    #: What may leave the account: '' (refuse a share with secrets), ``allow-secrets``
    #: (share as it is, after a confirmation), ``no-inspect`` (no inspection) or ``scrub``
    #: (share only a scrubbed derivative; ``prism_core.save.scrub``).
    secrets_policy: str = ""
    #: Values of options plugins added to ``prism save`` (``prism_add_options``), by dest.
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe copy, as stored in the journal."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SaveRequest:
        """Rebuild a request from :meth:`to_dict` output (ignores unknown keys)."""
        known = {f for f in cls.__dataclass_fields__}
        if "image_mode" not in data:  # journals written before the modes: the stop flow
            data = {**data, "image_mode": "no-reboot" if data.get("no_reboot") else "stop"}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def shares_anything(self) -> bool:
        """Whether any launch permission is to be added."""
        return self.public or bool(self.share_with)
