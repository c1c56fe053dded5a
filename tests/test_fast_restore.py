"""``--fast-restore AZ[,AZ]`` (save, templates promote) and ``launch --init-rate``.

moto has no fast snapshot restore: the sandbox answers Enable-, Disable- and
DescribeFastSnapshotRestores itself (prism_sandbox/fast_restore.py), with the states
enabling -> optimizing -> enabled on its timings, so prism's calls go over the wire.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import PrismProcess, refused

from prism_sandbox import Timings


def snapshots_of(sandbox: Any, region: str = "us-east-1") -> list[str]:
    """The snapshot ids of the images prism saved in ``region``."""
    return [
        m["Ebs"]["SnapshotId"]
        for image in sandbox.own_images(region)
        for m in image["BlockDeviceMappings"]
        if "Ebs" in m
    ]


def fsr_states(sandbox: Any, region: str = "us-east-1") -> dict[tuple[str, str], str]:
    """``(snapshot, zone) -> state`` as DescribeFastSnapshotRestores answers."""
    answer = sandbox.client("ec2", region).describe_fast_snapshot_restores()
    return {
        (r["SnapshotId"], r["AvailabilityZone"]): r["State"]
        for r in answer["FastSnapshotRestores"]
    }


CHANGES = {
    "CreateImage", "StopInstances", "CreateTags", "EnableFastSnapshotRestores",
    "PutParameter", "CopyImage", "RebootInstances",
}


def test_save_enables_fast_restore_and_shows_its_cost(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    result = run_prism(
        "save", "box", "env1", "--copy-to-regions", "eu-west-1",
        "--fast-restore", "us-east-1a,us-east-1b,eu-west-1c", "--yes", "-o", "json",
    )
    assert result.exit_code == 0, result.stderr
    assert "Fast restore: us-east-1a, us-east-1b (us-east-1); eu-west-1c (eu-west-1)" in (
        result.stderr
    )
    assert "1 snapshot x 3 AZs = 3 DSU-hours per hour, about $2.25/hour" in result.stderr
    assert "billed until disabled" in result.stderr
    (snapshot,) = snapshots_of(prism_sandbox)
    assert fsr_states(prism_sandbox) == {
        (snapshot, "us-east-1a"): "enabled",
        (snapshot, "us-east-1b"): "enabled",
    }
    assert result.json()["fast_restores"] == sorted(
        [f"us-east-1:{snapshot}:us-east-1a", f"us-east-1:{snapshot}:us-east-1b"]
        + [f"eu-west-1:{c}:eu-west-1c" for c in snapshots_of(prism_sandbox, "eu-west-1")]
    )
    (copied,) = snapshots_of(prism_sandbox, "eu-west-1")
    assert fsr_states(prism_sandbox, "eu-west-1") == {(copied, "eu-west-1c"): "enabled"}
    with open(result.json()["template_path"]) as handle:
        import yaml

        doc = yaml.safe_load(handle)
    assert doc["ami_config"]["fast_restore"] == {
        "us-east-1": ["us-east-1a", "us-east-1b"],
        "eu-west-1": ["eu-west-1c"],
    }
    shown = run_prism("templates", "show", "env1")
    assert shown.exit_code == 0, shown.stderr
    assert "eu-west-1c (eu-west-1); us-east-1a, us-east-1b (us-east-1)" in " ".join(
        shown.stdout.split()
    )
    revoking = run_prism("templates", "revoke", "env1@1", "--reason", "old", "--dry-run")
    assert revoking.exit_code == 0, revoking.stderr
    assert "fast snapshot restore recorded for it stays enabled" in revoking.stderr


@pytest.mark.parametrize(
    ("zones", "expected"),
    [
        ("us-east-1z", "us-east-1z is not a zone in us-east-1"),
        ("eu-west-1a", "eu-west-1a is in eu-west-1, where there is no image"),
        ("not a zone", "is not an availability zone name"),
        ("us-east-1a,us-east-1a", "names us-east-1a twice"),
        (",".join(f"us-east-1{c}" for c in "abcdefghijk"), "at most 10"),
    ],
)
def test_bad_zones_are_refused_before_anything_changes(prism_sandbox, run_prism, zones, expected):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "box", "env1", "--fast-restore", zones, "--yes")
    refused(result, expected)
    sent = {action for _region, action in prism_sandbox.faults.calls()}
    assert not sent & CHANGES, sent
    assert prism_sandbox.own_images() == []
    assert prism_sandbox.instance_state(instance_id) == "running"


@pytest.fixture
def slow_restore(prism_sandbox, monkeypatch):
    """Fast restore takes 3 s to reach ``enabled`` (1.5 s in ``enabling``)."""
    prism_sandbox.timings = Timings(fast_restore=3.0)
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "0.1")
    return prism_sandbox


def killed_while_enabling(sandbox: Any) -> str:
    """A save killed (-9) while EC2 enables fast restore; the snapshot's id."""
    sandbox.create_instance("box")
    prism = PrismProcess("save", "box", "env1", "--fast-restore", "us-east-1a", "--yes")
    prism.wait_for("Enabling fast snapshot restore")
    prism.proc.kill()
    prism.finish()
    (snapshot,) = snapshots_of(sandbox)
    assert fsr_states(sandbox)[(snapshot, "us-east-1a")] in ("enabling", "optimizing")
    return snapshot


