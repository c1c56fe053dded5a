"""Built-in ``prism_pre_stop``: every EC2 check that can fail, run before any change.

Refuses (raising ``InputError``) instance-store roots, one-time Spot instances
that would be stopped, ``--stop`` of an instance with instance-store volumes unless
``--allow-instance-store-loss``, AMI names already taken, calls
the caller may not make (``DryRun``), ``--public`` where block public access is on,
sharing snapshots encrypted with the AWS-managed key, a public encrypted image and
encrypted copies to regions without a customer-managed key when the image is shared.
Returns notes for the plan (the key-policy statements sharing an encrypted image needs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prism_core import plugin_api as api

if TYPE_CHECKING:
    from prism_core.plugin_api import SaveContext


def _dry_run(call: Any, what: str, region: str, **params: Any) -> None:
    """Run ``call`` with ``DryRun=True``; refuse unless EC2 answers DryRunOperation."""
    try:
        call(DryRun=True, **params)
    except Exception as exc:
        code = api.error_code(exc)
        if code == "DryRunOperation":
            return
        if code in ("UnauthorizedOperation", "AccessDenied", "AuthFailure"):
            raise api.InputError(
                f"you may not {what} in {region} ({code})",
                "ask your AWS administrator for the permission, or use another profile",
            ) from None
        raise api.InputError(
            f"the {what} check in {region} failed: {api.error_message(exc)}"
        ) from None
    raise api.InputError(
        f"EC2 did not confirm the {what} check in {region}", "try again with --debug"
    )


def _owned_image(ec2: Any) -> str | None:
    """An image prism saved in this region (tagged with its save id), if any."""
    from prism_core import toolkit

    images = ec2.describe_images(
        Owners=["self"], Filters=[{"Name": "tag-key", "Values": [toolkit.SAVE_ID_TAG]}]
    )["Images"]
    ids = sorted(str(i["ImageId"]) for i in images if i.get("State") != "deregistered")
    return ids[0] if ids else None


def _check_share_permission(ctx: SaveContext, region: str) -> list[str]:
    """DryRun ModifyImageAttribute in ``region`` on an image prism saved there before (the
    policy of ``prism iam-policy`` lets prism share only its own images); only a missing
    permission refuses the save. With no such image yet there is nothing to ask EC2 about:
    a note says so."""
    image_id = _owned_image(ctx.aws.ec2(region))
    if image_id is None:
        return [
            f"sharing permission in {region} is checked when the image exists (no image "
            "saved by prism there yet); if sharing fails the AMI stays private and is reported"
        ]
    try:
        ctx.aws.ec2(region).modify_image_attribute(
            DryRun=True,
            ImageId=image_id,
            Attribute="launchPermission",
            LaunchPermission={"Add": [{"Group": "all"}]},
        )
    except Exception as exc:
        code = api.error_code(exc)
        if code == "DryRunOperation":
            return []
        if code in ("UnauthorizedOperation", "AccessDenied"):
            raise api.InputError(
                f"you may not share images in {region} ({code})",
                "ask your AWS administrator for ec2:ModifyImageAttribute, or save without sharing",
            ) from None
        return [
            f"sharing permission in {region} could not be checked in advance "
            f"({api.error_message(exc)}); if sharing fails the AMI stays private and is reported"
        ]
    return []


def _check_instance(ctx: SaveContext, will_stop: bool) -> list[str]:
    instance, notes = ctx.instance, []
    if instance.root_device_type != "ebs":
        raise api.InputError(
            f"instance {instance.name} has an instance-store root volume",
            "only EBS-backed instances can be saved as an AMI with prism",
        )
    if instance.lifecycle == "spot" and will_stop:
        one_time = True
        if instance.spot_request_id:
            requests = ctx.aws.ec2(instance.region).describe_spot_instance_requests(
                SpotInstanceRequestIds=[instance.spot_request_id]
            )["SpotInstanceRequests"]
            one_time = not requests or requests[0].get("Type", "one-time") == "one-time"
        if one_time:
            raise api.InputError(
                f"instance {instance.name} is a one-time Spot instance and cannot be stopped",
                "save it without --stop: EC2's reboot during CreateImage keeps it "
                "(or add --no-reboot)",
            )
    types = ctx.aws.ec2(instance.region).describe_instance_types(
        InstanceTypes=[instance.instance_type]
    )
    for info in types.get("InstanceTypes", []):
        if not info.get("InstanceStorageSupported"):
            continue
        volumes = instance_store_volumes(info)
        if will_stop and not ctx.request.allow_instance_store_loss:
            raise api.InputError(
                f"instance {instance.name} ({instance.instance_type}) has instance-store "
                f"volumes {volumes}, which --stop erases",
                "copy what you need to EBS or S3 and add --allow-instance-store-loss, or save "
                "without --stop (EC2's reboot keeps them)",
            )
        if will_stop:
            notes.append(f"--stop ERASES the instance-store volumes {volumes}")
        else:
            notes.append(
                f"{instance.instance_type} has instance-store volumes {volumes}: their data is "
                "kept on the instance but is not in the image"
            )
    if will_stop:
        notes.extend(_public_ip_note(ctx))
    return notes


def instance_store_volumes(info: dict[str, Any]) -> str:
    """``ephemeral0 (250 GB ssd)``-style names of an instance type's instance-store disks."""
    storage = info.get("InstanceStorageInfo") or {}
    nvme = storage.get("NvmeSupport") in ("required", "supported")
    names: list[str] = []
    for disk in storage.get("Disks") or []:
        kind = ("NVMe " if nvme else "") + str(disk.get("Type", "")).upper()
        for _ in range(min(int(disk.get("Count", 1)), 24)):
            names.append(f"ephemeral{len(names)} ({disk.get('SizeInGB', '?')} GB {kind})")
    return ", ".join(names) or "(sizes not published)"


