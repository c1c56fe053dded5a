"""Hostile registry records and odd names, third round: a revocation record that cannot
be read still revokes (fail closed); every record is read by the bounded loader (depth
limits, no RecursionError); ``restore`` does not apply a forged deprecation time; an image
EC2 has deprecated launches with a warning; tags too big for the registry entry are
refused before anything changes; a local template with a YAML error is archived before a
save replaces it; a long instance name never makes the default description too long; a
name that only starts like an id (``i-love-data``) is a name. Every prism run is a child
process under a memory limit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from helpers import run_prism_child

BASE = "/prism/templates/env1"


def _put(prism_sandbox, key: str, value: str) -> None:
    prism_sandbox.client("ssm", "us-east-1").put_parameter(
        Name=key, Value=value, Type="String", Overwrite=True, Tier="Advanced"
    )


def _ami(saved: dict) -> str:
    return saved["amis"]["us-east-1"]


#: Revocation records that cannot be read, two classes through the commands (every class,
#: and the launch plan's refusal of each: tests/unit/test_hostile_records_units.py).
UNREADABLE = {
    "truncated": '{"reason": "x"',
    "nested-lists": "[" * 3000 + "]" * 3000,
}


@pytest.mark.parametrize("value", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_an_unreadable_revocation_still_revokes(prism_sandbox, saved_template, value):
    _put(prism_sandbox, f"{BASE}/revoked/1", value)
    refused = run_prism_child("launch", "env1", "student-1", "--yes")
    assert refused.exit_code == 2, refused.stdout + refused.stderr
    assert "revoked" in refused.stderr and "unexpected" not in refused.stderr
    assert prism_sandbox.ec2().describe_instances(
        Filters=[{"Name": "tag:Name", "Values": ["student-1"]}]
    )["Reservations"] == []
    for command in (("history", "env1"), ("show", "env1"), ("tree", "env1")):
        shown = run_prism_child("templates", *command)
        assert shown.exit_code == 0, (command, shown.stderr)
        assert "unexpected" not in shown.stderr and "Traceback" not in shown.stderr
    allowed = run_prism_child("launch", "env1", "student-2", "--yes", "--allow-revoked")
    assert allowed.exit_code == 0, allowed.stderr


#: One nested record through the commands (lists and objects, in a channel and in a
#: version: tests/unit/test_hostile_records_units.py).
NESTED = ['{"a":' * 1500 + "1" + "}" * 1500]


@pytest.mark.parametrize("where", ["versions/2"])
@pytest.mark.parametrize("value", NESTED, ids=["objects"])
def test_deeply_nested_records_are_refused_not_recursed(
    prism_sandbox, saved_template, where, value
):
    _put(prism_sandbox, f"{BASE}/{where}", value)
    for command in (("history", "env1"), ("channels", "env1"), ("show", "env1")):
        shown = run_prism_child("templates", *command)
        assert shown.exit_code == 0, (command, shown.stderr)
        assert "RecursionError" not in shown.stderr and "unexpected" not in shown.stderr
    assert run_prism_child("launch", "env1", "student-1", "--yes").exit_code == 0


def test_restore_does_not_apply_a_forged_deprecation_time(prism_sandbox, saved_template):
    ami = _ami(saved_template)
    revoked = run_prism_child("templates", "revoke", "env1@1", "--reason", "x", "--yes")
    assert revoked.exit_code == 0, revoked.stderr
    soon = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for forged in (soon, "2099-01-01T00:00:00", "yesterday", {"x": 1}):
        record = {"reason": "x", "revoked_at": "now", "deprecation": {ami: forged}}
        _put(prism_sandbox, f"{BASE}/revoked/1", json.dumps(record))
        result = run_prism_child("templates", "restore", "env1@1", "--yes")
        assert result.exit_code == 0, result.stderr
        image = prism_sandbox.ec2().describe_images(ImageIds=[ami])["Images"][0]
        assert not image.get("DeprecationTime"), (forged, image.get("DeprecationTime"))
        again = run_prism_child("templates", "revoke", "env1@1", "--reason", "x", "--yes")
        assert again.exit_code == 0, again.stderr


def test_an_image_ec2_deprecated_launches_with_a_warning(prism_sandbox, saved_template):
    from moto.ec2.models import ec2_backends

    ami = _ami(saved_template)
    for backend in ec2_backends.values():  # EC2 refuses a past time: set it as EC2 would have
        image = backend["us-east-1"].amis.get(ami)
        if image is not None:
            image.deprecation_time = "2020-01-01T00:00:00.000Z"
    shown = prism_sandbox.ec2().describe_images(ImageIds=[ami])["Images"][0]
    if shown.get("DeprecationTime") != "2020-01-01T00:00:00.000Z":
        pytest.skip("this moto does not report DeprecationTime from its backend")
    result = run_prism_child("launch", "env1", "student-1", "--yes")
    assert result.exit_code == 0, result.stderr
    assert f"{ami} in us-east-1 was deprecated by EC2 at 2020-01-01" in result.stderr


@pytest.mark.parametrize(
    "tags",
    [
        [f"k{i:02d}{'x' * 120}={'v' * 250}" for i in range(30)],
        [f"team{i}={'é' * 256}" for i in range(20)],
    ],
    ids=["many-long-tags", "multibyte-values"],
)
def test_tags_too_big_for_the_registry_entry_are_refused_up_front(prism_sandbox, tags):
    instance_id = prism_sandbox.create_instance("box")
    argv = ["save", "box", "env1", "--yes"]
    for tag in tags:
        argv += ["--tag", tag]
    result = run_prism_child(*argv)
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "the registry holds at most" in lines[0], result.stderr
    assert prism_sandbox.own_images() == []
    assert prism_sandbox.instance_state(instance_id) == "running"
    assert prism_sandbox.journals() == []


@pytest.mark.parametrize(
    "content",
    ["name: env1\nversion: '1'\n  bad: [indent\n"],  # binary, unclosed and this: tests/unit
    ids=["yaml-error"],
)
def test_a_local_template_with_an_error_is_archived_before_a_save_replaces_it(
    prism_sandbox, saved_template, content
):
    path = prism_sandbox.prism_home / "templates" / "env1.yaml"
    path.write_text(content)
    result = run_prism_child("save", "my-box", "env1", "--yes")
    assert result.exit_code == 0, result.stderr
    kept = list((prism_sandbox.prism_home / "archive" / "env1").glob("unreadable-*.yaml"))
    assert [p.read_text() for p in kept] == [content]
    assert "version: '2'" in path.read_text()


@pytest.mark.parametrize("length", [255])  # 200, 240 and more: tests/unit
def test_a_long_instance_name_never_makes_the_default_description_too_long(
    prism_sandbox, length
):
    name = ("research-box-" * 30)[:length]
    prism_sandbox.create_instance(name)
    result = run_prism_child("save", name, "env1", "--dry-run", "-o", "json")
    assert result.exit_code == 0, result.stderr
    description = json.loads(result.stdout)["request"]["description"]
    assert len(description) <= 255 and description.startswith("Saved by prism from research-box")


@pytest.mark.parametrize(
    "name", ["i-love-data", "i-0123456789abcdef"]  # every look-alike: tests/unit
)
def test_a_name_that_starts_like_an_id_is_a_name(prism_sandbox, name):
    instance_id = prism_sandbox.create_instance(name)
    result = run_prism_child("save", name, "env1", "--dry-run", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["request"]["instance_id"] == instance_id
    by_id = run_prism_child("save", instance_id, "env2", "--dry-run", "-o", "json")
    assert by_id.exit_code == 0, by_id.stderr


def test_restore_gives_back_the_image_s_own_record_not_a_plausible_forgery(prism_sandbox):
    """The earlier deprecation time lives in a tag on the image (written by the revoke),
    so a forged but plausible time in the registry record is never applied."""
    prism_sandbox.create_instance("box")
    saved = run_prism_child("save", "box", "env1", "--deprecate-after", "30", "--yes", "-o", "json")
    assert saved.exit_code == 0, saved.stderr
    ami = saved.json()["amis"]["us-east-1"]
    genuine = prism_sandbox.ec2().describe_images(ImageIds=[ami])["Images"][0]["DeprecationTime"]
    revoked = run_prism_child("templates", "revoke", "env1@1", "--reason", "x", "--yes")
    assert revoked.exit_code == 0, revoked.stderr
    plausible = (datetime.now(UTC) + timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    record = {"reason": "x", "revoked_at": "now", "deprecation": {ami: plausible}}
    _put(prism_sandbox, f"{BASE}/revoked/1", json.dumps(record))
    restored = run_prism_child("templates", "restore", "env1@1", "--yes")
    assert restored.exit_code == 0, restored.stderr
    image = prism_sandbox.ec2().describe_images(ImageIds=[ami])["Images"][0]
    assert image["DeprecationTime"][:19] == genuine[:19]
    assert "prism:deprecation-before-revoke" not in {t["Key"] for t in image.get("Tags", [])}
