"""Lifecycle policies: a template's versions age out (deprecate, disable, delete).

A policy lives with the template in the registry, ``<prefix>templates/<name>/policy``
(JSON, every region with the template's registry)::

    {"keep": N, "max_age_days": D1, "disable_after_days": D2, "delete_after_days": D3,
     "recycle_bin_days": D4, "set_at", "set_by"}

:func:`plan` decides, for every version but the ``keep`` newest, by the age of its
images (their oldest ``CreationDate``): older than ``delete_after_days`` -> deleted
(images deregistered with their snapshots, registry entries and files removed, as
``prune`` does, ownership proven by the images' own tags); older than
``disable_after_days`` -> disabled (``DisableImage``); older than ``max_age_days`` ->
deprecated now. A policy with ``keep`` and no age deletes every older version. The
newest version is always kept (it is what ``latest`` and a new launch use). Never
touched, and reported: a channel's target, a protected version, a version whose images
instances use, a version still being saved.

Every action is recorded in ``<prefix>templates/<name>/lifecycle/<N>`` (a JSON list of
``{"action", "at", "by", "age_days"}``, the newest 20), which ``templates history``
shows, deleted versions included.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prism_core.aws.clients import AwsClients, error_code, error_message
from prism_core.exceptions import InputError
from prism_core.templates import registry

MAX_DAYS = 36_500
MAX_KEEP = 1000
MAX_EVENTS = 20
DAYS = re.compile(r"^([0-9]{1,5})d?$")
DEPRECATE, DISABLE, DELETE = "deprecate", "disable", "delete"
#: The order a version goes through; a later stage includes the earlier ones.
STAGES = (DEPRECATE, DISABLE, DELETE)


def parse_days(text: str | None, flag: str) -> int | None:
    """``180d`` or ``180`` -> 180 (1..36500 days); ``None`` when not given."""
    if text is None:
        return None
    match = DAYS.fullmatch(str(text).strip())
    if not match or not 1 <= int(match.group(1)) <= MAX_DAYS:
        raise InputError(f"{flag}: {str(text)[:20]!r} is not a number of days", "write e.g. 180d")
    return int(match.group(1))


@dataclass
class Policy:
    """What a template keeps and when its older versions age out."""

    keep: int | None = None
    max_age_days: int | None = None
    disable_after_days: int | None = None
    delete_after_days: int | None = None
    recycle_bin_days: int | None = None

    FIELDS = ("keep", "max_age_days", "disable_after_days", "delete_after_days", "recycle_bin_days")

    def check(self) -> Policy:
        """A one-line ``InputError`` for a policy that cannot be meant."""
        if all(getattr(self, f) is None for f in self.FIELDS[:4]):
            raise InputError(
                "a policy needs at least one rule",
                "pass --keep N, --max-age D, --disable-after D or --delete-after D",
            )
        if self.keep is not None and not 1 <= self.keep <= MAX_KEEP:
            raise InputError(f"--keep must be from 1 to {MAX_KEEP}")
        ages = [
            (flag, value)
            for flag, value in (
                ("--max-age", self.max_age_days),
                ("--disable-after", self.disable_after_days),
                ("--delete-after", self.delete_after_days),
            )
            if value is not None
        ]
        for (flag, value), (later, after) in zip(ages, ages[1:], strict=False):
            if after < value:
                raise InputError(
                    f"{later} ({after}d) is earlier than {flag} ({value}d)",
                    "a version is deprecated, then disabled, then deleted",
                )
        return self

    def to_record(self) -> dict[str, Any]:
        """The registry form (rules only)."""
        return {f: getattr(self, f) for f in self.FIELDS if getattr(self, f) is not None}

    @classmethod
    def from_record(cls, record: dict[str, Any], source: str) -> Policy:
        """A policy read back from the registry (``InputError`` when malformed)."""
        values: dict[str, int] = {}
        for name in cls.FIELDS:
            value = record.get(name)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_DAYS:
                raise InputError(f"{source}: field {name} must be a whole number from 1")
            values[name] = value
        return cls(**values).check()

    def text(self) -> str:
        """``keep 3, deprecate after 90d, delete after 365d``."""
        parts = []
        if self.keep is not None:
            parts.append(f"keep the {self.keep} newest")
        for label, value in (
            ("deprecate after", self.max_age_days),
            ("disable after", self.disable_after_days),
            ("delete after", self.delete_after_days),
            ("recycle bin", self.recycle_bin_days),
        ):
            if value is not None:
                parts.append(f"{label} {value}d")
        return ", ".join(parts)

    def stage(self, age_days: float) -> str | None:
        """What a version of that age (not among the kept) is due for."""
        if self.delete_after_days is not None and age_days >= self.delete_after_days:
            return DELETE
        if self.disable_after_days is not None and age_days >= self.disable_after_days:
            return DISABLE
        if self.max_age_days is not None and age_days >= self.max_age_days:
            return DEPRECATE
        if self.keep is not None and not any(
            (self.max_age_days, self.disable_after_days, self.delete_after_days)
        ):
            return DELETE
        return None


def policy_key(prefix: str, name: str) -> str:
    """``<prefix>templates/<name>/policy``."""
    return f"{registry.parameter_base(prefix, name)}/policy"


def log_key(prefix: str, name: str, version: int) -> str:
    """``<prefix>templates/<name>/lifecycle/<N>``."""
    return f"{registry.parameter_base(prefix, name)}/lifecycle/{int(version)}"


def _bounded_json(value: str, source: str) -> Any:
    if len(value) > registry.MAX_RECORD_BYTES:
        raise InputError(f"{source}: larger than {registry.MAX_RECORD_BYTES} bytes")
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        raise InputError(f"{source}: not valid JSON") from None


def read_policy(ssm: Any, prefix: str, name: str) -> Policy | None:
    """The template's policy in one region, ``None`` if it has none."""
    key = policy_key(prefix, name)
    try:
        value = str(ssm.get_parameter(Name=key)["Parameter"]["Value"])
    except Exception as exc:
        if error_code(exc) == "ParameterNotFound":
            return None
        raise
    record = _bounded_json(value, f"registry {key}")
    if not isinstance(record, dict):
        raise InputError(f"registry {key}: not a JSON object")
    return Policy.from_record(record, f"registry {key}")


