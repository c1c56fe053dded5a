"""Channels, revocation, protection, lineage and usage of templates, through the real CLI."""

from __future__ import annotations

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
