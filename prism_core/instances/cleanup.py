"""``prism cleanup``: what prism made in a region and nothing uses any more.

* security groups made by ``prism launch`` (tagged ``prism:launch-id``) that no
  instance or network interface uses;
* key pairs ``prism launch`` imported (tagged ``prism:key-of``) that no instance that is
  not terminated uses;
* ``--validate`` boot-check instances (tagged ``prism:boot-check``) older than a boot
  check can last (two start waits), i.e. left behind by a save that was killed.

Only the cloud's own tags prove ownership; a group merely named ``prism-...`` is never
touched. Every candidate is checked again right before it is removed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from prism_core.aws.clients import error_code, error_message
from prism_core.aws.ec2 import instance_records
from prism_core.aws.tags import BOOT_CHECK_TAG, KEY_OF_TAG, LAUNCH_ID_TAG, tags_of
from prism_core.instances import security_groups as groups
from prism_core.instances.launcher import terminate_and_wait
from prism_core.settings import Settings

NOT_TERMINATED = ["pending", "running", "stopping", "stopped", "shutting-down"]


@dataclass
class Leftover:
    """One thing prism made that nothing uses: kind, id, name, and why it is unused."""

    kind: str  # "helper-instance", "security-group" or "key-pair"
    id: str
    name: str
    why: str

    def line(self) -> str:
        """``security group sg-... (prism-box): no instance uses it``."""
        label = self.kind.replace("-", " ")
        return f"{label} {self.id} ({self.name}): {self.why}"


def _live_instances(ec2: Any) -> list[dict[str, Any]]:
    states = [{"Name": "instance-state-name", "Values": NOT_TERMINATED}]
    return list(instance_records(ec2, states))


def _used_groups(ec2: Any, instances: list[dict[str, Any]]) -> set[str]:
    """Groups of the ``instances`` and of every network interface not attached to an
    instance outside them (a terminated instance's interface goes with it)."""
    used = {g["GroupId"] for i in instances for g in i.get("SecurityGroups", [])}
    live = {i["InstanceId"] for i in instances}
    pages = ec2.get_paginator("describe_network_interfaces").paginate()
    for page in pages:
        for interface in page.get("NetworkInterfaces", []):
            attached = (interface.get("Attachment") or {}).get("InstanceId")
            if attached and attached not in live:
                continue
            used.update(g["GroupId"] for g in interface.get("Groups", []))
    return used


def _age_seconds(launched: Any, now: datetime) -> float:
    if not isinstance(launched, datetime):
        return 0.0
    if launched.tzinfo is None:
        launched = launched.replace(tzinfo=UTC)
    return (now - launched).total_seconds()


def find_leftovers(ec2: Any, settings: Settings, now: datetime | None = None) -> list[Leftover]:
    """Everything :mod:`prism_core.instances.cleanup` would remove (reads only)."""
    now = now or datetime.now(UTC)
    instances = _live_instances(ec2)
    found: list[Leftover] = []
    stale_after = 2 * settings.timeouts["start"]
    for data in instances:
        tags = tags_of(data)
        if BOOT_CHECK_TAG in tags and _age_seconds(data.get("LaunchTime"), now) > stale_after:
            found.append(
                Leftover(
                    "helper-instance",
                    data["InstanceId"],
                    tags.get("Name", ""),
                    f"a boot check of {tags[BOOT_CHECK_TAG]} that outlived its save",
                )
            )
    helpers = {f.id for f in found}
    in_use = _used_groups(ec2, [i for i in instances if i["InstanceId"] not in helpers])
    tagged = ec2.describe_security_groups(Filters=[{"Name": "tag-key", "Values": [LAUNCH_ID_TAG]}])
    for group in tagged["SecurityGroups"]:
        if groups.owned_by_launch(group) and group["GroupId"] not in in_use:
            found.append(
                Leftover(
                    "security-group",
                    group["GroupId"],
                    group.get("GroupName", ""),
                    "no instance or network interface uses it",
                )
            )
    keys_in_use = {
        i.get("KeyName") for i in instances if i["InstanceId"] not in helpers
    } - {None}
    pairs = ec2.describe_key_pairs(Filters=[{"Name": "tag-key", "Values": [KEY_OF_TAG]}])
    for pair in pairs["KeyPairs"]:
        if KEY_OF_TAG in tags_of(pair) and pair["KeyName"] not in keys_in_use:
            found.append(
                Leftover(
                    "key-pair",
                    pair.get("KeyPairId", pair["KeyName"]),
                    pair["KeyName"],
                    f"imported for {tags_of(pair)[KEY_OF_TAG]}; no instance uses it "
                    "(the next launch imports it again)",
                )
            )
    return found


def _key_still_prisms(ec2: Any, name: str) -> bool:
    try:
        pairs = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    except Exception as exc:
        if error_code(exc) == "InvalidKeyPair.NotFound":
            return False
        raise
    return bool(pairs) and KEY_OF_TAG in tags_of(pairs[0])


def remove(
    ec2: Any, leftovers: list[Leftover], settings: Settings, progress: Any
) -> tuple[list[Leftover], list[str]]:
    """Remove ``leftovers`` (helpers first, then groups, then key pairs), each proven
    prism's again just before; (removed, what failed with the reason)."""
    removed: list[Leftover] = []
    failed: list[str] = []
    order = {"helper-instance": 0, "security-group": 1, "key-pair": 2}
    for item in sorted(leftovers, key=lambda i: order[i.kind]):
        try:
            if item.kind == "helper-instance":
                terminate_and_wait(ec2, item.id, settings)
            elif item.kind == "security-group":
                if not groups.delete_group(
                    ec2, item.id, None, timeout=settings.timeouts["stop"], poll=settings.poll_delay
                ):
                    failed.append(f"{item.line()}: its tags no longer say prism made it")
                    continue
            elif _key_still_prisms(ec2, item.name):
                ec2.delete_key_pair(KeyName=item.name)
            else:
                failed.append(f"{item.line()}: its tags no longer say prism made it")
                continue
        except Exception as exc:
            failed.append(f"{item.line()}: {error_message(exc)}")
            progress.line("warn", f"Could not remove {item.kind} {item.id}: {error_message(exc)}")
            continue
        removed.append(item)
        progress.line("ok", f"Removed {item.kind.replace('-', ' ')} {item.id} ({item.name})")
    return removed, failed


def document(leftovers: list[Leftover]) -> list[dict[str, str]]:
    """The ``-o json`` form of a list of leftovers."""
    return [asdict(item) for item in leftovers]
