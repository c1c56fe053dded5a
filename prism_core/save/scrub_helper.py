"""The short-lived helper of ``prism save --scrub``: its security group, its launch, the
wait until its user data powers it off, its termination (:mod:`prism_core.save.scrub`).

Each step is journaled in ``state.scrub`` before it is taken; a helper or group a killed
run created is found again by its tags (``prism:helper=scrub`` and the save's id), and
nothing is terminated or deleted before its tags prove it is this save's.
"""

from __future__ import annotations

from typing import Any

from prism_core.aws.clients import error_message
from prism_core.aws.ec2 import instance_record, instance_records, instance_state
from prism_core.aws.tags import HELPER_TAG, SAVE_ID_TAG, TEMPLATE_TAG, tag_list, tags_of
from prism_core.exceptions import OperationFailed
from prism_core.save.context import SaveContext
from prism_core.save.state import RegionImage

#: The value of ``prism:helper`` on a scrub helper and its security group.
PURPOSE = "scrub"
#: Journaled steps of the helper, in order.
STAGES = ("planned", "group", "launching", "running", "imaging", "terminating", "done")


def scrub_lists(inspection: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    """(paths removed, histories emptied) from the journaled inspection."""
    secrets = [s for s in (inspection or {}).get("secrets") or [] if isinstance(s, dict)]
    remove = sorted({str(s["path"]) for s in secrets if s.get("kind") != "history"})
    empty = sorted({str(s["path"]) for s in secrets if s.get("kind") == "history"})
    return remove, empty


def helper_tags(ctx: SaveContext) -> dict[str, str]:
    return {
        "Name": f"prism-scrub-{ctx.request.template_name}"[:255],
        HELPER_TAG: PURPOSE,
        SAVE_ID_TAG: ctx.state.save_id,
        TEMPLATE_TAG: ctx.request.template_name,
    }


def ours(record: dict[str, Any] | None, save_id: str) -> bool:
    tags = tags_of(record)
    return tags.get(HELPER_TAG) == PURPOSE and tags.get(SAVE_ID_TAG) == save_id


def step(ctx: SaveContext, **changes: Any) -> dict[str, Any]:
    scrub = dict(ctx.state.scrub or {})
    scrub.update(changes)
    ctx.record(scrub=scrub)
    return scrub


def find_helpers(ctx: SaveContext, region: str) -> list[dict[str, Any]]:
    """This save's scrub helpers EC2 knows in ``region`` (not terminated), by their tags."""
    ec2 = ctx.aws.ec2(region)
    filters = [
        {"Name": f"tag:{HELPER_TAG}", "Values": [PURPOSE]},
        {"Name": f"tag:{SAVE_ID_TAG}", "Values": [ctx.state.save_id]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
    ]
    return [r for r in instance_records(ec2, filters) if ours(r, ctx.state.save_id)]


def _group(ctx: SaveContext, ec2: Any, vpc_id: str) -> str:
    """The helper's security group (no inbound rule), created or adopted by name."""
    scrub = ctx.state.scrub or {}
    if scrub.get("group_id"):
        return str(scrub["group_id"])
    name = f"prism-scrub-{ctx.state.save_id}"[:255]
    step(ctx, stage="group", group_name=name)
    found = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc_id]}]
    )["SecurityGroups"]
    mine = [g for g in found if ours(g, ctx.state.save_id)]
    if mine:
        group_id = str(mine[0]["GroupId"])
    else:
        group_id = str(
            ec2.create_security_group(
                GroupName=name,
                Description="prism scrub helper: no inbound rules",
                VpcId=vpc_id,
                TagSpecifications=[
                    {"ResourceType": "security-group", "Tags": tag_list(helper_tags(ctx))}
                ],
            )["GroupId"]
        )
    step(ctx, group_id=group_id)
    return group_id


def _group_by_name(ctx: SaveContext, ec2: Any, name: Any) -> str | None:
    if not name:
        return None
    found = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [str(name)]}])
    mine = [g for g in found["SecurityGroups"] if ours(g, ctx.state.save_id)]
    return str(mine[0]["GroupId"]) if mine else None


def launch(ctx: SaveContext, source: RegionImage) -> str:
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
            step(ctx, stage="running", helper_id=helper_id)
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
    step(ctx, stage="launching", client_token=token)
    ctx.progress.line("start", f"Scrub: launching a helper from {source.image_id}...")
    tags = tag_list(helper_tags(ctx))
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
    step(ctx, stage="running", helper_id=helper_id)
    ctx.progress.line("ok", f"Scrub helper {helper_id} is running its user data", since="start")
    return helper_id


def wait_stopped(ctx: SaveContext, region: str, helper_id: str) -> None:
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
        schedule=ctx.wait_schedule.limit("stop").state_change(),
        hint="look at its console output (EC2) for prism-scrub lines",
    )
    ctx.progress.line("ok", f"Scrub helper {helper_id} has powered off")


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
            if not ours(record, ctx.state.save_id):
                problems.append(f"{helper_id} is not this save's scrub helper; left alone")
                continue
            step(ctx, stage="terminating")
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
        step(
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

    ctx.wait(
        gone,
        what=f"scrub helper {helper_id} to terminate",
        schedule=ctx.wait_schedule.limit("stop").state_change(),
    )


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
    if not ours(groups[0], ctx.state.save_id):
        problems.append(f"security group {group_id} is not this save's; left alone")
        return
    ec2.delete_security_group(GroupId=group_id)
    ctx.progress.line("info", f"Deleted the scrub helper's security group {group_id}")
