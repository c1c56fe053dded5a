"""`prism save --detach` and `prism saves ...`: the save engine's executions run the rest of
the save in the sandbox's Step Functions (moto's interpreter) and region function."""

from __future__ import annotations

import json
import time

import pytest
from helpers import refused

from prism_core import hookimpl
from prism_core.aws.tags import LOCK_TAG, tags_of

REGIONS = ("us-east-1", "us-east-2", "eu-west-1")


@pytest.fixture
def engine(prism_sandbox, run_prism):
    result = run_prism("cloud", "setup", "--yes")
    assert result.exit_code == 0, result.stderr
    return prism_sandbox


def _detach(run_prism, *extra):
    result = run_prism(
        "save", "box", "env", "--copy-to-regions", "us-east-2,eu-west-1", "--detach", "--yes",
        "-o", "json", *extra,
    )
    assert result.exit_code == 0, result.stderr
    return result.json()


def test_detached_save_finishes_in_the_account(engine, run_prism, monkeypatch, tmp_path):
    instance_id = engine.create_instance("box", ports=[22, 8888])
    engine.timings.copy = 60.0  # copies stay pending: the CLI must not wait for them
    started = time.monotonic()
    detached = _detach(run_prism)
    assert time.monotonic() - started < 20
    save_id = detached["save_id"]
    assert detached["show"] == f"prism saves show {save_id}"
    assert engine.instance_state(instance_id) == "running"
    assert not engine.journals()  # nothing left for --resume on this machine
    running = run_prism("saves", "show", save_id, "-o", "json")
    assert running.exit_code == 0 and running.json()["status"] == "running"

    engine.timings.copy = 0.0
    followed = run_prism("saves", "follow", save_id, "-o", "json")
    assert followed.exit_code == 0, followed.stderr
    run = followed.json()
    assert run["status"] == "done"
    assert sorted(r["region"] for r in run["regions"]) == sorted(REGIONS)
    assert "Regions" in {p["state"] for p in run["phases"]}

    # registered in every region, lock and lock tag gone
    for region in REGIONS:
        ssm = engine.client("ssm", region)
        doc = json.loads(ssm.get_parameter(Name="/prism/current/env")["Parameter"]["Value"])
        assert sorted(doc["ami_config"]["amis"]) == sorted(REGIONS)
        assert doc["save_id"] == save_id and doc["version"] == "1"
        assert len(engine.own_images(region)) == 1
    assert not engine.client("ssm").get_parameters_by_path(Path="/prism/locks")["Parameters"]
    assert LOCK_TAG not in tags_of(engine.instance(instance_id))

    listed = run_prism("saves", "list", "-o", "json").json()["saves"]
    assert [(s["save_id"], s["status"]) for s in listed] == [(save_id, "done")]

    # a teammate with an empty PRISM_HOME launches it in each region
    monkeypatch.setenv("PRISM_HOME", str(tmp_path / "teammate"))
    for region in REGIONS:
        launched = run_prism("launch", "env", f"box-{region}", "--region", region, "--yes")
        assert launched.exit_code == 0, (region, launched.stderr)


def test_a_failing_copy_region_is_a_partial_save(engine, run_prism):
    instance_id = engine.create_instance("box")
    engine.faults.inject("CopyImage", region="eu-west-1", code="InvalidRequest",
                         message="copies refused here", status=400)
    save_id = _detach(run_prism, "--stop")["save_id"]
    followed = run_prism("saves", "follow", save_id)
    assert followed.exit_code == 3, followed.stderr
    # --stop: the engine started the instance again, partial or not
    assert engine.instance_state(instance_id) == "running"
    shown = run_prism("saves", "show", save_id, "-o", "json")
    assert shown.exit_code == 3
    regions = {r["region"]: r for r in shown.json()["regions"]}
    assert regions["eu-west-1"]["status"] == "failed"
    assert "copies refused here" in regions["eu-west-1"]["cause"]
    assert regions["us-east-2"]["status"] == "done"
    # the failed region keeps nothing of the save: no registry entry, no version claim
    assert not engine.client("ssm", "eu-west-1").get_parameters_by_path(
        Path="/prism", Recursive=True)["Parameters"]
    assert "eu-west-1" not in json.loads(
        engine.client("ssm", "us-east-2").get_parameter(Name="/prism/current/env")[
            "Parameter"]["Value"])["ami_config"]["amis"]


