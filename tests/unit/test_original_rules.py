"""The test oracle (tests/original_rules.py) catches each of the original tool's rules,
and prism's own check (``compat.original_refusals``) agrees with it where they overlap."""

from __future__ import annotations

import ast
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from original_rules import violations

from prism_core.templates import compat

TESTS = Path(__file__).resolve().parents[1]

#: A template the original loads: prism's own saved-template shape.
GOOD: dict[str, Any] = {
    "name": "seismic-env",
    "slug": "seismic-env",
    "description": "Saved by prism",
    "base": "ami-based",
    "package_manager": "ami",
    "version": "3",
    "ami_config": {"amis": {"us-east-1": {"x86_64": "ami-0123456789abcdef0"}}},
    "instance_defaults": {"type": "t3.medium", "ports": [22, 8888], "root_volume_gb": 30},
    "tags": {"Project": "p1"},
}


def _with(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


#: (case, document, whether prism's own check covers that rule)
BROKEN = [
    ("no description", _with(description=""), True),
    ("no base", _with(base=None), True),
    ("unknown base", _with(base="windows-11", package_manager="apt"), True),
    ("unknown manager", _with(package_manager="brew"), True),
    ("ami without images", _with(ami_config={"ssh_user": "ec2-user"}), True),
    ("ami with packages", _with(packages={"system": ["vim"]}), True),
    (
        "apt with conda",
        _with(base="ubuntu", package_manager="apt", packages={"conda": ["x"]}),
        True,
    ),
    ("version a list", _with(version=[1, 2]), True),
    ("tag value a mapping", _with(tags={"n": {"a": "b"}}), True),
    ("port out of range", _with(instance_defaults={"ports": [70000]}), False),
    ("user with a space", _with(users=[{"name": "a b"}]), True),
    ("duplicate user", _with(users=[{"name": "ana"}, {"name": "ana"}]), True),
    ("upper-case user", _with(users=[{"name": "Ana"}]), True),
    ("user starting with _", _with(users=[{"name": "_svc"}]), True),
    ("service without name", _with(services=[{"port": 80}]), False),
    (
        "two services on a port",
        _with(services=[{"name": "a", "port": 80}, {"name": "b", "port": 80}]),
        True,
    ),
    ("parameter of an unknown type", _with(parameters={"p": {"type": "list"}}), True),
    ("choice without choices", _with(parameters={"p": {"type": "choice"}}), True),
    (
        "default outside its choices",
        _with(parameters={"p": {"type": "choice", "choices": ["a"], "default": "b"}}),
        True,
    ),
    ("int default that is text", _with(parameters={"p": {"type": "int", "default": "x"}}), True),
    ("inherits itself", _with(inherits=["seismic-env"]), False),
    ("amis not a mapping", _with(ami_config={"amis": ["ami-1"]}), False),
]


#: What the original's YAML decoder and validators accept although they look odd.
ACCEPTED = [
    ("numeric version", _with(version=3)),
    ("numeric and boolean tags", _with(tags={"n": 1, "gpu": True})),
    ("user name placeholder", _with(users=[{"name": "{{.user_name}}"}])),
    (
        "parameters of each type",
        _with(
            parameters={
                "s": {"type": "string", "default": "x"},
                "i": {"type": "int", "default": 4},
                "b": {"type": "bool", "default": False},
                "c": {"type": "choice", "choices": ["3.11", "3.12"], "default": "3.12"},
                "n": {"type": "string"},
            }
        ),
    ),
]


@pytest.mark.parametrize(("case", "doc"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_what_the_original_accepts_is_not_warned_about(case, doc):
    assert violations(doc) == [], case
    assert compat.original_refusals(doc) == [], case


def test_a_saved_template_and_the_fixtures_break_no_rule():
    assert violations(GOOD) == [] and compat.original_refusals(GOOD) == []
    fixtures = sorted((TESTS / "original_templates").rglob("*.y*ml"))
    assert fixtures
    for path in fixtures:
        doc = yaml.safe_load(path.read_text())
        assert violations(doc) == [], path
        assert compat.original_refusals(doc) == [], path


@pytest.mark.parametrize(("case", "doc", "covered"), BROKEN, ids=[c[0] for c in BROKEN])
def test_each_rule_is_caught(case, doc, covered):
    assert violations(doc), case
    if covered:  # prism refuses to call such a file the original's format
        assert compat.original_refusals(doc), case


def test_the_oracle_shares_no_code_with_prism():
    tree = ast.parse((TESTS / "original_rules.py").read_text())
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [m for m in imported if m and m.startswith("prism")], imported
