"""Registry input: documents in SSM are anyone's writing. They are validated like template
files (the name must match the parameter path, the version must be an integer in range,
``ssm_parameters`` only under /aws/service/), printed without control characters or
terminal escapes, and one bad entry is skipped with a warning, never hiding the rest.
Every prism run is a child process under a memory limit."""

from __future__ import annotations

import json

import boto3
import pytest
from helpers import run_prism_child

AMI = "ami-0123456789abcdef0"


def _doc(name: str, **extra) -> dict:
    doc = {
        "name": name,
        "description": f"{name} template",
        "version": 1,
        "ami_config": {"amis": {"us-east-1": {"x86_64": AMI}}},
    }
    doc.update(extra)
    return doc


def _put(name: str, value: str, description: str | None = None) -> None:
    extra = {"Description": description} if description is not None else {}
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=name, Value=value, Type="String", Overwrite=True, **extra
    )


HOSTILE = [
    ("name-mismatch", "mismatch", json.dumps(_doc("keeper")), "names template 'keeper'"),
    ("version-huge", "huge", json.dumps(_doc("huge", version=10**12)), "version must be"),
    ("version-text", "text", json.dumps(_doc("text", version="1; rm -rf")), "version"),
    ("version-digits-huge", "dhuge", json.dumps(_doc("dhuge", version="1000001")), "version must"),
    ("version-zero", "zero", json.dumps(_doc("zero", version="0")), "version must be"),
    ("not-json", "broken", "{not json", "not valid JSON"),
    ("deep-json", "deep", "[" * 2000 + "]" * 2000, "nested"),
    (
        "foreign-ssm-parameter",
        "leaky",
        json.dumps(
            _doc("leaky", ami_config={"ssm_parameters": {"x86_64": "/secret/db-password"}})
        ),
        "ssm_parameters",
    ),
]


@pytest.fixture
def registry(prism_sandbox):
    prism_sandbox.create_instance("box")
    assert run_prism_child("save", "box", "env1", "--yes").exit_code == 0
    _put("/secret/db-password", "hunter2-secret")
    return prism_sandbox


@pytest.mark.parametrize(("name", "value", "expected"), [c[1:] for c in HOSTILE],
                         ids=[c[0] for c in HOSTILE])
def test_bad_entry_is_skipped_with_a_warning_and_never_hides_the_rest(
    registry, name, value, expected
):
    _put(f"/prism/templates/{name}/template", value)  # the older layout: read by --legacy
    result = run_prism_child("templates", "list", "--legacy", "-o", "json")
    assert result.exit_code == 0, result.stderr
    listed = {t["name"]: t for t in result.json()["templates"]}
    assert "registry" in listed["env1"]["sources"]
    assert name not in listed
    warnings = [line for line in result.stderr.splitlines() if f"/templates/{name}/" in line]
    assert len(warnings) == 1 and expected in warnings[0], result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


SUMMARIES = [
    ("not-json", "{not json"),
    ("version-huge", json.dumps({"version": 10**12, "description": "x"})),
    ("version-text", json.dumps({"version": "1; rm -rf", "description": "x"})),
    ("not-a-mapping", json.dumps(["version", 1])),
]


