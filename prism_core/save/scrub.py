"""``prism save --scrub``: the image that leaves the account is a scrubbed derivative.

The team's image (``state.images``) stays complete and private. A short-lived helper
instance is launched from it (its own security group with no inbound rule, no public
IP, IMDSv2, tagged ``prism:helper=scrub`` and with the save's id); its user data is
prism's scrub script (:mod:`prism_core.inspection.scrub`), which removes what the
inspection found, empties histories, removes SSH host keys and cloud-init's instance
state, then powers the helper off. prism images the stopped helper (the derivative,
``state.scrub_images``), terminates it, deletes its group, and shares only the
derivative, copied to the save's other regions. The workstation is never touched.

Every step is journaled before it is taken (``state.scrub``): the group's name and the
helper's client token before they are asked for, so ``--resume`` adopts what a killed
run created (found by its tags) and ``--abort`` removes it after the cloud's tags prove
it is this save's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prism_core.aws.clients import error_message
from prism_core.aws.ec2 import (
    describe_image,
    discard_image,
    image_snapshot_ids,
    instance_record,
    instance_records,
    instance_state,
    made_by_save,
    settled_image,
    state_reason,
)
from prism_core.aws.tags import (
    HELPER_TAG,
    SAVE_ID_TAG,
    SCRUBBED_FROM_TAG,
    TEMPLATE_TAG,
    tag_list,
    tags_of,
)
from prism_core.exceptions import OperationFailed
from prism_core.save.context import SaveContext
from prism_core.save.state import AVAILABLE, FAILED, PENDING, REQUESTED, RegionImage

#: The value of ``prism:helper`` on a scrub helper and its security group.
PURPOSE = "scrub"
#: Journaled steps of the helper, in order.
STAGES = ("planned", "group", "launching", "running", "imaging", "terminating", "done")


def wanted(ctx: SaveContext) -> bool:
    """Whether the save shares a scrubbed derivative (``--scrub``)."""
    return getattr(ctx.request, "secrets_policy", "") == "scrub"


def derivative_name(image_name: str) -> str:
    """The derivative's AMI name: the team image's with ``-shared``."""
    return f"{image_name}-shared"


def scrub_lists(inspection: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    """(paths removed, histories emptied) from the journaled inspection."""
    secrets = [s for s in (inspection or {}).get("secrets") or [] if isinstance(s, dict)]
    remove = sorted({str(s["path"]) for s in secrets if s.get("kind") != "history"})
    empty = sorted({str(s["path"]) for s in secrets if s.get("kind") == "history"})
    return remove, empty


def plan_lines(ctx: SaveContext) -> list[str]:
    """What the plan says about the scrub (nothing without ``--scrub``)."""
    if not wanted(ctx):
        return []
    remove, empty = scrub_lists(ctx.state.inspection)
    regions = ", ".join([ctx.request.region, *ctx.request.copy_to_regions])
    return [
        "Scrub (--scrub): the team image stays complete and private; only a scrubbed "
        "derivative is shared",
        "   1. launch a helper from the team image (own security group, no inbound rule, "
        "no public IP, IMDSv2)",
        f"   2. its user data removes {len(remove)} file(s), empties {len(empty)} history "
        "file(s) and every shell history, SSH host keys and cloud-init instance state, "
        "then powers off",
        "   3. image the stopped helper, terminate it, delete its security group",
        f"   4. share only the derivative, in {regions}; the workstation is not touched",
    ]


def _helper_tags(ctx: SaveContext) -> dict[str, str]:
    return {
        "Name": f"prism-scrub-{ctx.request.template_name}"[:255],
        HELPER_TAG: PURPOSE,
        SAVE_ID_TAG: ctx.state.save_id,
        TEMPLATE_TAG: ctx.request.template_name,
    }


def _derivative_tags(ctx: SaveContext, team_image_id: str) -> dict[str, str]:
    from prism_core.save.images import image_tags

    return {**image_tags(ctx), SCRUBBED_FROM_TAG: team_image_id}


def _team_id(ctx: SaveContext) -> str:
    """The team image every derivative descends from (the source region's)."""
    source = ctx.source_image()
    return str(source.image_id if source is not None else "")


def _ours(record: dict[str, Any] | None, save_id: str) -> bool:
    tags = tags_of(record)
    return tags.get(HELPER_TAG) == PURPOSE and tags.get(SAVE_ID_TAG) == save_id


def _step(ctx: SaveContext, **changes: Any) -> dict[str, Any]:
    scrub = dict(ctx.state.scrub or {})
    scrub.update(changes)
    ctx.record(scrub=scrub)
    return scrub


def run(ctx: SaveContext) -> None:
    """The ``scrub`` phase: helper, derivative in the source region, copies, sharing.

    Raises when the derivative cannot be made (the save ends partial, the team image
    kept private; ``--resume`` tries again). The helper is terminated on every path."""
    if not wanted(ctx):
        return
    source = ctx.source_image()
    if source is None or not source.ok or source.image_id is None:
        raise OperationFailed("the team image is not available, nothing to scrub")
    region = source.region
    scrub = ctx.state.scrub or _step(
        ctx, stage="planned", region=region, image_name=derivative_name(ctx.state.image_name)
    )
    derivative = ctx.state.scrub_images.get(region)
    try:
        if derivative is None or derivative.image_id is None:
            helper = _helper(ctx, source)
            _wait_stopped(ctx, region, helper)
            derivative = _image_helper(ctx, source, helper)
        derivative = _wait_available(ctx, derivative)
    finally:
        problems = finish_helper(ctx)
        for problem in problems:
            ctx.progress.line("warn", problem)
    if derivative.state == FAILED:
        raise OperationFailed(f"the scrubbed image {derivative.image_id} failed: {derivative.error}")
    _publish(ctx, derivative)
    regions = ctx.request.copy_to_regions
    if regions:
        ctx.progress.line("copy", f"Copying the scrubbed image to {', '.join(regions)}...")
        with ThreadPoolExecutor(max(1, len(regions)), "prism-scrub-copy") as pool:
            copies = list(pool.map(lambda r: _copy(ctx, derivative, r), regions))
        failed = [c for c in copies if c.error]
        for copy in failed:
            ctx.record_failure(f"copy of the scrubbed image to {copy.region} failed: {copy.error}")
    ctx.summary_note(
        "Shared image (scrubbed): "
        + ", ".join(f"{r}: {i.image_id}" for r, i in derivatives(ctx).items())
        + f"; team image kept private ({scrub.get('image_name')} is the shared one)"
    )


def derivatives(ctx: SaveContext) -> dict[str, RegionImage]:
    """The available derivative images, by region (source region first)."""
    return {r: i for r, i in ctx.state.scrub_images.items() if i.ok and i.image_id}


def _record_derivative(ctx: SaveContext, image: RegionImage) -> None:
    with ctx.journal.lock:
        ctx.state.scrub_images[image.region] = image
    ctx.journal.write()


def _group(ctx: SaveContext, ec2: Any, vpc_id: str) -> str:
    """The helper's security group (no inbound rule), created or adopted by name."""
    scrub = ctx.state.scrub or {}
    if scrub.get("group_id"):
        return str(scrub["group_id"])
    name = f"prism-scrub-{ctx.state.save_id}"[:255]
    _step(ctx, stage="group", group_name=name)
    found = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc_id]}]
    )["SecurityGroups"]
    mine = [g for g in found if _ours(g, ctx.state.save_id)]
    if mine:
        group_id = str(mine[0]["GroupId"])
    else:
        group_id = str(
            ec2.create_security_group(
                GroupName=name,
                Description="prism scrub helper: no inbound rules",
                VpcId=vpc_id,
                TagSpecifications=[
                    {"ResourceType": "security-group", "Tags": tag_list(_helper_tags(ctx))}
                ],
            )["GroupId"]
        )
    _step(ctx, group_id=group_id)
    return group_id


