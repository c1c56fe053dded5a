"""The institution build: packaged defaults, layering and the save policy."""

from __future__ import annotations

import os
from pathlib import Path

CONTACT = "research-computing@example.ac.uk"


def _config(text: str) -> None:
    home = Path(os.environ["PRISM_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yml").write_text(text)


def _refused(result, words):
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and CONTACT in lines[0], lines
    assert words in lines[0]


def test_defaults_apply_and_policy_passes(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box", region="eu-west-1")
    result = run_prism(
        "save", "box", "env", "--region", "eu-west-1", "--project", "p1", "--dry-run", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    assert result.json()["request"]["copy_to_regions"] == ["eu-west-2"]
    assert any("policy checked" in line for line in result.json()["plan"])


def test_registry_prefix_comes_from_the_packaged_config(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box", region="eu-west-1")
    result = run_prism(
        "save", "box", "env", "--region", "eu-west-1", "--project", "p1", "--yes", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    assert all("/example-uni/prism/" in p for p in result.json()["registry"])


def test_missing_project_is_refused(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box", region="eu-west-1")
    _refused(run_prism("save", "box", "env", "--region", "eu-west-1", "--yes"), "project")


def test_public_is_refused(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box", region="eu-west-1")
    result = run_prism(
        "save", "box", "env", "--region", "eu-west-1", "--project", "p", "--public", "--yes"
    )
    _refused(result, "public")


def test_region_outside_the_list_is_refused(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box", region="eu-west-1")
    result = run_prism(
        "save",
        "box",
        "env",
        "--region",
        "eu-west-1",
        "--project",
        "p",
        "--copy-to-regions",
        "us-east-1",
        "--yes",
    )
    _refused(result, "us-east-1")


def test_user_config_overrides_institution_defaults(prism_sandbox, run_prism):
    _config(
        "prism:\n  default_copy_regions: eu-west-1\n"
        "institution-example:\n  allowed_regions: [eu-west-1, eu-west-2, us-east-1]\n"
    )
    prism_sandbox.create_instance("box", region="us-east-1")
    result = run_prism(
        "save", "box", "env", "--region", "us-east-1", "--project", "p", "--dry-run", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    assert result.json()["request"]["copy_to_regions"] == ["eu-west-1"]
