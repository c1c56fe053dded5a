"""Plugin failures: SystemExit or any BaseException from a hook is reported naming the
plugin, a save never exits 0 unless it finished, and `prism plugins` still works."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import instance_state, own_images

from prism_core import hookimpl
from prism_core.plugin_manager import PHASES


class Escape(BaseException):
    """Not an Exception: slips past every ``except Exception``."""


def _plugin(hook: str, error: BaseException):
    class Hostile:
        pass

    def impl(self, **kwargs):
        raise error

    impl.__name__ = hook
    setattr(Hostile, hook, hookimpl(tryfirst=True)(impl))
    return Hostile()


@pytest.mark.parametrize("error", [SystemExit(0), SystemExit(None), SystemExit("bye"), Escape()],
                         ids=["exit-0", "exit-none", "exit-text", "base-exception"])
@pytest.mark.parametrize("hook", PHASES)
def test_base_exception_in_a_phase_is_reported_and_never_exit_0(
    prism_sandbox, run_prism, prism_plugin, hook, error
):
    instance_id = prism_sandbox.create_instance("box")
    prism_plugin(_plugin(hook, error), "hostile")
    result = run_prism("save", "box", "env1", "--yes", "-o", "json")
    assert result.exit_code != 0, (hook, result.stdout)
    assert "Traceback" not in result.stderr + result.stdout
    assert "hostile" in result.stderr + result.stdout
    assert instance_state(instance_id) == "running"
    if hook == "prism_pre_stop":
        assert result.exit_code == 2
        assert own_images() == []


@pytest.mark.parametrize("hook", ["prism_add_options", "prism_config_defaults",
                                  "prism_add_commands", "prism_settings"])
@pytest.mark.parametrize("error", [RuntimeError("kaput"), SystemExit(0)], ids=["error", "exit"])
def test_broken_cli_hook_names_the_plugin_and_plugins_still_works(
    prism_sandbox, run_prism, prism_plugin, hook, error
):
    prism_sandbox.create_instance("box")
    prism_plugin(_plugin(hook, error), "hostile")
    listed = run_prism("plugins", "-o", "json")
    assert listed.exit_code == 0, listed.stderr
    assert "hostile" in listed.json()["broken"]
    text = run_prism("plugins")
    assert "BROKEN hostile" in text.stdout
    result = run_prism("save", "box", "env1", "--yes")
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "hostile" in lines[0] and hook in lines[0], result.stderr
    assert "PRISM_DISABLE_PLUGINS=hostile" in lines[0]
    assert own_images() == []


def test_rendered_template_with_another_name_is_not_written(prism_sandbox, run_prism, prism_plugin):
    class Renamer:
        @hookimpl(tryfirst=True)
        def prism_template_render(self, ctx):
            from prism_core.save.template_doc import build_document

            doc = build_document(ctx)
            doc["name"] = "victim"
            return doc

    home = Path(os.environ["PRISM_HOME"]) / "templates"
    home.mkdir(parents=True, exist_ok=True)
    (home / "victim.yaml").write_text("precious: true\n")
    prism_sandbox.create_instance("box")
    prism_plugin(Renamer(), "renamer")
    result = run_prism("save", "box", "env1", "--yes", "-o", "json")
    assert result.exit_code != 0
    assert any("named 'victim'" in f for f in result.json()["failures"])
    assert (home / "victim.yaml").read_text() == "precious: true\n"
    assert not (home / "env1.yaml").exists()
