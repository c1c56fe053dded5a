"""Channels, revocation, protection, lineage and usage of templates, through the real CLI."""

from __future__ import annotations

import json
from typing import Any

import pytest


def image(sandbox: Any, image_id: str, region: str = "us-east-1") -> dict[str, Any]:
    ec2 = sandbox.client("ec2", region)
    return dict(ec2.describe_images(ImageIds=[image_id])["Images"][0])


def parameters(sandbox: Any, region: str, path: str) -> dict[str, str]:
    ssm = sandbox.client("ssm", region)
    found = ssm.get_parameters_by_path(Path=path, Recursive=True)["Parameters"]
    return {p["Name"]: p["Value"] for p in found}


def live_instances(sandbox: Any, region: str = "us-east-1") -> int:
    ec2 = sandbox.client("ec2", region)
    answer = ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    )
    return sum(len(r["Instances"]) for r in answer["Reservations"])


@pytest.fixture
def two_versions(prism_sandbox, run_prism) -> list[dict[str, Any]]:
    """``env1`` v1 and v2, each in us-east-1 with a copy in us-east-2."""
    prism_sandbox.create_instance("box")
    saved = []
    for _ in range(2):
        result = run_prism(
            "save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes", "-o", "json"
        )
        assert result.exit_code == 0, result.stderr
        saved.append(result.json())
    return saved


