"""A version's life after its save: channels, revocation, deprecation and protection.

Every operation works on one version of a template, in every region that has it (its
registry entries and its images, as :func:`prism_core.templates.cleanup.inventory`
finds them), and reports each region's failure instead of stopping at the first.
Channel and revocation records go through :mod:`prism_core.templates.registry`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prism_core.aws.clients import AwsClients, error_message
from prism_core.aws.tags import DEPRECATED_BEFORE_REVOKE_TAG, tags_of
from prism_core.exceptions import InputError
from prism_core.settings import Settings
from prism_core.templates import image_parameters, registry
from prism_core.templates.cleanup import Inventory, VersionParts, inventory, owned_images


def utc_now() -> str:
    """UTC ISO 8601 with a ``Z``, to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def deprecation_time(days: float) -> str:
    """``DeprecateAt`` for ``days`` from now (EC2 rounds to the minute)."""
    when = datetime.now(UTC) + timedelta(days=days)
    return when.strftime("%Y-%m-%dT%H:%M:00Z")


def is_future(timestamp: str | None) -> bool:
    """Whether an EC2 time such as ``2026-11-29T14:41:00.000Z`` is still ahead."""
    if not timestamp:
        return False
    try:
        when = datetime.fromisoformat(str(timestamp)[:64].replace("Z", "+00:00"))
    except ValueError:
        return False
    if when.tzinfo is None:  # EC2 times are UTC
        when = when.replace(tzinfo=UTC)
    return when > datetime.now(UTC)


@dataclass
class Target:
    """One version of a template and everything it has, everywhere."""

    name: str
    version: int
    found: Inventory
    parts: VersionParts

    def owned_images(self, aws: AwsClients, done: Outcome) -> dict[str, set[str]]:
        """The version's images the cloud's own tags prove this template's saves made
        (the proof deletes use); every other listed image is left alone and reported."""
        owned, kept = owned_images(aws, self.found, [self.version])
        done.kept.extend(kept)
        return owned

    @property
    def registry_regions(self) -> list[str]:
        """Regions whose registry has this version's document."""
        return sorted(
            r
            for r, keys in self.parts.registry.items()
            if r not in self.parts.claims and any("/versions/" in k for k in keys)
        )

    @property
    def image_count(self) -> int:
        """How many images (source and copies) the version has."""
        return sum(len(ids) for ids in self.parts.images.values())


def locate(name: str, version: int, settings: Settings, aws: AwsClients, region: str) -> Target:
    """The version ``version`` of ``name`` (``InputError`` naming the versions there are)."""
    found = inventory(name, settings, aws, region)
    parts = found.versions.get(version)
    if parts is None or not (parts.registry or parts.images or parts.files):
        have = ", ".join(str(v) for v in sorted(found.versions)) or "none"
        raise InputError(
            f"template {name} has no version {version} here or in the registry of "
            f"{', '.join(found.regions)} (versions: {have})",
            f"run `prism templates history {name}`",
        )
    if parts.document is None and parts.claims:
        holder = next(iter(parts.claims.values()))
        raise InputError(
            f"version {version} of {name} is still being saved (claimed by save "
            f"{holder.get('save_id', '?')} on {holder.get('host', '?')})",
            "wait for that save to finish; if it died, run `prism save --abort "
            f"{holder.get('save_id', 'SAVE_ID')}` on that machine",
        )
    return Target(name, version, found, parts)


@dataclass
class Outcome:
    """What an operation changed, where, and what failed."""

    changed: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: Images the version lists that its tags do not prove ours: left alone.
    kept: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[str]]:
        """The ``-o json`` form."""
        return {"changed": self.changed, "failures": self.failures, "kept": self.kept}


def follow_parameters(
    aws: AwsClients, prefix: str, name: str, regions: list[str], done: Outcome
) -> None:
    """Bring the template's AMI parameters (``<prefix>images/<name>/...``) of ``regions``
    in line with what just changed; their changes and failures go to ``done``."""
    synced = image_parameters.sync(aws, prefix, name, regions)
    done.changed.extend(synced.changed)
    done.failures.extend(synced.failures)