def _public_ip_note(ctx: SaveContext) -> list[str]:
    """A stop/start gives the instance a new public IPv4 address unless it has an EIP."""
    instance = ctx.instance
    if not instance.public_ip:
        return []
    try:
        addresses = ctx.aws.ec2(instance.region).describe_addresses(
            Filters=[{"Name": "instance-id", "Values": [instance.instance_id]}]
        )["Addresses"]
    except Exception as exc:
        return [
            f"--stop: could not check for an Elastic IP ({api.error_message(exc)}); without one "
            f"the public IP {instance.public_ip} changes"
        ]
    if any(a.get("PublicIp") == instance.public_ip for a in addresses):
        return []
    return [
        f"--stop changes the public IP address {instance.public_ip} (no Elastic IP is "
        "attached); update what connects to it"
    ]


def _check_volumes(ctx: SaveContext) -> list[str]:
    """Snapshots encrypted with the AWS-managed key cannot be shared with other accounts;
    what sharing an encrypted image needs (the keys' policies) goes into the plan."""
    from prism_core import toolkit

    keys = {v.get("KmsKeyId") for v in ctx.volumes() if v.get("Encrypted")}
    if not keys or not (ctx.request.shares_anything or ctx.request.copy_to_accounts):
        return []
    kms = ctx.aws.client("kms", ctx.source_region)
    for key in sorted(k for k in keys if k):
        manager = kms.describe_key(KeyId=key)["KeyMetadata"].get("KeyManager")
        if manager == "AWS":
            raise api.InputError(
                "the instance's volumes are encrypted with the AWS-managed EBS key, "
                "which cannot be shared with other accounts",
                "re-encrypt with a customer-managed KMS key, or save without sharing",
            )
    return list(toolkit.encrypted_sharing_notes(ctx))