def find_helpers(ctx: SaveContext, region: str) -> list[dict[str, Any]]:
    """This save's scrub helpers EC2 knows in ``region`` (not terminated), by their tags."""
    ec2 = ctx.aws.ec2(region)
    filters = [
        {"Name": f"tag:{HELPER_TAG}", "Values": [PURPOSE]},
        {"Name": f"tag:{SAVE_ID_TAG}", "Values": [ctx.state.save_id]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
    ]
    return [r for r in instance_records(ec2, filters) if _ours(r, ctx.state.save_id)]


def _helper(ctx: SaveContext, source: RegionImage) -> str:
    """The helper's id: the journaled one, one a killed run launched (by tags), or a new one."""
    region = source.region
    ec2 = ctx.aws.ec2(region)
    scrub = ctx.state.scrub or {}
    if scrub.get("helper_id"):
        return str(scrub["helper_id"])
    if scrub.get("stage") == "launching":
        found = find_helpers(ctx, region)
        if found:
            helper_id = str(found[0]["InstanceId"])
            _step(ctx, stage="running", helper_id=helper_id)
            return helper_id
    from prism_core.inspection import scrub as script
    from prism_core.instances import hardening
    from prism_core.templates.launch import smallest_type

    record = instance_record(ec2, ctx.request.instance_id) or {}
    vpc_id, subnet_id = record.get("VpcId"), record.get("SubnetId")
    if not vpc_id or not subnet_id:
        raise OperationFailed(
            f"instance {ctx.request.instance_id} is in no VPC subnet; the scrub helper "
            "needs one to run in"
        )
    group_id = _group(ctx, ec2, str(vpc_id))
    remove, empty = scrub_lists(ctx.state.inspection)
    arch = source.architecture or ctx.instance.architecture
    token = f"{ctx.state.save_id}-scrub-{int(scrub.get('attempt') or 1)}"[:64]
    _step(ctx, stage="launching", client_token=token)
    ctx.progress.line("start", f"Scrub: launching a helper from {source.image_id}...")
    tags = tag_list(_helper_tags(ctx))
    answer = ec2.run_instances(
        ImageId=source.image_id,
        InstanceType=smallest_type(arch),
        MinCount=1,
        MaxCount=1,
        ClientToken=token,
        UserData=script.user_data(remove, empty),
        MetadataOptions=hardening.metadata_options(False),  # IMDSv2, whatever imds_v1 says
        InstanceInitiatedShutdownBehavior="stop",
        NetworkInterfaces=[
            {
                "DeviceIndex": 0,
                "SubnetId": subnet_id,
                "Groups": [group_id],
                "AssociatePublicIpAddress": False,
                "DeleteOnTermination": True,
            }
        ],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": tags},
            {"ResourceType": "volume", "Tags": tags},
        ],
    )
    helper_id = str(answer["Instances"][0]["InstanceId"])
    _step(ctx, stage="running", helper_id=helper_id)
    ctx.progress.line("ok", f"Scrub helper {helper_id} is running its user data", since="start")
    return helper_id


