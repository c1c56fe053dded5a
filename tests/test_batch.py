"""``prism save --batch FILE.yaml`` through the real CLI against the sandbox."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml


def journals(sandbox) -> list[dict]:
    """The save journals' contents, in file-name order."""
    return [json.loads(p.read_text()) for p in sandbox.journals()]


def test_batch_three_saves_one_failing(prism_sandbox, run_prism, tmp_path):
    ids = {
        "lab-a": prism_sandbox.create_instance("lab-a"),
        "lab-b": prism_sandbox.create_instance("lab-b", region="us-west-2"),
        "lab-c": prism_sandbox.create_instance("lab-c"),
    }
    batch = tmp_path / "batch.yaml"
    batch.write_text(
        yaml.safe_dump(
            [
                {"instance": "lab-a", "template": "t-a", "description": "first", "project": "p1"},
                {"instance": "lab-b", "template": "t-b", "region": "us-west-2"},
                {
                    "instance": "lab-c",
                    "template": "t-c",
                    "copy_to_regions": ["us-east-2"],
                    "tag": {"team": "bio"},
                },
            ]
        )
    )
    prism_sandbox.faults.inject(
        "CreateImage",
        region="us-west-2",
        times=-1,
        code="InvalidParameterValue",
        message="EC2 is having a bad day",
        status=400,
    )
    prism_sandbox.faults.inject(
        "CopyImage",
        region="us-east-2",
        times=-1,
        code="InvalidRequest",
        message="copy refused",
        status=400,
    )
    assert run_prism("save", "--batch", str(batch)).exit_code == 2  # no terminal, no --yes
    dry = run_prism("save", "--batch", str(batch), "--dry-run", "-o", "json")
    assert dry.exit_code == 0, dry.stderr
    assert [s["template"] for s in dry.json()["saves"]] == ["t-a", "t-b", "t-c"]
    assert prism_sandbox.own_images() == []

    result = run_prism("save", "--batch", str(batch), "--yes")
    assert result.exit_code == 3, result.stdout + result.stderr
    table = result.stdout.splitlines()
    assert table[0].split() == ["TEMPLATE", "STATUS", "VERSION", "DETAIL"]
    rows = {line.split()[0]: line.split()[1] for line in table[1:4]}
    assert rows == {"t-a": "done", "t-b": "failed", "t-c": "partial"}
    assert "EC2 is having a bad day" in result.stdout and "copy refused" in result.stdout
    assert "1 of 3 save(s) done." in result.stdout
    assert "[t-c]" in result.stderr and "[t-a]" in result.stderr
    for name, instance_id in ids.items():
        region = "us-west-2" if name == "lab-b" else "us-east-1"
        assert prism_sandbox.instance_state(instance_id, region) == "running"
    left = journals(prism_sandbox)
    assert [j["request"]["template_name"] for j in left] == ["t-c"]
    assert left[0]["status"] == "partial"
    assert prism_sandbox.own_images("us-west-2") == []

    prism_sandbox.faults.clear()
    resumed = run_prism("save", "--resume", "--yes")
    assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
    assert journals(prism_sandbox) == []
    assert len(prism_sandbox.own_images("us-east-2")) == 1