def write_policy(
    aws: AwsClients, prefix: str, name: str, policy: Policy, regions: list[str], who: str
) -> tuple[list[str], list[str]]:
    """Store the policy in every region; ``(written, failures)``."""
    record = {**policy.to_record(), "set_at": _now(), "set_by": who}
    written, failures = [], []
    for region in sorted(regions):
        try:
            registry.put_record(aws.client("ssm", region), policy_key(prefix, name), record, name)
            written.append(f"{region}:{policy_key(prefix, name)}")
        except Exception as exc:
            failures.append(f"registry in {region}: {error_message(exc)}")
    return written, failures


def read_log(ssm: Any, prefix: str, name: str) -> dict[int, list[dict[str, Any]]]:
    """Version -> its lifecycle events in one region (malformed entries skipped)."""
    base = f"{registry.parameter_base(prefix, name)}/lifecycle"
    found: dict[int, list[dict[str, Any]]] = {}
    pages = ssm.get_paginator("get_parameters_by_path").paginate(
        Path=base, Recursive=False, PaginationConfig={"PageSize": registry.PAGE_BY_PATH}
    )
    for page in pages:
        for parameter in page.get("Parameters", []):
            number = str(parameter["Name"])[len(base) + 1 :]
            if not (number.isascii() and number.isdigit() and len(number) <= 7):
                continue
            try:
                events = _bounded_json(str(parameter.get("Value", "")), number)
            except InputError:
                continue
            if isinstance(events, list):
                found[int(number)] = [
                    {k: str(v)[:200] for k, v in e.items()} for e in events if isinstance(e, dict)
                ]
    return found


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _created(parts: Any) -> datetime | None:
    """When the version was made: its images' oldest ``CreationDate``, else its saved date."""
    dates = [
        str(r.get("CreationDate")) for r in parts.image_records.values() if r.get("CreationDate")
    ]
    dates += [str(parts.saved_date)] if not dates and parts.saved_date else []
    parsed = []
    for text in dates:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            continue
        parsed.append(when if when.tzinfo else when.replace(tzinfo=UTC))
    return min(parsed) if parsed else None


