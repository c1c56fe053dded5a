"""``prism terminate`` and ``prism cleanup`` remove prism's own resources only, proven by
the cloud's tags (read back from the sandbox through the real CLI)."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from helpers import refused
from test_launch_access import ssh_key


def launch(run_prism, name: str, *args: str) -> dict:
    result = run_prism("launch", "env1", name, *args, "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    return dict(result.json())


def group_ids(sandbox) -> set[str]:
    groups = sandbox.client("ec2").describe_security_groups()["SecurityGroups"]
    return {g["GroupId"] for g in groups}


def key_names(sandbox) -> set[str]:
    return {k["KeyName"] for k in sandbox.client("ec2").describe_key_pairs()["KeyPairs"]}


def test_terminate_ends_the_instance_then_deletes_its_group(
    saved_template, prism_sandbox, run_prism
):
    doc = launch(run_prism, "done-box")
    other = launch(run_prism, "other-box")
    ec2 = prism_sandbox.client("ec2")
    foreign = ec2.create_security_group(GroupName="lab-shared", Description="the lab's")["GroupId"]
    ec2.modify_instance_attribute(
        InstanceId=doc["id"], Groups=[doc["security_group"], foreign]
    )
    dry = run_prism("terminate", "done-box", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert f"Then delete security group {doc['security_group']} (prism-done-box)" in dry.stderr
    assert f"Keep security group {foreign} (lab-shared)" in dry.stderr
    assert prism_sandbox.instance_state(doc["id"]) == "running"
    needs_yes = run_prism("terminate", "done-box")
    assert needs_yes.exit_code == 2 and "add --yes" in needs_yes.stderr.splitlines()[-1]
    prism_sandbox.faults.clear_calls()
    result = run_prism("terminate", "done-box", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["deleted_security_groups"] == [doc["security_group"]]
    assert prism_sandbox.instance_state(doc["id"]) == "terminated"
    remaining = group_ids(prism_sandbox)
    assert doc["security_group"] not in remaining
    assert foreign in remaining and other["security_group"] in remaining
    assert prism_sandbox.instance_state(other["id"]) == "running"
    calls = [c[1] for c in prism_sandbox.faults.calls()]
    assert calls.index("TerminateInstances") < calls.index("DeleteSecurityGroup")


def test_terminate_refuses_instances_prism_did_not_launch(
    saved_template, prism_sandbox, run_prism
):
    # my-box was made outside prism (the instance the template was saved from)
    result = run_prism("terminate", "my-box", "--yes")
    refused(result, "was not launched by prism", "aws ec2 terminate-instances")
    # a forged prism:template tag alone does not make it prism's
    ec2 = prism_sandbox.client("ec2")
    box = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["my-box"]}])
    instance_id = box["Reservations"][0]["Instances"][0]["InstanceId"]
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "prism:template", "Value": "env1"}])
    refused(run_prism("terminate", instance_id, "--yes"), "was not launched by prism")
    assert prism_sandbox.instance_state(instance_id) == "running"
    refused(run_prism("terminate", "no-such-box", "--yes"), "no instance 'no-such-box'")


def test_cleanup_removes_only_prisms_unused_leftovers(saved_template, prism_sandbox, run_prism):
    ssh_key(Path(os.environ["HOME"]))
    ec2 = prism_sandbox.client("ec2")
    kept = launch(run_prism, "kept-box")  # running: its group and key pair stay
    gone = launch(run_prism, "gone-box")
    ec2.terminate_instances(InstanceIds=[gone["id"]])  # ended outside prism: group left over
    lookalike = ec2.create_security_group(GroupName="prism-lookalike", Description="foreign")
    ec2.import_key_pair(
        KeyName="prism-old-laptop",
        PublicKeyMaterial=ssh_key(Path(os.environ["HOME"]) / "old").read_bytes(),
        TagSpecifications=[
            {"ResourceType": "key-pair", "Tags": [{"Key": "prism:key-of", "Value": "someone"}]}
        ],
    )
    ec2.import_key_pair(
        KeyName="prism-foreign",
        PublicKeyMaterial=ssh_key(Path(os.environ["HOME"]) / "foreign").read_bytes(),
    )
    ami = gone["image_id"]
    helper = ec2.run_instances(
        ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance",
                            "Tags": [{"Key": "prism:boot-check", "Value": ami}]}],
    )["Instances"][0]["InstanceId"]  # fmt: skip
    # a boot check lasts two start waits at most: make that short so the helper is stale
    prism_sandbox.write_config("prism:\n  timeouts:\n    start: 0.01\n")
    before_groups, before_keys = group_ids(prism_sandbox), key_names(prism_sandbox)

    dry = run_prism("cleanup", "--dry-run", "-o", "json")
    assert dry.exit_code == 0, dry.stderr
    found = {(f["kind"], f["name"]) for f in dry.json()["found"]}
    assert found == {
        ("security-group", "prism-gone-box"),
        ("key-pair", "prism-old-laptop"),
        ("helper-instance", ""),
    }
    assert group_ids(prism_sandbox) == before_groups and key_names(prism_sandbox) == before_keys
    needs_yes = run_prism("cleanup")
    assert needs_yes.exit_code == 2 and "add --yes" in needs_yes.stderr.splitlines()[-1]

    result = run_prism("cleanup", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert len(result.json()["removed"]) == 3
    groups = group_ids(prism_sandbox)
    assert gone["security_group"] not in groups
    assert kept["security_group"] in groups and lookalike["GroupId"] in groups
    keys = key_names(prism_sandbox)
    assert "prism-old-laptop" not in keys
    assert {"prism-foreign", f"prism-{getpass.getuser()}"} <= keys
    assert prism_sandbox.instance_state(helper) == "terminated"
    assert prism_sandbox.instance_state(kept["id"]) == "running"
    again = run_prism("cleanup", "--yes")
    assert again.exit_code == 0 and "Nothing to clean up in us-east-1." in again.stdout
