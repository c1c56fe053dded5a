"""Every command's ``--help`` ends with what its own exit codes mean (0/1/2/3 of the
contract), fitted to an 80-column terminal."""

from __future__ import annotations

import pytest
from helpers import help_subcommands

from prism_core.cli.exit_codes import COMMANDS, GENERAL, HEADING, for_command


def _help(run_prism, monkeypatch, *words: str) -> str:
    monkeypatch.setenv("COLUMNS", "80")
    result = run_prism(*words, "--help")
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _commands(run_prism, monkeypatch, *group: str) -> list[str]:
    """The subcommands ``prism [GROUP] --help`` lists."""
    usage = _help(run_prism, monkeypatch, *group)
    found = help_subcommands(usage)
    assert found, usage
    return found


def test_every_command_has_its_own_exit_codes(run_prism, monkeypatch):
    paths = []
    for word in _commands(run_prism, monkeypatch):
        if word in ("templates", "sandbox", "ami", "cloud", "saves", "schedule"):
            paths += [f"{word} {sub}" for sub in _commands(run_prism, monkeypatch, word)]
        else:
            paths.append(word)
    assert "launch" in paths and "templates show" in paths and "sandbox start" in paths
    assert sorted(set(paths) - set(COMMANDS)) == [], "commands without exit codes"
    for path in paths:
        text = _help(run_prism, monkeypatch, *path.split())
        assert text.rstrip().endswith(for_command(path)), path
        assert text.count(HEADING) == 1, path
        assert all(len(line) <= 80 for line in for_command(path).splitlines()), path


@pytest.mark.parametrize(
    ("path", "wanted", "unwanted"),
    [
        ("launch", ["0  success: the instance is running", "nothing was launched"], ["3  "]),
        ("save", ["prism save --resume", "3  partial success: the template was saved"], []),
        ("ami save", ["3  partial success: the template was saved"], []),
        ("templates list", ["2  refused: bad input"], ["3  ", "--resume"]),
        ("templates show", ["0  success: shown"], ["3  ", "--resume"]),
        ("templates prune", ["3  partial success: some AMIs"], ["--resume"]),
        ("templates revoke", ["3  partial success: some changes failed"], ["--resume"]),
        ("templates validate", ["2  refused: the template is not valid"], ["3  "]),
    ],
)
def test_exit_codes_say_what_they_mean_for_the_command(
    run_prism, monkeypatch, path, wanted, unwanted
):
    codes = _help(run_prism, monkeypatch, *path.split()).split(HEADING)[-1]
    for text in wanted:
        assert " ".join(text.split()) in " ".join(codes.split()), (path, text)
    for text in unwanted:
        assert text not in codes, (path, text)


def test_prism_help_gives_the_general_meanings(run_prism, monkeypatch):
    text = _help(run_prism, monkeypatch)
    assert GENERAL in text and "Every command's --help says" in text
