"""Plugin failures: SystemExit or any BaseException from a hook is reported naming the
plugin, a save never exits 0 unless it finished, and `prism plugins` still works.
Every prism run is a child process under a memory limit, the hostile plugin built there
(tests/hostile_plugins.py)."""

from __future__ import annotations

import pytest
from helpers import run_prism_child

#: End to end, each error once (each in another phase, the refusal included): the
#: command's exit code and message, no traceback, the instance running. Every phase hook
#: with every error, and the policy of each phase, run in milliseconds in
#: tests/unit/test_pipeline_seam.py.
CASES = [
    ("prism_pre_stop", "exit-0"),
    ("prism_image", "exit-none"),
    ("prism_post_image", "exit-text"),
    ("prism_register", "base-exception"),
]


@pytest.mark.parametrize(("hook", "error"), CASES)
def test_base_exception_in_a_phase_is_reported_and_never_exit_0(prism_sandbox, hook, error):
    instance_id = prism_sandbox.create_instance("box")
    hostile = [("hostile", "hostile_plugins:raising", (hook, error))]
    result = run_prism_child("save", "box", "env1", "--yes", "-o", "json", plugins=hostile)
    assert result.exit_code != 0, (hook, result.stdout)
    assert "Traceback" not in result.stderr + result.stdout
    assert "hostile" in result.stderr + result.stdout
    assert prism_sandbox.instance_state(instance_id) == "running"
    if hook == "prism_pre_stop":
        assert result.exit_code == 2
        assert prism_sandbox.own_images() == []


@pytest.mark.parametrize("hook", ["prism_add_options", "prism_config_defaults",
                                  "prism_add_commands", "prism_settings"])
@pytest.mark.parametrize("error", ["error", "exit-0"])
def test_broken_cli_hook_names_the_plugin_and_plugins_still_works(prism_sandbox, hook, error):
    prism_sandbox.create_instance("box")
    hostile = [("hostile", "hostile_plugins:raising", (hook, error))]
    listed = run_prism_child("plugins", "-o", "json", plugins=hostile)
    assert listed.exit_code == 0, listed.stderr
    assert "hostile" in listed.json()["broken"]
    text = run_prism_child("plugins", plugins=hostile)
    assert "BROKEN hostile" in text.stdout
    result = run_prism_child("save", "box", "env1", "--yes", plugins=hostile)
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "hostile" in lines[0] and hook in lines[0], result.stderr
    assert "PRISM_DISABLE_PLUGINS=hostile" in lines[0]
    assert prism_sandbox.own_images() == []


@pytest.mark.parametrize("hook", ["prism_pre_stop", "prism_post_image"])
def test_a_plugin_that_exhausts_memory_fails_the_save_not_the_machine(prism_sandbox, hook):
    """The child runs under RLIMIT_AS: the 4 GiB request is a MemoryError, which prism
    reports naming the plugin, with the instance running."""
    instance_id = prism_sandbox.create_instance("box")
    hog = [("hog", "hostile_plugins:hog", (hook,))]
    result = run_prism_child("save", "box", "env1", "--yes", plugins=hog)
    assert result.exit_code in (1, 2), (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert "hog" in result.stderr + result.stdout
    assert prism_sandbox.instance_state(instance_id) == "running"


@pytest.fixture
def hostile_entry_point(monkeypatch, prism_only_plugins):
    """An installed plugin ``importer`` (entry point) whose module raises on import;
    ``required=True`` also lists it in ``prism.required_plugins``."""
    from prism_core import plugin_manager as pm

    def install(required: bool = False) -> None:
        entry = pm.PluginEntry("importer", "hostile_import_plugin", "hostile-dist", "0.1")
        found = pm.EntryPoints([entry], frozenset({"importer"} if required else set()))
        monkeypatch.setattr(pm, "cached_scan", lambda cache_dir: found)
        monkeypatch.setattr(pm, "_scan_entry_points", lambda: found)
        prism_only_plugins("importer")

    return install


IMPORT_ERRORS = ["exit-0", "exit-none", "exit-text", "exit-2", "generator-exit", "base-exception"]


@pytest.mark.parametrize("error", IMPORT_ERRORS)
@pytest.mark.parametrize(
    "argv", [["templates", "list", "--local"], ["save", "box", "env1", "--yes"], ["iam-policy"]]
)
def test_a_plugin_raising_systemexit_on_import_is_a_failure(
    prism_sandbox, run_prism, hostile_entry_point, monkeypatch, error, argv
):
    instance_id = prism_sandbox.create_instance("box")
    monkeypatch.setenv("HOSTILE_IMPORT", error)
    hostile_entry_point()
    result = run_prism(*argv)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "importer" in lines[0] and "while being imported" in lines[0]
    assert "PRISM_DISABLE_PLUGINS=importer" in lines[0]
    assert "Traceback" not in result.stderr
    assert prism_sandbox.own_images() == []
    assert prism_sandbox.instance_state(instance_id) == "running"
    listed = run_prism("plugins", "-o", "json")
    assert listed.exit_code == 0 and "importer" in listed.json()["broken"]
    monkeypatch.setenv("PRISM_DISABLE_PLUGINS", "importer")
    assert run_prism("templates", "list", "--local").exit_code == 0


@pytest.mark.parametrize("error", IMPORT_ERRORS)
def test_a_required_plugin_raising_systemexit_on_import_stops_prism(
    run_prism, hostile_entry_point, monkeypatch, error
):
    monkeypatch.setenv("HOSTILE_IMPORT", error)
    hostile_entry_point(required=True)
    result = run_prism("templates", "list", "--local")
    assert result.exit_code not in (0, None), result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "required plugin 'importer'" in lines[0], result.stderr
