"""AMI ids as plain SSM parameters that any AWS tool resolves (``resolve:ssm:``).

In every region that has an image of a template, under the registry prefix::

    <prefix>images/<template>/latest     the newest version that is not revoked
    <prefix>images/<template>/<N>        version N (removed while N is revoked)
    <prefix>images/<template>/<channel>  the version the channel points at (removed
                                         while that version is revoked)

each a ``String`` parameter of ``DataType: aws:ec2:image`` whose value is the AMI id in
that region, so ``resolve:ssm:/prism/images/seismic-env/stable`` works as the image of
RunInstances, a launch template, CloudFormation or Terraform.

They are derived, never edited: :func:`sync` reads the template's registry entries in
the region (versions, channels, revocations) and its images there, computes what the
parameters must hold and writes or deletes only what differs. Every command that
changes those (save, promote, demote, revoke, restore, delete, prune, enforce) calls
it. An image counts only when the cloud's own tags prove it is that version of this
template (``prism:template``, ``prism:version`` and the ``prism:save-id`` the registry
recorded), so a forged registry document never puts a stranger's image behind an
alias; a deregistered or disabled image drops out. Names under the path that are not
one of the three forms are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prism_core.aws.clients import AwsClients, error_message
from prism_core.aws.tags import SAVE_ID_TAG, TEMPLATE_TAG, VERSION_TAG, tags_of
from prism_core.templates import registry
from prism_core.validation import CHANNEL, LATEST

DATA_TYPE = "aws:ec2:image"
#: Architectures in the order an alias prefers them when a version has several.
PREFERRED_ARCHITECTURES = ("x86_64", "arm64")
#: How often :func:`sync_region` computes again when the registry moved meanwhile.
ROUNDS = 3


def root(prefix: str, template: str) -> str:
    """``<prefix>images/<template>``: the template's AMI parameters."""
    return f"{prefix}images/{template}"


def parameter_name(prefix: str, template: str, alias: str | int) -> str:
    """``<prefix>images/<template>/<alias>`` (``latest``, a version number or a channel)."""
    return f"{root(prefix, template)}/{alias}"


def resolve_reference(prefix: str, template: str, alias: str | int) -> str:
    """What an EC2 ``ImageId`` holds to use the alias: ``resolve:ssm:<name>``."""
    return f"resolve:ssm:{parameter_name(prefix, template, alias)}"


def is_alias(alias: str) -> bool:
    """Whether ``alias`` is one prism writes (``latest``, a version or a channel name)."""
    if alias == LATEST:
        return True
    if alias.isascii() and alias.isdigit():
        return len(alias) <= 7 and 1 <= int(alias) <= registry.MAX_VERSION
    return CHANNEL.fullmatch(alias) is not None


def pick_image(amis: dict[str, Any], owned: set[str]) -> str | None:
    """The image of one region's ``{arch: ami}`` to publish: a proven one, x86_64 first."""
    ranked = sorted(
        (str(arch), str(ami)) for arch, ami in amis.items() if isinstance(ami, str) and ami in owned
    )
    for preferred in PREFERRED_ARCHITECTURES:
        for arch, ami in ranked:
            if arch == preferred:
                return ami
    return ranked[0][1] if ranked else None


def proven_images(images: list[dict[str, Any]], template: str) -> dict[int, set[str]]:
    """``version -> {ami}`` of the images whose tags name ``template`` and a version."""
    found: dict[int, set[str]] = {}
    for image in images:
        tags = tags_of(image)
        version = tags.get(VERSION_TAG, "")
        if tags.get(TEMPLATE_TAG) != template or not is_alias(version) or not version.isdigit():
            continue
        if image.get("State") not in ("available", "pending"):
            continue
        found.setdefault(int(version), set()).add(str(image["ImageId"]))
    return found


