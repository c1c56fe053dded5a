"""The sandbox's Run Command: AWS-RunShellScript runs for real against instance trees."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from prism_core.inspection import script
from prism_core.inspection.findings import Report

_SESSION = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")


def ssm(sb):
    return _SESSION.client(
        "ssm",
        region_name="us-east-1",
        endpoint_url=sb.endpoint,
        config=Config(retries={"total_max_attempts": 1}),
    )


def inspect(sb, instance_id: str) -> Report:
    client, parts, part = ssm(sb), script.Parts(), 1
    while True:
        command_id = client.send_command(
            InstanceIds=[instance_id],
            DocumentName="AWS-RunShellScript",
            Parameters={"commands": script.commands(part)},
        )["Command"]["CommandId"]
        out = client.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        assert out["Status"] == "Success", out["StandardErrorContent"]
        parts.add(out["StandardOutputContent"])
        if not parts.missing():
            return Report.from_document(parts.document())
        part = parts.missing()[0]


def test_seeded_workstations_are_inspected_for_real(prism_sandbox):
    genomics = prism_sandbox.create_instance("genomics-box", tree="genomics-box")
    analysis = prism_sandbox.create_instance("my-analysis", tree="my-analysis")
    rep = inspect(prism_sandbox, genomics)
    assert {(f.kind, f.path) for f in rep.findings} == {
        ("cloud-credentials", "/home/ubuntu/.aws/credentials"),
        ("private-key", "/home/ubuntu/.ssh/id_ed25519"),
        ("token", "/home/ubuntu/.cache/huggingface/token"),
        ("history", "/home/ubuntu/.bash_history"),
    }
    counts = rep.package_counts()
    assert counts["deb"] >= 8 and counts["conda"] >= 5 and counts["pip"] >= 3
    clean = inspect(prism_sandbox, analysis)
    assert clean.findings == [] and clean.package_counts()["pip"] >= 6


def test_a_file_added_to_the_tree_is_found_and_images_carry_their_tree(prism_sandbox):
    iid = prism_sandbox.create_instance("my-analysis", tree="my-analysis")
    prism_sandbox.add_file(iid, "/root/.netrc", "machine x login y password z\n")
    assert [f.path for f in inspect(prism_sandbox, iid).findings] == ["/root/.netrc"]
    ec2 = prism_sandbox.ec2()
    ami = ec2.create_image(InstanceId=iid, Name="tree-test", NoReboot=True)["ImageId"]
    new = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    prism_sandbox.wait_running(new)
    assert [f.path for f in inspect(prism_sandbox, new).findings] == ["/root/.netrc"]
    with pytest.raises(ValueError):
        prism_sandbox.add_file(iid, "/../../etc/passwd", "x")


def test_only_managed_linux_nodes_answer(prism_sandbox):
    online = prism_sandbox.create_instance("a")
    offline = prism_sandbox.create_instance("b")
    windows = prism_sandbox.create_instance("c", windows=True)
    prism_sandbox.ssm_agent[offline] = False
    info = ssm(prism_sandbox).describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [online, offline, windows]}]
    )["InstanceInformationList"]
    assert {(i["InstanceId"], i["PlatformType"]) for i in info} == {
        (online, "Linux"),
        (windows, "Windows"),
    }
    with pytest.raises(ClientError) as exc:
        ssm(prism_sandbox).send_command(
            InstanceIds=[offline],
            DocumentName="AWS-RunShellScript",
            Parameters={"commands": ["true"]},
        )
    assert exc.value.response["Error"]["Code"] == "InvalidInstanceId"


def test_commands_other_than_prisms_are_not_run(prism_sandbox, tmp_path):
    iid = prism_sandbox.create_instance("a")
    marker = tmp_path / "ran"
    client = ssm(prism_sandbox)
    command_id = client.send_command(
        InstanceIds=[iid],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": [f"touch {marker}"]},
    )["Command"]["CommandId"]
    time.sleep(0.05)
    out = client.get_command_invocation(CommandId=command_id, InstanceId=iid)
    assert (
        out["Status"] == "Failed" and "only the scripts prism ships" in out["StandardErrorContent"]
    )
    assert not marker.exists()


def test_a_scrub_helper_runs_its_user_data_against_a_copy_and_powers_off(prism_sandbox):
    import base64

    from prism_core.inspection import scrub

    iid = prism_sandbox.create_instance("genomics-box", tree="genomics-box")
    before = inspect(prism_sandbox, iid)
    ec2 = prism_sandbox.ec2()
    ami = ec2.create_image(InstanceId=iid, Name="team", NoReboot=True)["ImageId"]
    helper = ec2.run_instances(
        ImageId=ami,
        MinCount=1,
        MaxCount=1,
        UserData=scrub.user_data(*scrub.plan(before.findings)),
    )["Instances"][0]["InstanceId"]
    deadline = time.monotonic() + 10
    while prism_sandbox.instance_state(helper) != "stopped":
        assert time.monotonic() < deadline, prism_sandbox.instance_state(helper)
        time.sleep(0.05)
    tree = prism_sandbox.tree(helper)
    assert not (tree / "home/ubuntu/.aws/credentials").exists()
    assert (tree / "home/ubuntu/.bash_history").read_text() == ""
    assert (prism_sandbox.tree(ami) / "home/ubuntu/.aws/credentials").exists()  # team image
    assert (prism_sandbox.tree(iid) / "home/ubuntu/.aws/credentials").exists()  # workstation
    other = ec2.run_instances(
        ImageId=ami,
        MinCount=1,
        MaxCount=1,
        UserData=base64.b64encode(b"#!/bin/sh\nrm -rf /home\n").decode(),
    )["Instances"][0]["InstanceId"]
    prism_sandbox.wait_running(other)
    time.sleep(0.1)
    prism_sandbox.ec2().describe_instances(InstanceIds=[other])
    assert prism_sandbox.instance_state(other) == "running"
    assert (prism_sandbox.tree(other) / "home/ubuntu/.aws/credentials").exists()