def _wait_stopped(ctx: SaveContext, region: str, helper_id: str) -> None:
    """Wait until the helper powered itself off (its script's last step)."""
    ec2 = ctx.aws.ec2(region)

    def stopped() -> bool | None:
        record = instance_record(ec2, helper_id)
        state = instance_state(record) if record else None
        if state in ("shutting-down", "terminated"):
            raise OperationFailed(f"scrub helper {helper_id} was terminated before it finished")
        return True if state == "stopped" else None

    ctx.wait(
        stopped,
        what=f"scrub helper {helper_id} to finish and power off",
        limit="stop",
        hint="look at its console output (EC2) for prism-scrub lines",
        steady=True,
    )
    ctx.progress.line("ok", f"Scrub helper {helper_id} has powered off")


def _image_helper(ctx: SaveContext, source: RegionImage, helper_id: str) -> RegionImage:
    """CreateImage of the stopped helper (adopting one a killed run asked for)."""
    region = source.region
    ec2 = ctx.aws.ec2(region)
    name = str((ctx.state.scrub or {}).get("image_name"))
    image = RegionImage(region, state=REQUESTED, architecture=source.architecture)
    _record_derivative(ctx, image)
    _step(ctx, stage="imaging")
    from prism_core.aws.ec2 import find_saved_image

    found = find_saved_image(ec2, name, ctx.state.save_id)
    if found is not None:
        image.image_id = str(found["ImageId"])
    else:
        tags = tag_list(_derivative_tags(ctx, str(source.image_id)))
        image.image_id = str(
            ec2.create_image(
                InstanceId=helper_id,
                Name=name,
                Description=f"{ctx.request.description} (scrubbed for sharing)"[:255],
                NoReboot=True,
                TagSpecifications=[
                    {"ResourceType": "image", "Tags": tags},
                    {"ResourceType": "snapshot", "Tags": tags},
                ],
            )["ImageId"]
        )
    image.state = PENDING
    _record_derivative(ctx, image)
    ctx.progress.line("image", f"Scrubbed image requested: {image.image_id}")
    return image