def test_abort_after_a_kill_while_enabling_disables_it(slow_restore, run_prism):
    snapshot = killed_while_enabling(slow_restore)
    (journal,) = slow_restore.journals()
    assert json.loads(journal.read_text())["fast_restores"] == [f"us-east-1:{snapshot}:us-east-1a"]
    slow_restore.faults.clear_calls()
    aborted = run_prism("save", "--abort", "--yes")
    assert aborted.exit_code == 0, aborted.stderr
    calls = [action for _region, action in slow_restore.faults.calls()]
    assert calls.index("DisableFastSnapshotRestores") < calls.index("DeleteSnapshot")
    assert fsr_states(slow_restore)[(snapshot, "us-east-1a")] in ("disabling", "disabled")
    assert slow_restore.own_images() == []
    assert slow_restore.journals() == []


def test_resume_after_a_kill_while_enabling_waits_until_enabled(slow_restore, run_prism):
    snapshot = killed_while_enabling(slow_restore)
    resumed = run_prism("save", "--resume", "--yes")
    assert resumed.exit_code == 0, resumed.stderr
    assert fsr_states(slow_restore) == {(snapshot, "us-east-1a"): "enabled"}
    assert "Fast snapshot restore enabled in us-east-1a" in resumed.stderr
    assert slow_restore.journals() == []


def test_templates_delete_disables_fast_restore_before_deleting(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    saved = run_prism("save", "box", "env1", "--fast-restore", "us-east-1b", "--yes")
    assert saved.exit_code == 0, saved.stderr
    (snapshot,) = snapshots_of(prism_sandbox)
    prism_sandbox.faults.clear_calls()
    deleted = run_prism("templates", "delete", "env1", "--purge", "--yes")
    assert deleted.exit_code == 0, deleted.stderr
    calls = [action for _region, action in prism_sandbox.faults.calls()]
    assert "DisableFastSnapshotRestores" in calls, (calls, deleted.stderr, deleted.stdout)
    assert calls.index("DisableFastSnapshotRestores") < calls.index("DeleteSnapshot")
    assert fsr_states(prism_sandbox)[(snapshot, "us-east-1b")] in ("disabling", "disabled")


def test_launch_init_rate_goes_into_run_instances(saved_template, prism_sandbox, run_prism):
    sent = prism_sandbox.capture("RunInstances")
    result = run_prism("launch", "env1", "fast-box", "--init-rate", "250", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "Volume initialization: 250 MiB/s provisioned for 1 volume(s)" in result.stderr
    real = [r for r in sent if r.get("DryRun") != "true"]
    assert real, sent
    rates = {k: v for k, v in real[-1].items() if k.endswith(".Ebs.VolumeInitializationRate")}
    assert list(rates.values()) == ["250"], real[-1]


@pytest.mark.parametrize("rate", ["99", "301", "fast", "-5", "150.5"])
def test_launch_init_rate_out_of_range_is_refused(saved_template, prism_sandbox, run_prism, rate):
    prism_sandbox.faults.clear_calls()
    result = run_prism("launch", "env1", "fast-box", "--init-rate", rate, "--yes")
    refused(result, "--init-rate", "from 100 to 300")
    assert "RunInstances" not in {action for _region, action in prism_sandbox.faults.calls()}


def test_promote_enables_fast_restore_on_the_versions_snapshots(
    saved_template, prism_sandbox, run_prism
):
    bad = run_prism(
        "templates", "promote", "env1@1", "--channel", "stable", "--fast-restore",
        "us-west-2a", "--yes",
    )
    refused(bad, "us-west-2a is in us-west-2, where there is no image")
    assert fsr_states(prism_sandbox) == {}
    result = run_prism(
        "templates", "promote", "env1@1", "--channel", "stable", "--fast-restore",
        "us-east-1a,us-east-2b", "--yes",
    )
    assert result.exit_code == 0, result.stderr
    assert "1 snapshot x 2 AZs = 2 DSU-hours per hour, about $1.50/hour" in result.stderr
    assert "billed until disabled" in result.stderr
    (east1,) = snapshots_of(prism_sandbox)
    (east2,) = snapshots_of(prism_sandbox, "us-east-2")
    assert fsr_states(prism_sandbox) == {(east1, "us-east-1a"): "enabled"}
    assert fsr_states(prism_sandbox, "us-east-2") == {(east2, "us-east-2b"): "enabled"}


def test_prune_disables_fast_restore_of_the_versions_it_removes(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    first = run_prism("save", "box", "env1", "--fast-restore", "us-east-1a", "--yes")
    assert first.exit_code == 0, first.stderr
    (old,) = snapshots_of(prism_sandbox)
    second = run_prism("save", "box", "env1", "--yes")
    assert second.exit_code == 0, second.stderr
    assert "Fast restore:" not in second.stderr  # never inherited: it bills
    prism_sandbox.faults.clear_calls()
    pruned = run_prism("templates", "prune", "env1", "--keep", "1", "--yes")
    assert pruned.exit_code == 0, pruned.stderr
    calls = [action for _region, action in prism_sandbox.faults.calls()]
    assert calls.index("DisableFastSnapshotRestores") < calls.index("DeleteSnapshot")
    assert fsr_states(prism_sandbox)[(old, "us-east-1a")] in ("disabling", "disabled")
    assert old not in snapshots_of(prism_sandbox)
