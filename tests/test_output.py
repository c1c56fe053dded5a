"""Without a terminal: no prompts, one-line errors naming the flag, clean machine output."""

from __future__ import annotations

import io
import json
import re
import threading

import pytest
import yaml

from prism_core.cli.progress import Progress

CONTROL = re.compile(r"\x1b|\r")


@pytest.mark.parametrize("args", [(), ("box",)], ids=["no-args", "no-template"])
def test_missing_arguments_without_terminal_is_one_line(prism_sandbox, run_prism, args):
    prism_sandbox.create_instance("box")
    result = run_prism("save", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--yes" in lines[0] and "INSTANCE and TEMPLATE" in lines[0]
    assert prism_sandbox.own_images() == []


@pytest.mark.parametrize("extra", [(), ("--public",)], ids=["plain", "public"])
def test_missing_yes_without_terminal_is_one_line(prism_sandbox, run_prism, extra):
    prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "env1", *extra)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "add --yes" in lines[0] and "not a terminal" in lines[0]
    assert prism_sandbox.own_images() == []


def test_resume_without_terminal_needs_yes_too(prism_sandbox, run_prism):
    result = run_prism("save", "--resume")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_json_output_is_one_document_and_progress_is_plain(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box", volume_size_gb=20, extra_volumes=1)
    result = run_prism(
        "save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)  # one document, nothing else
    assert document["exit_code"] == 0 and document["status"] == "done"
    assert set(document["amis"]) == {"us-east-1", "us-east-2"}
    assert document["template_path"].endswith("env1.yaml")
    assert document["registry"] and document["failures"] == []
    assert document["instance"]["downtime_seconds"] is not None
    assert not CONTROL.search(result.stderr)
    assert "EC2 is rebooting the instance" in result.stderr
    assert "status checks passed (downtime" in result.stderr
    assert "Storage:    up to $3.00/month" in result.stderr  # (20+10) GB x 0.05 x 2
    assert not any(ord(c) > 127 for c in result.stderr)  # no emoji off a terminal


def test_yaml_output_is_one_document(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "env1", "--yes", "-o", "yaml")
    assert result.exit_code == 0, result.stderr
    assert yaml.safe_load(result.stdout)["amis"]["us-east-1"].startswith("ami-")


def test_dry_run_json(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box", volume_size_gb=40)
    result = run_prism(
        "save", "box", "env1", "--copy-to-regions", "eu-west-1", "--dry-run", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["dry_run"] is True and document["will_stop"] is False
    assert document["image_mode"] == "reboot"
    estimate = document["storage_estimate"]
    assert estimate["volume_gb"] == 40 and estimate["regions"] == 2
    assert estimate["monthly_usd_upper_bound"] == 4.0
    assert any(line.startswith("Storage:") for line in document["plan"])
    assert prism_sandbox.own_images() == []


def test_plugins_json(run_prism):
    result = run_prism("plugins", "-o", "json")
    assert result.exit_code == 0
    names = {p["name"] for p in json.loads(result.stdout)["plugins"]}
    assert {"ec2-image", "ec2-copy"} <= names


@pytest.mark.parametrize(
    "args, wanted",
    [
        (("--help",), ["keep your own environment", "share with your team", "course"]),
        (
            ("save", "--help"),
            [
                "keep your own environment",
                "share with your team",
                "course environment",
                "exit codes",
                "--dry-run -o json",
            ],
        ),
        (("ami", "save", "--help"), ["keep your own environment", "exit codes"]),
        (("ami", "--help"), ["prism ami save"]),
        (("plugins", "--help"), ["prism plugins -o json", "PRISM_DISABLE_PLUGINS"]),
    ],
)
def test_help_has_examples(run_prism, args, wanted):
    result = run_prism(*args)
    assert result.exit_code == 0
    assert "examples:" in result.stdout
    for text in wanted:
        assert text in result.stdout


# ---------------------------------------------------------------- Progress


class FakeTerminal(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def test_plain_progress_prints_a_status_line_every_n_seconds():
    stream = io.StringIO()
    progress = Progress(stream, status_every=0.0)
    with progress.waiting("the copy ami-1 in eu-west-1") as tick:
        tick(1.0)
        tick(2.0)
    progress.line("ok", "AMI copied", since="copy")
    text = stream.getvalue()
    assert text.count("still waiting for the copy ami-1 in eu-west-1") == 2
    assert not CONTROL.search(text)
    assert "ok AMI copied" in text


def test_no_color_means_no_emoji(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    stream = FakeTerminal()
    Progress(stream).line("ok", "done")
    assert stream.getvalue() == "ok done\n"


def test_terminal_without_utf8_gets_plain_text(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    stream = FakeTerminal()
    stream.encoding = "ascii"  # type: ignore[misc]
    Progress(stream).line("ok", "done")
    assert stream.getvalue() == "ok done\n"


def test_live_lines_redrawn_in_place_and_cleared(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    stream = FakeTerminal()
    progress = Progress(stream)
    assert progress.live
    with (
        progress.waiting("the copy ami-1 in eu-west-1") as one,
        progress.waiting("the copy ami-2 in us-west-2") as two,
    ):
        one(0.5)
        two(0.5)
        progress.line("ok", "something finished")
        one(1.0)
    text = stream.getvalue()
    assert "waiting for the copy ami-1 in eu-west-1" in text
    assert "waiting for the copy ami-2 in us-west-2" in text
    assert "\x1b[2A" in text  # two live lines moved over
    assert text.endswith("\x1b[J")  # the block is erased at the end
    assert "something finished" in text


def test_live_lines_are_thread_safe(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    stream = FakeTerminal()
    progress = Progress(stream)

    def region(name: str) -> None:
        with progress.waiting(f"the copy in {name}") as tick:
            for i in range(50):
                tick(i / 10)
        progress.line("ok", f"copied to {name}")

    threads = [threading.Thread(target=region, args=(f"r{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert progress._waits == [] and progress._drawn == 0
    for i in range(4):
        assert f"copied to r{i}" in stream.getvalue()
