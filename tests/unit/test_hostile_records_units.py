"""Unit layer: hostile registry records and odd names (no sandbox, no process).

A revocation record that cannot be read still revokes (fail closed) and the launch plan
refuses it; records nested past the bound are reported problems, never a RecursionError;
a name that only starts like an instance id is a name; a long instance name never makes
the default description longer than EC2's 255 characters. The same hostile inputs are
driven through the real commands against the sandbox, for a few values each, in
``tests/test_hostile_records.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prism_core.aws.ec2 import is_instance_id
from prism_core.exceptions import InputError
from prism_core.save.pipeline import default_description
from prism_core.templates import registry
from prism_core.templates.launch_plan import refuse_revoked
from prism_core.templates.store import FoundTemplate

BASE = "/prism/templates/env1"
V1 = {
    "name": "env1",
    "version": "1",
    "description": "a version",
    "ami_config": {"amis": {"us-east-1": {"x86_64": "ami-0123456789abcdef0"}}},
}

#: Revocation records that cannot be read, by class.
UNREADABLE = {
    "not-json": "revoked!",
    "truncated": '{"reason": "x"',
    "not-an-object": '["revoked"]',
    "text-field-not-text": '{"reason": {"a": 1}}',
    "nested-lists": "[" * 3000 + "]" * 3000,
    "nested-objects": '{"a":' * 1500 + "1" + "}" * 1500,
    "deep-under-the-bound": '{"deprecation": {"a": {"b": {"c": {"d": 1}}}}}',
    "not-utf8-surrogate": '{"reason": "\\ud800"}',
}
NESTED = {"lists": "[" * 3000 + "]" * 3000, "objects": '{"a":' * 1500 + "1" + "}" * 1500}


@pytest.mark.parametrize("value", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_an_unreadable_revocation_still_revokes(value: str) -> None:
    problems: list[str] = []
    found = registry.parse_entries(
        BASE,
        {f"{BASE}/versions/1": json.dumps(V1), f"{BASE}/revoked/1": value},
        problems,
    )
    assert sorted(found.versions) == [1]
    record = found.revoked[1]
    template = FoundTemplate("env1", 1, "registry", "us-east-1:x", V1, revoked=record)
    with pytest.raises(InputError) as refused:
        refuse_revoked(template, allow_revoked=False)
    assert "was revoked" in str(refused.value) and "\n" not in str(refused.value)
    warning = refuse_revoked(template, allow_revoked=True)
    assert warning is not None and "--allow-revoked" in warning


@pytest.mark.parametrize("where", ["channels/stable", "versions/2"])
@pytest.mark.parametrize("value", NESTED.values(), ids=NESTED.keys())
def test_deeply_nested_records_are_refused_not_recursed(where: str, value: str) -> None:
    problems: list[str] = []
    found = registry.parse_entries(
        BASE, {f"{BASE}/versions/1": json.dumps(V1), f"{BASE}/{where}": value}, problems
    )
    assert sorted(found.versions) == [1] and found.channels == {}
    assert len(problems) == 1 and "RecursionError" not in problems[0], problems


@pytest.mark.parametrize("length", [200, 240, 255, 5000])
def test_a_long_instance_name_never_makes_the_default_description_too_long(
    length: int,
) -> None:
    name = ("research-box-" * 400)[:length]
    description = default_description(name, "2026-12-08")
    assert len(description) <= 255 and description.startswith("Saved by prism from research-box")


@pytest.mark.parametrize(
    "name", ["i-love-data", "i-12345678x", "i-0123456789abcdef", "i-ABCDEF12", "i-", "i-1234567"]
)
def test_a_name_that_starts_like_an_id_is_a_name(name: str) -> None:
    assert not is_instance_id(name)


@pytest.mark.parametrize("ref", ["i-0123abcd", "i-0123456789abcdef0"])
def test_instance_ids_are_ids(ref: str) -> None:
    assert is_instance_id(ref)


@pytest.mark.parametrize(
    "content",
    ["name: env1\nversion: '1'\n  bad: [indent\n", "\x00\x01binary", "name: [unclosed\n"],
    ids=["yaml-error", "binary", "unclosed"],
)
def test_a_local_template_with_an_error_is_archived_before_a_new_version_replaces_it(
    tmp_path: Path, content: str
) -> None:
    from prism_core.templates.document import write

    templates = tmp_path / "templates"
    templates.mkdir()
    path = templates / "env1.yaml"
    path.write_text(content)
    assert write(templates, dict(V1, version="2")) == path
    kept = list((tmp_path / "archive" / "env1").glob("unreadable-*.yaml"))
    assert [p.read_text() for p in kept] == [content]
    assert "version: '2'" in path.read_text()