def _check_name(ctx: SaveContext, region: str) -> None:
    from prism_core import toolkit

    name = ctx.state.image_name
    if toolkit.find_image_by_name(ctx.aws.ec2(region), name) is not None:
        raise api.InputError(
            f"an AMI named {name!r} already exists in {region}",
            "wait a second and run the save again, or deregister that AMI",
        )


def _public_blocked(ctx: SaveContext, region: str) -> bool:
    answer = ctx.aws.ec2(region).get_image_block_public_access_state()
    return answer.get("ImageBlockPublicAccessState") != "unblocked"


def _check_source(ctx: SaveContext, will_stop: bool) -> list[str]:
    """The checks of the instance and its region: shape, volumes, DryRun calls."""
    from prism_core import toolkit

    instance = ctx.instance
    notes = _check_instance(ctx, will_stop)
    notes += _check_volumes(ctx)
    toolkit.check_account_copies(ctx)
    ec2 = ctx.aws.ec2(ctx.source_region)
    _dry_run(
        ec2.create_tags,
        "tag the instance",
        ctx.source_region,
        Resources=[instance.instance_id],
        Tags=api.tag_list({toolkit.LOCK_TAG: ctx.state.save_id}),
    )
    if will_stop:
        _dry_run(
            ec2.stop_instances,
            "stop the instance",
            ctx.source_region,
            InstanceIds=[instance.instance_id],
        )
    _dry_run(
        ec2.create_image,
        "create an image",
        ctx.source_region,
        InstanceId=instance.instance_id,
        Name=ctx.state.image_name,
        NoReboot=ctx.request.image_mode != "reboot",
    )
    return notes


def _check_region(ctx: SaveContext, region: str) -> tuple[list[str], bool]:
    """Every check of one region the image goes to: (notes, block public access on)."""
    request, instance = ctx.request, ctx.instance
    _check_name(ctx, region)
    if region != ctx.source_region and instance.image_id:
        _dry_run(
            ctx.aws.ec2(region).copy_image,
            "copy an image",
            region,
            SourceImageId=instance.image_id,
            SourceRegion=ctx.source_region,
            Name=ctx.state.image_name,
        )
    notes = _check_share_permission(ctx, region) if request.shares_anything else []
    return notes, bool(request.public and _public_blocked(ctx, region))


#: Regions checked at once (each check is a few small requests, mostly waiting).
PREFLIGHT_WORKERS = 16


@api.hookimpl(tryfirst=True)
def prism_pre_stop(ctx: SaveContext) -> list[str]:
    """Run the EC2 pre-flight checks, every region at once; refuse with a one-line reason.

    The source region's instance checks and each target region's checks (name
    clash, DryRun copy and share, block public access) run concurrently with
    bounded workers; a refusal names the first failing region in request order.

    On ``--resume`` (``ctx.resuming``) these checks of a *new* save (free names, instance
    state, permission dry runs) no longer apply: the save's own image and lock exist.
    """
    if ctx.resuming:
        return []
    request = ctx.request
    will_stop = ctx.will_stop
    regions = [ctx.source_region, *request.copy_to_regions]
    for region in regions:  # clients are built one after another (CPU), used at once
        ctx.aws.ec2(region)
    workers = max(1, min(PREFLIGHT_WORKERS, len(regions) + 1))
    from concurrent.futures import ThreadPoolExecutor, wait

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prism-preflight") as pool:
        source = pool.submit(_check_source, ctx, will_stop)
        checks = [pool.submit(_check_region, ctx, region) for region in regions]
        wait([source, *checks])
    notes = source.result()  # raises the source region's refusal first
    blocked = []
    for region, check in zip(regions, checks, strict=True):
        region_notes, is_blocked = check.result()
        notes.extend(region_notes)
        if is_blocked:
            blocked.append(region)
    if blocked:
        raise api.InputError(
            f"block public access for AMIs is on in {', '.join(blocked)}, so --public would fail",
            f"turn it off (aws ec2 disable-image-block-public-access --region {blocked[0]}) "
            "or share with accounts instead of --public",
        )
    return notes