# -- channels ---------------------------------------------------------------------------
def promote(aws: AwsClients, prefix: str, target: Target, channel: str, who: str) -> Outcome:
    """Point ``channel`` at the version in every region that registers it."""
    record = {"version": target.version, "promoted_at": utc_now(), "promoted_by": who}
    key = registry.channel_key(prefix, target.name, channel)
    done = Outcome()
    for region in target.registry_regions:
        try:
            registry.put_record(aws.client("ssm", region), key, record, target.name)
            done.changed.append(f"{region}:{key}")
        except Exception as exc:
            done.failures.append(f"registry in {region}: {error_message(exc)}")
    follow_parameters(aws, prefix, target.name, target.registry_regions, done)
    follow_launch_templates(aws, prefix, target, channel, done)
    return done


def follow_launch_templates(
    aws: AwsClients, prefix: str, target: Target, channel: str, done: Outcome
) -> None:
    """Launch templates bound to ``channel`` get a new default version for the version."""
    from prism_core.templates.image_parameters import pick_image
    from prism_core.templates.launch_templates import follow_channel

    listed = ((target.parts.document or {}).get("ami_config") or {}).get("amis") or {}
    amis = {
        region: image
        for region, by_arch in listed.items()
        if isinstance(by_arch, dict)
        and (image := pick_image(by_arch, set(target.parts.images.get(region, set()))))
    }
    followed = follow_channel(
        aws, prefix, target.name, channel, target.version, amis, target.registry_regions
    )
    done.changed.extend(followed.changed)
    done.failures.extend(followed.failures)


def demote(aws: AwsClients, prefix: str, found: Inventory, channel: str) -> Outcome:
    """Remove ``channel`` from every region that has it."""
    key = registry.channel_key(prefix, found.name, channel)
    done = Outcome()
    for region in sorted(found.channels.get(channel, {})):
        try:
            if registry.delete_record(aws.client("ssm", region), key):
                done.changed.append(f"{region}:{key}")
        except Exception as exc:
            done.failures.append(f"registry in {region}: {error_message(exc)}")
    follow_parameters(aws, prefix, found.name, sorted(found.channels.get(channel, {})), done)
    return done


# -- revocation ---------------------------------------------------------------------------
def revoke(aws: AwsClients, prefix: str, target: Target, reason: str, who: str) -> Outcome:
    """Record the revocation in every registry region and deprecate every image now.

    The images' previous deprecation times are kept in the record, so that
    :func:`restore` puts them back.
    """
    previous = {
        image_id: (target.parts.image_records.get(image_id) or {}).get("DeprecationTime")
        for ids in target.parts.images.values()
        for image_id in sorted(ids)
    }
    record: dict[str, Any] = {
        "revoked_at": utc_now(),
        "revoked_by": who,
        "reason": reason,
        "deprecation": previous,
    }
    key = registry.revocation_key(prefix, target.name, target.version)
    done = Outcome()
    regions = target.registry_regions or sorted(target.parts.images)
    for region in regions:
        try:
            registry.put_record(aws.client("ssm", region), key, record, target.name)
            done.changed.append(f"{region}:{key}")
        except Exception as exc:
            done.failures.append(f"registry in {region}: {error_message(exc)}")
    # One minute ahead: EC2 refuses a deprecation time in the past.
    now = deprecation_time(1 / 1440)
    for region, ids in sorted(target.owned_images(aws, done).items()):
        ec2 = aws.ec2(region)
        for image_id in sorted(ids):
            try:
                image_tags = tags_of(target.parts.image_records.get(image_id))
                if DEPRECATED_BEFORE_REVOKE_TAG not in image_tags:  # revoked once already
                    earlier = previous.get(image_id) or NO_DEPRECATION
                    ec2.create_tags(
                        Resources=[image_id],
                        Tags=[{"Key": DEPRECATED_BEFORE_REVOKE_TAG, "Value": str(earlier)}],
                    )
                ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=now)
                done.changed.append(f"{region}:{image_id} deprecated at {now}")
            except Exception as exc:
                done.failures.append(f"{region}: {image_id}: {error_message(exc)}")
    follow_parameters(aws, prefix, target.name, regions, done)
    return done


#: The tag value that says an image had no deprecation time before its revocation.
NO_DEPRECATION = "none"


