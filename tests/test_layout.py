"""Output that fits the terminal: tables keep their columns and wrap at word boundaries, at 80
and 120 columns, in a real pseudo-terminal."""

from __future__ import annotations

import pexpect
import pytest
from helpers import spawn_prism_in_pty

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
    child = spawn_prism_in_pty(columns, *args)
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
    rows = lines[1 : lines.index("")] if "" in lines else lines[1:]  # the table, above the notes
    # every continuation line of a wrapped cell starts in the HOOKS column
    for line in rows:
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
    assert lines[1].split()[:3] == ["NAME", "STATE", "ADDRESS"]
    assert all(len(line) <= columns for line in lines), lines
    assert "running" in lines[2]


@pytest.mark.parametrize("columns", [80, 120])
def test_wizard_picker_rows_fit_on_one_line(columns: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from prism_core.cli.commands.save_wizard import _instance_choices

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


LONG = "seismic-aftershock-prediction-workstation-with-gpu-and-notebooks"  # 64: the longest
CHILD = "child-of-the-seismic-aftershock-prediction-workstation-template"
REGIONS = ["us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]


@pytest.fixture
def many_versions(prism_sandbox, run_prism) -> dict[str, str]:
    """Template LONG with four versions, the first in seven regions with a long description
    and shared with an account (the later versions inherit all three, issue 28), v1
    promoted to a channel, and CHILD saved from an instance launched from it."""
    prism_sandbox.create_instance("a-workstation-with-a-rather-long-descriptive-name")
    description = "Seismic analysis: " + "aftershock forecasting with notebooks " * 4
    amis: dict[str, str] = {}
    for n in range(4):
        extra = ["--copy-to-regions", ",".join(REGIONS), "--description", description]
        extra += ["--share-with", "111122223333"]
        result = run_prism(
            "save", "a-workstation-with-a-rather-long-descriptive-name", LONG,
            *(extra if n == 0 else []), "--project", "geophysics-2026", "--yes", "-o", "json",
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
        amis = amis or result.json()["amis"]
    assert run_prism("templates", "promote", f"{LONG}@1", "--channel", "stable", "--yes")
    launched = run_prism("launch", f"{LONG}@1", "gen-a", "--yes")
    assert launched.exit_code == 0, launched.stderr
    assert run_prism("save", "gen-a", CHILD, "--yes").exit_code == 0
    return amis


def _fits(lines: list[str], columns: int) -> None:
    wide = [line for line in lines if len(line) > columns]
    assert not wide, f"wider than {columns}: {wide}"
    assert not any("\u2026" in line for line in lines), lines  # nothing cut with an ellipsis


def test_templates_commands_fit_the_terminal_and_keep_lines_in_a_pipe(
    many_versions, run_prism
) -> None:
    """One build of the many versions (about twenty seconds of saves and copies), laid
    out at 80 and 120 columns in a terminal and read through a pipe."""
    for columns in (80, 120):
        _templates_commands_fit(columns, many_versions)
    _templates_text_without_a_terminal_keeps_whole_lines(many_versions, run_prism)


def _templates_commands_fit(columns: int, many_versions: dict[str, str]) -> None:
    # list: names whole (on a line of their own when wider than the column), titles wrapped
    lines = _prism_in_pty(columns, "templates", "list", "--local")
    _fits(lines, columns)
    assert lines[0].split() == ["NAME", "VERSION", "SOURCE", "KIND", "TITLE"]
    assert LONG in lines and CHILD in lines  # too wide for the column: a line of its own
    title_at = lines[0].index("TITLE")
    at = lines.index(LONG) + 1
    row = lines[at]
    assert row.split()[:3] == ["4", "local", "image"]
    # v4's title is the description it inherited, wrapped in the TITLE column, words whole
    end = next((i for i in range(at + 1, len(lines)) if lines[i][:title_at].strip()), len(lines))
    assert all(not line[:title_at].strip() for line in lines[at + 1 : end]), lines
    title = " ".join(line[title_at:] for line in lines[at:end])
    assert end > at + 1 or columns > 80  # at 80 columns the description wraps
    assert title.split() == many_versions_description().split()
    assert any(line.split()[:2] == ["python-ml", "1"] for line in lines)

    # show: every version, its description wrapped, every region and AMI on its own row
    lines = _prism_in_pty(columns, "templates", "show", LONG)
    _fits(lines, columns)
    text = "\n".join(lines)
    assert lines[0].startswith("Template") and LONG in text.split()
    assert [line for line in lines if line.startswith("v")] == [
        "v4 (newest, default)", "v3", "v2", "v1",
    ]  # fmt: skip
    start = next(i for i in range(lines.index("v1"), len(lines)) if "description:" in lines[i])
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" " * 16))
    described = " ".join(line.split("description:")[-1] for line in lines[start:end])
    assert described.split() == many_versions_description().split()
    for region, ami in many_versions.items():
        assert any(line.split() == [region, "x86_64", ami] for line in lines), (region, text)
    assert "  project:      geophysics-2026" in lines
    assert "  channels:     stable" in lines
    sharing = [line for line in lines if line.startswith("  sharing:")]
    assert sharing == ["  sharing:      accounts 111122223333"] * 4  # inherited from v1
    saved = [line for line in lines if line.startswith("  saved from:   ")]
    assert saved == ["  saved from:   a-workstation-with-a-rather-long-descriptive-name"] * 4

    # history: every version, lineage and regions, wrapped under their labels
    lines = _prism_in_pty(columns, "templates", "history", LONG)
    _fits(lines, columns)
    at = max(i for i, line in enumerate(lines) if line.startswith("     regions: "))
    # v1's regions and their continuation lines (the lines after them have labels of
    # their own: secrets found, instances)
    end = next(i for i in range(at + 1, len(lines)) if not lines[i].startswith(" " * 14))
    regions = " ".join(line.split("regions:")[-1] for line in lines[at:end])
    assert sorted(r.strip(",") for r in regions.split()) == sorted(["us-east-1", *REGIONS])

    # tree: parents above children, no name cut
    lines = _prism_in_pty(columns, "templates", "tree")
    _fits(lines, columns)
    parent = next(i for i, line in enumerate(lines) if line.startswith(f"{LONG} v1"))
    assert any(line.startswith(f"└── {CHILD} v1") for line in lines[parent + 1 :]), lines


def many_versions_description() -> str:
    return "Seismic analysis: " + "aftershock forecasting with notebooks " * 4


def _templates_text_without_a_terminal_keeps_whole_lines(many_versions, run_prism) -> None:
    """Piped (no terminal, no COLUMNS): one line per row, whatever its length; -o json as
    before."""
    listed = run_prism("templates", "list", "--local")
    row = next(line for line in listed.stdout.splitlines() if line.startswith(LONG))
    assert row.split()[1:4] == ["4", "local", "image"]
    shown = run_prism("templates", "show", LONG)
    assert f"  description:  {many_versions_description().strip()}" in shown.stdout
    doc = run_prism("templates", "show", LONG, "-o", "json").json()
    assert [v["version"] for v in doc["versions"]] == [4, 3, 2, 1]
    assert doc["versions"][3]["amis"]["eu-west-1"] == {"x86_64": many_versions["eu-west-1"]}
    assert doc["versions"][0]["project"] == "geophysics-2026"
    assert doc["versions"][3]["sharing"]["eu-west-1"] == {
        "public": False, "accounts": ["111122223333"], "organizations": [], "ous": [],
    }  # fmt: skip
    # v4 inherited v1's sharing and copy regions (issue 28)
    assert doc["versions"][0]["sharing"]["us-east-1"]["accounts"] == ["111122223333"]
    assert set(doc["versions"][0]["amis"]) == {"us-east-1", *REGIONS}


def test_fit_lines_wraps_only_what_is_too_wide_under_its_text() -> None:
    from prism_core.cli.layout import fit_lines

    text = "\n".join(
        [
            "short line",
            "   Creates:    an AMI and its snapshots in us-east-1, a copy in us-west-1 and more",
            "- Registry: 4 parameter(s) under /prism/templates/a-rather-long-template-name",
            "- Template file: /home/someone/.prism/templates/" + "x" * 40 + ".yaml",
        ]
    )
    lines = fit_lines(text, 60).splitlines()
    assert all(len(line) < 60 for line in lines[:-1]), lines  # the last: one long word
    assert " ".join(fit_lines(text, 60).split()) == " ".join(text.split())  # nothing lost
    assert lines[0] == "short line"
    assert lines[1].startswith("   Creates:    an AMI") and lines[2].startswith(" " * 15 + "c")
    assert lines[3:5] == [
        "- Registry: 4 parameter(s) under",
        "            /prism/templates/a-rather-long-template-name",
    ]
    # a path longer than the room under the label continues under the label, whole
    assert lines[5] == "- Template file:"
    assert lines[6] == "  /home/someone/.prism/templates/" + "x" * 40 + ".yaml"
    assert fit_lines(text, None) == text
