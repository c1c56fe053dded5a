"""Ownership before destruction: prism deletes only what the cloud proves one of its saves
made, never overwrites a newer save's work, and finishes what it started deleting."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import pytest
from helpers import PrismProcess, ec2, instance_state, journals, own_images, prism_home, tags_of

from prism_core.templates.document import load_file
from prism_sandbox import Timings


def _snapshots(region: str = "us-east-1") -> list[dict]:
    return ec2(region).describe_snapshots(OwnerIds=["self"])["Snapshots"]


def _made_for_images(region: str = "us-east-1") -> list[str]:
    return [
        s["SnapshotId"]
        for s in _snapshots(region)
        if "CreateImage" in (s.get("Description") or "")
        or "DestinationAmi" in (s.get("Description") or "")
    ]


@pytest.mark.parametrize("key", ["prism:template", "PRISM:Version", "Prism:save-id"])
def test_prism_tag_namespace_is_refused(prism_sandbox, run_prism, key):
    prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "env1", "--tag", f"{key}=victim", "--yes")
    assert result.exit_code == 2, result.stderr
    assert "'prism:' prefix is reserved" in result.stderr
    assert own_images() == []


def test_purge_never_deletes_an_image_a_foreign_registry_entry_points_at(prism_sandbox, run_prism):
    prism_sandbox.create_instance("keeper-box")
    saved = run_prism("save", "keeper-box", "keeper", "--yes", "-o", "json")
    assert saved.exit_code == 0, saved.stderr
    keeper_ami = saved.json()["amis"]["us-east-1"]
    ssm = boto3.client("ssm", region_name="us-east-1")
    entry = ssm.get_parameter(Name="/prism/templates/keeper/versions/1")["Parameter"]
    doc = json.loads(entry["Value"])
    for save_id in (doc["save_id"], "forged-save-id"):
        doc.update(name="junk", save_id=save_id)
        ssm.put_parameter(
            Name="/prism/templates/junk/versions/1",
            Value=json.dumps(doc),
            Type="String",
            Overwrite=True,
        )
        result = run_prism("templates", "delete", "junk", "--purge", "--yes", "-o", "json")
        assert result.exit_code == 3, result.stderr
        kept = result.json()["removed"]["kept"]
        assert any(keeper_ami in line and "not ours" in line for line in kept), kept
        image = ec2().describe_images(ImageIds=[keeper_ami])["Images"][0]
        assert image["State"] == "available"
        assert tags_of(image)["prism:template"] == "keeper"
    assert run_prism("launch", "keeper", "new-box", "--yes").exit_code == 0


def test_revoke_and_protect_never_touch_an_image_a_foreign_registry_entry_points_at(
    prism_sandbox, run_prism
):
    prism_sandbox.create_instance("keeper-box")
    saved = run_prism("save", "keeper-box", "keeper", "--yes", "-o", "json")
    assert saved.exit_code == 0, saved.stderr
    keeper_ami = saved.json()["amis"]["us-east-1"]
    ssm = boto3.client("ssm", region_name="us-east-1")
    doc = json.loads(
        ssm.get_parameter(Name="/prism/templates/keeper/versions/1")["Parameter"]["Value"]
    )
    doc.update(name="junk", slug="junk")
    ssm.put_parameter(Name="/prism/templates/junk/versions/1", Value=json.dumps(doc), Type="String")
    for command in (
        ("revoke", "junk@1", "--reason", "hostile"),
        ("protect", "junk@1"),
    ):
        result = run_prism("templates", *command, "--yes", "-o", "json")
        assert result.exit_code == 3, result.stdout + result.stderr
        assert any(keeper_ami in line for line in result.json()["kept"]), result.stdout
        image = ec2().describe_images(ImageIds=[keeper_ami])["Images"][0]
        assert "DeprecationTime" not in image, image
        assert not str(image.get("DeregistrationProtection", "")).startswith("enabled"), image


def test_purge_deletes_what_its_own_saves_made(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    saved = run_prism("save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes")
    assert saved.exit_code == 0, saved.stderr
    result = run_prism("templates", "delete", "env1", "--purge", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["removed"]["kept"] == []
    assert own_images() == [] and own_images("us-east-2") == []
    assert _made_for_images() == [] and _made_for_images("us-east-2") == []


@pytest.fixture
def slow_cloud(prism_sandbox, monkeypatch):
    prism_sandbox.timings = Timings(stop=1.0, start=0.3, snapshot=1.5, image=2.0, copy=2.5)
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "0.1")
    return prism_sandbox


@pytest.mark.parametrize(
    ("moment", "regions"),
    [("AMI creation started", ["us-east-1"]), ("Copying AMI to", ["us-east-1", "us-east-2"])],
    ids=["pending-source", "pending-copy"],
)
def test_abort_of_a_pending_image_deletes_its_snapshots(slow_cloud, run_prism, moment, regions):
    # EC2 lists the new image's snapshots only after 6 s: the abort starts before that
    slow_cloud.timings = Timings(stop=1.0, start=0.3, snapshot=6.0, image=6.5, copy=6.0)
    instance_id = slow_cloud.create_instance("box")
    prism = PrismProcess(
        "save", "box", "env1", "--no-reboot", "--copy-to-regions", "us-east-2", "--yes"
    )
    prism.wait_for(moment)
    time.sleep(0.2)
    prism.proc.kill()
    prism.finish()
    result = run_prism("save", "--abort", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.json()["aborted"][0]["problems"] == []
    for region in ("us-east-1", "us-east-2"):
        assert own_images(region) == [], region
        assert _made_for_images(region) == [], (region, _snapshots(region))
    assert instance_state(instance_id) == "running"
    assert journals() == []


def test_abort_of_an_older_save_never_touches_a_newer_version(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    assert run_prism("save", "box", "env1", "--yes").exit_code == 0
    v2 = _partial_save(prism_sandbox, run_prism)
    v3 = run_prism("save", "box", "env1", "--yes", "-o", "json")
    assert v3.exit_code == 0, v3.stderr
    current = prism_home() / "templates" / "env1.yaml"
    before = current.read_text()
    ssm = boto3.client("ssm", region_name="us-east-1")
    registry_before = {
        p["Name"]: p["Value"]
        for p in ssm.get_parameters_by_path(Path="/prism/templates/env1", Recursive=True)[
            "Parameters"
        ]
    }
    result = run_prism("save", "--abort", v2["save_id"], "--yes", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert current.read_text() == before
    after = {
        p["Name"]: p["Value"]
        for p in ssm.get_parameters_by_path(Path="/prism/templates/env1", Recursive=True)[
            "Parameters"
        ]
    }
    current_doc = json.loads(ssm.get_parameter(Name="/prism/current/env1")["Parameter"]["Value"])
    assert current_doc["version"] == "3"
    assert (
        current_doc["ami_config"]["amis"]["us-east-1"]["x86_64"] == v3.json()["amis"]["us-east-1"]
    )
    assert "/prism/templates/env1/versions/2" not in after
    assert {k: v for k, v in registry_before.items() if not k.endswith("/versions/2")} == after
    images = {i["ImageId"] for i in own_images()}
    assert v3.json()["amis"]["us-east-1"] in images
    assert v2["amis"]["us-east-1"] not in images
    assert len(images) == 2  # v1 and v3
    archived = prism_home() / "archive" / "env1"
    assert sorted(p.name for p in archived.glob("*.yaml")) == ["1.yaml"]  # v2's copy went


def test_abort_restores_the_previous_version_from_the_archive(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    assert run_prism("save", "box", "env1", "--yes").exit_code == 0
    current = prism_home() / "templates" / "env1.yaml"
    v1 = current.read_text()
    v2 = _partial_save(prism_sandbox, run_prism)
    assert load_file(current)["version"] == "2"
    assert (prism_home() / "archive" / "env1" / "1.yaml").is_file()
    result = run_prism("save", "--abort", v2["save_id"], "--yes", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert current.read_text() == v1
    assert not list((prism_home() / "archive" / "env1").glob("*.yaml"))
    assert not (prism_home() / "templates" / "versions").exists()


def _partial_save(prism_sandbox, run_prism, name: str = "box", template: str = "env1") -> dict:
    prism_sandbox.faults.inject(
        "CopyImage",
        region="us-east-2",
        times=-1,
        status=400,
        code="InvalidRequest",
        message="copy refused",
    )
    result = run_prism(
        "save", name, template, "--copy-to-regions", "us-east-2", "--yes", "-o", "json"
    )
    prism_sandbox.faults.clear()
    assert result.exit_code == 3, result.stderr
    return dict(result.json())


def _journal_of(save_id: str) -> Path:
    return prism_home() / "journal" / f"{save_id}.json"


def test_half_aborted_save_is_never_resumed(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    saved = _partial_save(prism_sandbox, run_prism)
    path = _journal_of(saved["save_id"])
    data = json.loads(path.read_text())
    data["status"] = "aborting"  # what an abort cut short by Ctrl-C leaves
    path.write_text(json.dumps(data))
    result = run_prism("save", "--resume", "--yes")
    assert result.exit_code == 2, result.stderr
    assert f"prism save --abort {saved['save_id']}" in result.stderr
    assert len(own_images("us-east-1")) == 1
    finished = run_prism("save", "--abort", "--yes")
    assert finished.exit_code == 0, finished.stdout + finished.stderr
    assert own_images() == [] and journals() == []


def test_abort_records_aborting_before_it_deletes(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    saved = _partial_save(prism_sandbox, run_prism)
    prism_sandbox.faults.inject("DeregisterImage", times=-1, message="EC2 is down")
    result = run_prism("save", "--abort", "--yes")
    assert result.exit_code == 1
    state = json.loads(_journal_of(saved["save_id"]).read_text())
    assert state["status"] == "aborted" and state["failures"]
    prism_sandbox.faults.clear()
    assert run_prism("save", "--abort", "--yes").exit_code == 0
    assert own_images() == []


def test_abort_refuses_a_journal_naming_a_file_it_did_not_write(prism_sandbox, run_prism, tmp_path):
    prism_sandbox.create_instance("box")
    saved = _partial_save(prism_sandbox, run_prism)
    victim = tmp_path / "precious.yaml"
    victim.write_text("keep me\n")
    path = _journal_of(saved["save_id"])
    data = json.loads(path.read_text())
    data["template_path"] = str(victim)
    path.write_text(json.dumps(data))
    result = run_prism("save", "--abort", "--yes", "-o", "json")
    assert result.exit_code == 1
    assert "abort refused" in json.dumps(result.json())
    assert victim.read_text() == "keep me\n"
    assert len(own_images()) == 1  # refused before anything was removed


def test_a_journal_whose_instance_is_gone_blocks_no_other_save(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    prism_sandbox.create_instance("other-box")
    lost = _partial_save(prism_sandbox, run_prism, "box", "env1")
    kept = _partial_save(prism_sandbox, run_prism, "other-box", "env2")
    path = _journal_of(lost["save_id"])
    data = json.loads(path.read_text())
    data["request"]["instance_id"] = "i-0123456789abcdef0"  # an instance that is gone
    path.write_text(json.dumps(data))
    resumed = run_prism("save", "--resume", "--yes", "-o", "json")
    assert resumed.exit_code == 1, resumed.stderr
    document = resumed.json()
    assert [r["save_id"] for r in document["resumed"]] == [kept["save_id"]]
    assert any(f"prism save --abort {lost['save_id']}" in s for s in document["skipped"])
    assert len(own_images("us-east-2")) == 1  # env2's copy was finished
    aborted = run_prism("save", "--abort", lost["save_id"], "--yes", "-o", "json")
    assert aborted.exit_code == 0, aborted.stdout + aborted.stderr
    assert journals() == []
    assert {tags_of(i)["prism:template"] for i in own_images()} == {"env2"}


def test_validate_instance_is_terminated_after_kill_9(prism_sandbox, run_prism, monkeypatch):
    prism_sandbox.create_instance("box")
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "0.1")
    prism_sandbox.timings = Timings(start=60.0)  # the throwaway instance never gets running
    prism = PrismProcess("save", "box", "env1", "--validate", "--no-reboot", "--yes")
    deadline = time.monotonic() + 30
    booted: list[str] = []
    while not booted and time.monotonic() < deadline:
        for path in journals():
            try:
                booted = json.loads(path.read_text()).get("boot_instances", [])
            except ValueError:
                continue
        time.sleep(0.05)
    prism.proc.kill()
    prism.finish()
    assert booted, prism.stderr
    prism_sandbox.timings = Timings.fast()
    result = run_prism("save", "--abort", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    instance_id = booted[0].split(":", 1)[1]
    assert instance_state(instance_id) in ("shutting-down", "terminated")


def test_ctrl_c_during_launch_reports_what_the_launch_did(prism_sandbox, run_prism, monkeypatch):
    import signal

    prism_sandbox.create_instance("box")
    assert run_prism("save", "box", "env1", "--yes").exit_code == 0
    prism_sandbox.timings = Timings(start=60.0)  # the new instance stays pending
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "0.1")
    prism = PrismProcess("launch", "env1", "new-box", "--yes")
    prism.wait_for("to run...")
    prism.proc.send_signal(signal.SIGINT)
    assert prism.finish() == 1, prism.stderr
    last = prism.stderr.strip().splitlines()[-1]
    assert "interrupted by Ctrl-C" in last and "new-box (i-" in last, prism.stderr
    assert "--resume" not in prism.stderr and "Traceback" not in prism.stderr


def test_ctrl_c_during_templates_delete_reports_the_delete(prism_sandbox, run_prism, monkeypatch):
    import signal

    from moto.ec2.models.amis import AmiBackend

    prism_sandbox.create_instance("box")
    assert run_prism("save", "box", "env1", "--yes").exit_code == 0
    original = AmiBackend.deregister_image

    def slow(self, *args, **kwargs):
        time.sleep(5)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AmiBackend, "deregister_image", slow)
    prism = PrismProcess("templates", "delete", "env1", "--purge", "--yes")
    prism.wait_for("Delete template env1")
    time.sleep(1.0)
    prism.proc.send_signal(signal.SIGINT)
    assert prism.finish() == 1, prism.stderr
    last = prism.stderr.strip().splitlines()[-1]
    assert "interrupted by Ctrl-C" in last and "templates delete env1" in last, prism.stderr
    assert "--resume" not in prism.stderr and "Traceback" not in prism.stderr