@pytest.mark.parametrize(("case", "summary"), SUMMARIES, ids=[c[0] for c in SUMMARIES])
def test_bad_listing_summary_is_skipped_with_a_warning(registry, case, summary):
    """The listing reads ``current/<name>`` summaries (the parameter's Description)."""
    _put("/prism/current/hostile", json.dumps(_doc("hostile")), description=summary)
    result = run_prism_child("templates", "list", "-o", "json")
    assert result.exit_code == 0, result.stderr
    listed = {t["name"]: t for t in result.json()["templates"]}
    assert "registry" in listed["env1"]["sources"]
    assert "hostile" not in listed
    warnings = [line for line in result.stderr.splitlines() if "/current/hostile" in line]
    assert len(warnings) == 1 and "summary is malformed" in warnings[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("layout", ["current", "legacy"])
@pytest.mark.parametrize(("name", "value", "expected"), [c[1:] for c in HOSTILE],
                         ids=[c[0] for c in HOSTILE])
def test_bad_entry_refuses_the_launch_and_echoes_nothing(registry, name, value, expected, layout):
    if layout == "legacy":
        _put(f"/prism/templates/{name}/template", value)
    else:
        _put(f"/prism/current/{name}", value, json.dumps({"version": 1, "description": "x"}))
    _put(f"/prism/templates/{name}/versions/1", value)
    result = run_prism_child("launch", name, "new-box", "--yes")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "hunter2" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert name in result.stderr
    instances = boto3.client("ec2", region_name="us-east-1").describe_instances(
        Filters=[{"Name": "tag:Name", "Values": ["new-box"]}]
    )["Reservations"]
    assert instances == []


def test_versions_key_out_of_range_is_ignored(registry):
    _put("/prism/templates/env1/versions/99999999999", json.dumps(_doc("env1", version=5)))
    result = run_prism_child("templates", "show", "env1", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert [v["version"] for v in result.json()["versions"]] == [1]


def test_string_version_of_digits_is_its_number(registry):
    """Saved templates write ``version: "2"`` (the original tool needs a string); prism
    keys on the number: versions/<N> must hold N, as integer or digits."""
    _put("/prism/templates/strver/template", json.dumps(_doc("strver", version="2")))
    _put("/prism/templates/strver/versions/2", json.dumps(_doc("strver", version="2")))
    _put("/prism/templates/strver/versions/3", json.dumps(_doc("strver", version="2")))
    result = run_prism_child("templates", "show", "strver", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert [v["version"] for v in result.json()["versions"]] == [2]
    assert "holds version 2, not 3" in result.stderr


def test_entry_version_parses_digits_and_bounds_them():
    from prism_core.templates.registry import entry_version

    assert entry_version({"version": "2"}) == 2
    assert entry_version({"version": 7}) == 7
    assert entry_version({}) == 1
    for bad in ("0", "1000001", "1.0.0", "", " 2", True, 0, 10**12, None, "²"):
        assert entry_version({"version": bad}) is None, bad


def test_control_characters_and_escapes_are_stripped_from_output(registry):
    evil = "\x1b[2J\x1b]0;owned\x07ANSI \x1b[31mred\x1b[0m\x07 and \x08 bell"
    summary = json.dumps({"version": 1, "description": evil})
    _put("/prism/current/shiny", json.dumps(_doc("shiny", description=evil)), summary)
    _put("/prism/templates/shiny/versions/1", json.dumps(_doc("shiny", description=evil)))
    listed = run_prism_child("templates", "list")
    assert listed.exit_code == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith("shiny"))
    assert "ANSI red" in line
    assert not any(ch in listed.stdout for ch in "\x1b\x07\x08\x9b")
    shown = run_prism_child("templates", "show", "shiny")
    assert shown.exit_code == 0 and "\x1b" not in shown.stdout + shown.stderr
    as_json = run_prism_child("templates", "list", "-o", "json")
    assert "\x1b" not in as_json.stdout  # JSON escapes it as \u001b


ESC = "\x1b]8;;http://evil\x07\x1b[2J\x1b[31m\x9b1m\u202e"
RAW = ("\x1b", "\x07", "\x9b", "\u202e")


def _clean(text: str) -> bool:
    return not any(ch in text for ch in RAW)


def test_escapes_in_any_field_of_an_entry_never_reach_the_terminal(registry):
    """Every string of a registry document (and its keys) may carry terminal escapes:
    `templates list`, `show`, and `launch` print none of them, warnings included."""
    ssm = boto3.client("ssm", region_name="us-east-1")
    doc = json.loads(ssm.get_parameter(Name="/prism/current/env1")["Parameter"]["Value"])
    doc.update(
        name="shiny",
        slug="shiny",
        description=f"desc {ESC}",
        saved_from=f"box {ESC}",
        maintainer=f"arn:aws:iam::123456789012:user/{ESC}",
        source=f"src {ESC}",
        tags={f"team{ESC}": f"geo{ESC}"},
    )
    doc["ami_config"]["ssh_user"] = f"ec2-user{ESC}"
    doc["instance_defaults"]["type"] = f"t3.medium{ESC}"
    summary = json.dumps({"version": doc["version"], "description": doc["description"]})
    _put("/prism/current/shiny", json.dumps(doc), summary)
    _put(f"/prism/templates/shiny/versions/{doc['version']}", json.dumps(doc))
    _put("/prism/templates/mismatch/template", json.dumps(_doc(f"keeper{ESC}")))
    for argv in (
        ("templates", "list"),
        ("templates", "list", "--legacy"),
        ("templates", "show", "shiny"),
        ("launch", "shiny", "new-box", "--yes"),
    ):
        result = run_prism_child(*argv)
        assert "Traceback" not in result.stderr, (argv, result.stderr)
        assert _clean(result.stdout + result.stderr), (argv, result.stdout, result.stderr)


HOSTILE_DEFAULTS = [
    ("ports-negative", {"ports": [-1]}),
    ("ports-too-high", {"ports": [70000]}),
    ("ports-text", {"ports": ["22; rm -rf /"]}),
    ("ports-many", {"ports": list(range(1, 2001))}),
    ("ports-over-rule-quota", {"ports": list(range(1000, 1060))}),  # in the schema's 64
    ("volume-huge", {"root_volume_gb": 10**12}),
    ("volume-over-ebs-limit", {"root_volume_gb": 16385}),
    ("volume-nan", {"root_volume_gb": "NaN"}),
    ("type-escape", {"type": "t3.micro\x1b[2J"}),
]


@pytest.mark.parametrize(("case", "defaults"), HOSTILE_DEFAULTS,
                         ids=[c[0] for c in HOSTILE_DEFAULTS])
def test_hostile_launch_defaults_are_refused_before_anything_is_created(
    registry, case, defaults
):
    ssm = boto3.client("ssm", region_name="us-east-1")
    doc = json.loads(ssm.get_parameter(Name="/prism/current/env1")["Parameter"]["Value"])
    doc.update(name="hostile", slug="hostile")
    doc["instance_defaults"].update(defaults)
    _put("/prism/current/hostile", json.dumps(doc), json.dumps({"version": doc["version"]}))
    _put(f"/prism/templates/hostile/versions/{doc['version']}", json.dumps(doc))
    ec2 = boto3.client("ec2", region_name="us-east-1")
    groups_before = len(ec2.describe_security_groups()["SecurityGroups"])
    result = run_prism_child("launch", "hostile", "new-box", "--yes")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "\x1b" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert ec2.describe_instances(
        Filters=[{"Name": "tag:Name", "Values": ["new-box"]}]
    )["Reservations"] == []
    assert len(ec2.describe_security_groups()["SecurityGroups"]) == groups_before
