"""``--copy-to-accounts``: the saved image copied into other accounts.

For each target account (``ACCOUNT:ROLE``) and each region where the save has an
available image, prism lets the account launch the image and read its snapshots
(launch permission and ``createVolumePermission``: AWS requires both to copy a shared
image), assumes ROLE in that account, and sends CopyImage there, in the same region,
with a ``ClientToken`` and prism's tags on the copy and its snapshots; the copy is
re-encrypted with the account's key from ``prism.account_kms_keys`` when one is set.
Every copy is journaled before it is requested, so ``--resume`` finishes it and
``--abort`` removes it (after proving from its tags that this save made it). A failed
account or region is recorded and makes the save partial; the others go on.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from prism_core.aws import encrypted_sharing
from prism_core.aws.clients import AwsClients, error_code, error_message
from prism_core.aws.ec2 import describe_image, find_saved_image, image_snapshot_ids, state_reason
from prism_core.aws.tags import tag_list
from prism_core.aws.waiting import WaitCancelled
from prism_core.exceptions import InputError
from prism_core.save.images import discard_own_image, image_tags
from prism_core.save.state import AVAILABLE, FAILED, PENDING, REQUESTED, RegionImage

if TYPE_CHECKING:
    from prism_core.save.context import SaveContext

#: Copies requested at once (accounts x regions).
MAX_WORKERS = 16


def targets(ctx: SaveContext) -> list[tuple[str, str]]:
    """``(account, role)`` of each ``--copy-to-accounts`` entry."""
    return [tuple(t.split(":", 1)) for t in ctx.request.copy_to_accounts]  # type: ignore[misc]


def session_name(ctx: SaveContext) -> str:
    """The AssumeRole session name: the save id, visible in the target's CloudTrail."""
    return f"prism-{ctx.state.save_id}"


def account_clients(ctx: SaveContext, account: str, role: str) -> AwsClients:
    """Clients acting as ``role`` in ``account``."""
    return ctx.aws.assumed(account, role, session_name(ctx))


def check_account_copies(ctx: SaveContext) -> None:
    """Pre-flight: the role of each ``--copy-to-accounts`` account can be assumed (the
    same AssumeRole the copies use); a refusal names the account and the role."""
    for account, role in targets(ctx):
        try:
            account_clients(ctx, account, role)
        except Exception as exc:
            raise InputError(
                f"cannot assume role {role} in account {account} to copy the image there "
                f"({error_code(exc) or error_message(exc)})",
                "check the role exists and trusts your account, or name another with "
                "ACCOUNT:ROLE",
            ) from None


def copy_to_accounts(ctx: SaveContext) -> None:
    """Copy every available image of the save into each target account; failures are
    recorded per account and region, never raised."""
    wanted = targets(ctx)
    if not wanted:
        return
    sources = ctx.images()
    accounts = [account for account, _role in wanted]
    granted: dict[str, RegionImage] = {}
    for region, image in sources.items():
        try:
            ec2 = ctx.aws.ec2(region)
            ec2.modify_image_attribute(
                ImageId=image.image_id,
                Attribute="launchPermission",
                LaunchPermission={"Add": [{"UserId": a} for a in accounts]},
            )
            encrypted_sharing.add_volume_permission(ec2, image.snapshot_ids, accounts)
            granted[region] = image
        except Exception as exc:
            ctx.record_failure(
                f"letting {', '.join(accounts)} copy {image.image_id} in {region} failed: "
                f"{error_message(exc)}"
            )
    jobs = [(a, r, image) for a, r in wanted for image in granted.values()]
    if not jobs:
        return
    ctx.progress.line(
        "copy", f"Copying AMI into {len(accounts)} account(s): {', '.join(accounts)}..."
    )
    with ThreadPoolExecutor(min(MAX_WORKERS, len(jobs)), "prism-account-copy") as pool:
        results = list(pool.map(lambda job: _copy_one(ctx, *job), jobs))
    for image in results:
        where = f"account {image.account} in {image.region}"
        if image.error:
            ctx.record_failure(f"copy to {where} failed: {image.error}")
            ctx.progress.line("fail", f"Copy to {where} failed: {image.error}", since="copy")
        else:
            ctx.progress.line("ok", f"AMI copied to {where}: {image.image_id}", since="copy")


