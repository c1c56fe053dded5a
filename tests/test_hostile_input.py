"""Hostile and malformed input: a one-line error, exit 2, no traceback, nothing changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import instance_state, own_images

ORG = "arn:aws:organizations::123456789012:organization/o-abcdefghij"

CASES = [
    # (id, extra argv after "save", expected text in the error)
    ("unknown-instance", ["nobody", "env1"], "no instance named 'nobody'"),
    ("malformed-instance-id", ["i-zzzz", "env1"], "no instance i-zzzz"),
    ("template-slash", ["box", "a/b"], "invalid template name"),
    ("template-dotdot", ["box", ".."], "invalid template name"),
    ("template-traversal", ["box", "../etc/passwd"], "invalid template name"),
    ("template-space", ["box", "my env"], "invalid template name"),
    ("template-control", ["box", "bad\x07name"], "invalid template name"),
    ("template-too-long", ["box", "x" * 65], "invalid template name"),
    ("template-empty", ["box", ""], "INSTANCE and TEMPLATE"),
    ("template-leading-dot", ["box", ".hidden"], "invalid template name"),
    ("description-too-long", ["box", "env1", "--description", "d" * 256], "at most 255"),
    ("description-control", ["box", "env1", "--description", "red \x1b[31m"], "control characters"),
    ("region-malformed", ["box", "env1", "--region", "US_EAST"], "is not a region name"),
    ("region-control", ["box", "env1", "--region", "us-east-1\n"], "is not a region name"),
    (
        "copy-region-unknown",
        ["box", "env1", "--copy-to-regions", "eu-north-9"],
        "does not exist",
    ),
    (
        "copy-region-malformed",
        ["box", "env1", "--copy-to-regions", "not a region"],
        "is not a region name",
    ),
    (
        "copy-region-duplicate",
        ["box", "env1", "--copy-to-regions", "us-east-2,us-east-2"],
        "names us-east-2 twice",
    ),
    (
        "copy-region-source",
        ["box", "env1", "--copy-to-regions", "us-east-1"],
        "includes the source region",
    ),
    (
        "copy-region-empty-entry",
        ["box", "env1", "--copy-to-regions", "us-east-2,,eu-west-1"],
        "empty entry",
    ),
    ("account-short", ["box", "env1", "--share-with", "12345"], "not an account id"),
    ("account-letters", ["box", "env1", "--share-with", "12345678901a"], "not an account id"),
    (
        "org-arn-malformed",
        ["box", "env1", "--share-with", "arn:aws:organizations::123:organization/o-x"],
        "not an account id",
    ),
    ("share-duplicate", ["box", "env1", "--share-with", f"{ORG},{ORG}"], "twice"),
    ("tag-aws-prefix", ["box", "env1", "--tag", "aws:createdBy=me"], "reserved by AWS"),
    ("tag-no-equals", ["box", "env1", "--tag", "novalue"], "is not KEY=VALUE"),
    ("tag-empty-key", ["box", "env1", "--tag", "=value"], "1-128 characters"),
    ("tag-key-too-long", ["box", "env1", "--tag", "k" * 129 + "=v"], "1-128 characters"),
    ("tag-value-too-long", ["box", "env1", "--tag", "k=" + "v" * 257], "at most 256"),
    ("tag-duplicate", ["box", "env1", "--tag", "a=1", "--tag", "a=2"], "given twice"),
    ("tag-too-many", ["box", "env1", *[f"--tag=k{i}=v" for i in range(45)]], "too many"),
    ("tag-control", ["box", "env1", "--tag", "k=v\x00"], "control characters"),
    ("project-malformed", ["box", "env1", "--project", "bad project!"], "invalid --project"),
    ("resume-and-abort", ["--resume", "--abort"], "exclude each other"),
    ("missing-template", ["box"], "INSTANCE and TEMPLATE"),
]


@pytest.fixture
def box(prism_sandbox):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.faults.clear_calls()
    return instance_id


def _assert_refused(result, expected: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("prism: error: ")
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_before_any_change(box, run_prism, prism_sandbox, argv, expected):
    result = run_prism("save", *argv, "--yes")
    _assert_refused(result, expected)
    assert own_images() == []
    assert instance_state(box) == "running"
    prism_sandbox.faults.clear_calls()  # the calls above were ours; prism's are checked by state
    instance = prism_sandbox.client("ec2").describe_instances(InstanceIds=[box])
    tags = instance["Reservations"][0]["Instances"][0].get("Tags", [])
    assert [t["Value"] for t in tags if t["Key"] == "prism:save-lock"] == []


def test_terminated_instance(prism_sandbox, run_prism):
    prism_sandbox.create_instance("gone", state="terminated")
    _assert_refused(run_prism("save", "gone", "env1", "--yes"), "is terminated")


def test_ambiguous_instance(prism_sandbox, run_prism):
    prism_sandbox.create_instance("twin")
    prism_sandbox.create_instance("twin")
    _assert_refused(run_prism("save", "twin", "env1", "--yes"), "are named 'twin'")


def test_public_with_block_public_access(box, prism_sandbox, run_prism):
    prism_sandbox.set_block_public_access("us-east-1", True)
    _assert_refused(run_prism("save", "box", "env1", "--public", "--yes"), "block public access")


def test_disabled_region(box, run_prism, monkeypatch):
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

    original = RegionsAndZonesBackend.describe_regions

    def enabled_only(self, region_names=None):
        return [r for r in original(self, region_names) if r.name != "ap-east-1"]

    monkeypatch.setattr(RegionsAndZonesBackend, "describe_regions", enabled_only)
    result = run_prism("save", "box", "env1", "--copy-to-regions", "ap-east-1", "--yes")
    _assert_refused(result, "ap-east-1 does not exist or is not enabled")


def test_malformed_config_file(box, run_prism):
    home = Path(os.environ["PRISM_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yml").write_text("prism: [1, 2\n")
    _assert_refused(run_prism("save", "box", "env1", "--yes"), "config.yml: not valid YAML")


def test_config_yaml_tags_are_not_constructed(box, run_prism, tmp_path):
    home = Path(os.environ["PRISM_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    marker = tmp_path / "pwned"
    (home / "config.yml").write_text(f"prism: !!python/object/apply:os.system ['touch {marker}']\n")
    _assert_refused(run_prism("save", "box", "env1", "--yes"), "config.yml: not valid YAML")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("name: [unclosed\n", "not valid YAML"),
        ("!!python/object/apply:os.system ['echo pwned']\n", "not valid YAML"),
        ("name: ok\ndescription: d\n", "ami_config"),
        ("- a list\n", "must be a mapping"),
        ("name: ok\ndescription: " + "x" * 300_000 + "\n", "larger than"),
    ],
    ids=["malformed", "python-tag", "missing-field", "not-a-mapping", "huge"],
)
def test_malformed_template_files(prism_sandbox, run_prism, tmp_path, content, expected):
    path = tmp_path / "t.yaml"
    path.write_text(content)
    _assert_refused(run_prism("templates", "validate", str(path)), expected)


def test_malformed_registry_entry_is_refused_at_launch(prism_sandbox, run_prism):
    import boto3

    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/prism/templates/evil/template", Value="{not json", Type="String"
    )
    result = run_prism("launch", "evil", "new-box", "--yes")
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "evil" in result.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["save", "box", "env1", "--bogus"], "unrecognized arguments: --bogus"),
        (["launch", "env1", "new-box", "--size", "HUGE"], "invalid choice: 'HUGE'"),
        (["save", "box", "env1", "-o", "xml"], "invalid choice: 'xml'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
    ids=["unknown-flag", "bad-size", "bad-output", "unknown-command"],
)
def test_usage_errors_are_one_line(box, run_prism, argv, expected):
    _assert_refused_usage(run_prism(*argv), expected)


def _assert_refused_usage(result, expected: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0] and "--help" in lines[0], lines[0]
