"""Output that fits the terminal: tables keep their columns and wrap at word boundaries, at 80
and 120 columns, in a real pseudo-terminal."""

from __future__ import annotations

import os
import sys

import pexpect
import pytest

from prism_core.cli.layout import table, wrap

WORDS = "pre_stop, image, post_image, copy, register, template_render, add_options"


@pytest.mark.parametrize("width", [40, 80, 120])
def test_table_fits_and_never_breaks_a_word(width: int) -> None:
    text = table(["NAME", "VERSION", "HOOKS"], [["ec2-image", "0.1.0", WORDS]] * 2, width)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), text
    hooks_at = lines[0].index("HOOKS")
    words = set(WORDS.replace(",", "").split())
    for line in lines[1:]:
        cell = line[hooks_at:]
        assert all(word.rstrip(",") in words for word in cell.split()), line
        assert line[:hooks_at].strip() in ("", "ec2-image  0.1.0"), line


def test_table_without_width_keeps_whole_lines() -> None:
    text = table(["A", "B"], [["x", WORDS]], None)
    assert text.splitlines()[1].endswith(WORDS)


def test_a_word_longer_than_its_column_stays_whole() -> None:
    long = "x" * 30
    text = table(["NAME", "NOTE"], [["n", f"{long} tail"]], 20)
    assert long in text


def test_wrap_keeps_paragraphs_and_hanging_indent() -> None:
    text = wrap("one two three four five\n\nsix", 12, indent="  ", hang="    ")
    assert text.splitlines() == ["  one two", "    three", "    four", "    five", "", "  six"]


def _prism_in_pty(columns: int, *args: str) -> list[str]:
    env = dict(os.environ, TERM="xterm", LANG="C.UTF-8", PYTHONUTF8="1")
    env.pop("COLUMNS", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "prism_core", *args],
        env=env,
        dimensions=(40, columns),
        encoding="utf-8",
        timeout=60,
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return child.before.replace("\r\n", "\n").splitlines()


@pytest.mark.parametrize("columns", [80, 120])
def test_plugins_table_fits_the_terminal(columns: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRISM_DISABLE_PLUGINS", "")
    lines = _prism_in_pty(columns, "plugins")
    assert lines[0].split() == ["NAME", "VERSION", "SOURCE", "HOOKS"]
    assert all(len(line) <= columns for line in lines), lines
    hooks_at = lines[0].index("HOOKS")
    # every continuation line of a wrapped cell starts in the HOOKS column
    for line in lines[1:]:
        if line and not line[0].isspace():
            assert line[hooks_at - 2 : hooks_at] == "  ", line
        elif line.strip():
            assert len(line) - len(line.lstrip()) == hooks_at, line


@pytest.mark.parametrize("columns", [80, 120])
def test_instance_list_fits_the_terminal(
    columns: int, prism_sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    prism_sandbox.create_instance(
        "a-workstation-with-a-rather-long-descriptive-name",
        tags={"prism:template": "python-ml", "prism:template-version": "3"},
    )
    lines = _prism_in_pty(columns, "list")
    assert lines[0] == "Instances in us-east-1:"
    assert lines[1].split()[:3] == ["NAME", "ID", "STATE"]
    assert all(len(line) <= columns for line in lines), lines
    assert "running" in lines[2]


@pytest.mark.parametrize("columns", [80, 120])
def test_wizard_picker_rows_fit_on_one_line(columns: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from prism_core.save.wizard import _instance_choices

    monkeypatch.setenv("COLUMNS", str(columns))
    rows = [
        {
            "id": f"i-{n:017x}",
            "name": "seismic-analysis-workstation-with-a-very-long-name-" * 2 + str(n),
            "type": "g5.12xlarge",
            "state": "running",
            "template": "deep-learning-gpu-with-cuda-12",
            "uptime": "12d 3h",
        }
        for n in range(3)
    ]
    header, choices = _instance_choices(rows)
    titles = [header] + [c.title for c in choices]
    assert all(len(t) <= columns - 4 and "\n" not in t for t in titles), titles
    assert header.split() == ["NAME", "TYPE", "STATE", "TEMPLATE", "UPTIME"]
    at = header.index("TYPE")
    assert all(t[at:].startswith("g5.12xlarge") for t in titles[1:]), titles
    assert [c.value for c in choices] == [r["id"] for r in rows]


def test_copy_regions_offered_only_in_the_source_partition() -> None:
    from prism_core.validation import partition_regions

    commercial = partition_regions("us-east-1")
    assert "eu-west-1" in commercial
    assert not any(r.startswith(("cn-", "us-gov-")) for r in commercial)
    assert "us-gov-east-1" in partition_regions("us-gov-west-1")
    assert partition_regions("xx-nowhere-1") == frozenset()
