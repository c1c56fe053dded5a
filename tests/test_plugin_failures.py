"""Plugin failures: SystemExit or any BaseException from a hook is reported naming the
plugin, a save never exits 0 unless it finished, and `prism plugins` still works.
Every prism run is a child process under a memory limit, the hostile plugin built there
(tests/hostile_plugins.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import run_prism_child

from prism_core.plugin_manager import PHASES


@pytest.mark.parametrize("error", ["exit-0", "exit-none", "exit-text", "base-exception"])
@pytest.mark.parametrize("hook", PHASES)
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


def test_rendered_template_with_another_name_is_not_written(prism_sandbox):
    home = Path(os.environ["PRISM_HOME"]) / "templates"
    home.mkdir(parents=True, exist_ok=True)
    (home / "victim.yaml").write_text("precious: true\n")
    prism_sandbox.create_instance("box")
    renamer = [("renamer", "hostile_plugins:renamer", ("victim",))]
    result = run_prism_child("save", "box", "env1", "--yes", "-o", "json", plugins=renamer)
    assert result.exit_code != 0
    assert any("named 'victim'" in f for f in result.json()["failures"])
    assert (home / "victim.yaml").read_text() == "precious: true\n"
    assert not (home / "env1.yaml").exists()


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
