"""The launch summary says how to connect: SSH only with a key pair, else Session
Manager; each command on a line of its own, never wrapped (80 and 120 columns, a pty)."""

from __future__ import annotations

import os
from pathlib import Path

import pexpect
from helpers import spawn_prism_in_pty
from test_launch_access import ssh_key


def _launch_in_pty(columns: int, name: str) -> list[str]:
    child = spawn_prism_in_pty(columns, "launch", "env1", name, "--yes")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return child.before.replace("\r\n", "\n").splitlines()


def test_without_a_key_pair_the_summary_gives_session_manager(saved_template):
    """At 80 and 120 columns, two launches from one saved template."""
    for columns in (80, 120):
        _session_manager_summary(columns, f"no-key-box-{columns}")


def _session_manager_summary(columns: int, name: str) -> None:
    lines = _launch_in_pty(columns, name)
    text = "\n".join(lines)
    assert "ssh ec2-user@" not in text and "No key pair, so no SSH" in text
    command = [
        line for line in lines if "start-session --target i-" in line and "--document" not in line
    ]
    assert len(command) == 1, text
    assert command[0].split() == ["aws", "ssm", "start-session", "--target",
                                  command[0].split()[4], "--region", "us-east-1"]
    assert command[0].split()[4].startswith("i-")


def test_with_a_key_pair_the_summary_gives_ssh_and_prism_connect(saved_template, run_prism):
    ssh_key(Path(os.environ["HOME"]))
    result = run_prism("launch", "env1", "keyed-box", "--yes")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    at = lines.index("   Connect:")
    assert lines[at + 1] == "      prism connect keyed-box"
    assert lines[at + 2].startswith("      ssh -i ") and "ec2-user@" in lines[at + 2]
    assert "start-session" not in result.stdout


def test_command_lines_are_never_wrapped():
    from prism_core.cli.layout import fit_lines

    command = "      aws ssm start-session --target i-0123456789abcdef0 --region ap-southeast-2"
    assert fit_lines(command, 60) == command
    assert fit_lines("   Open to: " + "a " * 40, 60) != "   Open to: " + "a " * 40