def desired(
    entries: registry.TemplateEntries,
    region: str,
    images: list[dict[str, Any]],
    template: str,
) -> dict[str, str]:
    """``alias -> AMI id`` the parameters of one region must hold (a pure function)."""
    by_version = proven_images(images, template)
    save_ids = {str(image["ImageId"]): tags_of(image).get(SAVE_ID_TAG) for image in images}
    wanted: dict[str, str] = {}
    for number, doc in sorted(entries.versions.items()):
        if number in entries.revoked:
            continue
        owned = {
            ami
            for ami in by_version.get(number, set())
            if not doc.get("save_id") or save_ids.get(ami) == str(doc["save_id"])
        }
        amis = ((doc.get("ami_config") or {}).get("amis") or {}).get(region)
        image = pick_image(amis if isinstance(amis, dict) else {}, owned)
        if image is not None:
            wanted[str(number)] = image
    numbers = [int(alias) for alias in wanted]
    if numbers:
        wanted[LATEST] = wanted[str(max(numbers))]
    for channel, record in sorted(entries.channels.items()):
        target = wanted.get(str(record.get("version")))
        if target is not None and channel != LATEST:
            wanted[channel] = target
    return wanted


def current(ssm: Any, prefix: str, template: str) -> dict[str, str]:
    """``alias -> value`` of the template's AMI parameters in one region (prism's forms)."""
    base = root(prefix, template)
    found: dict[str, str] = {}
    pages = ssm.get_paginator("get_parameters_by_path").paginate(
        Path=base, Recursive=False, PaginationConfig={"PageSize": registry.PAGE_BY_PATH}
    )
    for page in pages:
        for parameter in page.get("Parameters", []):
            alias = str(parameter["Name"])[len(base) + 1 :]
            if str(parameter["Name"]).startswith(base + "/") and is_alias(alias):
                found[alias] = str(parameter["Value"])
    return found


def _tagged_images(ec2: Any, template: str) -> list[dict[str, Any]]:
    """This account's images tagged ``prism:template=<template>`` (disabled ones excluded,
    as DescribeImages leaves them out by default)."""
    answer = ec2.describe_images(
        Owners=["self"], Filters=[{"Name": f"tag:{TEMPLATE_TAG}", "Values": [template]}]
    )
    return list(answer.get("Images", []))


@dataclass
class Sync:
    """What :func:`sync` changed: ``region:name`` written or deleted, and failures."""

    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[str]:
        """Every change as one line each."""
        return [f"{n} -> set" for n in self.written] + [f"{n} removed" for n in self.deleted]


def _state(entries: registry.TemplateEntries) -> tuple[Any, ...]:
    """What the parameters depend on in a registry listing (to notice it moved)."""
    channels = {c: r.get("version") for c, r in entries.channels.items()}
    return sorted(entries.versions), sorted(entries.revoked), sorted(channels.items())


def sync_region(aws: AwsClients, prefix: str, template: str, region: str, done: Sync) -> None:
    """Make the template's AMI parameters in ``region`` follow its registry and images."""
    ssm, ec2 = aws.client("ssm", region), aws.ec2(region)
    for _ in range(ROUNDS):
        entries = registry.read_template(ssm, prefix, template)
        wanted = desired(entries, region, _tagged_images(ec2, template), template)
        have = current(ssm, prefix, template)
        for alias, image in sorted(wanted.items()):
            if have.get(alias) == image:
                continue
            name = parameter_name(prefix, template, alias)
            ssm.put_parameter(
                Name=name,
                Value=image,
                Type="String",
                DataType=DATA_TYPE,
                Overwrite=True,
                Description=f"prism template {template}: AMI of {alias}",
            )
            done.written.append(f"{region}:{name}")
        extra = sorted(parameter_name(prefix, template, a) for a in set(have) - set(wanted))
        if extra:
            gone = registry.delete_entries(ssm, extra)
            done.deleted.extend(f"{region}:{name}" for name in gone)
        if _state(registry.read_template(ssm, prefix, template)) == _state(entries):
            return


def sync(aws: AwsClients, prefix: str, template: str, regions: list[str]) -> Sync:
    """:func:`sync_region` in each of ``regions``; a region's failure is reported, not fatal."""
    done = Sync()
    for region in sorted(set(regions)):
        try:
            sync_region(aws, prefix, template, region, done)
        except Exception as exc:
            done.failures.append(f"AMI parameters in {region}: {error_message(exc)}")
    return done
