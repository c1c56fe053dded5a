"""Finding the one live instance a command is about, by ``Name`` tag or id."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prism_core.aws.clients import error_code
from prism_core.aws.ec2 import LIVE_STATES, instance_record, instance_records
from prism_core.aws.tags import TEMPLATE_TAG, TEMPLATE_VERSION_TAG, tags_of
from prism_core.exceptions import InputError


@dataclass
class Instance:
    """What the instance commands need of one ``DescribeInstances`` record."""

    instance_id: str
    name: str
    state: str
    region: str
    instance_type: str = ""
    public_ip: str | None = None
    private_ip: str | None = None
    key_name: str | None = None
    lifecycle: str | None = None
    root_device_type: str = "ebs"
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_api(cls, data: dict[str, Any], region: str) -> Instance:
        """Build from one ``DescribeInstances`` record."""
        tags = tags_of(data)
        return cls(
            instance_id=data["InstanceId"],
            name=tags.get("Name", ""),
            state=str(data["State"]["Name"]),
            region=region,
            instance_type=str(data.get("InstanceType", "")),
            public_ip=data.get("PublicIpAddress"),
            private_ip=data.get("PrivateIpAddress"),
            key_name=data.get("KeyName"),
            lifecycle=data.get("InstanceLifecycle"),
            root_device_type=str(data.get("RootDeviceType", "ebs")),
            tags=tags,
        )

    @property
    def label(self) -> str:
        """``'name' (i-..., state)`` for messages."""
        shown = f"'{self.name}' " if self.name else ""
        return f"{shown}({self.instance_id}, {self.state})"

    @property
    def template(self) -> str | None:
        """``template@version`` it was launched from (prism's launch tags), if any."""
        name, version = self.tags.get(TEMPLATE_TAG), self.tags.get(TEMPLATE_VERSION_TAG)
        return f"{name}@{version}" if name and version else name


def find(ec2: Any, ref: str, region: str) -> Instance:
    """The one live instance named ``ref`` (its ``Name`` tag) or with id ``ref``.

    Unknown names, names shared by several live instances and terminated instances are
    one-line :class:`InputError` s saying what to do.
    """
    if ref.startswith("i-"):
        try:
            data = instance_record(ec2, ref)
        except Exception as exc:
            if error_code(exc) != "InvalidInstanceID.Malformed":
                raise
            data = None
        if data is None:
            raise InputError(f"no instance {ref} in {region}", "run `prism list --all`")
        found = [Instance.from_api(data, region)]
    else:
        found = [
            Instance.from_api(d, region)
            for d in instance_records(ec2, [{"Name": "tag:Name", "Values": [ref]}])
        ]
    live = [i for i in found if i.state in LIVE_STATES]
    if not live:
        if found:
            raise InputError(f"instance {found[0].label} in {region} is gone",
                             "launch a new one with `prism launch`")
        raise InputError(
            f"no instance named '{ref}' in {region}",
            "run `prism list` (or `prism list --all`), or pass the instance id or --region",
        )
    if len(live) > 1:
        raise InputError(
            f"{len(live)} instances are named '{ref}' in {region}: "
            + ", ".join(i.label[len(f"'{ref}' "):] for i in live),
            "pass the instance id instead of the name",
        )
    return live[0]
