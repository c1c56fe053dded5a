"""The plugin API is typed: ``mypy --strict`` is clean on ``prism_core.plugin_api`` (and
the provisional toolkit) and on a plugin written against it (``sample_plugin.py``), and
mypy catches a name the API does not have (a moved one included: the module's
``__getattr__`` is hidden from it)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pluggy
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = Path(__file__).with_name("sample_plugin.py")

pytest.importorskip("mypy", reason="mypy is in the test extra (setup.cfg)")


def _mypy(*paths: Path) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` on ``paths`` only: the modules they import are read for their
    types (``--follow-imports=silent``) but their own findings are not reported."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--follow-imports=silent",
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            "--no-error-summary",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
    )


def test_mypy_strict_is_clean_on_the_api_and_a_sample_plugin() -> None:
    core = ROOT / "prism_core"
    done = _mypy(core / "plugin_api.py", core / "toolkit.py", SAMPLE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ""


def test_mypy_reports_names_the_api_does_not_have(tmp_path: Path) -> None:
    plugin = tmp_path / "old_plugin.py"
    plugin.write_text(
        "from prism_core.plugin_api import SaveContext, describe_image, hookimpl\n\n\n"
        "@hookimpl\n"
        "def prism_pre_stop(ctx: SaveContext) -> str:\n"
        "    return ctx.request.instance_idd\n",
        encoding="utf-8",
    )
    done = _mypy(plugin)
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'has no attribute "describe_image"' in done.stdout
    assert 'has no attribute "instance_idd"' in done.stdout


def test_the_sample_plugin_matches_the_hook_specifications() -> None:
    """Its hooks are prism's (pluggy checks the argument names on registration)."""
    from prism_core import hookspecs

    spec = importlib.util.spec_from_file_location("sample_plugin", SAMPLE)
    assert spec is not None and spec.loader is not None
    sample_plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sample_plugin)
    manager = pluggy.PluginManager("prism")
    manager.add_hookspecs(hookspecs)
    manager.register(sample_plugin, "sample")
    manager.check_pending()
    assert {h.name for h in manager.get_hookcallers(sample_plugin) or []} >= {
        "prism_pre_stop",
        "prism_post_image",
        "prism_template_render",
        "prism_add_commands",
        "prism_iam_statements",
    }
    (commands,) = manager.hook.prism_add_commands()
    assert [c.name for c in commands] == ["sample-tags"]
