"""Plugins extend the CLI: save options, commands, settings sections, config defaults."""

from __future__ import annotations

from prism_core import hookimpl
from prism_core.plugin_api import Command, Option, PluginSettings


class Publisher:
    @hookimpl
    def prism_add_options(self, command):
        if command == "save":
            return [Option(("--shout",), "say it loudly", action="store_true")]
        return None

    @hookimpl
    def prism_add_commands(self):
        def hello(app, args):
            print(f"hello {args.who} {app.plugin_settings('greeter')['greeting']}")
            return 0

        def fail(app, args):
            return 3

        return [
            Command(
                "greet",
                "greetings",
                subcommands=(
                    Command("hello", "say hello", hello, (Option(("who",), "whom"),)),
                    Command("fail", "exit 3", fail),
                ),
            )
        ]

    @hookimpl
    def prism_settings(self):
        return PluginSettings(
            "greeter",
            defaults={"greeting": "hi"},
            schema={"type": "object", "properties": {"greeting": {"type": "string"}}},
        )


def test_plugin_command_runs_with_settings(prism_sandbox, run_prism, prism_plugin):
    prism_plugin(Publisher(), "publisher")
    result = run_prism("greet", "hello", "ada")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "hello ada hi\n"
    assert run_prism("greet", "fail").exit_code == 3
    assert "greet" in run_prism("--help").stdout


def test_plugin_settings_from_config_are_validated(prism_sandbox, run_prism, prism_plugin):
    import os
    from pathlib import Path

    prism_plugin(Publisher(), "publisher")
    config = Path(os.environ["PRISM_HOME"]) / "config.yml"
    config.write_text("greeter:\n  greeting: hey\n")
    assert run_prism("greet", "hello", "ada").stdout == "hello ada hey\n"
    config.write_text("greeter:\n  greeting: 5\n")
    result = run_prism("greet", "hello", "ada")
    assert result.exit_code == 2
    assert "config greeter.greeting" in result.stderr and "publisher" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_save_option_reaches_ctx_options(prism_sandbox, run_prism, prism_plugin):
    seen = {}

    class Reader:
        @hookimpl
        def prism_pre_stop(self, ctx):
            seen["options"] = dict(ctx.options)
            return "shouting" if ctx.options["shout"] else None

    prism_plugin(Publisher(), "publisher")
    prism_plugin(Reader(), "reader")
    prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "tpl", "--shout", "--dry-run", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert seen["options"]["shout"] is True
    assert "Note:       shouting" in result.json()["plan"]
    assert "--shout" in run_prism("save", "--help").stdout


def test_option_clash_names_both_plugins(prism_sandbox, run_prism, prism_plugin):
    class Other:
        @hookimpl
        def prism_add_options(self, command):
            return [Option(("--shout",), "also loud", action="store_true")]

    prism_plugin(Publisher(), "publisher")
    prism_plugin(Other(), "other")
    result = run_prism("plugins")
    assert result.exit_code == 2
    line = result.stderr.strip().splitlines()[-1]
    assert "--shout" in line and "'publisher'" in line and "'other'" in line


def test_command_clash_with_prism_and_between_plugins(prism_sandbox, run_prism, prism_plugin):
    class Saver:
        @hookimpl
        def prism_add_commands(self):
            return [Command("save", "mine", lambda app, args: 0)]

    prism_plugin(Saver(), "saver")
    result = run_prism("plugins")
    assert result.exit_code == 2 and "prism itself" in result.stderr and "'saver'" in result.stderr


def test_two_plugins_same_command(prism_sandbox, run_prism, prism_plugin):
    class One:
        @hookimpl
        def prism_add_commands(self):
            return [Command("dup", "one", lambda app, args: 0)]

    class Two:
        @hookimpl
        def prism_add_commands(self):
            return [Command("dup", "two", lambda app, args: 0)]

    prism_plugin(One(), "one")
    prism_plugin(Two(), "two")
    result = run_prism("plugins")
    assert result.exit_code == 2
    assert "`prism dup`" in result.stderr and "'one'" in result.stderr and "'two'" in result.stderr


def test_config_defaults_sit_below_config_files(prism_sandbox, run_prism, prism_plugin):
    import os
    from pathlib import Path

    class Institution:
        @hookimpl
        def prism_config_defaults(self):
            return {"prism": {"registry_prefix": "/uni/", "default_copy_regions": "us-west-2"}}

    prism_plugin(Institution(), "institution")
    prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "tpl", "--dry-run", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["request"]["copy_to_regions"] == ["us-west-2"]
    config = Path(os.environ["PRISM_HOME"]) / "config.yml"
    config.write_text("prism:\n  default_copy_regions: us-east-2\n")
    result = run_prism("save", "box", "tpl", "--dry-run", "-o", "json")
    assert result.json()["request"]["copy_to_regions"] == ["us-east-2"]
