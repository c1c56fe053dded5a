"""The plugin API: hooks, failures in each phase, listing, blocking, broken plugins."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prism_core import hookimpl, hookspecs
from prism_core.plugin_manager import PrismPluginManager
from prism_core.save.phases import PHASE_HOOKS as PHASES


def _raiser(hook: str):
    class Broken:
        pass

    def impl(self, ctx):
        raise RuntimeError(f"boom in {hook}")

    impl.__name__ = hook
    setattr(Broken, hook, hookimpl(impl))
    return Broken()


def test_every_phase_is_documented_in_run_order():
    import inspect

    lines = [inspect.getsourcelines(getattr(hookspecs, name))[1] for name in PHASES]
    assert lines == sorted(lines)  # hookspecs.py lists them in the order they run
    for name in PHASES:
        doc = getattr(hookspecs, name).__doc__
        assert doc and "Fires" in doc, name


def test_phases_run_in_order(prism_sandbox, run_prism, prism_plugin):
    seen: list[str] = []

    class Recorder:
        pass

    for name in PHASES:
        def impl(self, ctx, _name=name):
            seen.append(_name)

        impl.__name__ = name
        setattr(Recorder, name, hookimpl(tryfirst=True)(impl))
    prism_sandbox.create_instance("box")
    prism_plugin(Recorder(), "recorder")
    result = run_prism("save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes")
    assert result.exit_code == 0, result.stderr
    assert seen == list(PHASES)


def test_plugins_command_lists_builtins(prism_sandbox, run_prism):
    result = run_prism("plugins", "-o", "json")
    assert result.exit_code == 0
    names = {p["name"]: p for p in result.json()["plugins"]}
    assert {"ec2-preflight", "ec2-image", "ec2-copy", "ssm-registry", "yaml-template"} <= set(names)
    assert names["ec2-image"]["source"] == "built-in"
    assert "prism_image" in names["ec2-image"]["hooks"]
    text = run_prism("plugins").stdout
    assert "ec2-copy" in text and "copy" in text


def test_disable_plugins_env(prism_sandbox, run_prism, monkeypatch):
    monkeypatch.setenv("PRISM_DISABLE_PLUGINS", "ssm-registry, ec2-copy")
    result = run_prism("plugins", "-o", "json")
    names = {p["name"] for p in result.json()["plugins"]}
    assert "ssm-registry" not in names and "ec2-copy" not in names
    assert result.json()["blocked"] == ["ec2-copy", "ssm-registry"]


def test_misspelt_hook_is_a_warning_not_a_crash(prism_sandbox, run_prism, prism_plugin):
    class Typo:
        @hookimpl
        def prism_pre_stp(self, ctx):
            pass

    prism_plugin(Typo(), "typo")
    result = run_prism("plugins")
    assert result.exit_code == 0
    assert "typo" in result.stderr and "prism_pre_stp" in result.stderr


def test_broken_entry_point_is_a_warning(monkeypatch):
    from prism_core import entry_point_scan

    broken = entry_point_scan.Found("prism.plugins", "broken", "nowhere:plugin", None, None)
    monkeypatch.setattr(entry_point_scan, "entry_points", lambda groups: [broken])
    manager = PrismPluginManager(disabled=set()).load()
    assert any("broken" in w and "nowhere" in w for w in manager.warnings)
    assert {p.name for p in manager.plugins()} >= {"ec2-image"}


def test_third_party_replaces_a_builtin_phase(prism_sandbox, run_prism, prism_plugin):
    class Renderer:
        @hookimpl
        def prism_template_render(self, ctx):
            from prism_core.save.template_doc import build_document

            doc = build_document(ctx)
            doc["maintainer"] = "research-computing"
            return doc

    prism_sandbox.create_instance("box")
    prism_plugin(Renderer(), "custom-render")
    result = run_prism("save", "box", "env1", "--yes")
    assert result.exit_code == 0, result.stderr
    text = (Path(os.environ["PRISM_HOME"]) / "templates" / "env1.yaml").read_text()
    assert "maintainer: research-computing" in text


def test_registry_holds_the_rendered_document(prism_sandbox, run_prism, prism_plugin):
    """A render wrapper's nested field reaches the registry in every region, the file
    holds the same document, and the wrapper's changes never leak into the cache."""
    import json

    import yaml

    seen: list[dict] = []
    leaked: list[bool] = []

    class Stamp:
        @hookimpl(wrapper=True)
        def prism_template_render(self, ctx):
            document = yield
            seen.append(document)
            document["instance_defaults"]["labels"] = {"audit": {"ticket": "CHG-7"}}
            document["tags"]["Ticket"] = "CHG-7"
            from prism_core.save.template_doc import build_document

            leaked.append("labels" in build_document(ctx)["instance_defaults"])
            return document

    prism_sandbox.create_instance("box")
    prism_plugin(Stamp(), "stamp")
    result = run_prism(
        "save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    assert len(seen) == 1  # rendered once, shared by the register and template phases
    assert leaked == [False]  # the wrapper changed its own deep copy only
    path = Path(result.json()["template_path"])
    on_disk = yaml.safe_load(path.read_text())
    assert on_disk["instance_defaults"]["labels"] == {"audit": {"ticket": "CHG-7"}}
    for region in ("us-east-1", "us-east-2"):
        ssm = prism_sandbox.client("ssm", region)
        for name in ("/prism/current/env1", "/prism/templates/env1/versions/1"):
            stored = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
            assert stored == on_disk, (region, name)


def test_pre_stop_exception_refuses_with_nothing_changed(prism_sandbox, run_prism, prism_plugin):
    instance_id = prism_sandbox.create_instance("box")
    prism_plugin(_raiser("prism_pre_stop"), "policy")
    result = run_prism("save", "box", "env1", "--yes")
    assert result.exit_code == 2
    assert "policy refused the save: boom in prism_pre_stop" in result.stderr
    assert prism_sandbox.own_images() == []
    assert prism_sandbox.instance_state(instance_id) == "running"


@pytest.mark.parametrize(
    ("hook", "exit_code", "template_written"),
    [
        ("prism_image", 1, False),
        ("prism_post_image", 3, True),
        ("prism_copy", 3, True),
        ("prism_register", 3, True),
        ("prism_template_render", 1, False),
    ],
)
def test_exception_in_a_phase(
    prism_sandbox, run_prism, prism_plugin, hook, exit_code, template_written
):
    instance_id = prism_sandbox.create_instance("box")
    prism_plugin(_raiser(hook), "flaky")
    result = run_prism(
        "save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes", "-o", "json"
    )
    assert result.exit_code == exit_code, result.stderr
    assert prism_sandbox.instance_state(instance_id) == "running"
    document = result.json()
    assert any(f"boom in {hook}" in f and "flaky" in f for f in document["failures"])
    template = Path(os.environ["PRISM_HOME"]) / "templates" / "env1.yaml"
    assert template.exists() == template_written
    assert "Traceback" not in result.stderr
    if hook != "prism_image":
        assert document["amis"]["us-east-1"]  # the good AMI is kept and reported


def test_resume_after_the_cause_is_removed(prism_sandbox, run_prism):
    from prism_core.testing import EXTRA_PLUGINS

    instance_id = prism_sandbox.create_instance("box")
    EXTRA_PLUGINS.append(("flaky", _raiser("prism_template_render")))
    try:
        first = run_prism("save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes")
    finally:
        EXTRA_PLUGINS.pop()
    assert first.exit_code == 1
    assert "prism save --resume" in first.stdout
    second = run_prism("save", "--resume", "--yes", "-o", "json")
    assert second.exit_code == 0, second.stderr
    (document,) = second.json()["resumed"]
    assert document["status"] == "done"
    assert set(document["amis"]) == {"us-east-1", "us-east-2"}
    # no second AMI
    assert len(prism_sandbox.own_images()) == 1
    assert len(prism_sandbox.own_images("us-east-2")) == 1
    assert prism_sandbox.instance_state(instance_id) == "running"
    assert (Path(os.environ["PRISM_HOME"]) / "templates" / "env1.yaml").exists()
    assert run_prism("save", "--resume", "--yes").exit_code == 2  # nothing left
