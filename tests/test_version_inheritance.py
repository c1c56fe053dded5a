"""A new version inherits the previous version's description, project, tags, sharing
and copy regions unless the command gives them; the plan says what is inherited and
what changes; --no-inherit takes nothing."""

from __future__ import annotations

import yaml


def _doc(prism_sandbox, name: str) -> dict:
    return yaml.safe_load((prism_sandbox.prism_home / "templates" / f"{name}.yaml").read_text())


def test_second_version_inherits_and_the_plan_says_so(prism_sandbox, run_prism, tmp_path,
                                                      monkeypatch):
    prism_sandbox.create_instance("box")
    first = run_prism(
        "save", "box", "env", "--description", "Seismic ML", "--project", "quake",
        "--tag", "team=geo", "--share-with", "111122223333",
        "--copy-to-regions", "us-east-2", "--yes",
    )  # fmt: skip
    assert first.exit_code == 0, first.stderr
    # a teammate with an empty PRISM_HOME: the registry's newest version is inherited
    monkeypatch.setenv("PRISM_HOME", str(tmp_path / "teammate"))
    second = run_prism("save", "box", "env", "--yes", "-o", "json")
    assert second.exit_code == 0, second.stderr
    assert "Inherits:   from v1: description; project quake; tags team=geo; sharing " \
        "111122223333; copy regions us-east-2" in second.stderr
    assert "Changes:    nothing else from v1" in second.stderr
    assert set(second.json()["amis"]) == {"us-east-1", "us-east-2"}
    doc = _doc(prism_sandbox, "env")
    assert doc["version"] == "2" and doc["description"] == "Seismic ML"
    assert doc["project"] == "quake" and doc["tags"]["team"] == "geo"
    assert doc["sharing"] == {"public": False, "share_with": ["111122223333"]}
    image = prism_sandbox.ec2("us-east-2").describe_image_attribute(
        ImageId=doc["ami_config"]["amis"]["us-east-2"]["x86_64"], Attribute="launchPermission"
    )
    assert image["LaunchPermissions"] == [{"UserId": "111122223333"}]

    third = run_prism("save", "box", "env", "--description", "Seismic ML 2", "--tag", "team=ml",
                      "--copy-to-regions", "none", "--dry-run")
    assert third.exit_code == 0, third.stderr
    assert "Inherits:   from v2: project quake; sharing 111122223333" in third.stdout
    assert "Changes:    description; tags team=geo -> ml; copy regions us-east-2 -> none" \
        in third.stdout


def test_no_inherit_takes_nothing(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    assert run_prism("save", "box", "env", "--project", "quake", "--tag", "team=geo",
                     "--yes").exit_code == 0
    result = run_prism("save", "box", "env", "--no-inherit", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "Inherits:" not in result.stderr
    doc = _doc(prism_sandbox, "env")
    assert "project" not in doc and "team" not in doc["tags"]
