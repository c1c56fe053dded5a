"""Local commands start without importing the heavy libraries (checked with -X importtime).

Wall time is measured by ``bench/startup_bench.py``, never asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("boto3", "botocore", "questionary", "prompt_toolkit", "moto", "jsonschema")


def _command(*args: str) -> list[str]:
    """``prism ARGS``: the console script for ``--version`` (which loads no plugin), else
    with the test's choice of installed plugins (prism's own: the built-ins)."""
    if args == ("--version",):
        return [sys.executable, "-m", "prism_core", *args]
    from prism_core.testing import prism_argv

    return prism_argv(*args)


def imported_modules(*args: str, home: str) -> set[str]:
    """Top-level package names a ``python -m prism_core ARGS`` run imports."""
    env = dict(os.environ, PRISM_HOME=home)
    command = _command(*args)
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "prism_core" in names
    return names


@pytest.mark.parametrize(
    ("args", "heavy"),
    [
        (("--help",), HEAVY),
        (("plugins",), HEAVY),
        (("save", "--help"), HEAVY),
        # templates list validates documents with jsonschema; the AWS libraries stay out
        (("templates", "list", "--local"), tuple(h for h in HEAVY if h != "jsonschema")),
    ],
)
def test_local_commands_do_not_import_heavy_libraries(tmp_path, args, heavy):
    names = imported_modules(*args, home=str(tmp_path))
    assert not names & set(heavy), f"prism {' '.join(args)} imported {sorted(names & set(heavy))}"


def test_version_imports_neither_framework_nor_plugins(tmp_path):
    names = imported_modules("--version", home=str(tmp_path))
    assert not names & {"cement", "pluggy", "yaml", *HEAVY}, sorted(names)


def test_help_loads_no_unused_cement_extension_and_no_yaml(tmp_path):
    env = dict(os.environ, PRISM_HOME=str(tmp_path))
    command = _command("--help")
    done = subprocess.run(
        [command[0], "-X", "importtime", *command[1:]],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "cement.ext.ext_smtp" not in modules and "cement.ext.ext_yaml" not in modules
    assert "prism_core.save.pipeline" not in modules  # commands load their code when run


def test_plugins_load_without_the_toolkit(tmp_path):
    """The built-in and contrib plugins import the provisional toolkit (prism's engine)
    where they use it, not at module level: ``prism --help`` imports every plugin module
    and none of the toolkit."""
    command = _command("--help")
    assert command[1] == "-c"
    seen = tmp_path / "modules.txt"
    probe = (
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(seen)!r}, 'w').write('\\n'.join(sys.modules)))\n"
    )
    env = dict(os.environ, PRISM_HOME=str(tmp_path))
    done = subprocess.run(
        [command[0], "-c", probe + command[2], *command[3:]],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set(seen.read_text().split("\n"))
    assert "prism_plugins.ec2_image" in modules and "prism_core.plugin_api" in modules
    assert "prism_core.toolkit" not in modules


def test_entry_points_are_cached_per_environment(tmp_path, monkeypatch):
    from prism_core import plugin_manager

    first = plugin_manager.cached_scan(tmp_path).plugins
    assert sorted(e.name for e in first) == plugin_manager.installed_plugin_names()
    (cache,) = tmp_path.glob("entry-points-*.json")
    assert cache.stat().st_mode & 0o077 == 0

    def no_scan():
        raise AssertionError("scanned although the environment did not change")

    monkeypatch.setattr(plugin_manager, "_scan_entry_points", no_scan)
    assert plugin_manager.cached_scan(tmp_path).plugins == first
    # a distribution installed or removed changes the key: scanned again
    monkeypatch.setattr(plugin_manager, "_environment_key", lambda: "another environment")
    with pytest.raises(AssertionError, match="scanned"):
        plugin_manager.cached_scan(tmp_path)


def test_entry_point_cache_writable_by_others_is_ignored(tmp_path, monkeypatch):
    from prism_core import plugin_manager

    plugin_manager.cached_scan(tmp_path)
    (cache,) = tmp_path.glob("entry-points-*.json")
    cache.chmod(0o666)
    scanned = []
    real = plugin_manager._scan_entry_points
    monkeypatch.setattr(plugin_manager, "_scan_entry_points", lambda: scanned.append(1) or real())
    plugin_manager.cached_scan(tmp_path)
    assert scanned == [1]


def test_help_with_installed_plugins_loads_no_plugin_command_module(tmp_path):
    """``prism --help`` as a user runs it (every installed plugin: the contrib ones here)
    imports the plugins but not their commands' modules, nor importlib.metadata."""
    env = dict(os.environ, PRISM_HOME=str(tmp_path))
    env.pop("PRISM_DISABLE_PLUGINS", None)
    program = (
        "import json, runpy, sys\n"
        "sys.argv = ['prism', '--help']\n"
        "try:\n"
        "    runpy.run_module('prism_core', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write('MODULES ' + json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=60
    )
    modules = set(json.loads(done.stderr.rsplit("MODULES ", 1)[1]))
    assert "prism_marketplace.plugin" in modules and "prism_cost_tags.plugin" in modules
    assert "marketplace" in done.stdout and "project" in done.stdout
    lazy = {"prism_marketplace.commands", "prism_cost_tags.project_costs", "importlib.metadata"}
    assert not modules & lazy, sorted(modules & lazy)
