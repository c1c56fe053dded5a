"""`prism save --detach --stop`: the laptop stops the instance and requests the image, the
save engine holds the restart duty (it starts the instance once the snapshots are listed,
before anything else, and on every failure path); `prism saves abort` and a failed
hand-over still leave the instance running."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from prism_core.aws.tags import LOCK_TAG, tags_of
from prism_core.cloud.state_machine import definition

REGIONS = ("us-east-1", "us-east-2", "eu-west-1")


@pytest.fixture
def engine(prism_sandbox, run_prism):
    result = run_prism("cloud", "setup", "--yes")
    assert result.exit_code == 0, result.stderr
    return prism_sandbox


def _detach_stop(run_prism, *extra):
    result = run_prism(
        "save", "box", "env", "--copy-to-regions", "us-east-2,eu-west-1", "--detach", "--stop",
        "--yes", "-o", "json", *extra,
    )
    assert result.exit_code == 0, result.stderr
    return result.json()


def _entered(run):
    return [p["state"] for p in run["phases"] if p["event"] == "entered"]


@pytest.mark.long
def test_the_engine_starts_the_instance_first(engine, run_prism):
    instance_id = engine.create_instance("box")
    engine.timings.snapshot = 8.0  # EC2 lists the snapshots 8 s after CreateImage
    started = time.monotonic()
    detached = _detach_stop(run_prism)
    assert time.monotonic() - started < 20
    assert detached["restart_duty"] == "engine"
    # returned before the snapshots were listed: the instance is the engine's to start
    assert engine.instance_state(instance_id) == "stopped"
    assert not engine.journals()
    save_id = detached["save_id"]
    running = run_prism("saves", "show", save_id, "-o", "json")
    assert running.exit_code == 0 and running.json()["status"] == "running"

    followed = run_prism("saves", "follow", save_id, "-o", "json")
    assert followed.exit_code == 0, followed.stderr
    run = followed.json()
    assert run["status"] == "done"
    assert engine.instance_state(instance_id) == "running"
    assert run["instance"] == {"instance_id": instance_id, "restart": True, "state": "running",
                               "started": True, "note": "running", "by": "save-engine"}
    entered = _entered(run)
    # FIRST: the start before the image's wait, the copies and the registry
    assert entered.index("InstanceStarted") < entered.index("ImageState") < entered.index(
        "Regions") < entered.index("Register")
    assert entered.count("RestartStep") >= 2  # it waited for the snapshots
    for region in REGIONS:
        (image,) = engine.own_images(region)
        assert image["State"] == "available", region
    assert LOCK_TAG not in tags_of(engine.instance(instance_id))
    shown = run_prism("saves", "show", save_id)
    assert f"instance: {instance_id} running again (started by the save engine)" in shown.stdout


def test_an_image_ec2_does_not_show_yet_is_waited_for(engine, run_prism):
    instance_id = engine.create_instance("box")
    engine.faults.invisible_image(times=2)  # DescribeImages: not found twice after create
    save_id = _detach_stop(run_prism)["save_id"]
    assert run_prism("saves", "follow", save_id).exit_code == 0
    assert engine.instance_state(instance_id) == "running"


def test_an_instance_stopped_before_the_save_stays_stopped(engine, run_prism):
    instance_id = engine.create_instance("box")
    engine.ec2().stop_instances(InstanceIds=[instance_id])
    assert engine.instance_state(instance_id) == "stopped"
    detached = _detach_stop(run_prism)
    assert detached["restart_duty"] is None
    followed = run_prism("saves", "follow", detached["save_id"], "-o", "json")
    assert followed.exit_code == 0, followed.stderr
    assert followed.json()["instance"]["restart"] is False
    assert "RestartStep" not in _entered(followed.json())
    assert engine.instance_state(instance_id) == "stopped"


def test_the_restart_step_waits_for_an_image_ec2_does_not_show_yet(prism_sandbox):
    """The engine's restart step, on the sandbox: an image EC2 does not show yet (its
    eventual consistency after CreateImage) keeps the instance stopped, until the
    snapshot wait's bound from the hand-over has passed; only this save's lock counts."""
    from datetime import UTC, datetime, timedelta

    from prism_core.cloud.region_handler import restart

    instance_id = prism_sandbox.create_instance("box")
    ec2 = prism_sandbox.ec2()
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": LOCK_TAG, "Value": "s-1@laptop"}])
    ec2.stop_instances(InstanceIds=[instance_id])
    assert prism_sandbox.instance_state(instance_id) == "stopped"
    now = datetime.now(UTC)
    save = {"instance_id": instance_id, "source_region": "us-east-1", "restart_instance": True,
            "image_id": "ami-0123456789abcdef0", "lock_tag_value": "s-1@laptop",
            "snapshots_timeout": 600.0, "requested_at": now.isoformat()}

    def clients(service, region):
        return prism_sandbox.client(service, region)

    waiting = restart({"save": save}, clients)
    assert waiting["duty"] == "waiting" and "snapshots" in waiting["note"]
    assert prism_sandbox.instance_state(instance_id) == "stopped"
    late = {**save, "requested_at": (now - timedelta(seconds=601)).isoformat()}
    other = restart({"save": {**late, "lock_tag_value": "s-2@laptop"}}, clients)
    assert other["duty"] == "done" and other["started"] is False
    assert prism_sandbox.instance_state(instance_id) == "stopped"
    started = restart({"save": late}, clients)
    assert started["duty"] == "waiting" and started["note"] == "start requested"
    assert prism_sandbox.wait_running(instance_id) == "running"
    assert restart({"save": late}, clients)["started"] is True


def test_abort_before_the_restart_starts_the_instance(engine, run_prism):
    instance_id = engine.create_instance("box")
    engine.timings.snapshot = 3.0
    save_id = _detach_stop(run_prism)["save_id"]
    assert engine.instance_state(instance_id) == "stopped"
    aborted = run_prism("saves", "abort", save_id, "--yes", "-o", "json")
    assert aborted.exit_code == 0, aborted.stderr
    assert aborted.json()["instance"]["started"] is True
    assert aborted.json()["instance"]["by"] == "saves-abort"
    assert engine.instance_state(instance_id) == "running"
    for region in REGIONS:
        assert engine.own_images(region) == [], region
    assert LOCK_TAG not in tags_of(engine.instance(instance_id))


def test_abort_mid_copy_leaves_the_instance_running(engine, run_prism):
    instance_id = engine.create_instance("box")
    engine.timings.copy = 60.0
    save_id = _detach_stop(run_prism)["save_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(
        engine.own_images(r) for r in ("us-east-2", "eu-west-1")
    ):
        time.sleep(0.1)  # the copies have been requested (the instance was started first)
    aborted = run_prism("saves", "abort", save_id, "--yes")
    assert aborted.exit_code == 0, aborted.stderr
    assert engine.instance_state(instance_id) == "running"
    for region in REGIONS:
        assert engine.own_images(region) == [], region


def test_a_failing_execution_still_starts_the_instance(engine, run_prism):
    """The engine's first attempts to start the instance are refused (its retries too):
    the execution fails, and its failure path starts the instance before it ends."""
    instance_id = engine.create_instance("box")
    engine.faults.inject("StartInstances", times=5, after="StartExecution",
                         code="UnauthorizedOperation", message="not now", status=400)
    save_id = _detach_stop(run_prism)["save_id"]
    followed = run_prism("saves", "follow", save_id, "-o", "json")
    assert followed.exit_code == 1, followed.stderr
    run = followed.json()
    assert run["status"] == "failed" and "not now" in run["error"]
    assert engine.instance_state(instance_id) == "running"
    assert run["instance"]["started"] is True
    entered = _entered(run)
    assert entered.index("RecoverStep") < entered.index("InstanceRecovered") < entered.index(
        "ReleaseAfterFailure")
    assert "Regions" not in entered
    assert LOCK_TAG not in tags_of(engine.instance(instance_id))
    assert not engine.client("ssm").get_parameters_by_path(Path="/prism/locks")["Parameters"]


def test_a_refused_hand_over_restarts_the_instance_here(engine, run_prism):
    instance_id = engine.create_instance("box")
    engine.faults.inject("StartExecution", code="AccessDeniedException",
                         message="not allowed to start executions", status=400)
    result = run_prism("save", "box", "env", "--detach", "--stop", "--yes")
    assert result.exit_code == 1, result.stderr
    assert "the instance was started again here" in result.stderr
    assert engine.wait_running(instance_id) == "running"
    (path,) = engine.journals()
    journal = json.loads(path.read_text())
    assert journal["restart_duty"] == "local" and journal["engine_execution"] is None
    assert journal["instance_restarted"] is True
    sbom = journal["inventory"]["sbom"]  # stored before the hand-over, not pending
    assert not journal["inventory"].get("pending")
    # this machine finishes it (the SBOM is not stored twice)
    resumed = run_prism("save", "--resume", "--yes")
    assert resumed.exit_code == 0, resumed.stderr
    assert engine.instance_state(instance_id) == "running"
    written = yaml.safe_load((engine.prism_home / "templates" / "env.yaml").read_text())
    assert written["inventory"]["sbom"] == sbom


def test_abort_of_a_refused_hand_over_removes_the_sbom(engine, run_prism):
    engine.create_instance("box")
    engine.faults.inject("StartExecution", code="AccessDeniedException",
                         message="not allowed to start executions", status=400)
    assert run_prism("save", "box", "env", "--detach", "--yes").exit_code == 1
    (path,) = engine.journals()
    sbom = json.loads(path.read_text())["inventory"]["sbom"]
    bucket, _, key = sbom[len("s3://"):].partition("/")
    s3 = engine.client("s3")
    assert s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    aborted = run_prism("save", "--abort", "--yes")
    assert aborted.exit_code == 0, aborted.stderr
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert not engine.own_images()


def test_resume_leaves_a_save_the_engine_holds_alone(engine, run_prism):
    """A journal left by a kill after StartExecution: --resume asks the engine, which has
    the save; the journal goes, nothing is stopped, started or saved a second time."""
    from prism_core.save.journal import Journal
    from prism_core.save.state import SaveState

    instance_id = engine.create_instance("box")
    detached = _detach_stop(run_prism)
    assert run_prism("saves", "follow", detached["save_id"]).exit_code == 0
    state = SaveState(
        save_id=detached["save_id"],
        request={"instance_id": instance_id, "instance_name": "box", "template_name": "env",
                 "region": "us-east-1", "image_mode": "stop"},
        started_at="2026-01-01T00:00:00Z", image_name="env-1", instance_original_state="running",
        status="interrupted", stopped_by_prism=True, phases_done=["image"],
        engine_execution=detached["execution"], restart_duty="engine",
    )
    Journal(engine.prism_home / "journal", state).write()
    resumed = run_prism("save", "--resume", "--yes")
    assert resumed.exit_code == 2, resumed.stderr
    assert "run by the save engine" in resumed.stderr
    assert not engine.journals()
    assert len(engine.own_images()) == 1


def _paths(states, start):
    """Every path of state names from ``start`` to an end (no state twice in a path)."""
    def successors(name):
        state = states[name]
        found = [state.get("Next"), state.get("Default")]
        found += [c.get("Next") for c in state.get("Choices", [])]
        found += [c.get("Next") for c in state.get("Catch", [])]
        return [n for n in found if n]

    stack, paths = [[start]], []
    while stack:
        path = stack.pop()
        following = [n for n in successors(path[-1]) if n not in path]
        if not successors(path[-1]):
            paths.append(path)  # an end (a path back into itself is a loop, not one)
        stack.extend(path + [n] for n in following)
    return paths


def test_every_path_after_the_hand_over_starts_the_instance():
    """The state machine's graph: from the restart, every way to an end passes a state
    that starts the instance (InstanceStarted, or the failure path's RecoverStep) before
    the lock is released or the execution ends."""
    states = definition("arn:aws:lambda:us-east-1:123456789012:function:f")["States"]
    for path in _paths(states, "RestartWanted"):
        if path[1] == "InstanceUntouched":
            continue  # the save did not stop the instance
        at = path.index("RecoverInstance") if "RecoverInstance" in path else -1
        if at >= 0 and path[at + 1] != "RecoverStep":
            continue  # the same choice as RestartWanted's: not taken once that said yes
        firsts = [s for s in path if s in ("InstanceStarted", "RecoverStep",
                                           "ReleaseAfterFailure", "Register")]
        assert firsts and firsts[0] in ("InstanceStarted", "RecoverStep"), path