def restore(aws: AwsClients, prefix: str, target: Target) -> Outcome:
    """Remove the revocation everywhere and give the images their earlier deprecation back."""
    record = target.parts.revoked or {}
    previous = record.get("deprecation") if isinstance(record.get("deprecation"), dict) else {}
    key = registry.revocation_key(prefix, target.name, target.version)
    done = Outcome()
    for region in sorted(target.parts.registry):
        try:
            if registry.delete_record(aws.client("ssm", region), key):
                done.changed.append(f"{region}:{key} removed")
        except Exception as exc:
            done.failures.append(f"registry in {region}: {error_message(exc)}")
    for region, ids in sorted(target.owned_images(aws, done).items()):
        ec2 = aws.ec2(region)
        for image_id in sorted(ids):
            record = target.parts.image_records.get(image_id) or {}
            kept = tags_of(record).get(DEPRECATED_BEFORE_REVOKE_TAG)
            # the image's own tag, written by the revocation; the registry record only for
            # images revoked before prism kept it there (anyone's writing: checked)
            earlier = kept if kept is not None else (
                previous.get(image_id) if isinstance(previous, dict) else None
            )
            try:
                if plausible_deprecation(earlier, record.get("CreationDate")):
                    ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=str(earlier))
                    done.changed.append(f"{region}:{image_id} deprecated at {earlier} again")
                else:
                    ec2.disable_image_deprecation(ImageId=image_id)
                    done.changed.append(f"{region}:{image_id} no longer deprecated")
                if kept is not None:
                    ec2.delete_tags(
                        Resources=[image_id], Tags=[{"Key": DEPRECATED_BEFORE_REVOKE_TAG}]
                    )
            except Exception as exc:
                done.failures.append(f"{region}: {image_id}: {error_message(exc)}")
    follow_parameters(aws, prefix, target.name, sorted(target.parts.registry), done)
    return done


def plausible_deprecation(earlier: Any, created: Any) -> bool:
    """Whether a deprecation time a revocation record keeps for an image may be given back
    by ``restore``: an EC2 time still ahead, at least a day after the image was created
    (prism deprecates after whole days, at least one) and within ten years. The record
    is anyone's writing: a forged "deprecate in a minute" is not applied (deprecation is
    turned off instead, as for an image that had none)."""
    if not isinstance(earlier, str) or not is_future(earlier):
        return False
    try:
        when = datetime.fromisoformat(earlier[:64].replace("Z", "+00:00"))
        made = datetime.fromisoformat(str(created)[:64].replace("Z", "+00:00"))
    except ValueError:
        return False
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    made = made if made.tzinfo else made.replace(tzinfo=UTC)
    return made + timedelta(days=1) <= when <= datetime.now(UTC) + timedelta(days=3653)


# -- deprecation and protection -------------------------------------------------------------
def deprecate_image(ec2: Any, image_id: str, days: int) -> str:
    """``EnableImageDeprecation`` ``days`` from now; returns the time set."""
    when = deprecation_time(days)
    ec2.enable_image_deprecation(ImageId=image_id, DeprecateAt=when)
    return when


def set_protection(aws: AwsClients, target: Target, on: bool) -> Outcome:
    """Turn EC2 deregistration protection on or off for every image of the version."""
    done = Outcome()
    for region, ids in sorted(target.owned_images(aws, done).items()):
        ec2 = aws.ec2(region)
        for image_id in sorted(ids):
            try:
                if on:
                    ec2.enable_image_deregistration_protection(ImageId=image_id)
                else:
                    ec2.disable_image_deregistration_protection(ImageId=image_id)
                done.changed.append(f"{region}:{image_id}")
            except Exception as exc:
                done.failures.append(f"{region}: {image_id}: {error_message(exc)}")
    return done


def status_words(parts: VersionParts) -> list[str]:
    """``revoked``, ``deprecated <time>``, ``protected`` for one version, as they apply."""
    words: list[str] = []
    if parts.revoked is not None:
        words.append("revoked")
    times = sorted(
        str(r["DeprecationTime"]) for r in parts.image_records.values() if r.get("DeprecationTime")
    )
    if times and parts.revoked is None:
        past = not is_future(times[0])
        words.append(f"{'deprecated' if past else 'deprecates'} {times[0][:10]}")
    if parts.protected:
        words.append("protected")
    return words
