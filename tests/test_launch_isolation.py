"""Every launch in its own locked room: a security group per instance holding only the
plan's rules, a rollback of everything a failed launch created, IMDSv2 and encrypted
volumes (all read back from the sandbox through the real CLI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_launch_access import group_rules, ssh_key

from prism_core.aws.tags import tags_of

LAUNCH_ID = "prism:launch-id"


def launch(run_prism, name: str, *args: str):
    return run_prism("launch", "env1", name, *args, "--yes", "-o", "json")


def leftovers(sandbox) -> dict[str, list[str]]:
    """What prism launches left in the sandbox: groups, live instances, key pairs."""
    ec2 = sandbox.client("ec2")
    groups = ec2.describe_security_groups()["SecurityGroups"]
    instances = [
        i["InstanceId"]
        for r in ec2.describe_instances(
            Filters=[{"Name": "tag-key", "Values": ["prism:template"]}]
        )["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    ]
    return {
        "groups": sorted(g["GroupName"] for g in groups if g["GroupName"] != "default"),
        "instances": instances,
        "key_pairs": sorted(k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]),
    }


def test_each_launch_has_its_own_group_with_only_its_rules(
    saved_template, prism_sandbox, run_prism
):
    lab = launch(run_prism, "lab-box", "--allow-from", "10.20.0.0/16")
    home = launch(run_prism, "home-box", "--allow-from", "198.51.100.7")
    assert lab.exit_code == 0 and home.exit_code == 0, (lab.stderr, home.stderr)
    lab_doc, home_doc = lab.json(), home.json()
    assert lab_doc["security_group"] != home_doc["security_group"]
    assert group_rules(prism_sandbox, lab_doc["security_group"]) == {
        22: {"10.20.0.0/16"},
        8888: {"127.0.0.1/32"},
    }
    assert group_rules(prism_sandbox, home_doc["security_group"]) == {
        22: {"198.51.100.7/32"},
        8888: {"127.0.0.1/32"},
    }
    # the plan printed exactly those rules
    assert "port 22 (ssh): 10.20.0.0/16; port 8888 (web): 127.0.0.1/32" in lab.stderr
    ec2 = prism_sandbox.client("ec2")
    group = ec2.describe_security_groups(GroupIds=[lab_doc["security_group"]])["SecurityGroups"][0]
    tags = tags_of(group)
    assert group["GroupName"] == "prism-lab-box" and tags["prism:instance"] == "lab-box"
    assert tags[LAUNCH_ID] == lab_doc["launch_id"] and tags["prism:template"] == "env1"
    assert [g["GroupId"] for g in prism_sandbox.instance(lab_doc["id"])["SecurityGroups"]] == [
        lab_doc["security_group"]
    ]
    # the world on a third launch changes neither of the others
    world = launch(run_prism, "open-box", "--allow-from", "0.0.0.0/0")
    assert world.exit_code == 0, world.stderr
    assert group_rules(prism_sandbox, world.json()["security_group"])[22] == {"0.0.0.0/0"}
    assert group_rules(prism_sandbox, lab_doc["security_group"])[22] == {"10.20.0.0/16"}
    assert group_rules(prism_sandbox, home_doc["security_group"])[22] == {"198.51.100.7/32"}
    # the summary prints the real rules
    text = run_prism("launch", "env1", "text-box", "--allow-from", "10.0.0.0/8", "--yes")
    assert "Port 22 open to: 10.0.0.0/8" in text.stdout
    assert "Port 8888 open to: 127.0.0.1/32" in text.stdout


def test_a_taken_group_name_gets_the_launch_id_and_the_other_group_is_untouched(
    saved_template, prism_sandbox, run_prism
):
    ec2 = prism_sandbox.client("ec2")
    foreign = ec2.create_security_group(GroupName="prism-clash", Description="not prism's")
    ec2.authorize_security_group_ingress(
        GroupId=foreign["GroupId"],
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    doc = launch(run_prism, "clash").json()
    group = ec2.describe_security_groups(GroupIds=[doc["security_group"]])["SecurityGroups"][0]
    assert group["GroupName"] == f"prism-clash-{doc['launch_id']}"
    assert group_rules(prism_sandbox, foreign["GroupId"]) == {443: {"0.0.0.0/0"}}


# -- rollback -------------------------------------------------------------------------------
STEPS = [
    # (action failing, error code, exit code)
    ("ImportKeyPair", "InternalError", 2),  # prism's own one-line refusal of the import
    ("CreateSecurityGroup", "InternalError", 1),
    ("AuthorizeSecurityGroupIngress", "InternalError", 1),
    ("RunInstances", "InsufficientInstanceCapacity", 1),
    ("RunInstances", "InvalidParameterCombination", 2),  # the user's input: exit 2
    ("DescribeInstances", "InternalError", 1),  # after RunInstances: waiting for it to run
]
#: Faults aimed at a later call of an action the pre-flight also makes: armed only once
#: this action was received (the name check's DescribeInstances precedes RunInstances).
ARMED_AFTER = {"DescribeInstances": "RunInstances"}


@pytest.mark.parametrize(("action", "code", "exit_code"), STEPS)
def test_a_launch_failing_at_each_step_leaves_nothing_behind(
    saved_template, prism_sandbox, run_prism, action, code, exit_code
):
    ssh_key(Path(os.environ["HOME"]))  # so that the launch imports a key pair first
    before = leftovers(prism_sandbox)
    prism_sandbox.faults.clear_calls()
    prism_sandbox.faults.inject(
        action, code=code, message="injected", status=400, after=ARMED_AFTER.get(action)
    )
    result = launch(run_prism, "doomed")
    assert result.exit_code == exit_code, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "injected" in last, result.stderr
    if action != "ImportKeyPair":
        assert "everything it created was removed" in last
    assert "Traceback" not in result.stderr
    assert leftovers(prism_sandbox) == before
    calls = [c[1] for c in prism_sandbox.faults.calls()]
    assert action in calls
    if action == "DescribeInstances":  # the fault hit the wait, after the instance existed
        launched = len(calls) - calls[::-1].index("RunInstances")  # after the real one
        assert "DescribeInstances" in calls[launched:]
        assert "TerminateInstances" in calls[launched:]


def test_a_failed_spot_launch_cancels_its_request(
    saved_template, prism_sandbox, run_prism, monkeypatch
):
    from moto.ec2.models.spot_requests import SpotRequestBackend

    cancelled: list[str] = []

    def cancel(self, request_ids):  # moto keeps no request for a RunInstances Spot launch
        cancelled.extend(request_ids)
        return []

    monkeypatch.setattr(SpotRequestBackend, "cancel_spot_instance_requests", cancel)
    before = leftovers(prism_sandbox)
    # fails the wait for the new instance, not the pre-flight name check before it
    prism_sandbox.faults.inject(
        "DescribeInstances", code="InternalError", status=400, after="RunInstances"
    )
    result = launch(run_prism, "spot-box", "--spot")
    assert result.exit_code == 1, result.stderr
    assert len(cancelled) == 1 and cancelled[0].startswith("sir-")
    assert leftovers(prism_sandbox) == before
    # the Spot request is cancelled before the instance is terminated (reverse order)
    lines = result.stderr.splitlines()
    spot = next(i for i, line in enumerate(lines) if "Rolled back: spot request" in line)
    instance = next(i for i, line in enumerate(lines) if "Rolled back: instance" in line)
    group = next(i for i, line in enumerate(lines) if "Rolled back: security group" in line)
    assert spot < instance < group


@pytest.mark.parametrize(
    ("code", "exit_code"), [("InternalError", 1), ("UnauthorizedOperation", 2)]
)
def test_a_failing_name_check_ends_before_anything_is_created(
    saved_template, prism_sandbox, run_prism, code, exit_code
):
    """The pre-flight lookup of the instance name (DescribeInstances) fails: one line, the
    launch stops there, nothing to roll back."""
    ssh_key(Path(os.environ["HOME"]))
    before = leftovers(prism_sandbox)
    prism_sandbox.faults.clear_calls()
    prism_sandbox.faults.inject("DescribeInstances", code=code, message="injected", status=400)
    result = launch(run_prism, "doomed")
    assert result.exit_code == exit_code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(
        "prism: error: could not check whether an instance named 'doomed' exists in us-east-1: "
        f"{code}: injected; nothing was created"
    ), result.stderr
    assert "unexpected" not in result.stderr and "Traceback" not in result.stderr
    calls = [c[1] for c in prism_sandbox.faults.calls()]
    assert calls.count("DescribeInstances") == 1
    assert not {"ImportKeyPair", "CreateSecurityGroup", "RunInstances"} & set(calls)
    assert leftovers(prism_sandbox) == before


def test_preflight_refuses_an_unknown_instance_profile_before_anything_is_created(
    saved_template, prism_sandbox, run_prism
):
    ssh_key(Path(os.environ["HOME"]))
    before = leftovers(prism_sandbox)
    prism_sandbox.faults.clear_calls()
    result = launch(run_prism, "box", "--instance-profile", "reserch-ssm")
    assert result.exit_code == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "instance profile 'reserch-ssm' does not exist" in last
    assert "aws iam list-instance-profiles" in last
    changes = {"ImportKeyPair", "CreateSecurityGroup", "AuthorizeSecurityGroupIngress"}
    assert not changes & {c[1] for c in prism_sandbox.faults.calls()}
    assert leftovers(prism_sandbox) == before


def test_preflight_dry_run_refusal_changes_nothing(saved_template, prism_sandbox, run_prism):
    before = leftovers(prism_sandbox)
    prism_sandbox.faults.clear_calls()
    prism_sandbox.faults.inject(
        "RunInstances",
        code="UnauthorizedOperation",
        message="You are not authorized to perform this operation.",
        status=403,
        dry_run=True,
    )
    result = launch(run_prism, "box")
    assert result.exit_code == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "EC2 would refuse this launch" in last and "prism iam-policy" in last
    assert leftovers(prism_sandbox) == before
    assert "CreateSecurityGroup" not in {c[1] for c in prism_sandbox.faults.calls()}
    # a launch that passes sends the dry run first
    prism_sandbox.faults.clear_calls()
    assert launch(run_prism, "box").exit_code == 0
    runs = [c for c in prism_sandbox.faults.calls() if c[1] == "RunInstances"]
    assert len(runs) == 2


# -- hardening ------------------------------------------------------------------------------
def _volumes(sandbox, instance_id: str) -> list[dict]:
    ec2 = sandbox.client("ec2")
    return ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}]
    )["Volumes"]


def test_imds_v2_and_encrypted_volumes_from_an_unencrypted_image(
    saved_template, prism_sandbox, run_prism
):
    ec2 = prism_sandbox.client("ec2")
    ami = saved_template["amis"]["us-east-1"]
    image = ec2.describe_images(ImageIds=[ami])["Images"][0]
    snapshot = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    assert not ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"][0]["Encrypted"]
    result = launch(run_prism, "hard-box")
    assert result.exit_code == 0, result.stderr
    assert "IMDSv2 required (hop limit 2)" in result.stderr
    assert "Volumes: encrypted with the account's default EBS key" in result.stderr
    doc = result.json()
    options = prism_sandbox.instance(doc["id"])["MetadataOptions"]
    assert options["HttpTokens"] == "required" and options["HttpPutResponseHopLimit"] == 2
    volumes = _volumes(prism_sandbox, doc["id"])
    assert volumes and all(v["Encrypted"] for v in volumes)
    # --imds-v1 asks otherwise (the IAM policy allows it only with prism.imds_v1: true);
    # prism.kms_keys picks the key
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    prism_sandbox.write_config(f"prism:\n  imds_v1: true\n  kms_keys:\n    us-east-1: {key}\n")
    old = launch(run_prism, "old-box", "--imds-v1")
    assert old.exit_code == 0, old.stderr
    options = prism_sandbox.instance(old.json()["id"])["MetadataOptions"]
    assert options["HttpTokens"] == "optional"
    volumes = _volumes(prism_sandbox, old.json()["id"])
    assert volumes and all(v["Encrypted"] and v["KmsKeyId"] == key for v in volumes)


def test_no_public_ip_and_the_public_address_in_the_cost(
    saved_template, prism_sandbox, run_prism
):
    public = launch(run_prism, "public-box")
    assert public.exit_code == 0, public.stderr
    doc = public.json()
    assert "Public IPv4 address: yes ($0.005/hour" in public.stderr
    if doc["public_ip"]:
        assert doc["public_ipv4_cost_per_hour"] == 0.005
        assert doc["estimated_cost_per_hour"] == round(0.0416 + 0.005, 4)
    private = launch(run_prism, "private-box", "--no-public-ip")
    assert private.exit_code == 0, private.stderr
    pdoc = private.json()
    assert pdoc["public_ip"] is None and pdoc["estimated_cost_per_hour"] == 0.0416
    assert "PublicIpAddress" not in prism_sandbox.instance(pdoc["id"])
    assert "Public IPv4" not in private.stderr
    text = run_prism("launch", "env1", "private-2", "--no-public-ip", "--yes")
    expected = "No public IP: connect with Session Manager:\n      aws ssm start-session"
    assert expected in text.stdout


def test_saved_images_require_imds_v2_unless_config_allows_v1(
    saved_template, prism_sandbox, run_prism
):
    for region in ("us-east-1", "us-east-2"):  # the source image and its copy
        ami = saved_template["amis"][region]
        image = prism_sandbox.client("ec2", region).describe_images(ImageIds=[ami])["Images"][0]
        assert image.get("ImdsSupport") == "v2.0", region
    prism_sandbox.write_config("prism:\n  imds_v1: true\n")
    result = run_prism("save", "my-box", "env-v1", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    ami = result.json()["amis"]["us-east-1"]
    image = prism_sandbox.client("ec2").describe_images(ImageIds=[ami])["Images"][0]
    assert "ImdsSupport" not in image
    prism_sandbox.write_config("prism:\n  imds_v1: maybe\n")
    bad = run_prism("save", "my-box", "env-v2", "--yes")
    assert bad.exit_code == 2 and "prism.imds_v1 must be true or false" in bad.stderr


def test_a_template_may_allow_imds_v1(saved_template, prism_sandbox, run_prism):
    import yaml

    path = prism_sandbox.prism_home / "templates" / "env1.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["instance_defaults"]["imds_v1"] = True
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    prism_sandbox.write_config("prism:\n  imds_v1: true\n")  # what the IAM policy needs
    result = launch(run_prism, "legacy-box")
    assert result.exit_code == 0, result.stderr
    assert "IMDSv1 allowed" in result.stderr
    options = prism_sandbox.instance(result.json()["id"])["MetadataOptions"]
    assert options["HttpTokens"] == "optional"


def test_ctrl_c_while_waiting_removes_what_the_launch_created(saved_template, prism_sandbox):
    import signal

    from helpers import PrismProcess

    from prism_sandbox import Timings

    before = leftovers(prism_sandbox)
    prism_sandbox.timings = Timings(start=30.0)  # the instance stays pending
    prism = PrismProcess("launch", "env1", "cancelled-box", "--yes")
    prism.wait_for("Waiting for i-")
    prism.proc.send_signal(signal.SIGINT)
    assert prism.finish() == 1, prism.stderr
    last = prism.stderr.strip().splitlines()[-1]
    assert "interrupted by Ctrl-C" in last and "everything it created was removed" in last
    assert "Rolled back: instance i-" in prism.stderr
    assert leftovers(prism_sandbox) == before


def test_group_name_and_descriptions_keep_to_what_ec2_accepts(
    saved_template, prism_sandbox, run_prism
):
    doc = launch(run_prism, "Ana's box \u00fc|v2").json()
    ec2 = prism_sandbox.client("ec2")
    group = ec2.describe_security_groups(GroupIds=[doc["security_group"]])["SecurityGroups"][0]
    assert group["GroupName"] == "prism-Ana-s box --v2"
    assert group["Description"] == "prism: instance Ana-s box --v2 (env1)"
    described = {r["Description"] for p in group["IpPermissions"] for r in p["IpRanges"]}
    assert described == {"prism Ana-s box --v2"}
    assert tags_of(group)["prism:instance"] == "Ana's box \u00fc|v2"  # tags take any text
