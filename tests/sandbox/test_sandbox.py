"""The sandbox cloud, exercised through boto3 over real HTTP."""

from __future__ import annotations

import time
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from prism_sandbox import Sandbox, Timings

SRC = "us-east-1"
DST = "eu-west-1"


_SESSION = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")


def client(sb: Sandbox, service: str = "ec2", region: str = SRC, attempts: int = 1):
    # one session: its loader caches the (large) EC2 service model
    return _SESSION.client(
        service,
        region_name=region,
        endpoint_url=sb.endpoint,
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def poll(fn, until, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if until(value):
            return value
        assert time.monotonic() < deadline, f"gave up waiting; last value {value!r}"
        time.sleep(0.02)


def instance(ec2, iid: str) -> dict:
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]


def image(ec2, ami: str) -> dict:
    return ec2.describe_images(ImageIds=[ami])["Images"][0]


def snapshot_ids(img: dict) -> list[str | None]:
    return [m["Ebs"].get("SnapshotId") for m in img["BlockDeviceMappings"] if "Ebs" in m]


# --------------------------------------------------------------------------- server


def test_env_points_at_sandbox(prism_sandbox, monkeypatch):
    env = prism_sandbox.env()
    assert env["AWS_ENDPOINT_URL"] == prism_sandbox.endpoint
    assert prism_sandbox.endpoint.startswith("http://127.0.0.1:")
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert prism_sandbox.env("eu-west-1")["AWS_DEFAULT_REGION"] == "eu-west-1"
    # the fixture exported it: a plain boto3 client reaches the sandbox
    ident = boto3.client("sts").get_caller_identity()
    assert ident["Account"] == "123456789012"
    assert (SRC, "GetCallerIdentity") in prism_sandbox.faults.calls()


def test_two_sandboxes_get_distinct_free_ports():
    with Sandbox() as other:
        assert other.port != 0
        urllib.request.urlopen(other.endpoint + "/moto-api/", timeout=5).read()


def test_step_functions_tasks_reach_a_running_sandbox(prism_sandbox):
    """moto's interpreter calls one process-wide port: a second sandbox gets it while it
    runs (its own executions reach it) and gives it back when it stops."""
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

    def interpreter_reaches():
        sts = boto_client_for(SRC, "sts")
        assert sts.get_caller_identity()["Account"] == "123456789012"
        return sts.meta.endpoint_url

    assert interpreter_reaches() == f"http://localhost:{prism_sandbox.port}"
    with Sandbox() as other:
        assert interpreter_reaches() == f"http://localhost:{other.port}"
    assert interpreter_reaches() == f"http://localhost:{prism_sandbox.port}"


def test_reset_wipes_state_and_sandbox_settings(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance("box")
    sb.faults.inject("DescribeImages", times=-1)
    sb.set_block_public_access(SRC, True)
    sb.timings.stop = 5
    sb.reset()
    ec2 = client(sb)
    assert (
        ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": [iid]}])["Reservations"]
        == []
    )
    ec2.describe_images(Owners=["self"])  # fault cleared
    assert ec2.get_image_block_public_access_state()["ImageBlockPublicAccessState"] == "unblocked"
    assert sb.timings.stop == 5  # timings are kept
    assert sb.faults.calls() == [
        (SRC, "DescribeInstances"),
        (SRC, "DescribeImages"),
        (SRC, "GetImageBlockPublicAccessState"),
    ]


def test_reset_lets_the_old_state_be_freed(prism_sandbox):
    """A long test session resets the sandbox hundreds of times: what a reset replaced
    must not stay reachable (moto caches a few methods per instance on their class)."""
    import gc
    import weakref

    from moto.ec2.models import ec2_backends

    sb = prism_sandbox
    iid = sb.create_instance("box")
    client(sb).create_image(InstanceId=iid, Name="old-state")
    backend = weakref.ref(ec2_backends[next(iter(ec2_backends))][SRC])
    sb.reset()
    gc.collect()
    assert backend() is None


# --------------------------------------------------------------------------- timings


def test_timed_stop_and_start(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance("box")
    ec2 = client(sb)
    sb.timings.stop = sb.timings.start = 0.3
    res = ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"][0]
    assert res["CurrentState"]["Name"] == "stopping"
    assert instance(ec2, iid)["State"]["Name"] == "stopping"
    poll(lambda: instance(ec2, iid)["State"]["Name"], lambda s: s == "stopped")
    res = ec2.start_instances(InstanceIds=[iid])["StartingInstances"][0]
    assert res["CurrentState"]["Name"] == "pending"
    assert instance(ec2, iid)["State"]["Name"] == "pending"
    poll(lambda: instance(ec2, iid)["State"]["Name"], lambda s: s == "running")


def test_run_instances_is_pending_first(prism_sandbox):
    prism_sandbox.timings.start = 0.3
    iid = prism_sandbox.create_instance("box")  # waits for running
    assert instance(client(prism_sandbox), iid)["State"]["Name"] == "running"
    ec2 = client(prism_sandbox)
    ami = ec2.describe_instances()["Reservations"][0]["Instances"][0]["ImageId"]
    new = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]
    assert new["State"]["Name"] == "pending"
    poll(lambda: instance(ec2, new["InstanceId"])["State"]["Name"], lambda s: s == "running")


def test_image_snapshot_ids_appear_before_available(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance("box", state="stopped", extra_volumes=1)
    sb.timings.snapshot, sb.timings.image = 0.2, 0.6
    ec2 = client(sb)
    ami = ec2.create_image(InstanceId=iid, Name="tpl-timed")["ImageId"]
    first = image(ec2, ami)
    assert first["State"] == "pending"
    assert snapshot_ids(first) == [None, None]
    mid = poll(lambda: image(ec2, ami), lambda i: None not in snapshot_ids(i))
    assert mid["State"] == "pending"
    done = poll(lambda: image(ec2, ami), lambda i: i["State"] != "pending")
    assert done["State"] == "available"
    sizes = sorted(m["Ebs"]["VolumeSize"] for m in done["BlockDeviceMappings"])
    assert sizes == [10, 30]


def test_copy_pending_then_available(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance("box", state="stopped")
    ami = client(sb).create_image(InstanceId=iid, Name="tpl-copy")["ImageId"]
    poll(lambda: image(client(sb), ami)["State"], lambda s: s == "available")
    sb.timings.copy = 0.3
    dst = client(sb, region=DST)
    copy = dst.copy_image(SourceImageId=ami, SourceRegion=SRC, Name="tpl-copy")["ImageId"]
    assert image(dst, copy)["State"] == "pending"
    poll(lambda: image(dst, copy)["State"], lambda s: s == "available")


def _checks(ec2, iid: str) -> tuple[str, str, str]:
    record = ec2.describe_instance_status(InstanceIds=[iid], IncludeAllInstances=True)[
        "InstanceStatuses"
    ][0]
    return (
        record["InstanceState"]["Name"],
        record["InstanceStatus"]["Status"],
        record["SystemStatus"]["Status"],
    )


def test_create_image_reboots_the_instance_unless_no_reboot(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance("box")
    sb.timings.snapshot, sb.timings.reboot, sb.timings.image = 0.2, 0.5, 1.0
    ec2 = client(sb)
    assert _checks(ec2, iid) == ("running", "ok", "ok")
    ami = ec2.create_image(InstanceId=iid, Name="tpl-reboot")["ImageId"]  # NoReboot false
    assert _checks(ec2, iid) == ("running", "initializing", "initializing")
    assert instance(ec2, iid)["State"]["Name"] == "running"  # EC2 keeps it "running"
    poll(lambda: snapshot_ids(image(ec2, ami)), lambda ids: None not in ids)
    poll(lambda: _checks(ec2, iid), lambda c: c == ("running", "ok", "ok"))
    assert [r["instance_id"] for r in sb.reboots] == [iid]
    assert sb.reboots[0]["ended"] - sb.reboots[0]["started"] == pytest.approx(0.5)

    ec2.create_image(InstanceId=iid, Name="tpl-no-reboot", NoReboot=True)
    assert _checks(ec2, iid) == ("running", "ok", "ok")
    assert len(sb.reboots) == 1


def test_reboot_lasts_until_the_snapshots_are_listed(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance("box")
    sb.timings.snapshot, sb.timings.reboot = 0.4, 0.0
    ec2 = client(sb)
    ami = ec2.create_image(InstanceId=iid, Name="tpl-reboot")["ImageId"]
    assert _checks(ec2, iid)[1] == "initializing"
    checks = poll(
        lambda: (_checks(ec2, iid), snapshot_ids(image(ec2, ami))), lambda v: v[0][1] == "ok"
    )
    assert None not in checks[1]


def test_timings_presets():
    # every transition instant; the save engine's waits a twentieth of their seconds
    assert Timings.fast() == Timings(engine_seconds=0.05)
    assert Timings().engine_seconds == 1.0
    demo = Timings.demo()
    assert 0 < demo.snapshot < demo.image and demo.stop > 0 and demo.copy > 0


# --------------------------------------------------------------------------- faults


def test_injected_fault_once_then_normal(prism_sandbox):
    sb = prism_sandbox
    sb.faults.inject("DescribeImages", region=DST, code="InternalError", message="boom")
    client(sb, region=SRC).describe_images(Owners=["self"])  # other region: unaffected
    with pytest.raises(ClientError) as exc:
        client(sb, region=DST).describe_images(Owners=["self"])
    assert error_code(exc) == "InternalError"
    assert exc.value.response["Error"]["Message"] == "boom"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    client(sb, region=DST).describe_images(Owners=["self"])


def test_forever_fault_until_clear(prism_sandbox):
    sb = prism_sandbox
    sb.faults.inject(
        "StopInstances",
        times=-1,
        code="UnauthorizedOperation",
        message="You are not authorized",
        status=403,
    )
    iid = sb.create_instance("box")
    for _ in range(3):
        with pytest.raises(ClientError) as exc:
            client(sb).stop_instances(InstanceIds=[iid])
        assert error_code(exc) == "UnauthorizedOperation"
    sb.faults.clear()
    client(sb).stop_instances(InstanceIds=[iid])


@pytest.fixture
def no_backoff(monkeypatch):
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


def test_throttling_is_retried_by_standard_mode(prism_sandbox, no_backoff):
    sb = prism_sandbox
    sb.faults.inject(
        "DescribeImages",
        times=2,
        code="RequestLimitExceeded",
        message="Request limit exceeded.",
        status=503,
    )
    sb.faults.clear_calls()
    ec2 = client(sb, attempts=3)
    resp = ec2.describe_images(Owners=["self"])
    assert resp["ResponseMetadata"]["RetryAttempts"] == 2
    assert sb.faults.calls() == [(SRC, "DescribeImages")] * 3


def test_throttling_exhausts_retries(prism_sandbox, no_backoff):
    sb = prism_sandbox
    sb.faults.inject("DescribeImages", times=5, code="RequestLimitExceeded", status=503)
    with pytest.raises(ClientError) as exc:
        client(sb, attempts=2).describe_images(Owners=["self"])
    assert error_code(exc) == "RequestLimitExceeded"


def test_ssm_fault_uses_json_protocol(prism_sandbox):
    sb = prism_sandbox
    ssm = client(sb, "ssm")
    sb.faults.inject("PutParameter", code="ParameterLimitExceeded", message="too many", status=400)
    with pytest.raises(ClientError) as exc:
        ssm.put_parameter(Name="/prism/x", Value="1", Type="String")
    assert error_code(exc) == "ParameterLimitExceeded"
    ssm.put_parameter(Name="/prism/x", Value="1", Type="String")
    assert ssm.get_parameter(Name="/prism/x")["Parameter"]["Value"] == "1"
    assert sb.faults.calls()[-3:] == [
        (SRC, "PutParameter"),
        (SRC, "PutParameter"),
        (SRC, "GetParameter"),
    ]


def test_failed_image_reports_state_reason(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance("box", state="stopped")
    sb.faults.fail_image(region=SRC)
    ec2 = client(sb)
    bad = ec2.create_image(InstanceId=iid, Name="tpl-bad")["ImageId"]
    img = poll(lambda: image(ec2, bad), lambda i: i["State"] != "pending")
    assert img["State"] == "failed"
    assert img["StateReason"] == {
        "Code": "Client.InternalError",
        "Message": "Client.InternalError: Client error on snapshot creation",
    }
    good = ec2.create_image(InstanceId=iid, Name="tpl-good")["ImageId"]
    assert poll(lambda: image(ec2, good)["State"], lambda s: s != "pending") == "available"


def test_failed_copy(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance("box", state="stopped")
    ami = client(sb).create_image(InstanceId=iid, Name="tpl-a")["ImageId"]
    sb.faults.fail_image(region=DST, reason="Server.InternalError: copy failed")
    dst = client(sb, region=DST)
    copy = dst.copy_image(SourceImageId=ami, SourceRegion=SRC, Name="tpl-a")["ImageId"]
    img = poll(lambda: image(dst, copy), lambda i: i["State"] != "pending")
    assert img["State"] == "failed"
    assert img["StateReason"]["Code"] == "Server.InternalError"


def test_invisible_image(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance("box", state="stopped")
    sb.faults.invisible_image(times=2)
    ec2 = client(sb)
    ami = ec2.create_image(InstanceId=iid, Name="tpl-ghost")["ImageId"]
    for _ in range(2):
        with pytest.raises(ClientError) as exc:
            ec2.describe_images(ImageIds=[ami])
        assert error_code(exc) == "InvalidAMIID.NotFound"
    assert image(ec2, ami)["ImageId"] == ami
    # a second image is visible at once
    other = ec2.create_image(InstanceId=iid, Name="tpl-ghost-2")["ImageId"]
    assert image(ec2, other)["ImageId"] == other


# --------------------------------------------------------------------------- EC2 gaps


def test_duplicate_ami_names(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance("box", state="stopped")
    ec2, dst = client(sb), client(sb, region=DST)
    ami = ec2.create_image(InstanceId=iid, Name="tpl-dup")["ImageId"]
    with pytest.raises(ClientError) as exc:
        ec2.create_image(InstanceId=iid, Name="tpl-dup")
    assert error_code(exc) == "InvalidAMIName.Duplicate"
    with pytest.raises(ClientError) as exc:
        ec2.register_image(Name="tpl-dup", RootDeviceName="/dev/xvda")
    assert error_code(exc) == "InvalidAMIName.Duplicate"
    with pytest.raises(ClientError) as exc:
        ec2.copy_image(SourceImageId=ami, SourceRegion=SRC, Name="tpl-dup")
    assert error_code(exc) == "InvalidAMIName.Duplicate"
    dst.copy_image(SourceImageId=ami, SourceRegion=SRC, Name="tpl-dup")  # other region: fine
    with pytest.raises(ClientError) as exc:
        dst.copy_image(SourceImageId=ami, SourceRegion=SRC, Name="tpl-dup")
    assert error_code(exc) == "InvalidAMIName.Duplicate"
    ec2.deregister_image(ImageId=ami)
    ec2.create_image(InstanceId=iid, Name="tpl-dup")  # name free again


def test_copy_client_token_is_idempotent(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance("box", state="stopped")
    ami = client(sb).create_image(InstanceId=iid, Name="tpl-tok")["ImageId"]
    dst = client(sb, region=DST)
    a = dst.copy_image(SourceImageId=ami, SourceRegion=SRC, Name="tpl-tok", ClientToken="t1")
    b = dst.copy_image(SourceImageId=ami, SourceRegion=SRC, Name="tpl-tok", ClientToken="t1")
    assert a["ImageId"] == b["ImageId"]


def test_create_image_tag_specifications(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance("box", state="stopped", extra_volumes=2)
    ec2 = client(sb)
    ami = ec2.create_image(
        InstanceId=iid,
        Name="tpl-tags",
        TagSpecifications=[
            {"ResourceType": "image", "Tags": [{"Key": "prism:template", "Value": "tpl-tags"}]},
            {
                "ResourceType": "snapshot",
                "Tags": [
                    {"Key": "prism:template", "Value": "tpl-tags"},
                    {"Key": "project", "Value": "p1"},
                ],
            },
        ],
    )["ImageId"]
    img = image(ec2, ami)
    assert img["Tags"] == [{"Key": "prism:template", "Value": "tpl-tags"}]
    snaps = ec2.describe_snapshots(SnapshotIds=snapshot_ids(img))["Snapshots"]
    assert len(snaps) == 3
    for snap in snaps:
        assert {t["Key"]: t["Value"] for t in snap["Tags"]} == {
            "prism:template": "tpl-tags",
            "project": "p1",
        }
    # no stray moto snapshot for the AMI
    owned = ec2.describe_snapshots(Filters=[{"Name": "tag:project", "Values": ["p1"]}])
    assert len(owned["Snapshots"]) == 3


def test_block_public_access(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance("box", state="stopped")
    ec2, dst = client(sb), client(sb, region=DST)
    ami = ec2.create_image(InstanceId=iid, Name="tpl-pub")["ImageId"]
    assert ec2.get_image_block_public_access_state()["ImageBlockPublicAccessState"] == "unblocked"
    resp = ec2.enable_image_block_public_access(ImageBlockPublicAccessState="block-new-sharing")
    assert resp["ImageBlockPublicAccessState"] == "block-new-sharing"
    assert (
        ec2.get_image_block_public_access_state()["ImageBlockPublicAccessState"]
        == "block-new-sharing"
    )
    assert dst.get_image_block_public_access_state()["ImageBlockPublicAccessState"] == "unblocked"
    with pytest.raises(ClientError) as exc:
        ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"Group": "all"}]})
    assert error_code(exc) == "OperationNotPermitted"
    # sharing with an account is still allowed
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": "111122223333"}]})
    assert ec2.disable_image_block_public_access()["ImageBlockPublicAccessState"] == "unblocked"
    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"Group": "all"}]})
    assert image(ec2, ami)["Public"] is True
    sb.set_block_public_access(DST, True)
    assert (
        dst.get_image_block_public_access_state()["ImageBlockPublicAccessState"]
        == "block-new-sharing"
    )


def test_block_public_access_default_on():
    with Sandbox(block_public_access=True) as sb:
        state = client(sb).get_image_block_public_access_state()
        assert state["ImageBlockPublicAccessState"] == "block-new-sharing"


def test_copy_image_tags_and_encryption(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance("box", state="stopped")
    ec2, dst = client(sb), client(sb, region=DST)
    ami = ec2.create_image(
        InstanceId=iid,
        Name="tpl-enc",
        TagSpecifications=[{"ResourceType": "image", "Tags": [{"Key": "team", "Value": "geo"}]}],
    )["ImageId"]
    plain = dst.copy_image(SourceImageId=ami, SourceRegion=SRC, Name="tpl-enc-plain")["ImageId"]
    assert image(dst, plain).get("Tags", []) == []
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    enc = dst.copy_image(
        SourceImageId=ami,
        SourceRegion=SRC,
        Name="tpl-enc",
        CopyImageTags=True,
        Encrypted=True,
        KmsKeyId=key,
    )["ImageId"]
    img = image(dst, enc)
    assert img["Tags"] == [{"Key": "team", "Value": "geo"}]
    ebs = img["BlockDeviceMappings"][0]["Ebs"]
    assert ebs["Encrypted"] is True and ebs["KmsKeyId"] == key
    snap = dst.describe_snapshots(SnapshotIds=[ebs["SnapshotId"]])["Snapshots"][0]
    assert snap["Encrypted"] is True and snap["KmsKeyId"] == key
    assert image(dst, plain)["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is False


def test_deregister_with_and_without_snapshots(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance("box", state="stopped", extra_volumes=1)
    ec2 = client(sb)
    keep = ec2.create_image(InstanceId=iid, Name="tpl-keep")["ImageId"]
    keep_snaps = snapshot_ids(image(ec2, keep))
    ec2.deregister_image(ImageId=keep)
    assert len(ec2.describe_snapshots(SnapshotIds=keep_snaps)["Snapshots"]) == 2  # EC2 keeps them

    drop = ec2.create_image(InstanceId=iid, Name="tpl-drop")["ImageId"]
    drop_snaps = snapshot_ids(image(ec2, drop))
    resp = ec2.deregister_image(ImageId=drop, DeleteAssociatedSnapshots=True)
    assert sorted(r["SnapshotId"] for r in resp["DeleteSnapshotResults"]) == sorted(drop_snaps)
    for snap in drop_snaps:
        with pytest.raises(ClientError) as exc:
            ec2.describe_snapshots(SnapshotIds=[snap])
        assert error_code(exc) == "InvalidSnapshot.NotFound"


def test_start_terminated_instance_refused(prism_sandbox):
    iid = prism_sandbox.create_instance("gone", state="terminated")
    with pytest.raises(ClientError) as exc:
        client(prism_sandbox).start_instances(InstanceIds=[iid])
    assert error_code(exc) == "IncorrectInstanceState"


def test_create_image_while_stopping_refused(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance("box")
    sb.timings.stop = 30
    ec2 = client(sb)
    ec2.stop_instances(InstanceIds=[iid])
    with pytest.raises(ClientError) as exc:
        ec2.create_image(InstanceId=iid, Name="tpl-early")
    assert error_code(exc) == "IncorrectInstanceState"


@pytest.mark.parametrize(
    "call",
    [
        lambda ec2, iid, ami: ec2.stop_instances(InstanceIds=[iid], DryRun=True),
        lambda ec2, iid, ami: ec2.start_instances(InstanceIds=[iid], DryRun=True),
        lambda ec2, iid, ami: ec2.create_image(InstanceId=iid, Name="tpl-dry", DryRun=True),
        lambda ec2, iid, ami: ec2.copy_image(
            SourceImageId=ami, SourceRegion=SRC, Name="x-dry", DryRun=True
        ),
        lambda ec2, iid, ami: ec2.modify_image_attribute(
            ImageId=ami, LaunchPermission={"Add": [{"Group": "all"}]}, DryRun=True
        ),
        lambda ec2, iid, ami: ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, DryRun=True),
        lambda ec2, iid, ami: ec2.enable_image_block_public_access(
            ImageBlockPublicAccessState="block-new-sharing", DryRun=True
        ),
    ],
    ids=[
        "stop",
        "start",
        "create_image",
        "copy_image",
        "modify_image_attribute",
        "run_instances",
        "enable_bpa",
    ],
)
def test_dry_run(prism_sandbox, call):
    iid = prism_sandbox.create_instance("box")
    ec2 = client(prism_sandbox)
    ami = instance(ec2, iid)["ImageId"]
    with pytest.raises(ClientError) as exc:
        call(ec2, iid, ami)
    assert error_code(exc) == "DryRunOperation"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert instance(ec2, iid)["State"]["Name"] == "running"


# --------------------------------------------------------------------------- create_instance


def test_create_instance_details(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance(
        "analysis",
        instance_type="m5.large",
        architecture="arm64",
        volume_size_gb=50,
        extra_volumes=2,
        tags={"Project": "p1"},
        encrypted=True,
        ports=[22, 8888],
    )
    ec2 = client(sb)
    inst = instance(ec2, iid)
    assert inst["State"]["Name"] == "running"
    assert inst["InstanceType"] == "m5.large"
    assert inst["Architecture"] == "arm64"
    assert inst["RootDeviceType"] == "ebs"
    assert {t["Key"]: t["Value"] for t in inst["Tags"]} == {"Name": "analysis", "Project": "p1"}
    devices = {m["DeviceName"]: m["Ebs"]["VolumeId"] for m in inst["BlockDeviceMappings"]}
    assert len(devices) == 3
    root = ec2.describe_volumes(VolumeIds=[devices[inst["RootDeviceName"]]])["Volumes"][0]
    assert root["Size"] == 50 and root["Encrypted"] is True
    group = ec2.describe_security_groups(GroupIds=[inst["SecurityGroups"][0]["GroupId"]])
    ports = sorted(p["FromPort"] for p in group["SecurityGroups"][0]["IpPermissions"])
    assert ports == [22, 8888]
    img = image(ec2, inst["ImageId"])
    assert img["Architecture"] == "arm64"


def test_create_instance_states(prism_sandbox):
    sb = prism_sandbox
    ec2 = client(sb)
    stopped = sb.create_instance("s", state="stopped")
    assert instance(ec2, stopped)["State"]["Name"] == "stopped"
    gone = sb.create_instance("t", state="terminated")
    assert instance(ec2, gone)["State"]["Name"] == "terminated"
    # base AMI is reused
    assert instance(ec2, stopped)["ImageId"] == instance(ec2, gone)["ImageId"]


def test_spot_and_instance_store_cannot_stop(prism_sandbox):
    sb = prism_sandbox
    ec2 = client(sb)
    spot = sb.create_instance("spot", spot=True)
    assert instance(ec2, spot)["InstanceLifecycle"] == "spot"
    store = sb.create_instance("store", instance_store_root=True)
    assert instance(ec2, store)["RootDeviceType"] == "instance-store"
    for iid in (spot, store):
        with pytest.raises(ClientError) as exc:
            ec2.stop_instances(InstanceIds=[iid])
        assert error_code(exc) == "UnsupportedOperation"
        assert instance(ec2, iid)["State"]["Name"] == "running"


def test_account_listings_hold_only_what_the_account_made(prism_sandbox):
    sb = prism_sandbox
    iid = sb.create_instance("box", state="stopped")
    ec2 = client(sb)
    assert ec2.describe_images(Owners=["self"])["Images"] == []  # base AMI is amazon's
    assert ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"] == []
    ami = ec2.create_image(InstanceId=iid, Name="tpl-own")["ImageId"]
    assert [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]] == [ami]
    owned = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert owned == set(snapshot_ids(image(ec2, ami)))


def test_patches_inert_outside_the_sandbox(prism_sandbox_server, monkeypatch):
    """moto's mock_aws in the same process keeps moto's behaviour (no sandbox request)."""
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        ec2 = boto3.client(
            "ec2",
            region_name="ap-south-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        ami = ec2.register_image(Name="base", RootDeviceName="/dev/sda1")["ImageId"]
        iid = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        assert instance(ec2, iid)["State"]["Name"] == "running"
        ec2.stop_instances(InstanceIds=[iid])
        assert instance(ec2, iid)["State"]["Name"] == "stopped"  # moto's own: instant
        ec2.create_image(InstanceId=iid, Name="same")
        ec2.create_image(InstanceId=iid, Name="same")  # moto allows duplicates
    prism_sandbox_server.reset()  # mock_aws shares moto's backends with the server
