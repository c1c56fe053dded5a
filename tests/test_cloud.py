"""`prism cloud setup|status|teardown` against the sandbox: the save engine's deployment."""

from __future__ import annotations

import json

from helpers import refused

from prism_core.cloud.deploy import COMPONENT_TAG, FUNCTION, STATE_MACHINE


def _engine_resources(sandbox, region="us-east-1"):
    """Every role, function and state machine in the account whose name is the engine's."""
    roles = [r["RoleName"] for r in sandbox.client("iam").list_roles()["Roles"]
             if r["RoleName"].startswith("prism-engine")]
    functions = [f["FunctionName"] for f in
                 sandbox.client("lambda", region).list_functions()["Functions"]]
    machines = [m["name"] for m in
                sandbox.client("stepfunctions", region).list_state_machines()["stateMachines"]]
    return sorted(roles), functions, machines


def test_setup_status_teardown_round_trip(prism_sandbox, run_prism):
    before = run_prism("cloud", "status", "-o", "json")
    assert before.exit_code == 0, before.stderr
    assert before.json()["status"] == "absent"

    setup = run_prism("cloud", "setup", "--yes", "-o", "json")
    assert setup.exit_code == 0, setup.stderr
    assert {r["action"] for r in setup.json()["changed"]} == {"create"}
    assert len(setup.json()["changed"]) == 5
    roles, functions, machines = _engine_resources(prism_sandbox)
    assert roles == ["prism-engine-region", "prism-engine-scheduler", "prism-engine-states"]
    assert functions == [FUNCTION] and machines == [STATE_MACHINE]

    status = run_prism("cloud", "status", "-o", "json").json()
    assert status["status"] == "current"
    assert {r["version"] for r in status["resources"]} == {status["local_version"]}

    again = run_prism("cloud", "setup", "--yes")  # a second setup changes nothing
    assert again.exit_code == 0, again.stderr
    assert "nothing to change" in again.stdout

    # drift: the deployed state machine is of another version than this prism's
    sfn = prism_sandbox.client("stepfunctions")
    arn = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "prism:engine-version", "value": "old"}])
    drift = run_prism("cloud", "status", "-o", "json").json()
    assert drift["status"] == "drift"
    assert [r["name"] for r in drift["resources"] if r["state"] == "drift"] == [STATE_MACHINE]
    update = run_prism("cloud", "setup", "--yes", "-o", "json")
    assert [(r["name"], r["action"]) for r in update.json()["changed"]] == [
        (STATE_MACHINE, "update")
    ]
    assert run_prism("cloud", "status", "-o", "json").json()["status"] == "current"

    down = run_prism("cloud", "teardown", "--yes", "-o", "json")
    assert down.exit_code == 0, down.stderr
    assert len(down.json()["deleted"]) == 5
    assert _engine_resources(prism_sandbox) == ([], [], [])
    assert run_prism("cloud", "status", "-o", "json").json()["status"] == "absent"
    assert "No save engine" in run_prism("cloud", "teardown", "--yes").stdout


def test_setup_asks_first_and_refuses_a_foreign_resource(prism_sandbox, run_prism):
    refused(run_prism("cloud", "setup"), "--yes")
    assert _engine_resources(prism_sandbox) == ([], [], [])

    # a role of the engine's name that prism did not make: setup refuses, teardown spares it
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"},
         "Action": "sts:AssumeRole"}]}
    prism_sandbox.client("iam").create_role(
        RoleName="prism-engine-states", AssumeRolePolicyDocument=json.dumps(trust)
    )
    refused(run_prism("cloud", "setup", "--yes"), "prism-engine-states", COMPONENT_TAG)
    assert _engine_resources(prism_sandbox) == (["prism-engine-states"], [], [])
    down = run_prism("cloud", "teardown", "--yes", "-o", "json")
    assert down.exit_code == 0 and down.json()["deleted"] == []
    assert _engine_resources(prism_sandbox) == (["prism-engine-states"], [], [])


def test_iam_policy_for_cloud(run_prism):
    document = run_prism("iam-policy", "--for", "cloud").json()
    actions = {a for s in document["Statement"] for a in s["Action"]}
    assert {"states:CreateStateMachine", "lambda:CreateFunction", "iam:CreateRole",
            "iam:PassRole"} <= actions
    assert "ec2:CreateImage" not in actions