def _wait_available(ctx: SaveContext, image: RegionImage) -> RegionImage:
    if image.ok:
        return image
    ec2 = ctx.aws.ec2(image.region)
    image_id = str(image.image_id)
    data = ctx.wait(
        lambda: settled_image(ec2, image_id),
        what=f"scrubbed image {image_id} in {image.region}",
        limit="image",
        steady=True,
    )
    if data["State"] == FAILED:
        image.state, image.error = FAILED, state_reason(data)
    else:
        image.state = AVAILABLE
        image.snapshot_ids = image_snapshot_ids(data) or []
    _record_derivative(ctx, image)
    return image


def finish_helper(ctx: SaveContext) -> list[str]:
    """Terminate the helper (journaled or found by its tags, each proven this save's by
    its tags) and delete its security group. Returns the problems; never raises."""
    scrub = ctx.state.scrub
    if not scrub or scrub.get("stage") == "done":
        return []
    region = str(scrub.get("region") or ctx.source_region)
    ec2 = ctx.aws.ec2(region)
    problems: list[str] = []
    try:
        ids = {str(r["InstanceId"]) for r in find_helpers(ctx, region)}
        if scrub.get("helper_id"):
            ids.add(str(scrub["helper_id"]))
        for helper_id in sorted(ids):
            record = instance_record(ec2, helper_id)
            if record is None or instance_state(record) == "terminated":
                continue
            if not _ours(record, ctx.state.save_id):
                problems.append(f"{helper_id} is not this save's scrub helper; left alone")
                continue
            _step(ctx, stage="terminating")
            if instance_state(record) != "shutting-down":
                ec2.terminate_instances(InstanceIds=[helper_id])
                ctx.progress.line("info", f"Scrub helper {helper_id} terminated")
            _wait_terminated(ctx, ec2, helper_id)
        group_id = scrub.get("group_id") or _group_by_name(ctx, ec2, scrub.get("group_name"))
        if group_id:
            _delete_group(ctx, ec2, str(group_id), problems)
    except Exception as exc:
        problems.append(f"could not clean up the scrub helper: {error_message(exc)}")
    if not problems:  # a derivative not requested yet: the next run starts a new helper
        imaged = any(i.image_id for i in ctx.state.scrub_images.values())
        _step(
            ctx,
            stage="done" if imaged else "planned",
            helper_id=None,
            group_id=None,
            group_name=None,
            client_token=None,
            attempt=int(scrub.get("attempt") or 1) + (0 if imaged else 1),
        )
    return problems


def _wait_terminated(ctx: SaveContext, ec2: Any, helper_id: str) -> None:
    def gone() -> bool | None:
        record = instance_record(ec2, helper_id)
        return True if record is None or instance_state(record) == "terminated" else None

    ctx.wait(gone, what=f"scrub helper {helper_id} to terminate", limit="stop", steady=True)


def _group_by_name(ctx: SaveContext, ec2: Any, name: Any) -> str | None:
    if not name:
        return None
    found = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [str(name)]}])
    mine = [g for g in found["SecurityGroups"] if _ours(g, ctx.state.save_id)]
    return str(mine[0]["GroupId"]) if mine else None


def _delete_group(ctx: SaveContext, ec2: Any, group_id: str, problems: list[str]) -> None:
    """Delete the helper's group once its tags prove it is this save's."""
    try:
        groups = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    except Exception as exc:
        if "NotFound" in error_message(exc):
            return
        raise
    if not groups:
        return
    if not _ours(groups[0], ctx.state.save_id):
        problems.append(f"security group {group_id} is not this save's; left alone")
        return
    ec2.delete_security_group(GroupId=group_id)
    ctx.progress.line("info", f"Deleted the scrub helper's security group {group_id}")