@dataclass
class Step:
    """One version's due action."""

    version: int
    action: str
    age_days: int
    #: Where the version's SBOM is, deleted with it (a deletion only).
    sboms: tuple[str, ...] = ()

    def text(self) -> str:
        """``v1 (400 days old): delete`` (``, with inventory SBOM s3://...``)."""
        with_sboms = "".join(f", with inventory SBOM {where}" for where in self.sboms)
        return f"v{self.version} ({self.age_days} days old): {self.action}{with_sboms}"


@dataclass
class Enforcement:
    """What :func:`plan` found due and what it holds back."""

    template: str
    policy: Policy
    steps: list[Step] = field(default_factory=list)
    held: dict[int, str] = field(default_factory=dict)  # version -> why not touched


def _deprecated_by_now(timestamp: Any) -> bool:
    """Whether a ``DeprecationTime`` is past or minutes away (as an earlier run sets it)."""
    try:
        when = datetime.fromisoformat(str(timestamp or "").replace("Z", "+00:00"))
    except ValueError:
        return False
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when <= datetime.now(UTC) + timedelta(minutes=10)


def _done_already(parts: Any, action: str) -> bool:
    records = list(parts.image_records.values())
    if not records:
        return action != DELETE and not parts.images
    if action == DEPRECATE:
        return all(_deprecated_by_now(r.get("DeprecationTime")) for r in records)
    if action == DISABLE:
        return all(r.get("State") == "disabled" for r in records)
    return False


def held_for_life(found: Any, version: int) -> str | None:
    """Why a policy never touches ``version``: protected, a channel's target, being saved."""
    parts = found.versions[version]
    reasons = []
    if parts.protected:
        reasons.append("protected")
    channels = found.channels_of(version)
    if channels:
        reasons.append(f"channel {', '.join(channels)} points at it")
    if parts.claims:
        reasons.append("still being saved")
    return "; ".join(reasons) or None


