"""The public plugin API is the only API: contrib uses nothing else, the guide lists it all."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from prism_core import plugin_api

ROOT = Path(__file__).resolve().parent.parent
CONTRIB_MODULES = sorted(p for p in (ROOT / "contrib").glob("*/*/*.py") if "tests" not in p.parts)
BUILT_IN_MODULES = sorted(p for p in (ROOT / "prism_plugins").glob("*.py") if p.stem != "__init__")
PLUGIN_MODULES = CONTRIB_MODULES + BUILT_IN_MODULES
GUIDE = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")


def _prism_imports(path: Path) -> list[str]:
    """Every ``prism_core...`` module (or ``prism_core.X`` name) ``path`` imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "prism_core"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "prism_core":
            if node.module == "prism_core":
                found += [f"prism_core.{a.name}" for a in node.names]
            else:
                found.append(node.module or "")
    return found


def _api_names(path: Path) -> list[str]:
    """The names ``path`` takes from the API: ``from prism_core.plugin_api import X`` and
    ``api.X`` after ``from prism_core import plugin_api as api``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names, aliases = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "prism_core.plugin_api":
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "prism_core":
            aliases |= {a.asname or a.name for a in node.names if a.name == "plugin_api"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in aliases:
                names.append(node.attr)
    return names


def test_plugin_modules_exist():
    assert len(CONTRIB_MODULES) >= 10
    assert {p.stem for p in BUILT_IN_MODULES} >= {"ec2_image", "ec2_copy", "ssm_registry"}


@pytest.mark.parametrize("path", PLUGIN_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_the_plugin_api(path):
    """contrib and the built-ins alike: the public API is all a plugin needs."""
    others = [m for m in _prism_imports(path) if m != "prism_core.plugin_api"]
    assert others == [], f"{path.name} imports prism internals: {others}"


@pytest.mark.parametrize("path", PLUGIN_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_name_a_plugin_takes_from_the_api_exists(path):
    for name in _api_names(path):
        assert name in plugin_api.__all__, (path.name, name)
        assert getattr(plugin_api, name) is not None


def test_every_export_resolves():
    for name in plugin_api.__all__:
        assert getattr(plugin_api, name) is not None, name


def test_the_guide_lists_exactly_the_api():
    section = GUIDE.split("## The public API", 1)[1].split("\n## ", 1)[0]
    listed = set()
    for line in re.findall(r"^- (.*)$", section, re.MULTILINE):
        head = line.split(" — ", 1)[0]
        listed |= set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", head))
    assert listed == set(plugin_api.__all__)


def test_importing_the_api_stays_cheap():
    import subprocess
    import sys

    code = (
        "import sys, prism_core.plugin_api as api; api.Option; "
        "print(any(m.startswith(('boto3', 'cement')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