def _publish(ctx: SaveContext, image: RegionImage) -> None:
    from prism_core.save.images import deprecate_in_region, require_imds_v2, share_in_region

    require_imds_v2(ctx, image)
    share_in_region(ctx, image, derivative=True)
    deprecate_in_region(ctx, image)
    _record_derivative(ctx, image)


def _copy(ctx: SaveContext, source: RegionImage, region: str) -> RegionImage:
    """Copy the derivative to ``region`` (idempotent token), wait, share; never raises."""
    previous = ctx.state.scrub_images.get(region)
    ec2 = ctx.aws.ec2(region)
    name = str((ctx.state.scrub or {}).get("image_name"))
    try:
        if previous is not None and previous.image_id and previous.error is None:
            image = previous
        else:
            attempt = 1 if previous is None else 2 + int(bool(previous.error))
            image = RegionImage(
                region,
                state=REQUESTED,
                architecture=source.architecture,
                client_token=f"{ctx.state.save_id}-scrub-{region}-{attempt}"[:64],
            )
            _record_derivative(ctx, image)
            params: dict[str, Any] = {
                "SourceImageId": source.image_id,
                "SourceRegion": source.region,
                "Name": name,
                "Description": f"{ctx.request.description} (scrubbed for sharing)"[:255],
                "ClientToken": image.client_token,
                "TagSpecifications": [
                    {
                        "ResourceType": kind,
                        "Tags": tag_list(_derivative_tags(ctx, _team_id(ctx))),
                    }
                    for kind in ("image", "snapshot")
                ],
            }
            if any(volume.get("Encrypted") for volume in ctx.volumes()):
                params["Encrypted"] = True
                if region in ctx.settings.kms_keys:
                    params["KmsKeyId"] = ctx.settings.kms_keys[region]
            image.image_id = str(ec2.copy_image(**params)["ImageId"])
            image.state = PENDING
            _record_derivative(ctx, image)
        image = _wait_available(ctx, image)
        if image.ok:
            _publish(ctx, image)
            ctx.progress.line("ok", f"Scrubbed image copied to {region}: {image.image_id}")
    except Exception as exc:
        image = ctx.state.scrub_images.get(region) or RegionImage(region)
        image.error = error_message(exc)
        _record_derivative(ctx, image)
    return image


def abort(ctx: SaveContext) -> tuple[list[str], list[str]]:
    """``--abort``: the helper and its group, then every derivative image and its
    snapshots (each proven this save's by its tags). Returns (removed, problems)."""
    removed: list[str] = []
    problems: list[str] = []
    scrub = ctx.state.scrub
    if scrub:
        region = str(scrub.get("region") or ctx.source_region)
        before = {str(r["InstanceId"]) for r in _safe_helpers(ctx, region, problems)}
        if scrub.get("helper_id"):
            before.add(str(scrub["helper_id"]))
        helper_problems = finish_helper(ctx)
        problems.extend(helper_problems)
        if not helper_problems:
            removed.extend(f"{region}:{i}" for i in sorted(before))
    name = str((scrub or {}).get("image_name") or derivative_name(ctx.state.image_name))
    for region, image in ctx.state.scrub_images.items():
        ec2 = ctx.aws.ec2(region)
        try:
            image_id = image.image_id
            if not image_id:
                from prism_core.aws.ec2 import find_saved_image

                found = find_saved_image(ec2, name, ctx.state.save_id)
                if found is None:
                    continue
                image_id = str(found["ImageId"])
            data = describe_image(ec2, image_id)
            if data is None or data.get("State") == "deregistered":
                continue
            if not made_by_save(data, ctx.state.save_id, name):
                problems.append(f"{region}: {image_id} is not tagged as made by this save; kept")
                continue
            gone = discard_image(
                ec2,
                data,
                image_id,
                snapshot_timeout=ctx.settings.timeouts["snapshots"],
                poll=ctx.settings.poll_delay,
            )
            removed.extend(f"{region}:{rid}" for rid in gone)
        except Exception as exc:
            problems.append(f"{region}: could not remove scrubbed image: {error_message(exc)}")
    return removed, problems


def _safe_helpers(ctx: SaveContext, region: str, problems: list[str]) -> list[dict[str, Any]]:
    try:
        return find_helpers(ctx, region)
    except Exception as exc:
        problems.append(f"could not look for scrub helpers in {region}: {error_message(exc)}")
        return []
