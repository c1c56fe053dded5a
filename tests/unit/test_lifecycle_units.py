"""Unit layer: channel names, reasons, selectors, batch entries, registry records, trees."""

from __future__ import annotations

import json

import pytest

from prism_core import validation
from prism_core.exceptions import InputError
from prism_core.save.batch import entry_options
from prism_core.templates import registry
from prism_core.templates.lineage import Family
from prism_core.templates.store import parse_selector


@pytest.mark.parametrize("name", ["stable", "course-2026", "b", "rc.1"])
def test_channel_names_accepted(name: str) -> None:
    assert validation.channel_name(name) == name


@pytest.mark.parametrize("name", ["", "Stable", "2026", "-x", "a b", "x" * 41, "a/b"])
def test_channel_names_refused(name: str) -> None:
    with pytest.raises(InputError):
        validation.channel_name(name)


@pytest.mark.parametrize("text", ["", "   ", "x" * 501, "two\nlines", "bell\x07"])
def test_reasons_refused(text: str) -> None:
    with pytest.raises(InputError):
        validation.reason(text)


def test_selectors() -> None:
    assert parse_selector("env") == ("env", None, None)
    assert parse_selector("env@3") == ("env", 3, None)
    assert parse_selector("env@stable") == ("env", None, "stable")
    for bad in ("env@0", "env@Stable!", "env@", "../x@stable"):
        with pytest.raises(InputError):
            parse_selector(bad)


def test_batch_entry_long_names_and_types() -> None:
    options, region = entry_options(
        {
            "instance": "lab-1",
            "template": "t",
            "copy-to-regions": ["us-east-2", "us-west-1"],
            "tags": {"team": "bio"},
            "public": False,
            "region": "eu-west-1",
            "deprecate_after": 30,
        },
        "entry 1",
    )
    assert options.copy_to_regions == "us-east-2,us-west-1"
    assert options.tags == ["team=bio"] and region == "eu-west-1"
    assert options.deprecate_after == 30
    for bad in (
        [],
        {"instance": "x"},
        {"instance": "x", "template": "t", "public": "yes"},
        {"instance": ["x"], "template": "t"},
        {"instance": "x", "template": "t", "z": 1},
    ):
        with pytest.raises(InputError):
            entry_options(bad, "entry 1")


def test_registry_records_are_checked() -> None:
    base = "/prism/templates/env"
    problems: list[str] = []
    found = registry.parse_entries(
        base,
        {
            f"{base}/channels/stable": json.dumps({"version": 2}),
            f"{base}/channels/bad": json.dumps({"version": "2"}),
            f"{base}/channels/huge": "x" * 9000,
            f"{base}/revoked/2": json.dumps({"reason": "r" * 900, "revoked_by": "arn"}),
            f"{base}/revoked/3": "[1, 2]",
        },
        problems,
    )
    assert found.channels == {"stable": {"version": 2}}
    assert sorted(found.revoked) == [2, 3] and len(found.revoked[2]["reason"]) == 500
    # a revocation that cannot be read still revokes (fail closed), and is reported
    assert found.revoked[3]["unreadable"] is True
    assert "cannot be read" in found.revoked[3]["reason"]
    assert len(problems) == 3


def test_tree_marks_and_cycles() -> None:
    family = Family()
    family.add("a", 1, {"name": "a"}, "local")
    family.add("b", 1, {"name": "b", "parent": {"template": "a", "version": 1}}, "local")
    family.add("c", 1, {"name": "c", "parent": {"template": "b", "version": 1}}, "local")
    family.nodes[("a", 1)].revoked = {"reason": "x"}
    assert family.revoked_ancestor(("c", 1)) == ("a", 1)
    assert [n.key for n in family.descendants(("a", 1))] == [("b", 1), ("c", 1)]
    from prism_core.cli.commands.template_history import tree_lines

    lines = tree_lines(family, None, 20)
    assert lines[0] == "a v1 REVOKED"
    assert all(len(line) <= 20 for line in lines)
    # a cycle written by hand terminates
    family.add("x", 1, {"name": "x", "parent": {"template": "y", "version": 1}}, "local")
    family.add("y", 1, {"name": "y", "parent": {"template": "x", "version": 1}}, "local")
    assert family.revoked_ancestor(("x", 1)) is None
    assert [n.key for n in family.descendants(("x", 1))] == [("y", 1)]


def test_batch_entries_take_plugin_options() -> None:
    from prism_core.plugin_api import Option

    options = {
        "publish": Option(("--publish",), help="x", action="store_true"),
        "price": Option(("--price",), help="y", type=int),
    }
    parsed, _ = entry_options({"instance": "i", "template": "t", "publish": True}, "e", options)
    assert parsed.plugin_options == {"publish": True, "price": None}
    parsed, _ = entry_options({"instance": "i", "template": "t", "price": "12"}, "e", options)
    assert parsed.plugin_options == {"publish": False, "price": 12}
    for bad in ({"publish": "yes"}, {"price": "cheap"}):
        with pytest.raises(InputError):
            entry_options({"instance": "i", "template": "t", **bad}, "e", options)
