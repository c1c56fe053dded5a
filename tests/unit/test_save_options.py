"""Unit layer: the ``prism save`` option table, and batch entries and batch-wide flags
derived from it (no sandbox, no AWS)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from prism_core.exceptions import InputError
from prism_core.plugin_api import Option
from prism_core.save import options as table
from prism_core.save.batch import entry_options
from prism_core.save.options import SAVE_OPTIONS, SaveOptions

ENTRY = {"instance": "lab-1", "template": "t"}


def _parser(rows=SAVE_OPTIONS) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    for row in rows:
        flags, kwargs = row.argparse()
        parser.add_argument(*flags, **kwargs)
    return parser


def test_every_options_field_comes_from_a_row_or_a_group() -> None:
    filled = {row.field for row in SAVE_OPTIONS if row.field}
    grouped = {"image_mode", "no_reboot", "secrets_policy"}  # table.GROUPS
    extra = {"plugin_options", "default_copy_regions"}
    assert filled | grouped | extra == {f.name for f in dataclasses.fields(SaveOptions)}
    assert set(table.GROUPS) == {row.group for row in SAVE_OPTIONS if row.group}
    dests = [row.dest for row in SAVE_OPTIONS]
    assert len(dests) == len(set(dests))


def test_every_request_field_is_declared_by_a_row() -> None:
    """Each SaveRequest field is declared by the rows (a plugin's row declares
    ``options``), the same way by every row of a group, and each checked one is checked
    by ``request_fields`` from an attribute of SaveOptions."""
    from prism_core.save.request import SaveRequest
    from prism_core.save.request_fields import STAGES, Checked, Given
    from prism_core.settings import Settings

    plugin_row = table.from_plugin(Option(("--publish",), help="x", action="store_true"))
    declared: dict[str, object] = {}
    for row in (*SAVE_OPTIONS, plugin_row):
        for item in row.request:
            assert declared.setdefault(item.field, item) == item, item.field
    assert set(declared) == {f.name for f in dataclasses.fields(SaveRequest)}
    checked = {name for name, item in declared.items() if isinstance(item, Checked)}
    runs = table.request_checks()
    assert sorted(item.field for _, item in runs) == sorted(checked)  # each once
    attributes = {f.name for f in dataclasses.fields(SaveOptions)}
    for source, item in runs:
        assert item.stage in STAGES
        assert source in attributes or item.field == "region", (source, item.field)
    given = Given(Settings(home=Path("/nonexistent")), "us-east-1", account=lambda: "")
    filled: set[str] = set()
    for stage in STAGES:
        filled |= set(table.request_fields(SaveOptions("box", "env"), given, stage))
    assert filled == checked


def test_the_checks_of_a_stage_have_distinct_places() -> None:
    from prism_core.save.request_fields import STAGES

    runs = table.request_checks()
    for stage in STAGES:
        orders = [item.order for _, item in runs if item.stage == stage and item.order]
        assert len(orders) == len(set(orders)), stage


def test_parsed_command_line_builds_the_options() -> None:
    rows = table.table()
    pargs = _parser().parse_args(
        ["box", "env", "--stop", "--tag", "a=b", "--share-with", "111122223333",
         "--fast-restore", "us-east-1a", "--no-inspect", "--deprecate-after", "30"]
    )
    built = table.build(table.save_values(pargs, rows), rows, "us-west-2")
    assert (built.instance, built.template, built.image_mode) == ("box", "env", "stop")
    assert built.tags == ["a=b"] and built.share_with == "111122223333"
    assert built.fast_restore == "us-east-1a" and built.secrets_policy == "no-inspect"
    assert built.deprecate_after == "30" and built.default_copy_regions == "us-west-2"
    assert built.no_reboot is False and built.copy_to_regions is None


def test_modes_and_secret_policies_exclude_each_other() -> None:
    rows = table.table()
    for flags in (["--stop", "--no-reboot"], ["--allow-secrets", "--no-inspect"]):
        pargs = _parser().parse_args(flags)
        with pytest.raises(InputError):
            table.build(table.save_values(pargs, rows), rows)


def test_a_batch_entry_takes_every_save_option() -> None:
    entry = {
        **ENTRY,
        "stop": True,
        "allow-instance-store-loss": True,
        "copy_to_regions": ["us-east-2", "us-west-1"],
        "share_with": ["111122223333"],
        "copy_to_accounts": "444455556666",
        "fast_restore": ["us-east-1a", "us-east-2b"],
        "deprecate_after": 90,
        "description": "lab",
        "project": "cs229",
        "public": False,
        "validate": True,
        "no_inherit": True,
        "allow_secrets": True,
        "tags": {"team": "bio"},
        "region": "eu-west-1",
    }
    options, region = entry_options(entry, "e")
    assert region == "eu-west-1"
    assert options.image_mode == "stop" and options.allow_instance_store_loss
    assert options.copy_to_regions == "us-east-2,us-west-1"
    assert options.share_with == "111122223333" and options.copy_to_accounts == "444455556666"
    assert options.fast_restore == "us-east-1a,us-east-2b" and options.deprecate_after == 90
    assert options.validate and options.no_inherit and options.secrets_policy == "allow-secrets"
    assert options.tags == ["team=bio"] and options.project == "cs229"
    assert entry_options({**ENTRY, "no-reboot": True}, "e")[0].image_mode == "no-reboot"
    assert entry_options({**ENTRY, "no_reboot": True}, "e")[0].no_reboot is True
    assert entry_options({**ENTRY, "reboot": True}, "e")[0].image_mode == "reboot"
    assert entry_options(ENTRY, "e")[0].image_mode is None  # the configured default


@pytest.mark.parametrize(
    "bad",
    [
        {"stop": True, "no_reboot": True},
        {"stop": "yes"},
        {"deprecate_after": True},
        {"fast_restore": {"a": 1}},
        {"yes": True},
        {"dry_run": True},
        {"batch": "other.yaml"},
        {"resume": True},
        {"detach": True},
    ],
)
def test_bad_entries_are_refused(bad) -> None:
    with pytest.raises(InputError):
        entry_options({**ENTRY, **bad}, "e")


def test_batch_wide_flags_apply_to_every_entry_and_an_entry_overrides_them() -> None:
    rows = table.table()
    flags = table.save_values(
        _parser().parse_args(
            ["--stop", "--public", "--tag", "k=v", "--copy-to-regions", "us-east-2",
             "--deprecate-after", "30", "--no-inspect"]
        ),
        rows,
    )

    def entry(**values):
        return entry_options({**ENTRY, **values}, "e", None, flags, "ca-central-1")[0]

    plain = entry()
    assert plain.image_mode == "stop" and plain.public and plain.tags == ["k=v"]
    assert plain.copy_to_regions == "us-east-2" and plain.deprecate_after == "30"
    assert plain.secrets_policy == "no-inspect" and plain.default_copy_regions == "ca-central-1"
    own = entry(no_reboot=True, public=False, tag={"x": "y"}, copy_to_regions="none",
                deprecate_after=7, allow_secrets=True)
    assert own.image_mode == "no-reboot" and own.no_reboot and not own.public
    assert own.tags == ["x=y"] and own.copy_to_regions == "none" and own.deprecate_after == 7
    empty = entry(copy_to_regions=[], project="", tag={}, description="")
    assert empty.copy_to_regions == "us-east-2" and empty.project is None  # not given
    assert empty.tags == ["k=v"] and empty.description == ""
    assert own.secrets_policy == "allow-secrets"  # the entry's group replaces the flag's
    assert entry(stop=False).image_mode is None  # naming the group drops the flags' mode
    assert entry(instance="other").instance == "other"


def test_plugin_options_are_rows_too() -> None:
    publish = Option(("--publish",), help="x", action="store_true")
    level = Option(("--level",), help="y", choices=("a", "b"))
    plugins = {"publish": publish, "level": level}
    rows = table.table(plugins.values())
    assert [r.dest for r in rows[-2:]] == ["publish", "level"]
    assert rows[-1].argparse() == level.argparse()
    flags = table.save_values(_parser(rows).parse_args(["--publish", "--level", "a"]), rows)
    parsed = entry_options(ENTRY, "e", plugins, flags)[0]
    assert parsed.plugin_options == {"publish": True, "level": "a"}
    parsed = entry_options({**ENTRY, "publish": False, "level": "b"}, "e", plugins, flags)[0]
    assert parsed.plugin_options == {"publish": False, "level": "b"}
    with pytest.raises(InputError):
        entry_options({**ENTRY, "level": "c"}, "e", plugins)


def test_reserved_names_come_from_the_table() -> None:
    from prism_core.cli.commands.save import reserved_save_names

    names = reserved_save_names()
    for row in SAVE_OPTIONS:
        assert row.dest in names and set(row.flags) <= names
    assert {"--profile", "profile", "--output", "--debug"} <= names


def test_config_keys_name_the_flags_that_override_them() -> None:
    assert table.config_flags("image_mode") == "--reboot/--stop/--no-reboot"
    assert table.config_flags("default_copy_regions") == "--copy-to-regions"
    assert table.config_flags("deprecate_after_days") == "--deprecate-after"


def test_the_image_mode_rules() -> None:
    from prism_core.save import image_mode

    assert image_mode.chosen() is None and image_mode.chosen(stop=True) == "stop"
    with pytest.raises(InputError, match="--reboot, --no-reboot exclude each other"):
        image_mode.chosen(reboot=True, no_reboot=True)
    assert image_mode.resolve(None, False, "stop") == "stop"
    assert image_mode.resolve(None, True, "stop") == "no-reboot"
    assert image_mode.resolve("reboot", True, "stop") == "reboot"
    assert image_mode.stops("stop", "running") and not image_mode.stops("stop", "stopped")
    assert not image_mode.stops("reboot", "running")
    assert image_mode.reboots("reboot", "running") and not image_mode.reboots("reboot", "stopped")
    assert not image_mode.reboots("no-reboot", "running")
