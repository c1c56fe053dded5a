"""The template document of a save: the facts gathered from the instance and the request.

What a template file holds (schema, parse, write) is :mod:`prism_core.templates.document`;
this module builds a save's document from its :class:`SaveContext` (ports from the
security groups, the root volume, the maintainer, the parent template's login user).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from prism_core.aws.tags import TEMPLATE_TAG, TEMPLATE_VERSION_TAG
from prism_core.exceptions import InputError
from prism_core.templates import compat
from prism_core.templates.document import instance_types
from prism_core.templates.store import builtin, local_versions
from prism_core.validation import template_name

if TYPE_CHECKING:
    from prism_core.save.context import SaveContext


def _ports(ctx: SaveContext) -> list[int]:
    """Ports open to the instance, from its security groups' TCP ingress rules."""
    if not ctx.instance.security_group_ids:
        return [22]
    ec2 = ctx.aws.ec2(ctx.source_region)
    groups = ec2.describe_security_groups(GroupIds=ctx.instance.security_group_ids)[
        "SecurityGroups"
    ]
    ports: set[int] = set()
    for group in groups:
        for rule in group.get("IpPermissions", []):
            if rule.get("IpProtocol") not in ("tcp", "-1"):
                continue
            low, high = rule.get("FromPort"), rule.get("ToPort")
            if low is None or high is None or low < 0:
                continue
            if high - low <= 16:
                ports.update(range(low, high + 1))
            else:
                ports.add(low)
    return sorted(ports) or [22]


def _root_volume_gb(ctx: SaveContext) -> int | None:
    """Size of the instance's root EBS volume."""
    volume_id = ctx.instance.volumes.get(ctx.instance.root_device_name or "")
    sizes = [v["Size"] for v in ctx.volumes() if v["VolumeId"] == volume_id]
    return int(sizes[0]) if sizes else None


def _parent_ssh_user(ctx: SaveContext, parent: str | None) -> str | None:
    """The login user of the template the instance was launched from (local or built-in)."""
    if not parent:
        return None
    try:
        found = local_versions(ctx.settings.templates_dir, parent)
    except InputError:
        found = {}
    template = found[max(found)] if found else builtin(parent)
    return compat.ssh_user(template.document) if template else None


def launch_parent(tags: dict[str, str]) -> dict[str, Any] | None:
    """``{template, version}`` from the tags ``prism launch`` put on an instance."""
    name, version = tags.get(TEMPLATE_TAG), tags.get(TEMPLATE_VERSION_TAG, "")
    if not name or not version.isdigit() or int(version) < 1:
        return None
    try:
        template_name(name)
    except InputError:
        return None
    return {"template": name, "version": int(version)}


def instance_facts(ctx: SaveContext) -> dict[str, Any]:
    """What the template takes from the instance and the caller; fetched once.

    ``preflight`` calls this before the instance is stopped, so the AWS calls it makes
    are not on the save's critical path.
    """
    facts = ctx.plugin_data.get("_instance_facts")
    if facts is None:
        facts = {
            "ports": _ports(ctx),
            "root_volume_gb": _root_volume_gb(ctx),
            "maintainer": ctx.aws.identity_name(),
            "ssh_user": _parent_ssh_user(ctx, ctx.instance.tags.get(TEMPLATE_TAG)),
        }
        ctx.plugin_data["_instance_facts"] = facts
    return dict(facts)


#: The longest AMI id, standing in for images not made yet (:func:`provisional_document`).
PLACEHOLDER_AMI = "ami-" + "f" * 17


def provisional_document(ctx: SaveContext) -> dict[str, Any]:
    """The document this save will register, before any image exists: every region of
    the save with an AMI id of the longest form. Pre-flight checks its size."""
    arch = ctx.instance.architecture
    regions = [ctx.request.region, *ctx.request.copy_to_regions]
    return build_document(ctx, {region: {arch: PLACEHOLDER_AMI} for region in regions})