def _copy_one(ctx: SaveContext, account: str, role: str, source: RegionImage) -> RegionImage:
    region = source.region
    previous = ctx.state.account_images.get(f"{account}:{region}")
    if previous is not None and previous.ok:
        return previous
    image = previous or RegionImage(region, account=account)
    try:
        ec2 = account_clients(ctx, account, role).ec2(region)
        if not (image.image_id and image.error is None and image.state != REQUESTED):
            _request(ctx, ec2, source, image)
        image_id = image.image_id
        assert image_id is not None

        def settled() -> dict[str, Any] | None:
            data = describe_image(ec2, image_id)
            return data if data and data.get("State") in (AVAILABLE, FAILED) else None

        data = ctx.wait(settled, what=f"the copy {image_id} in account {account}", limit="copy")
        if data["State"] == FAILED:
            image.state, image.error = FAILED, f"copy {image_id} failed: {state_reason(data)}"
        else:
            image.state, image.error = AVAILABLE, None
            image.snapshot_ids = image_snapshot_ids(data) or []
    except WaitCancelled:
        raise
    except Exception as exc:
        image.error = error_message(exc)
    ctx.record_account_image(image)
    return image


def _request(ctx: SaveContext, ec2: Any, source: RegionImage, image: RegionImage) -> None:
    """CopyImage in the target account (a failed earlier copy of this save removed
    first, if its tags prove it ours); the copy is journaled before it is requested."""
    if image.image_id:
        discard_own_image(ctx, image.region, image.image_id, ec2)
    attempt = int((image.client_token or "0").rsplit("-", 1)[-1]) + (1 if image.error else 0)
    image.client_token = f"{ctx.state.save_id}-{image.account}-{image.region}-{max(attempt, 1)}"
    image.image_id, image.error, image.state = None, None, REQUESTED
    image.architecture = source.architecture
    ctx.record_account_image(image)
    params: dict[str, Any] = {
        "SourceImageId": source.image_id,
        "SourceRegion": source.region,
        "Name": ctx.state.image_name,
        "Description": ctx.request.description,
        "ClientToken": image.client_token,
        "TagSpecifications": [
            {"ResourceType": kind, "Tags": tag_list(image_tags(ctx))}
            for kind in ("image", "snapshot")
        ],
    }
    key = ctx.settings.account_kms_keys.get(str(image.account), {}).get(image.region)
    if key or any(volume.get("Encrypted") for volume in ctx.volumes()):
        params["Encrypted"] = True
        if key:
            params["KmsKeyId"] = key
    try:
        image.image_id = str(ec2.copy_image(**params)["ImageId"])
    except Exception as exc:
        if error_code(exc) != "InvalidAMIName.Duplicate":
            raise
        found = find_saved_image(ec2, ctx.state.image_name, ctx.state.save_id)
        if found is None:
            raise
        image.image_id = str(found["ImageId"])
    image.state = PENDING
    ctx.record_account_image(image)


def remove_account_copies(ctx: SaveContext) -> tuple[list[str], list[str]]:
    """``--abort``: remove every copy in another account this save made (proven by its
    tags there); returns (removed ``account:region:id``, problems)."""
    roles = dict(targets(ctx))
    removed: list[str] = []
    problems: list[str] = []
    for key, image in ctx.state.account_images.items():
        account = str(image.account)
        try:
            ec2 = account_clients(ctx, account, roles.get(account, ctx.settings.account_role)).ec2(
                image.region
            )
            if not image.image_id:
                found = find_saved_image(ec2, ctx.state.image_name, ctx.state.save_id)
                if found is None:
                    continue
                image.image_id = str(found["ImageId"])
            gone = discard_own_image(ctx, image.region, image.image_id, ec2)
        except Exception as exc:
            problems.append(f"{key}: could not remove {image.image_id}: {error_message(exc)}")
            continue
        if gone is None:
            problems.append(f"{key}: {image.image_id} is not tagged as made by this save; kept")
        else:
            removed += [f"{key}:{item}" for item in gone]
    return removed, problems