def plan(
    found: Any,
    policy: Policy,
    users: dict[int, str],
    now: datetime | None = None,
) -> Enforcement:
    """The steps ``policy`` asks of ``found`` (a :class:`cleanup.Inventory`) now.

    ``users`` is version -> why instances use it (those versions are held).
    """
    from prism_core.templates.cleanup import version_sboms

    now = now or datetime.now(UTC)
    due = Enforcement(found.name, policy)
    ordered = sorted(
        (v for v, p in found.versions.items() if p.document is not None or p.images), reverse=True
    )
    for version in ordered[max(policy.keep or 0, 1) :]:  # the newest always stays
        parts = found.versions[version]
        created = _created(parts)
        if created is None:
            continue
        age = int((now - created).total_seconds() // 86400)
        action = policy.stage(age)
        if action is None or _done_already(parts, action):
            continue
        why = held_for_life(found, version) or users.get(version)
        if why:
            due.held[version] = f"{action} due ({age} days old), not done: {why}"
            continue
        sboms = version_sboms(found, [version]) if action == DELETE else ()
        due.steps.append(Step(version, action, age, tuple(str(r["sbom"]) for r, _ in sboms)))
    return due


def _record_event(
    aws: AwsClients, prefix: str, name: str, version: int, event: dict[str, Any], regions: list[str]
) -> list[str]:
    """Append ``event`` to the version's lifecycle log in ``regions``; the failures."""
    failures = []
    key = log_key(prefix, name, version)
    for region in sorted(regions):
        ssm = aws.client("ssm", region)
        try:
            events = read_log(ssm, prefix, name).get(version, [])
            events = [*events, event][-MAX_EVENTS:]
            ssm.put_parameter(
                Name=key,
                Value=json.dumps(events, sort_keys=True),
                Type="String",
                Overwrite=True,
                Description=f"prism template {name}: lifecycle of version {version}",
            )
        except Exception as exc:
            failures.append(f"lifecycle log in {region}: {error_message(exc)}")
    return failures


def apply(aws: AwsClients, prefix: str, found: Any, due: Enforcement, who: str) -> Any:
    """Carry out the steps; an :class:`lifecycle.Outcome` of every change and failure.

    Images are changed only when their own tags prove they are the version's (others are
    listed as kept); a deletion removes the version's images with their snapshots, its
    registry entries and its files. Then the AMI parameters follow.
    """
    from prism_core.templates.cleanup import owned_images, remove, version_sboms
    from prism_core.templates.lifecycle import Outcome, deprecation_time, follow_parameters

    done = Outcome()
    log_regions = sorted(
        {r for p in found.versions.values() for r in p.registry}
        | {r for r, keys in found.shared_registry.items() if keys}
    ) or list(found.regions[:1])
    for step in due.steps:
        parts = found.versions[step.version]
        owned, kept = owned_images(aws, found, [step.version])
        done.kept.extend(kept)
        changed = False
        if step.action == DELETE:
            removal = remove(aws, images=owned, registry_entries=parts.registry, files=parts.files,
                             sboms=version_sboms(found, [step.version]))
            done.changed.extend(
                f"v{step.version}: {item} removed"
                for item in [*removal.images, *removal.snapshots, *removal.registry,
                             *removal.files, *removal.inventories]
            )
            done.failures.extend(f"v{step.version}: {f}" for f in removal.failures)
            done.kept.extend(f"v{step.version}: {k}" for k in removal.kept)
            changed = bool(removal.images or removal.registry or removal.files)
        for region, ids in sorted(owned.items()) if step.action != DELETE else []:
            ec2 = aws.ec2(region)
            for image_id in sorted(ids):
                try:
                    if step.action == DEPRECATE:
                        ec2.enable_image_deprecation(
                            ImageId=image_id, DeprecateAt=deprecation_time(1 / 1440)
                        )
                    else:
                        ec2.disable_image(ImageId=image_id)
                    done.changed.append(f"v{step.version}: {region}:{image_id} {step.action}d")
                    changed = True
                except Exception as exc:
                    done.failures.append(
                        f"v{step.version}: {region}:{image_id}: {error_message(exc)}"
                    )
        if changed:
            event = {
                "action": f"{step.action}d",
                "at": _now(),
                "by": who,
                "age_days": str(step.age_days),
                "policy": due.policy.text(),
            }
            done.failures.extend(
                _record_event(aws, prefix, found.name, step.version, event, log_regions)
            )
    regions = sorted({*found.regions, *(r for p in found.versions.values() for r in p.images)})
    follow_parameters(aws, prefix, found.name, regions, done)
    return done


def enforce(
    aws: AwsClients, settings: Any, name: str, region: str, thorough: bool = True
) -> tuple[Any, Enforcement | None]:
    """Read the template's policy and the template everywhere; ``(inventory, what is
    due)``, or ``(None, None)`` when it has no policy. Not ``thorough`` (after a save):
    only the policy of ``region`` is looked for, one call for a template without one."""
    from prism_core.templates.cleanup import inventory

    prefix = settings.registry_prefix
    policy = read_policy(aws.client("ssm", region), prefix, name)
    if policy is None and not thorough:
        return None, None
    found = inventory(name, settings, aws, region)
    for where in found.regions:
        if policy is not None:
            break
        policy = read_policy(aws.client("ssm", where), prefix, name)
    if policy is None:
        return found, None
    return found, plan(found, policy, in_use(aws, found))


def in_use(aws: AwsClients, found: Any) -> dict[int, str]:
    """Version -> which instances use its images (any instance in any region)."""
    from prism_core.templates.usage import users_of_images

    images: dict[str, set[str]] = {}
    for parts in found.versions.values():
        for region, ids in parts.images.items():
            images.setdefault(region, set()).update(ids)
    if not images:
        return {}
    users = users_of_images(aws, images)
    used: dict[int, str] = {}
    for version, parts in found.versions.items():
        ids = sorted(
            i
            for region, amis in parts.images.items()
            for a in amis
            for i in users.get(f"{region}:{a}", [])
        )
        if ids:
            used[version] = f"{len(ids)} instance(s) use it ({', '.join(ids[:3])})"
    return used


#: What a Recycle Bin rule of a template keeps: its deregistered images and the
#: snapshots prism deletes with them (an image is restorable only with its snapshots).
RECYCLE_BIN_RESOURCES = ("EC2_IMAGE", "EBS_SNAPSHOT")


def recycle_bin_description(name: str, kind: str) -> str:
    """The description that marks a Recycle Bin rule as prism's for ``name``."""
    return f"prism template {name}: deleted {kind} kept"


def ensure_recycle_bin(
    aws: AwsClients, name: str, days: int, regions: list[str]
) -> tuple[list[str], list[str]]:
    """A Recycle Bin retention rule per region and resource kind for the template's
    resources (``prism:template=<name>``, which prism puts on its images and snapshots):
    created, or its retention updated; ``(changes, failures)``."""
    from prism_core.aws.tags import TEMPLATE_TAG

    selector = [{"ResourceTagKey": TEMPLATE_TAG, "ResourceTagValue": name}]
    period = {"RetentionPeriodValue": days, "RetentionPeriodUnit": "DAYS"}
    changes, failures = [], []
    for region in sorted(regions):
        rbin = aws.client("rbin", region)
        for kind in RECYCLE_BIN_RESOURCES:
            description = recycle_bin_description(name, kind)
            try:
                rules = rbin.list_rules(ResourceType=kind, ResourceTags=selector).get("Rules", [])
                ours = [r for r in rules if r.get("Description") == description]
                if not ours:
                    rule = rbin.create_rule(
                        ResourceType=kind,
                        ResourceTags=selector,
                        RetentionPeriod=period,
                        Description=description,
                    )
                    changes.append(
                        f"{region}: Recycle Bin rule {rule['Identifier']} ({kind}, {days}d)"
                    )
                elif (ours[0].get("RetentionPeriod") or {}).get("RetentionPeriodValue") != days:
                    rbin.update_rule(Identifier=ours[0]["Identifier"], RetentionPeriod=period)
                    changes.append(
                        f"{region}: Recycle Bin rule {ours[0]['Identifier']} ({kind}) now {days}d"
                    )
            except Exception as exc:
                failures.append(f"Recycle Bin in {region} ({kind}): {error_message(exc)}")
    return changes, failures


def plan_lines(due: Enforcement) -> list[str]:
    """What enforcing a policy will do and what it holds back."""
    lines = [step.text() for step in due.steps]
    lines += [f"v{v} held: {why}" for v, why in sorted(due.held.items())]
    return lines or ["nothing is due"]


def after_save(
    aws: AwsClients, settings: Any, name: str, region: str
) -> tuple[list[str], dict[str, Any]] | None:
    """Apply the template's policy right after a save (agreed to when it was set):
    ``(lines to show, the report's lifecycle section)``, ``None`` without a policy. A
    failure is reported, not raised: the save itself succeeded."""
    try:
        found, due = enforce(aws, settings, name, region, thorough=False)
        if due is None:
            return None
        outcome = apply(aws, settings.registry_prefix, found, due, aws.identity()["Arn"])
    except Exception as exc:
        text = f"lifecycle policy of {name} not applied: {error_message(exc)}"
        return [f"{text}; run `prism templates enforce {name}`"], {"failures": [text]}
    lines = [f"Lifecycle policy of {name} ({due.policy.text()}):"]
    lines += [f"   {line}" for line in [*plan_lines(due), *found.problems]]
    lines += [f"   FAILED: {failure}" for failure in outcome.failures]
    held = {str(v): why for v, why in due.held.items()}
    return lines, {"policy": due.policy.to_record(), **outcome.to_dict(), "held": held}
