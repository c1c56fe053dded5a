"""Unit layer: ``prism save`` arguments that ``plan_save`` refuses before it makes any AWS
call. The command line is parsed by the option table's own argparse arguments and built
into the options the CLI builds; the clients given to ``plan_save`` fail the test on any
use, so each refusal is proven to come before the first call (no sandbox, no process).

The CLI wiring of these refusals (exit 2, one ``prism: error:`` line, nothing changed in
the cloud) is proven end to end by ``tests/test_hostile_settings.py`` for a few of them.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from prism_core.exceptions import InputError
from prism_core.save import options as save_options
from prism_core.save.pipeline import plan_save
from prism_core.settings import DEFAULT_TIMEOUTS, Settings

ORG = "arn:aws:organizations::123456789012:organization/o-abcdefghij"

#: (id, argv after ``save``, text the one-line error holds)
CASES = [
    ("template-slash", ["box", "a/b"], "invalid template name"),
    ("template-dotdot", ["box", ".."], "invalid template name"),
    ("template-traversal", ["box", "../etc/passwd"], "invalid template name"),
    ("template-space", ["box", "my env"], "invalid template name"),
    ("template-control", ["box", "bad\x07name"], "invalid template name"),
    ("template-too-long", ["box", "x" * 65], "too long (65 characters)"),
    ("template-leading-dot", ["box", ".hidden"], "invalid template name"),
    ("description-too-long", ["box", "env1", "--description", "d" * 256], "at most 255"),
    ("description-control", ["box", "env1", "--description", "red \x1b[31m"], "control characters"),
    ("description-8bit-csi", ["box", "env1", "--description", "\x9b2J"], "control characters"),
    ("region-malformed", ["box", "env1", "--region", "US_EAST"], "is not a region name"),
    ("region-control", ["box", "env1", "--region", "us-east-1\n"], "is not a region name"),
    ("copy-region-unknown", ["box", "env1", "--copy-to-regions", "eu-north-9"], "does not exist"),
    (
        "copy-region-malformed",
        ["box", "env1", "--copy-to-regions", "not a region"],
        "is not a region name",
    ),
    (
        "copy-region-duplicate",
        ["box", "env1", "--copy-to-regions", "us-east-2,us-east-2"],
        "names us-east-2 twice",
    ),
    (
        "copy-region-source",
        ["box", "env1", "--copy-to-regions", "us-east-1"],
        "includes the source region",
    ),
    (
        "copy-region-empty-entry",
        ["box", "env1", "--copy-to-regions", "us-east-2,,eu-west-1"],
        "empty entry",
    ),
    ("account-short", ["box", "env1", "--share-with", "12345"], "not an account id"),
    ("account-letters", ["box", "env1", "--share-with", "12345678901a"], "not an account id"),
    (
        "org-arn-malformed",
        ["box", "env1", "--share-with", "arn:aws:organizations::123:organization/o-x"],
        "not an account id",
    ),
    ("share-duplicate", ["box", "env1", "--share-with", f"{ORG},{ORG}"], "twice"),
    ("tag-aws-prefix", ["box", "env1", "--tag", "aws:createdBy=me"], "reserved by AWS"),
    ("tag-no-equals", ["box", "env1", "--tag", "novalue"], "is not KEY=VALUE"),
    ("tag-empty-key", ["box", "env1", "--tag", "=value"], "1-128 characters"),
    ("tag-key-too-long", ["box", "env1", "--tag", "k" * 129 + "=v"], "1-128 characters"),
    ("tag-value-too-long", ["box", "env1", "--tag", "k=" + "v" * 257], "at most 256"),
    ("tag-duplicate", ["box", "env1", "--tag", "a=1", "--tag", "a=2"], "given twice"),
    ("tag-too-many", ["box", "env1", *[f"--tag=k{i}=v" for i in range(45)]], "too many"),
    ("tag-control", ["box", "env1", "--tag", "k=v\x01"], "control characters"),
    ("tag-escape-key", ["box", "env1", "--tag", "\x1b[2J\x1b[31mk=v"], "control characters"),
    ("tag-8bit-csi", ["box", "env1", "--tag", "k=\x9b31mred"], "control characters"),
    ("project-malformed", ["box", "env1", "--project", "bad project!"], "invalid --project"),
]


class NoCloud:
    """Clients for ``region`` that fail the test on any AWS use (building clients ahead,
    ``prewarm``, sends no request: allowed)."""

    def __init__(self, region: str) -> None:
        self.region = region

    def prewarm(self, services: Any, regions: Any) -> None:
        """Nothing to build: no request would be sent."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"plan_save used the clients ({name}) before refusing")


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Settings:
    monkeypatch.setenv("PRISM_HOME", str(tmp_path))
    monkeypatch.delenv("PRISM_POLL_DELAY_SECONDS", raising=False)
    for name in DEFAULT_TIMEOUTS:
        monkeypatch.delenv(f"PRISM_TIMEOUT_{name.upper()}_SECONDS", raising=False)
    return Settings.load({})


def options_of(
    argv: list[str], default_copy_regions: str | None = None
) -> tuple[save_options.SaveOptions, str]:
    """The options ``prism save ARGV`` builds, and its ``--region`` (us-east-1 if none)."""
    rows = save_options.table()
    parser = argparse.ArgumentParser()
    for row in rows:
        flags, kwargs = row.argparse()
        parser.add_argument(*flags, **kwargs)
    pargs = parser.parse_args(argv)
    values = save_options.save_values(pargs, rows)
    built = save_options.build(values, rows, default_copy_regions)
    return built, pargs.region or "us-east-1"


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_arguments_are_refused_before_any_aws_call(
    settings: Settings, argv: list[str], expected: str
) -> None:
    options, region = options_of(argv)
    with pytest.raises(InputError) as refused:
        plan_save(options, settings, NoCloud(region), progress=None)  # type: ignore[arg-type]
    message = str(refused.value)
    assert expected in message, message
    assert "\n" not in message and not any(ch in message for ch in "\x1b\x9b\x07"), message


def test_good_arguments_get_past_the_checks_to_the_cloud(settings: Settings) -> None:
    """The same construction with valid values reaches the first AWS use (so the cases
    above are refused by their values, not by the test's clients)."""
    argv = ["box", "env1", "--copy-to-regions", "us-east-2", "--tag", "team=geo",
            "--share-with", ORG, "--project", "p-1", "--description", "fine"]  # fmt: skip
    options, region = options_of(argv)
    with pytest.raises(AssertionError, match="used the clients"):
        plan_save(options, settings, NoCloud(region), progress=None)  # type: ignore[arg-type]
