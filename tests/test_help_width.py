"""Every ``--help`` fits 80 and 120 columns (listings kept as written, prose wrapped), and
the launch examples name templates that exist (the built-in ones)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import help_subcommands

import prism_core


def _help(run_prism, monkeypatch, columns: int, *words: str) -> str:
    monkeypatch.setenv("COLUMNS", str(columns))
    result = run_prism(*words, "--help")
    assert result.exit_code == 0, (words, result.stderr)
    return result.stdout


def _paths(run_prism, monkeypatch) -> list[list[str]]:
    def subcommands(*group: str) -> list[str]:
        return help_subcommands(_help(run_prism, monkeypatch, 80, *group))

    paths: list[list[str]] = [[]]
    for word in subcommands():
        paths.append([word])
        paths += [[word, sub] for sub in subcommands(word) if sub != word]
    return paths


@pytest.mark.long
def test_every_help_fits(run_prism, monkeypatch):
    """Every command's help at 80 and 120 columns (the commands found once)."""
    paths = _paths(run_prism, monkeypatch)
    assert ["launch"] in paths and ["templates", "show"] in paths and ["save"] in paths
    for columns in (80, 120):
        for path in paths:
            text = _help(run_prism, monkeypatch, columns, *path)
            wide = [line for line in text.splitlines() if len(line) > columns]
            assert not wide, (columns, path, wide)


def test_prose_is_wrapped_and_listings_kept(run_prism, monkeypatch):
    text = _help(run_prism, monkeypatch, 80, "save")
    assert "  --stop       prism stops the instance, images it and starts it" in text
    description = text.split("\n\n")[1]
    assert description.startswith("Create an AMI") and "\n" in description


def test_launch_examples_name_existing_templates(run_prism, monkeypatch):
    shipped = {p.stem for p in (Path(prism_core.__file__).parent / "data/templates").glob("*")}
    text = _help(run_prism, monkeypatch, 120, "launch")
    named = re.findall(r"^\s+prism launch ([\w.-]+)", text, flags=re.M)
    assert named, text
    assert {n.split("@")[0] for n in named} <= shipped, named