def test_abort_mid_copy_removes_the_copies_and_the_image(engine, run_prism):
    instance_id = engine.create_instance("box")
    engine.timings.copy = 60.0
    save_id = _detach(run_prism)["save_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(
        engine.own_images(r) for r in ("us-east-2", "eu-west-1")
    ):
        time.sleep(0.1)  # the copies have been requested
    described = engine.client("stepfunctions").describe_execution(
        executionArn=engine.client("stepfunctions").list_executions(
            stateMachineArn=engine.client("stepfunctions").list_state_machines()[
                "stateMachines"][0]["stateMachineArn"])["executions"][0]["executionArn"])
    sbom = json.loads(described["input"])["save"]["document"]["inventory"]["sbom"]
    bucket, _, key = sbom[len("s3://"):].partition("/")
    s3 = engine.client("s3")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1  # stored before the hand-over
    aborted = run_prism("saves", "abort", save_id, "--yes", "-o", "json")
    assert aborted.exit_code == 0, aborted.stderr
    assert f"inventory {sbom}" in aborted.json()["removed"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0  # its tags named this save
    for region in REGIONS:
        assert engine.own_images(region) == [], region
        snapshots = engine.ec2(region).describe_snapshots(
            OwnerIds=["self"],
            Filters=[{"Name": "tag:prism:save-id", "Values": [save_id]}])["Snapshots"]
        assert snapshots == [], region
        assert not engine.client("ssm", region).get_parameters_by_path(
            Path="/prism", Recursive=True)["Parameters"], region
    assert LOCK_TAG not in tags_of(engine.instance(instance_id))
    shown = run_prism("saves", "show", save_id, "-o", "json")
    # AWS says ABORTED; moto 5.2's interpreter ends a stopped execution as FAILED
    assert shown.exit_code == 1 and shown.json()["status"] in ("aborted", "failed")


class CloudPhasePlugin:
    @hookimpl
    def prism_register(self, ctx):
        return None


def test_detach_refuses_what_it_cannot_do(prism_sandbox, run_prism, prism_plugin):
    prism_sandbox.create_instance("box")
    refused(run_prism("save", "box", "env", "--detach", "--yes"), "prism cloud setup")
    assert prism_sandbox.own_images() == []
    assert run_prism("cloud", "setup", "--yes").exit_code == 0
    prism_plugin(CloudPhasePlugin(), "team-registry")
    refused(run_prism("save", "box", "env", "--detach", "--yes"),
            "team-registry", "prism_register")
    assert prism_sandbox.own_images() == []
    refused(run_prism("saves", "show", "nope"), "no detached save")
    refused(run_prism("save", "box", "env", "--detach", "--validate", "--yes"), "--validate")
    refused(run_prism("save", "--resume", "--detach", "--yes"), "--resume")


def test_the_function_role_grants_what_the_handler_calls(engine, run_prism):
    """The engine's role policies are valid IAM documents, and every action the region
    function sent in the sandbox (a save with a share, deprecation and an abort) is
    granted by its role."""
    from prism_core.cloud.deploy import Engine
    from prism_sandbox import engine as sandbox_engine

    sandbox_engine.ENGINE_ACTIONS.clear()
    engine.create_instance("box")
    save_id = _detach(run_prism, "--share-with", "111122223333", "--deprecate-after", "30")[
        "save_id"]
    assert run_prism("saves", "follow", save_id).exit_code == 0
    for document in Engine("us-east-1", "123456789012").policies().values():
        sids = [s["Sid"] for s in document["Statement"]]
        assert len(sids) == len(set(sids)) and all(s.isalnum() for s in sids)
        assert len(json.dumps(document, separators=(",", ":"))) < 10240  # inline limit
    granted = {
        a for s in Engine("us-east-1", "123456789012").policies()["prism-engine-region"][
            "Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    sent = set(sandbox_engine.ENGINE_ACTIONS)
    assert {"ec2:CopyImage", "ec2:ModifyImageAttribute", "ec2:EnableImageDeprecation",
            "ssm:PutParameter"} <= sent
    assert sent <= granted, sorted(sent - granted)
