"""Ownership before destruction: prism deletes only what the cloud proves one of its saves
made, never overwrites a newer save's work, and finishes what it started deleting.

Every prism run is the real prism command in a child process under a memory limit
(helpers.run_prism_child, helpers.PrismProcess)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import boto3
import pytest
from helpers import PrismProcess, run_prism_child

from prism_core.aws.tags import tags_of
from prism_core.templates.document import load_file
from prism_sandbox import Timings


def _snapshots(sandbox, region: str = "us-east-1") -> list[dict]:
    return sandbox.ec2(region).describe_snapshots(OwnerIds=["self"])["Snapshots"]


def _made_for_images(sandbox, region: str = "us-east-1") -> list[str]:
    return [
        s["SnapshotId"]
        for s in _snapshots(sandbox, region)
        if "CreateImage" in (s.get("Description") or "")
        or "DestinationAmi" in (s.get("Description") or "")
    ]


@pytest.mark.parametrize(
    "key",
    [
        "prism:template",
        "PRISM:Version",
        "Prism:save-id",
        " prism:template",  # stripped before it is sent
        "PRI\u017fM:template",  # long s: casefolds to "s"
        "\uff50\uff52\uff49\uff53\uff4d:template",  # fullwidth letters
        "PR\u0130SM:version",  # dotted capital I: "i" plus a combining dot
        "prism\uff1atemplate",  # fullwidth colon
    ],
    ids=["lower", "upper", "mixed", "space", "long-s", "fullwidth", "dotted-i", "wide-colon"],
)
def test_prism_tag_namespace_is_refused(prism_sandbox, key):
    instance_id = prism_sandbox.create_instance("box")
    result = run_prism_child("save", "box", "env1", "--tag", f"{key}=victim", "--yes")
    assert result.exit_code == 2, result.stderr
    assert "'prism:' prefix is reserved" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert prism_sandbox.own_images() == []
    assert prism_sandbox.instance_state(instance_id) == "running"


def test_launch_never_takes_prism_tags_from_a_template(prism_sandbox):
    """A template file's ``tags`` cannot put prism's own tags (any case or form) on the
    instances it launches: they would forge lineage, a save lock or a boot check."""
    import yaml

    prism_sandbox.create_instance("box")
    assert run_prism_child("save", "box", "forged", "--yes").exit_code == 0
    path = prism_sandbox.prism_home / "templates" / "forged.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["tags"] = {
        "team": "geo",
        "PRISM:save-lock": "someone-else@host",
        "prism:template": "victim",
        "prism:boot-check": "yes",
        "PRI\u017fM:template-version": "99",
        "aws:cloudformation:stack-name": "x",
    }
    path.write_text(yaml.safe_dump(doc))
    result = run_prism_child("launch", "forged", "new-box", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    (reservation,) = prism_sandbox.ec2().describe_instances(
        Filters=[{"Name": "tag:Name", "Values": ["new-box"]}]
    )["Reservations"]
    tags = tags_of(reservation["Instances"][0])
    assert tags["team"] == "geo"
    assert tags["prism:template"] == "forged"
    folded = {k for k in tags if k.lower().startswith(("prism", "pri\u017fm"))}
    assert folded == {
        "prism:template", "prism:template-version", "prism:launched-by", "prism:launch-id"
    }, tags
    assert not any(k.lower().startswith("aws:") for k in tags)


def test_purge_never_deletes_an_image_a_foreign_registry_entry_points_at(prism_sandbox):
    prism_sandbox.create_instance("keeper-box")
    saved = run_prism_child("save", "keeper-box", "keeper", "--yes", "-o", "json")
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
        result = run_prism_child("templates", "delete", "junk", "--purge", "--yes", "-o", "json")
        assert result.exit_code == 3, result.stderr
        kept = result.json()["removed"]["kept"]
        assert any(keeper_ami in line and "not ours" in line for line in kept), kept
        image = prism_sandbox.ec2().describe_images(ImageIds=[keeper_ami])["Images"][0]
        assert image["State"] == "available"
        assert tags_of(image)["prism:template"] == "keeper"
    assert run_prism_child("launch", "keeper", "new-box", "--yes").exit_code == 0


def _keeper_and_a_forged_junk_entry(prism_sandbox) -> str:
    """Save ``keeper``, then forge ``junk``'s version 1 from keeper's registry entry (so
    it points at keeper's AMI); returns that AMI."""
    prism_sandbox.create_instance("keeper-box")
    saved = run_prism_child("save", "keeper-box", "keeper", "--yes", "-o", "json")
    assert saved.exit_code == 0, saved.stderr
    keeper_ami = saved.json()["amis"]["us-east-1"]
    ssm = boto3.client("ssm", region_name="us-east-1")
    doc = json.loads(
        ssm.get_parameter(Name="/prism/templates/keeper/versions/1")["Parameter"]["Value"]
    )
    doc.update(name="junk", slug="junk")
    ssm.put_parameter(Name="/prism/templates/junk/versions/1", Value=json.dumps(doc), Type="String")
    return keeper_ami


def test_prune_never_deletes_an_image_a_foreign_registry_entry_points_at(
    prism_sandbox
):
    """junk's old version 1 (forged, pointing at keeper's AMI) and its real version 2:
    `templates prune junk --keep 1` drops the forged entry but keeps keeper's image."""
    keeper_ami = _keeper_and_a_forged_junk_entry(prism_sandbox)
    prism_sandbox.create_instance("junk-box")
    second = run_prism_child("save", "junk-box", "junk", "--yes", "-o", "json")
    assert second.exit_code == 0 and second.json()["version"] == 2, second.stderr
    result = run_prism_child("templates", "prune", "junk", "--keep", "1", "--yes", "-o", "json")
    assert result.exit_code == 3, result.stdout + result.stderr
    assert keeper_ami in result.stdout and "not ours" in result.stdout
    image = prism_sandbox.ec2().describe_images(ImageIds=[keeper_ami])["Images"][0]
    assert image["State"] == "available" and tags_of(image)["prism:template"] == "keeper"
    assert run_prism_child("launch", "keeper", "new-box", "--yes").exit_code == 0


def test_revoke_and_protect_never_touch_an_image_a_foreign_registry_entry_points_at(
    prism_sandbox
):
    keeper_ami = _keeper_and_a_forged_junk_entry(prism_sandbox)
    for command in (
        ("revoke", "junk@1", "--reason", "hostile"),
        ("protect", "junk@1"),
    ):
        result = run_prism_child("templates", *command, "--yes", "-o", "json")
        assert result.exit_code == 3, result.stdout + result.stderr
        assert any(keeper_ami in line for line in result.json()["kept"]), result.stdout
        image = prism_sandbox.ec2().describe_images(ImageIds=[keeper_ami])["Images"][0]
        assert "DeprecationTime" not in image, image
        assert not str(image.get("DeregistrationProtection", "")).startswith("enabled"), image


def test_purge_deletes_what_its_own_saves_made(prism_sandbox):
    prism_sandbox.create_instance("box")
    saved = run_prism_child("save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes")
    assert saved.exit_code == 0, saved.stderr
    result = run_prism_child("templates", "delete", "env1", "--purge", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["removed"]["kept"] == []
    assert prism_sandbox.own_images() == [] and prism_sandbox.own_images("us-east-2") == []
    assert _made_for_images(prism_sandbox) == []
    assert _made_for_images(prism_sandbox, "us-east-2") == []


@pytest.fixture
def slow_cloud(prism_sandbox, monkeypatch):
    prism_sandbox.timings = Timings(stop=1.0, start=0.3, snapshot=1.5, image=2.0, copy=2.5)
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "0.1")
    return prism_sandbox


@pytest.mark.long
@pytest.mark.parametrize(
    ("moment", "regions"),
    [("AMI creation started", ["us-east-1"]), ("Copying AMI to", ["us-east-1", "us-east-2"])],
    ids=["pending-source", "pending-copy"],
)
def test_abort_of_a_pending_image_deletes_its_snapshots(slow_cloud, moment, regions):
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
    result = run_prism_child("save", "--abort", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.json()["aborted"][0]["problems"] == []
    for region in ("us-east-1", "us-east-2"):
        assert slow_cloud.own_images(region) == [], region
        assert _made_for_images(slow_cloud, region) == [], (region, _snapshots(slow_cloud, region))
    assert slow_cloud.instance_state(instance_id) == "running"
    assert slow_cloud.journals() == []


def test_abort_of_an_older_save_never_touches_a_newer_version(prism_sandbox):
    prism_sandbox.create_instance("box")
    assert run_prism_child("save", "box", "env1", "--yes").exit_code == 0
    v2 = _partial_save(prism_sandbox)
    v3 = run_prism_child("save", "box", "env1", "--yes", "-o", "json")
    assert v3.exit_code == 0, v3.stderr
    current = prism_sandbox.prism_home / "templates" / "env1.yaml"
    before = current.read_text()
    ssm = boto3.client("ssm", region_name="us-east-1")
    registry_before = {
        p["Name"]: p["Value"]
        for p in ssm.get_parameters_by_path(Path="/prism/templates/env1", Recursive=True)[
            "Parameters"
        ]
    }
    result = run_prism_child("save", "--abort", v2["save_id"], "--yes", "-o", "json")
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
    images = {i["ImageId"] for i in prism_sandbox.own_images()}
    assert v3.json()["amis"]["us-east-1"] in images
    assert v2["amis"]["us-east-1"] not in images
    assert len(images) == 2  # v1 and v3
    archived = prism_sandbox.prism_home / "archive" / "env1"
    assert sorted(p.name for p in archived.glob("*.yaml")) == ["1.yaml"]  # v2's copy went


def test_abort_restores_the_previous_version_from_the_archive(prism_sandbox):
    prism_sandbox.create_instance("box")
    assert run_prism_child("save", "box", "env1", "--yes").exit_code == 0
    current = prism_sandbox.prism_home / "templates" / "env1.yaml"
    v1 = current.read_text()
    v2 = _partial_save(prism_sandbox)
    assert load_file(current)["version"] == "2"
    assert (prism_sandbox.prism_home / "archive" / "env1" / "1.yaml").is_file()
    result = run_prism_child("save", "--abort", v2["save_id"], "--yes", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert current.read_text() == v1
    assert not list((prism_sandbox.prism_home / "archive" / "env1").glob("*.yaml"))
    assert not (prism_sandbox.prism_home / "templates" / "versions").exists()


def _partial_save(prism_sandbox, name: str = "box", template: str = "env1") -> dict:
    prism_sandbox.faults.inject(
        "CopyImage",
        region="us-east-2",
        times=-1,
        status=400,
        code="InvalidRequest",
        message="copy refused",
    )
    result = run_prism_child(
        "save", name, template, "--copy-to-regions", "us-east-2", "--yes", "-o", "json"
    )
    prism_sandbox.faults.clear()
    assert result.exit_code == 3, result.stderr
    return dict(result.json())


def _journal_of(sandbox, save_id: str) -> Path:
    return sandbox.prism_home / "journal" / f"{save_id}.json"


def test_half_aborted_save_is_never_resumed(prism_sandbox):
    prism_sandbox.create_instance("box")
    saved = _partial_save(prism_sandbox)
    path = _journal_of(prism_sandbox, saved["save_id"])
    data = json.loads(path.read_text())
    data["status"] = "aborting"  # what an abort cut short by Ctrl-C leaves
    path.write_text(json.dumps(data))
    result = run_prism_child("save", "--resume", "--yes")
    assert result.exit_code == 2, result.stderr
    assert f"prism save --abort {saved['save_id']}" in result.stderr
    assert len(prism_sandbox.own_images("us-east-1")) == 1
    finished = run_prism_child("save", "--abort", "--yes")
    assert finished.exit_code == 0, finished.stdout + finished.stderr
    assert prism_sandbox.own_images() == [] and prism_sandbox.journals() == []


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_abort_cut_short_by_a_signal_is_finished_by_abort_not_resume(
    prism_sandbox, monkeypatch, signum
):
    import signal

    from moto.ec2.models.amis import AmiBackend

    prism_sandbox.create_instance("box")
    saved = _partial_save(prism_sandbox)
    original = AmiBackend.deregister_image

    def slow(self, *args, **kwargs):
        time.sleep(3)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AmiBackend, "deregister_image", slow)
    prism = PrismProcess("save", "--abort", saved["save_id"], "--yes")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        journal = _journal_of(prism_sandbox, saved["save_id"])
        if json.loads(journal.read_text()).get("status") == "aborting":
            break
        time.sleep(0.05)
    time.sleep(0.5)  # DeregisterImage is under way
    prism.proc.send_signal(getattr(signal, signum))
    assert prism.finish() != 0, prism.stderr
    assert "Traceback" not in prism.stderr
    state = json.loads(_journal_of(prism_sandbox, saved["save_id"]).read_text())
    assert state["status"] == "aborting", state["status"]
    monkeypatch.setattr(AmiBackend, "deregister_image", original)
    resumed = run_prism_child("save", "--resume", "--yes")
    assert resumed.exit_code == 2, resumed.stdout + resumed.stderr
    assert f"prism save --abort {saved['save_id']}" in resumed.stderr
    finished = run_prism_child("save", "--abort", "--yes")
    assert finished.exit_code == 0, finished.stdout + finished.stderr
    assert prism_sandbox.own_images() == [] and prism_sandbox.journals() == []


def test_abort_records_aborting_before_it_deletes(prism_sandbox):
    prism_sandbox.create_instance("box")
    saved = _partial_save(prism_sandbox)
    prism_sandbox.faults.inject("DeregisterImage", times=-1, message="EC2 is down")
    result = run_prism_child("save", "--abort", "--yes")
    assert result.exit_code == 1
    state = json.loads(_journal_of(prism_sandbox, saved["save_id"]).read_text())
    assert state["status"] == "aborted" and state["failures"]
    prism_sandbox.faults.clear()
    assert run_prism_child("save", "--abort", "--yes").exit_code == 0
    assert prism_sandbox.own_images() == []


FORGED_PATHS = {
    "outside": lambda victim, home: {"template_path": str(victim)},
    "traversal": lambda victim, home: {
        "template_path": str(
            home / "templates" / ".." / ".." / victim.parent.name / victim.name
        )
    },
    "config": lambda victim, home: {"template_path": str(home / "config.yml")},
    "version-path": lambda victim, home: {
        "template_version": f"../../../{victim.parent.name}/{victim.stem}",
        "template_path": str(home / "archive" / "env1" / f"../../../{victim.parent.name}"
                             / victim.name),
    },
    "not-a-string": lambda victim, home: {"template_path": [str(victim)]},
}


#: Forgeries of the wrong type: the journal's schema refuses them on load.
SHAPE_FORGERIES = ("version-path", "not-a-string")


@pytest.mark.parametrize("forgery", list(FORGED_PATHS))
def test_abort_refuses_a_journal_naming_a_file_it_did_not_write(
    prism_sandbox, forgery
):
    prism_sandbox.create_instance("box")
    saved = _partial_save(prism_sandbox)
    victim = prism_sandbox.prism_home.parent / f"precious-{forgery}.yaml"
    victim.write_text("keep me\n")
    (prism_sandbox.prism_home / "config.yml").write_text("prism: {}\n")
    path = _journal_of(prism_sandbox, saved["save_id"])
    data = json.loads(path.read_text())
    data.update(FORGED_PATHS[forgery](victim, prism_sandbox.prism_home))
    path.write_text(json.dumps(data))
    if forgery in SHAPE_FORGERIES:  # refused as the journal is loaded: one line, exit 2
        result = run_prism_child("save", "--abort", "--yes")
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1, result.stdout + result.stderr
        assert str(path) in lines[0] and "move it aside" in lines[0]
    else:
        result = run_prism_child("save", "--abort", "--yes", "-o", "json")
        assert result.exit_code == 1, result.stdout + result.stderr
        assert "abort refused" in json.dumps(result.json())
    assert victim.read_text() == "keep me\n"
    assert (prism_sandbox.prism_home / "config.yml").read_text() == "prism: {}\n"
    assert len(prism_sandbox.own_images()) == 1  # refused before anything was removed
    victim.unlink()


def test_a_journal_whose_instance_is_gone_blocks_no_other_save(prism_sandbox):
    prism_sandbox.create_instance("box")
    prism_sandbox.create_instance("other-box")
    lost = _partial_save(prism_sandbox, "box", "env1")
    kept = _partial_save(prism_sandbox, "other-box", "env2")
    path = _journal_of(prism_sandbox, lost["save_id"])
    data = json.loads(path.read_text())
    data["request"]["instance_id"] = "i-0123456789abcdef0"  # an instance that is gone
    path.write_text(json.dumps(data))
    resumed = run_prism_child("save", "--resume", "--yes", "-o", "json")
    assert resumed.exit_code == 1, resumed.stderr
    document = resumed.json()
    assert [r["save_id"] for r in document["resumed"]] == [kept["save_id"]]
    assert any(f"prism save --abort {lost['save_id']}" in s for s in document["skipped"])
    assert len(prism_sandbox.own_images("us-east-2")) == 1  # env2's copy was finished
    aborted = run_prism_child("save", "--abort", lost["save_id"], "--yes", "-o", "json")
    assert aborted.exit_code == 0, aborted.stdout + aborted.stderr
    assert prism_sandbox.journals() == []
    assert {tags_of(i)["prism:template"] for i in prism_sandbox.own_images()} == {"env2"}


DAMAGED_JOURNALS = {
    "dangling-symlink": lambda path: path.symlink_to(path.parent / "gone" / "x.json"),
    "dev-zero": lambda path: path.symlink_to("/dev/zero"),
    "fifo": lambda path: os.mkfifo(path),
    "not-json": lambda path: path.write_text("{not json"),
    "wrong-shapes": lambda path: path.write_text(
        json.dumps({"save_id": "x", "request": [], "images": [1], "started_at": 5})
    ),
    "huge-number": lambda path: path.write_text('{"save_id": ' + "9" * 5000 + "}"),
}


@pytest.mark.parametrize("damage", list(DAMAGED_JOURNALS))
def test_a_damaged_journal_blocks_no_other_save(prism_sandbox, damage):
    prism_sandbox.create_instance("box")
    kept = _partial_save(prism_sandbox)
    journal = prism_sandbox.prism_home / "journal" / "env9-20200101T000000Z-abcdef.json"
    DAMAGED_JOURNALS[damage](journal)
    resumed = run_prism_child("save", "--resume", "--yes", "-o", "json")
    assert resumed.exit_code == 1, resumed.stdout + resumed.stderr
    assert "Traceback" not in resumed.stderr and "unexpected" not in resumed.stderr
    document = resumed.json()
    assert [r["save_id"] for r in document["resumed"]] == [kept["save_id"]]
    assert any("env9-20200101T000000Z-abcdef.json" in s for s in document["skipped"])
    alone = run_prism_child("save", "--abort", "env9-20200101T000000Z-abcdef", "--yes")
    assert alone.exit_code == 2, alone.stdout + alone.stderr
    lines = alone.stderr.strip().splitlines()
    assert len(lines) == 1 and "move it aside" in lines[0], alone.stderr


def test_validate_instance_is_terminated_after_kill_9(prism_sandbox, monkeypatch):
    prism_sandbox.create_instance("box")
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "0.1")
    prism_sandbox.timings = Timings(start=60.0)  # the throwaway instance never gets running
    prism = PrismProcess("save", "box", "env1", "--validate", "--no-reboot", "--yes")
    deadline = time.monotonic() + 30
    booted: list[str] = []
    while not booted and time.monotonic() < deadline:
        for path in prism_sandbox.journals():
            try:
                booted = json.loads(path.read_text()).get("boot_instances", [])
            except ValueError:
                continue
        time.sleep(0.05)
    prism.proc.kill()
    prism.finish()
    assert booted, prism.stderr
    prism_sandbox.timings = Timings.fast()
    result = run_prism_child("save", "--abort", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    instance_id = booted[0].split(":", 1)[1]
    assert prism_sandbox.instance_state(instance_id) in ("shutting-down", "terminated")


def test_ctrl_c_during_launch_reports_what_the_launch_did(prism_sandbox, monkeypatch):
    import signal

    prism_sandbox.create_instance("box")
    assert run_prism_child("save", "box", "env1", "--yes").exit_code == 0
    prism_sandbox.timings = Timings(start=60.0)  # the new instance stays pending
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "0.1")
    prism = PrismProcess("launch", "env1", "new-box", "--yes")
    prism.wait_for("to run...")
    prism.proc.send_signal(signal.SIGINT)
    assert prism.finish() == 1, prism.stderr
    last = prism.stderr.strip().splitlines()[-1]
    # the launch is rolled back: what it created is named as it is removed
    assert "interrupted by Ctrl-C" in last, prism.stderr
    assert "everything it created was removed" in last, prism.stderr
    assert "Rolled back: instance i-" in prism.stderr
    assert "--resume" not in prism.stderr and "Traceback" not in prism.stderr


def test_ctrl_c_during_templates_delete_reports_the_delete(prism_sandbox, monkeypatch):
    import signal

    from moto.ec2.models.amis import AmiBackend

    prism_sandbox.create_instance("box")
    assert run_prism_child("save", "box", "env1", "--yes").exit_code == 0
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