def _shared_image(
    ctx: SaveContext, provisional: dict[str, dict[str, str | None]] | None
) -> dict[str, Any] | None:
    """``--scrub``: the shared (scrubbed) image per region and the team image each was
    made from (the lineage); ``None`` without ``--scrub`` or before any derivative."""
    from prism_core.save import scrub

    if not scrub.wanted(ctx):
        return None
    arch = ctx.instance.architecture
    if provisional is not None:
        return {
            "scrubbed": True,
            "amis": {r: {arch: PLACEHOLDER_AMI} for r in provisional},
            "scrubbed_from": {r: PLACEHOLDER_AMI for r in provisional},
        }
    found = scrub.derivatives(ctx)
    if not found:
        return None
    team = ctx.state.images
    return {
        "scrubbed": True,
        "amis": {r: {i.architecture or arch: i.image_id} for r, i in found.items()},
        # the team image of each region: the derivative there is its scrubbed twin
        "scrubbed_from": {r: team[r].image_id for r in found if r in team and team[r].image_id},
    }


def build_document(
    ctx: SaveContext, amis: dict[str, dict[str, str | None]] | None = None
) -> dict[str, Any]:
    """The template document of this save (computed once per set of images; every
    caller gets its own deep copy, so a render wrapper cannot change the cache).
    ``amis`` given: the document for those images instead (not cached)."""
    request, state, instance = ctx.request, ctx.state, ctx.instance
    arch = instance.architecture
    provisional = amis is not None
    if amis is None:
        amis = {
            region: {image.architecture or arch: image.image_id}
            for region, image in ctx.images().items()
        }
        accounts = {
            account: {r: {i.architecture or arch: i.image_id} for r, i in copies.items()}
            for account, copies in ctx.account_copies().items()
        }
    else:  # every --copy-to-accounts account gets a copy in every region
        accounts = {
            target.split(":")[0]: {r: {arch: PLACEHOLDER_AMI} for r in amis}
            for target in request.copy_to_accounts
        }
    shared = _shared_image(ctx, amis if provisional else None)
    cached = ctx.plugin_data.get("_template_document")
    if (
        not provisional
        and cached is not None
        and cached["ami_config"]["amis"] == amis
        and cached["ami_config"].get("accounts", {}) == accounts
        and cached.get("shared_image") == shared
    ):
        return copy.deepcopy(cached)
    facts = instance_facts(ctx)
    defaults: dict[str, Any] = {"type": instance.instance_type, "ports": facts["ports"]}
    if facts["root_volume_gb"]:
        defaults["root_volume_gb"] = facts["root_volume_gb"]
    price = instance_types().get(instance.instance_type, {}).get("usd_per_hour")
    if price is not None:
        defaults["estimated_cost_per_hour"] = {arch: price}
    tags = {"Name": request.template_name, "Type": "saved-instance", "Source": "prism-save"}
    if request.project_id:
        tags["Project"] = request.project_id
    tags.update(request.tags)
    version = str(state.template_version or 1)
    doc: dict[str, Any] = {
        "name": request.template_name,
        "slug": request.template_name,
        "description": request.description
        or f"Saved by prism from instance {request.instance_name} on {state.started_at[:10]}",
        "base": compat.AMI_BASED,
        "package_manager": "ami",
        "version": version,
        "source": "saved-from-instance",
        "saved_from": request.instance_name,
        "saved_date": state.started_at,
        "save_id": state.save_id,
        "maintainer": facts["maintainer"],
        "ami_config": {"amis": amis, "ssh_user": facts["ssh_user"] or "ec2-user"},
        "instance_defaults": defaults,
        "tags": tags,
    }
    if request.fast_restore:  # --fast-restore: region -> zones (billed until disabled)
        from prism_core.save.fast_restore import zones_by_region

        zones = zones_by_region(list(request.fast_restore))
        doc["ami_config"]["fast_restore"] = {r: z for r, z in zones.items() if r in amis}
    if accounts:  # copies in other accounts (--copy-to-accounts): account -> region -> arch
        doc["ami_config"]["accounts"] = accounts
    parent = launch_parent(instance.tags)
    if parent is not None:
        doc["parent"] = parent
    if request.project_id:
        doc["project"] = request.project_id
    if request.shares_anything:  # what the next version inherits
        doc["sharing"] = {"public": request.public, "share_with": list(request.share_with)}
    if shared is not None:
        doc["shared_image"] = shared
    if provisional:
        return doc
    ctx.plugin_data["_template_document"] = doc
    return copy.deepcopy(doc)