def test_channels_revoke_restore(two_versions, prism_sandbox, run_prism, monkeypatch, tmp_path):
    first, second = two_versions
    promoted = run_prism("templates", "promote", "env1@1", "--channel", "stable", "--yes")
    assert promoted.exit_code == 0, promoted.stderr
    assert "nothing -> v1" in promoted.stdout
    moved = run_prism("templates", "promote", "env1@2", "--channel", "stable", "--yes")
    assert moved.exit_code == 0 and "v1 -> v2" in moved.stdout
    for region in ("us-east-1", "us-east-2"):
        entries = parameters(prism_sandbox, region, "/prism/templates/env1/channels")
        assert '"version": 2' in entries["/prism/templates/env1/channels/stable"]
    listed = run_prism("templates", "channels", "env1", "-o", "json").json()
    assert listed["latest"] == 2
    assert listed["channels"][0]["channel"] == "stable"
    assert listed["channels"][0]["version"] == 2
    assert listed["channels"][0]["regions"] == ["us-east-1", "us-east-2"]

    # a teammate with an empty PRISM_HOME, in the copy region
    monkeypatch.setenv("PRISM_HOME", str(tmp_path / "teammate"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    launched = run_prism("launch", "env1@stable", "student-1", "--yes", "-o", "json")
    assert launched.exit_code == 0, launched.stderr
    doc = launched.json()
    assert doc["image_id"] == second["amis"]["us-east-2"] and doc["channel"] == "stable"
    assert doc["template_version"] == 2 and doc["template_source"] == "registry"

    # without a terminal a change needs --yes; --dry-run changes nothing
    refused = run_prism("templates", "revoke", "env1@2", "--reason", "broken CUDA")
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    dry = run_prism("templates", "revoke", "env1@2", "--reason", "broken CUDA", "--dry-run")
    assert dry.exit_code == 0 and "nothing was changed" in dry.stdout
    assert "Revoke env1@2" in dry.stderr
    assert "DeprecationTime" not in image(prism_sandbox, second["amis"]["us-east-2"], "us-east-2")

    revoked = run_prism(
        "templates", "revoke", "env1@2", "--reason", "broken CUDA", "--yes", "-o", "json"
    )
    assert revoked.exit_code == 0, revoked.stderr
    record = revoked.json()
    assert record["revoked_by"].startswith("arn:aws:") and record["channels"] == ["stable"]
    for region in ("us-east-1", "us-east-2"):
        assert image(prism_sandbox, second["amis"][region], region).get("DeprecationTime")
        assert "DeprecationTime" not in image(prism_sandbox, first["amis"][region], region)
        entries = parameters(prism_sandbox, region, "/prism/templates/env1/revoked")
        assert "broken CUDA" in entries["/prism/templates/env1/revoked/2"]

    before = live_instances(prism_sandbox, "us-east-2")
    blocked = run_prism("launch", "env1@stable", "student-2", "--yes")
    assert blocked.exit_code == 2
    assert "revoked" in blocked.stderr and "broken CUDA" in blocked.stderr
    assert "--allow-revoked" in blocked.stderr
    assert len(blocked.stderr.strip().splitlines()) == 1
    assert live_instances(prism_sandbox, "us-east-2") == before
    latest = run_prism("launch", "env1", "student-3", "--yes", "-o", "json")
    assert latest.exit_code == 0, latest.stderr
    assert latest.json()["template_version"] == 1  # newest not revoked
    forced = run_prism("launch", "env1@stable", "student-4", "--allow-revoked", "--yes")
    assert forced.exit_code == 0 and "launching it anyway" in forced.stderr
    listed = run_prism("templates", "channels", "env1").stdout
    assert "latest      v1" in listed and "REVOKED" in listed

    assert run_prism("templates", "restore", "env1@2", "--dry-run").exit_code == 0
    assert image(prism_sandbox, second["amis"]["us-east-2"], "us-east-2").get("DeprecationTime")
    restored = run_prism("templates", "restore", "env1@2", "--yes")
    assert restored.exit_code == 0, restored.stderr
    for region in ("us-east-1", "us-east-2"):
        assert "DeprecationTime" not in image(prism_sandbox, second["amis"][region], region)
        assert parameters(prism_sandbox, region, "/prism/templates/env1/revoked") == {}
    again = run_prism("launch", "env1@stable", "student-5", "--yes", "-o", "json")
    assert again.exit_code == 0 and again.json()["template_version"] == 2
    assert run_prism("templates", "restore", "env1@2", "--yes").exit_code == 2


def test_bad_lifecycle_input_is_refused(two_versions, run_prism):
    cases = [
        ("templates", "promote", "env1", "--channel", "stable", "--yes"),
        ("templates", "promote", "env1@1", "--channel", "Bad Name!", "--yes"),
        ("templates", "promote", "env1@1", "--channel", "latest", "--yes"),
        ("templates", "promote", "env1@9", "--channel", "stable", "--yes"),
        ("templates", "revoke", "env1@1", "--reason", "  ", "--yes"),
        ("templates", "revoke", "env1@1", "--reason", "x" * 501, "--yes"),
        ("launch", "env1@nochannel", "box2", "--yes"),
        ("launch", "env1@Bad!", "box2", "--yes"),
    ]
    for args in cases:
        result = run_prism(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr


def saved(run_prism, *args: str) -> dict[str, Any]:
    result = run_prism("save", *args, "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    return dict(result.json())


def launched(run_prism, *args: str) -> dict[str, Any]:
    result = run_prism("launch", *args, "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    return dict(result.json())


def test_lineage_three_generations_history_tree_and_usage(prism_sandbox, run_prism, monkeypatch):
    from prism_core.templates.document import load_file

    monkeypatch.setenv("COLUMNS", "80")
    from prism_core.cli.sandbox_seed import builtin_image_parameters

    prism_sandbox.publish_base_images(builtin_image_parameters(), ["us-east-1"])
    launched(run_prism, "python-ml", "lab-a")
    base = saved(run_prism, "lab-a", "lab-base", "--copy-to-regions", "us-east-2")
    launched(run_prism, "lab-base@1", "gen-a")
    launched(run_prism, "lab-base@1", "gen-a-west", "--region", "us-east-2")
    saved(run_prism, "gen-a", "lab-genomics")
    launched(run_prism, "lab-genomics@1", "gen-b")
    second = saved(run_prism, "gen-b", "lab-genomics")
    assert second["version"] == 2
    doc = load_file(__import__("pathlib").Path(second["template_path"]))
    assert doc["parent"] == {"template": "lab-genomics", "version": 1}
    assert load_file(__import__("pathlib").Path(base["template_path"]))["parent"] == {
        "template": "python-ml",
        "version": 1,
    }
    entry = parameters(prism_sandbox, "us-east-1", "/prism/templates/lab-genomics/versions")
    assert json.loads(entry["/prism/templates/lab-genomics/versions/1"])["parent"] == {
        "template": "lab-base",
        "version": 1,
    }

    tree = run_prism("templates", "tree")
    assert tree.exit_code == 0, tree.stderr
    lines = tree.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    assert lines[0] == "python-ml v1 (built-in)"
    assert lines[1].startswith("└── lab-base v1 ")
    assert lines[2].startswith("    └── lab-genomics v1 ")
    assert lines[3].startswith("        └── lab-genomics v2 ")

    history = run_prism("templates", "history", "lab-base")
    assert history.exit_code == 0, history.stderr
    assert all(len(line) <= 80 for line in history.stdout.splitlines())
    assert "parent: python-ml@1" in history.stdout
    assert "instances: 2 (us-east-1: 1, us-east-2: 1)" in history.stdout
    assert "regions: us-east-1, us-east-2" in history.stdout
    rows = run_prism("templates", "history", "lab-base", "-o", "json").json()["versions"]
    assert rows[0]["instances"] == {"us-east-1": 1, "us-east-2": 1}
    assert rows[0]["saved_from"] == "lab-a"

    revoked = run_prism(
        "templates", "revoke", "lab-base@1", "--reason", "leaks credentials", "--yes"
    )
    assert revoked.exit_code == 0, revoked.stderr
    assert "lab-genomics@1, lab-genomics@2" in revoked.stdout
    assert "descendants (marked 'parent revoked'): lab-genomics@1, lab-genomics@2" in (
        revoked.stderr
    )
    history = run_prism("templates", "history", "lab-genomics")
    assert history.stdout.count("parent revoked (lab-base@1)") == 2
    assert all(len(line) <= 80 for line in history.stdout.splitlines())
    show = run_prism("templates", "show", "lab-genomics", "-o", "json").json()
    assert {v["parent_revoked"] for v in show["versions"]} == {"lab-base@1"}
    text = run_prism("templates", "show", "lab-genomics").stdout
    assert "parent revoked (lab-base@1)" in text
    tree = run_prism("templates", "tree", "lab-genomics").stdout.splitlines()
    assert all(len(line) <= 80 for line in tree)
    assert "REVOKED" in tree[1] and "(parent revoked)" in tree[2]
    assert "(parent revoked)" in tree[3]


def test_protect_prune_delete_and_usage(two_versions, prism_sandbox, run_prism):
    first, second = two_versions
    third = saved(run_prism, "box", "env1")
    assert third["version"] == 3
    dry = run_prism("templates", "protect", "env1@1", "--dry-run")
    assert dry.exit_code == 0
    assert (
        image(prism_sandbox, first["amis"]["us-east-1"]).get("DeregistrationProtection", "disabled")
        == "disabled"
    )
    assert run_prism("templates", "protect", "env1@1", "--yes").exit_code == 0
    for region in ("us-east-1", "us-east-2"):
        record = image(prism_sandbox, first["amis"][region], region)
        assert record["DeregistrationProtection"] == "enabled"
    with pytest.raises(Exception, match="OperationNotPermitted"):
        prism_sandbox.client("ec2").deregister_image(ImageId=first["amis"]["us-east-1"])
    assert (
        run_prism("templates", "promote", "env1@2", "--channel", "stable", "--yes").exit_code == 0
    )

    pruned = run_prism("templates", "prune", "env1", "--keep", "1", "--yes", "-o", "json")
    assert pruned.exit_code == 0, pruned.stderr
    doc = pruned.json()
    assert doc["removed_versions"] == [] and sorted(doc["kept"]) == [1, 2, 3]
    assert "protected" in doc["held"]["1"] and "channel stable" in doc["held"]["2"]
    assert "v1 kept: protected" in pruned.stderr
    deleted = run_prism("templates", "delete", "env1", "--purge", "--yes")
    assert deleted.exit_code == 2
    assert "v1: protected" in deleted.stderr and "v2: channel stable" in deleted.stderr
    assert image(prism_sandbox, first["amis"]["us-east-1"])["State"] == "available"

    # usage: an instance runs from v2, so prune keeps it without --force
    assert run_prism("templates", "unprotect", "env1@1", "--yes").exit_code == 0
    assert run_prism("templates", "demote", "env1", "--channel", "stable", "--yes").exit_code == 0
    launched(run_prism, "env1@2", "user-box", "--region", "us-east-2")
    pruned = run_prism("templates", "prune", "env1", "--keep", "1", "--yes", "-o", "json")
    assert pruned.exit_code == 0, pruned.stderr
    doc = pruned.json()
    assert doc["removed_versions"] == [1] and "instance(s) run from it" in doc["held"]["2"]
    assert "--force" in pruned.stderr
    ec2_east2 = prism_sandbox.client("ec2", "us-east-2")
    gone = ec2_east2.describe_images(Owners=["self"])["Images"]
    assert first["amis"]["us-east-2"] not in {i["ImageId"] for i in gone}
    dry = run_prism("templates", "prune", "env1", "--keep", "1", "--force", "--dry-run")
    assert dry.exit_code == 0 and "remove 2" in dry.stderr
    assert image(prism_sandbox, second["amis"]["us-east-2"], "us-east-2")["State"] == "available"
    forced = run_prism(
        "templates", "prune", "env1", "--keep", "1", "--force", "--yes", "-o", "json"
    )
    assert forced.exit_code == 0 and forced.json()["removed_versions"] == [2]


def test_deprecate_after_on_image_and_copies(prism_sandbox, run_prism):
    import datetime
    import os
    from pathlib import Path

    prism_sandbox.create_instance("box")
    for bad in ("0", "abc", "4000"):
        result = run_prism("save", "box", "env1", "--deprecate-after", bad, "--yes")
        assert result.exit_code == 2 and "--deprecate-after" in result.stderr
    prism_sandbox.faults.inject(
        "EnableImageDeprecation",
        region="us-east-2",
        code="InvalidParameterValue",
        message="deprecation refused",
        status=400,
    )
    result = run_prism(
        "save",
        "box",
        "env1",
        "--copy-to-regions",
        "us-east-2",
        "--deprecate-after",
        "30",
        "--yes",
        "-o",
        "json",
    )
    assert result.exit_code == 3, result.stdout + result.stderr
    doc = result.json()
    assert any("deprecation refused" in f for f in doc["failures"])
    assert "DeprecationTime" not in image(prism_sandbox, doc["amis"]["us-east-2"], "us-east-2")
    resumed = run_prism("save", "--resume", "--yes")
    assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)
    for region in ("us-east-1", "us-east-2"):
        when = image(prism_sandbox, doc["amis"][region], region)["DeprecationTime"]
        assert when.startswith(soon.strftime("%Y-%m-%d")), when
    # the config default applies when the option is not given
    (Path(os.environ["PRISM_HOME"]) / "config.yml").write_text(
        "prism:\n  deprecate_after_days: 7\n"
    )
    second = run_prism("save", "box", "env1", "--yes", "-o", "json").json()
    week = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=7)
    when = image(prism_sandbox, second["amis"]["us-east-1"])["DeprecationTime"]
    assert when.startswith(week.strftime("%Y-%m-%d"))
    history = run_prism("templates", "history", "env1").stdout
    assert f"deprecates {week.strftime('%Y-%m-%d')}" in history
    # a revoked version is deprecated now; restore gives it its earlier time back
    assert run_prism("templates", "revoke", "env1@2", "--reason", "x", "--yes").exit_code == 0
    now = image(prism_sandbox, second["amis"]["us-east-1"])["DeprecationTime"]
    assert now < when
    assert run_prism("templates", "restore", "env1@2", "--yes").exit_code == 0
    assert image(prism_sandbox, second["amis"]["us-east-1"])["DeprecationTime"] == when


def test_a_running_saves_version_claim_is_no_version(two_versions, prism_sandbox, run_prism):
    """Issue 11's claim at versions/<N> is skipped or reported, never promoted or pruned."""
    import json

    claim = {"claim": {"save_id": "s-running", "host": "lab-pc", "instance": "i-1"}}
    prism_sandbox.client("ssm").put_parameter(
        Name="/prism/templates/env1/versions/3", Value=json.dumps(claim), Type="String"
    )
    for args in (("history", "env1"), ("channels", "env1"), ("show", "env1"), ("tree",)):
        result = run_prism("templates", *args)
        assert result.exit_code in (0, 3), (args, result.stderr)
        assert "Traceback" not in result.stderr
    promoted = run_prism("templates", "promote", "env1@3", "--channel", "stable", "--yes")
    assert promoted.exit_code == 2 and "still being saved" in promoted.stderr
    assert "/prism/templates/env1/channels/stable" not in parameters(
        prism_sandbox, "us-east-1", "/prism/templates/env1"
    )
    pruned = run_prism("templates", "prune", "env1", "--keep", "1", "--yes", "-o", "json")
    assert pruned.exit_code == 0, pruned.stderr
    doc = pruned.json()
    assert "claimed by save s-running" in doc["held"]["3"]
    assert doc["removed_versions"] == [1] and sorted(doc["kept"]) == [2, 3]
    assert "/prism/templates/env1/versions/3" in parameters(
        prism_sandbox, "us-east-1", "/prism/templates/env1"
    )