def test_batch_file_errors_change_nothing(prism_sandbox, run_prism, tmp_path):
    prism_sandbox.create_instance("lab-a")
    cases = {
        "not-a-list.yaml": "instance: lab-a\n",
        "unknown.yaml": "- {instance: lab-a, template: t, colour: red}\n",
        "missing.yaml": "- {instance: lab-a}\n",
        "twice.yaml": "- {instance: lab-a, template: t}\n- {instance: lab-a, template: u}\n",
        "bad-bool.yaml": "- {instance: lab-a, template: t, public: 'yes'}\n",
        "no-instance.yaml": "- {instance: ghost, template: t}\n",
        "broken.yaml": "- [unclosed\n",
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        result = run_prism("save", "--batch", str(path), "--yes")
        assert result.exit_code == 2, (name, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (name, result.stderr)
    assert prism_sandbox.own_images() == []
    missing = run_prism("save", "--batch", str(tmp_path / "nope.yaml"), "--yes")
    assert missing.exit_code == 2


def test_ctrl_c_during_a_batch_brings_every_instance_back(
    prism_sandbox, run_prism, tmp_path, monkeypatch
):
    import signal
    import time

    from test_interrupts import PrismProcess

    from prism_sandbox import Timings

    prism_sandbox.timings = Timings(stop=1.5, start=0.3, snapshot=1.5, image=2.0, copy=2.5)
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "0.1")
    ids = [prism_sandbox.create_instance(f"lab-{n}") for n in (1, 2)]
    batch = tmp_path / "batch.yaml"
    batch.write_text(
        "- {instance: lab-1, template: t-1, copy_to_regions: us-east-2}\n"
        "- {instance: lab-2, template: t-2, copy_to_regions: us-east-2}\n"
    )
    prism = PrismProcess("save", "--batch", str(batch), "--yes")
    prism.wait_for("Copying AMI to")
    time.sleep(0.1)
    prism.proc.send_signal(signal.SIGINT)
    code = prism.finish(120)
    assert code == 1, prism.stderr
    assert "Traceback" not in prism.stderr and "interrupted" in prism.stderr
    deadline = time.monotonic() + 20
    state = prism_sandbox.instance_state
    while time.monotonic() < deadline and any(state(i) != "running" for i in ids):
        time.sleep(0.1)
    assert [prism_sandbox.instance_state(i) for i in ids] == ["running", "running"]
    left = journals(prism_sandbox)
    assert left and all(j["status"] in ("interrupted", "failed", "partial") for j in left)
    resumed = run_prism("save", "--resume", "--yes")
    assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
    assert journals(prism_sandbox) == []
    home = Path(os.environ["PRISM_HOME"]) / "templates"
    assert all((home / f"{j['request']['template_name']}.yaml").is_file() for j in left)


def test_batch_concurrency_one_runs_saves_one_after_another(prism_sandbox, run_prism, tmp_path):
    for name in ("lab-1", "lab-2"):
        prism_sandbox.create_instance(name)
    (Path(os.environ["PRISM_HOME"]) / "config.yml").write_text("prism:\n  batch_concurrency: 1\n")
    batch = tmp_path / "batch.yaml"
    batch.write_text("- {instance: lab-1, template: t-1}\n- {instance: lab-2, template: t-2}\n")
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "--batch", str(batch), "--yes", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert [s["status"] for s in result.json()["saves"]] == ["done", "done"]
    actions = [action for _, action in prism_sandbox.faults.calls()]
    creates = [i for i, a in enumerate(actions) if a == "CreateImage"]
    puts = [i for i, a in enumerate(actions) if a == "PutParameter"]
    # two DryRun checks while planning, then the real calls; the first save registered
    # its template before the second one created its image
    assert len(creates) == 4
    assert any(creates[2] < put < creates[3] for put in puts)
    assert journals(prism_sandbox) == []


def _image_of(sandbox, template: str, region: str = "us-east-1") -> dict:
    (image,) = [i for i in sandbox.own_images(region) if i["Name"].startswith(f"prism-{template}-")]
    return image


@pytest.mark.long
def test_every_save_option_in_entries_and_as_batch_wide_flags(
    prism_sandbox, run_prism, tmp_path
):
    from datetime import UTC, datetime

    ids = {name: prism_sandbox.create_instance(name) for name in ("a", "b", "c", "d")}
    batch = tmp_path / "batch.yaml"
    batch.write_text(
        yaml.safe_dump(
            [
                {"instance": "a", "template": "t-a", "stop": True,
                 "copy-to-regions": ["us-east-2"], "share_with": ["111122223333"],
                 "deprecate_after": 90},
                {"instance": "b", "template": "t-b", "no_reboot": True,
                 "fast_restore": ["us-east-1a"]},
                {"instance": "c", "template": "t-c", "reboot": True},  # overrides --stop
                {"instance": "d", "template": "t-d"},  # the batch-wide flags
            ]
        )
    )
    flags = ["--stop", "--deprecate-after", "30"]
    dry = run_prism("save", "--batch", str(batch), *flags, "--dry-run", "-o", "json")
    assert dry.exit_code == 0, dry.stderr
    planned = {s["template"]: s for s in dry.json()["saves"]}
    assert {t: s["image_mode"] for t, s in planned.items()} == {
        "t-a": "stop", "t-b": "no-reboot", "t-c": "reboot", "t-d": "stop"
    }
    assert planned["t-a"]["request"]["deprecate_after_days"] == 90
    assert planned["t-d"]["request"]["deprecate_after_days"] == 30
    assert planned["t-b"]["request"]["fast_restore"] == ["us-east-1a"]
    assert planned["t-a"]["request"]["share_with"] == ["111122223333"]
    assert prism_sandbox.own_images() == []

    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "--batch", str(batch), *flags, "--yes", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    saves = {s["template"]: s for s in result.json()["saves"]}
    assert {t: s["instance"]["image_mode"] for t, s in saves.items()} == {
        "t-a": "stop", "t-b": "no-reboot", "t-c": "reboot", "t-d": "stop"
    }
    assert [r["instance_id"] for r in prism_sandbox.reboots] == [ids["c"]]
    for instance_id in ids.values():
        assert prism_sandbox.instance_state(instance_id) == "running"
    assert set(saves["t-a"]["amis"]) == {"us-east-1", "us-east-2"}
    shared = prism_sandbox.ec2("us-east-1").describe_image_attribute(
        ImageId=_image_of(prism_sandbox, "t-a")["ImageId"], Attribute="launchPermission"
    )
    assert {"UserId": "111122223333"} in shared["LaunchPermissions"]
    now = datetime.now(UTC)
    for template, days in (("t-a", 90), ("t-d", 30), ("t-c", 30)):
        when = datetime.fromisoformat(
            _image_of(prism_sandbox, template)["DeprecationTime"].replace("Z", "+00:00")
        )
        assert abs((when - now).days - days) <= 1, (template, when)
    assert [p.split(":")[2] for p in saves["t-b"]["fast_restores"]] == ["us-east-1a"]
    assert saves["t-a"]["fast_restores"] == []
