"""prism's import contracts (``.importlinter``: the layers, plugins use only the public
API, no cycles) are kept, checked by import-linter itself; and a deliberate violation
written into a scratch copy of the tree breaks them, so the check is not vacuous.

docs/architecture.md describes the layers.
"""

from __future__ import annotations

import configparser
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".importlinter"
#: The packages of this repository the contracts cover (contrib's are installed ones).
OWN_PACKAGES = ("prism_core", "prism_plugins", "prism_sandbox")
#: prism_core's modules a plugin may import (the provisional toolkit may not exist yet).
PUBLIC = {"prism_core.plugin_api", "prism_core.toolkit"}


def lint_imports(config: Path, cwd: Path, pythonpath: Path | None = None) -> tuple[int, str]:
    """Run the test venv's ``lint-imports`` on ``config``; (exit code, output)."""
    command = Path(sys.executable).with_name("lint-imports")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["COLUMNS"] = "400"  # the report unwrapped: its lines are matched whole
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    done = subprocess.run(
        [str(command), "--config", str(config), "--no-cache", "--no-logo"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    return done.returncode, done.stdout + done.stderr


def contracts() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(CONFIG, encoding="utf-8")
    return parser


def test_the_contracts_are_kept():
    code, output = lint_imports(CONFIG, ROOT)
    assert code == 0 and "BROKEN" not in output, output
    for section in contracts().sections():
        if section.startswith("importlinter:contract:"):
            name = contracts()[section]["name"]
            assert f"{name} KEPT" in output, output


def test_the_layers_contract_places_every_module_and_counts_annotations():
    config = contracts()
    layers = config["importlinter:contract:layers"]
    assert layers["type"] == "layers" and layers["exhaustive"] == "true"
    assert config["importlinter"]["exclude_type_checking_imports"] == "False"


def test_plugins_are_forbidden_every_module_but_the_public_ones():
    """A module added to prism_core is forbidden to plugins unless it is public."""
    forbidden = set(contracts()["importlinter:contract:plugins-public-api"][
        "forbidden_modules"].split())
    package = ROOT / "prism_core"
    modules = {f"prism_core.{m.name}" for m in pkgutil.iter_modules([str(package)])}
    assert "prism_core.plugin_api" in modules
    assert forbidden == modules - PUBLIC


def _scratch_tree(tmp_path: Path) -> Path:
    """A copy of this repository's packages and contracts to break."""
    tree = tmp_path / "tree"
    for package in OWN_PACKAGES:
        shutil.copytree(
            ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(CONFIG, tree / ".importlinter")
    return tree


#: case -> (files and the text appended to each, a line the failure report must hold)
VIOLATIONS: dict[str, tuple[dict[str, str], str]] = {
    "the engine imports the terminal": (
        {"prism_core/save/scratch_violation.py": "from prism_core.cli.progress import Progress\n"},
        "prism_core.save is not allowed to import prism_core.cli",
    ),
    "an annotation counts": (
        {
            "prism_core/templates/scratch_violation.py": "from typing import TYPE_CHECKING\n\n"
            "if TYPE_CHECKING:\n    from prism_core.save.context import SaveContext\n"
        },
        "prism_core.templates is not allowed to import prism_core.save",
    ),
    "settings imports templates": (
        {"prism_core/settings.py": "\nfrom prism_core.templates import provenance  # noqa\n"},
        "prism_core.settings is not allowed to import prism_core.templates",
    ),
    "a module in no layer": (
        {"prism_core/scratch_violation.py": "from prism_core import exceptions\n"},
        "- prism_core.scratch_violation",
    ),
    "a built-in plugin imports an internal": (
        {"prism_plugins/scratch_violation.py": "from prism_core.save.images import image_tags\n"},
        "prism_plugins.scratch_violation -> prism_core.save.images",
    ),
    "a cycle": (
        {
            "prism_core/save/scratch_violation.py": "import prism_core.save.pipeline\n",
            "prism_core/save/pipeline.py": "\nimport prism_core.save.scratch_violation  # noqa\n",
        },
        "No cycles are allowed in prism_core.save",
    ),
}


@pytest.mark.parametrize("case", sorted(VIOLATIONS))
def test_a_deliberate_violation_breaks_the_contracts(tmp_path: Path, case: str):
    tree = _scratch_tree(tmp_path)
    code, output = lint_imports(tree / ".importlinter", tree, pythonpath=tree)
    assert code == 0, output  # the copy is as clean as the tree
    changes, expected = VIOLATIONS[case]
    for name, text in changes.items():
        path = tree / name
        before = path.read_text() if path.exists() else f'"""A deliberate violation: {case}."""\n\n'
        path.write_text(before + text)
    code, output = lint_imports(tree / ".importlinter", tree, pythonpath=tree)
    assert code != 0, output
    assert expected in output, output
