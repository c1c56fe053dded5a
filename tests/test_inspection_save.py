"""`prism save` looks inside the instance (Run Command, for real in the sandbox) before
anything changes: findings in the plan, shares beyond the account refused, the ways
forward, and instances that cannot be inspected."""

from __future__ import annotations

import boto3
import pytest

ORG = "arn:aws:organizations::123456789012:organization/o-abcdefghij"
GENOMICS_SECRETS = {
    "/home/ubuntu/.aws/credentials",
    "/home/ubuntu/.ssh/id_ed25519",
    "/home/ubuntu/.cache/huggingface/token",
    "/home/ubuntu/.bash_history",
}


def nothing_changed(sb, instance_id: str) -> None:
    assert sb.own_images() == []
    assert sb.journals() == []
    tags = {t["Key"] for t in sb.instance(instance_id).get("Tags", [])}
    assert "prism:save-lock" not in tags
    names = [p["Name"] for p in boto3.client("ssm").describe_parameters()["Parameters"]]
    assert names == []
    actions = [a for _, a in sb.faults.calls()]
    assert "PutParameter" not in actions


def test_private_save_warns_and_goes_on(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("genomics-box", tree="genomics-box")
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "genomics-box", "gen-env", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    err = result.stderr
    assert "Inspection: " in err and " packages (" in err
    for heading in ("private keys (1):", "cloud credentials (1):", "tokens and passwords (1):",
                    "shell and interpreter histories (1):"):
        assert heading in err
    for path in GENOMICS_SECRETS:
        assert path in err
    assert "stay in the image (private" in err
    inspection = result.json()["inspection"]
    assert {s["path"] for s in inspection["secrets"]} == GENOMICS_SECRETS
    assert inspection["packages"]["conda"] >= 5
    assert "hf_sandbox" not in result.stdout + err  # never a secret's contents
    # the look inside comes before any change
    actions = [a for _, a in prism_sandbox.faults.calls()]
    real_create = len(actions) - 1 - actions[::-1].index("CreateImage")  # after its DryRun
    assert actions.index("SendCommand") < real_create
    assert actions.index("GetCommandInvocation") < actions.index("PutParameter")
    assert prism_sandbox.instance_state(instance_id) == "running"


@pytest.mark.parametrize(
    "share",
    [
        ("--public",),
        ("--share-with", "111122223333"),
        ("--share-with", ORG),
        ("--copy-to-accounts", "111122223333"),
    ],
    ids=["public", "account", "organization", "copy-to-account"],
)
def test_a_share_with_findings_is_refused_before_anything_changes(
    prism_sandbox, run_prism, share
):
    instance_id = prism_sandbox.create_instance("genomics-box", tree="genomics-box")
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "genomics-box", "gen-env", *share, "--yes")
    assert result.exit_code == 2, result.stderr
    err = result.stderr
    for path in GENOMICS_SECRETS:
        assert path in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("prism: error: the image would leave the account with 4 secret(s)")
    assert "--allow-secrets" in last and "nothing was changed" in last
    assert "Traceback" not in err
    nothing_changed(prism_sandbox, instance_id)


def test_allow_secrets_shares_it_as_it_is(prism_sandbox, run_prism):
    prism_sandbox.create_instance("genomics-box", tree="genomics-box")
    result = run_prism("save", "genomics-box", "gen-env", "--share-with", "111122223333",
                       "--allow-secrets", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "go into an image shared beyond this account" in result.stderr
    image = prism_sandbox.own_images()[0]["ImageId"]
    perms = prism_sandbox.ec2().describe_image_attribute(
        ImageId=image, Attribute="launchPermission")["LaunchPermissions"]
    assert perms == [{"UserId": "111122223333"}]


def test_allow_secrets_needs_yes_without_a_terminal(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("genomics-box", tree="genomics-box")
    result = run_prism("save", "genomics-box", "gen-env", "--public", "--allow-secrets")
    assert result.exit_code == 2
    assert "add --yes" in result.stderr
    nothing_changed(prism_sandbox, instance_id)


def test_a_clean_workstation_is_shared(prism_sandbox, run_prism):
    prism_sandbox.create_instance("my-analysis", tree="my-analysis")
    result = run_prism("save", "my-analysis", "ana-env", "--public", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "no secrets found" in result.stderr


@pytest.mark.parametrize("how", ["no-agent", "windows", "denied"])
def test_not_inspectable(prism_sandbox, run_prism, how):
    instance_id = prism_sandbox.create_instance("box", windows=how == "windows")
    if how == "no-agent":
        prism_sandbox.ssm_agent[instance_id] = False
    if how == "denied":
        prism_sandbox.faults.inject("SendCommand", times=-1, code="AccessDeniedException",
                                    message="not allowed", status=400)
    reason = {
        "no-agent": "Systems Manager does not manage the instance",
        "windows": "it runs Windows",
        "denied": "Run Command is denied to you (AccessDeniedException)",
    }[how]
    prism_sandbox.faults.clear_calls()
    shared = run_prism("save", "box", "env1", "--public", "--yes")
    assert shared.exit_code == 2, shared.stderr
    assert reason in shared.stderr and "--no-inspect" in shared.stderr
    nothing_changed(prism_sandbox, instance_id)

    private = run_prism("save", "box", "env1", "--yes", "-o", "json")
    assert private.exit_code == 0, private.stderr
    assert f"Inspection: not done - {reason}" in private.stderr
    assert "package inventory unavailable" in private.stderr
    assert private.json()["inspection"]["available"] is False


def test_no_inspect_shares_and_prints_the_checklist(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.ssm_agent[instance_id] = False
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "box", "env1", "--public", "--no-inspect", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "remove by hand" in result.stderr and "~/.aws/credentials" in result.stderr
    assert "SendCommand" not in [a for _, a in prism_sandbox.faults.calls()]


def test_allow_secrets_and_no_inspect_exclude_each_other(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "env1", "--allow-secrets", "--no-inspect", "--yes")
    assert result.exit_code == 2
    assert "exclude each other" in result.stderr
