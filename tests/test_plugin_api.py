"""The public plugin API is small, static and the only API, with the provisional toolkit
beside it: contrib and the built-ins use nothing else, the guide lists both, and a name
that left the API fails to import with one line saying where it went."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from prism_core import plugin_api, toolkit
from prism_core.plugin_manager import PrismPluginManager

ROOT = Path(__file__).resolve().parent.parent
CONTRIB_MODULES = sorted(p for p in (ROOT / "contrib").glob("*/*/*.py") if "tests" not in p.parts)
BUILT_IN_MODULES = sorted(p for p in (ROOT / "prism_plugins").glob("*.py") if p.stem != "__init__")
PLUGIN_MODULES = CONTRIB_MODULES + BUILT_IN_MODULES
GUIDE = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
PUBLIC = {"prism_core.plugin_api": plugin_api, "prism_core.toolkit": toolkit}

#: Every name ``prism_core.plugin_api`` exported (``__all__``) before the toolkit existed:
#: a plugin written against it still loads, or fails naming where the name went.
FORMER_API = """
hookimpl Handler Option Command PluginSettings IamStatement PrismError InputError
OperationFailed EXIT_OK EXIT_FAILURE EXIT_REFUSED EXIT_PARTIAL AwsClients aws_clients
user_agent error_code error_message tags_of tag_list TEMPLATE_TAG PROJECT_TAG emit printable
template_name region_name project_id MAX_TAGS PRISM_TAG_COUNT load_yaml_bounded
load_json_bounded read_text_bounded validate_document parse_document load_template_file
dump_template template_path write_template archive_template find_template builtin_template
MAX_TEMPLATE_BYTES trusted_owners describe_owners check_owners inspect_instance
InspectionReport INSPECTION_CHECKLIST InventoryStore to_cyclonedx from_cyclonedx SaveContext
SaveRequest RegionImage REQUESTED PENDING AVAILABLE FAILED WaitCancelled ValidationFailed
describe_image settled_image find_image_by_name find_saved_image image_snapshot_ids
state_reason image_tags share_in_region encrypted_sharing_notes copy_to_accounts
check_account_copies deprecate_in_region require_imds_v2 discard_own_image mark_requested
requested_at completion_estimate progress_report progress_finished LOCK_TAG SAVE_ID_TAG
boot_check build_template_document registry_publish registry_value
registry_current_parameter sync_image_parameters
""".split()


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


def _public_names(path: Path) -> list[tuple[str, str]]:
    """``(module, name)`` for each name ``path`` takes from the API or the toolkit:
    ``from prism_core.plugin_api import X`` and ``api.X`` after ``from prism_core import
    plugin_api as api`` (the same for ``toolkit``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names, aliases = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in PUBLIC:
            names += [(node.module, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "prism_core":
            for a in node.names:
                if f"prism_core.{a.name}" in PUBLIC:
                    aliases[a.asname or a.name] = f"prism_core.{a.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in aliases:
                names.append((aliases[node.value.id], node.attr))
    return names


def test_plugin_modules_exist():
    assert len(CONTRIB_MODULES) >= 10
    assert {p.stem for p in BUILT_IN_MODULES} >= {"ec2_image", "ec2_copy", "ssm_registry"}


@pytest.mark.parametrize("path", PLUGIN_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_the_plugin_api(path):
    """contrib and the built-ins alike: the public API (and the provisional toolkit, for
    implementing a phase as the built-ins do) is all a plugin needs."""
    others = [m for m in _prism_imports(path) if m not in PUBLIC]
    assert others == [], f"{path.name} imports prism internals: {others}"


@pytest.mark.parametrize("path", PLUGIN_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_name_a_plugin_takes_from_the_api_exists(path):
    for module, name in _public_names(path):
        assert name in PUBLIC[module].__all__, (path.name, module, name)
        assert getattr(PUBLIC[module], name) is not None


def test_every_export_resolves():
    for module in PUBLIC.values():
        for name in module.__all__:
            assert getattr(module, name) is not None, name


def _module_tree(name: str) -> ast.Module:
    return ast.parse((ROOT / (name.replace(".", "/") + ".py")).read_text(encoding="utf-8"))


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_name_is_bound_statically_without_renames(module):
    """Each exported name is imported under its own name (``as`` only where the toolkit
    keeps a former API name) or defined in the module: mypy and IDEs see it, and no
    module ``__getattr__`` hands out values."""
    bound, renamed = set(), set()
    for node in _module_tree(module).body:
        if isinstance(node, ast.ImportFrom):
            bound |= {a.asname or a.name for a in node.names}
            renamed |= {a.asname for a in node.names if a.asname and a.asname != a.name}
        elif isinstance(node, ast.ClassDef | ast.FunctionDef):
            bound.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound |= {t.id for t in targets if isinstance(t, ast.Name)}
    assert set(PUBLIC[module].__all__) <= bound
    if module == "prism_core.plugin_api":
        assert renamed == set()


def test_the_api_is_small_and_the_toolkit_holds_the_rest():
    assert len(plugin_api.__all__) <= 30
    assert len(set(plugin_api.__all__)) == len(plugin_api.__all__)
    assert not set(plugin_api.__all__) & set(toolkit.__all__)
    assert set(FORMER_API) == set(plugin_api.__all__) | set(plugin_api.MOVED)
    moved_to_toolkit = {n for n, where in plugin_api.MOVED.items() if where == "prism_core.toolkit"}
    # the toolkit also holds helpers added since (never in the API)
    added_since = {"image_named"}
    assert moved_to_toolkit == set(toolkit.__all__) - added_since


@pytest.mark.parametrize("name", sorted(plugin_api.MOVED))
def test_a_moved_name_fails_naming_where_it_went(name):
    """``from prism_core.plugin_api import NAME`` and ``plugin_api.NAME`` alike: an
    ImportError of one line that names the replacement."""
    where = plugin_api.MOVED[name]
    with pytest.raises(ImportError) as raised:
        exec(f"from prism_core.plugin_api import {name}", {})
    message = str(raised.value)
    assert "\n" not in message and where.split("(")[0] in message and name in message
    with pytest.raises(ImportError, match=re.escape(message)):
        getattr(plugin_api, name)
    if where == "prism_core.toolkit":
        assert getattr(toolkit, name) is not None


def test_an_unknown_name_is_an_attribute_error():
    assert not hasattr(plugin_api, "no_such_name")
    with pytest.raises(ImportError, match="cannot import name"):
        exec("from prism_core.plugin_api import no_such_name", {})


def _installed(monkeypatch, tmp_path, name: str, source: str) -> PrismPluginManager:
    """A plugin manager that loads the module ``source`` as the entry point ``name``."""
    (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))

    class EntryPoint:
        value = name
        dist = None

    EntryPoint.name = name
    import importlib.metadata

    monkeypatch.setattr(
        importlib.metadata,
        "entry_points",
        lambda group=None: [EntryPoint()] if group == "prism.plugins" else [],
    )
    return PrismPluginManager(disabled=set()).load()


def test_a_plugin_written_against_the_former_api_still_loads(monkeypatch, tmp_path):
    source = (
        "from prism_core.plugin_api import InputError, RegionImage, SaveContext, hookimpl\n"
        "from prism_core import plugin_api as api\n\n"
        "@hookimpl\n"
        "def prism_pre_stop(ctx: SaveContext):\n"
        "    if not ctx.request.project_id:\n"
        "        raise api.InputError('a project is required')\n"
    )
    manager = _installed(monkeypatch, tmp_path, "former_api_plugin", source)
    assert "former_api_plugin" in {p.name for p in manager.plugins()}, manager.warnings


def test_a_plugin_using_a_moved_name_fails_to_load_naming_it(monkeypatch, tmp_path):
    source = "from prism_core.plugin_api import describe_image, hookimpl\n"
    manager = _installed(monkeypatch, tmp_path, "moved_name_plugin", source)
    assert "moved_name_plugin" not in {p.name for p in manager.plugins()}
    (warning,) = [w for w in manager.warnings if "moved_name_plugin" in w]
    assert "describe_image moved to prism_core.toolkit" in warning and "\n" not in warning


def _guide_names(heading: str) -> set[str]:
    section = GUIDE.split(heading, 1)[1].split("\n## ", 1)[0]
    listed = set()
    for line in re.findall(r"^- (.*)$", section, re.MULTILINE):
        head = line.split(" — ", 1)[0]
        listed |= set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", head))
    return listed


def test_the_guide_lists_exactly_the_api():
    assert _guide_names("## The public API") == set(plugin_api.__all__)


def test_the_guide_lists_exactly_the_toolkit():
    assert _guide_names("## The provisional toolkit") == set(toolkit.__all__)


def test_importing_the_api_stays_cheap():
    """No boto3, no Cement, and not the toolkit (nor the engine it loads)."""
    code = (
        "import sys, prism_core.plugin_api; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', "
        "'cement') or m in ('prism_core.toolkit', 'prism_core.templates.launch')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_typed_sample_plugin_runs_a_save(prism_sandbox, run_prism, prism_plugin):
    """``tests/unit/sample_plugin.py`` (the plugin mypy checks) works for real: its option,
    its pre-stop note, its tag on the image (checked through the toolkit) and its
    template wrapper, within the IAM statements it declares."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "sample_plugin", ROOT / "tests" / "unit" / "sample_plugin.py"
    )
    assert spec is not None and spec.loader is not None
    sample = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sample)
    prism_plugin(sample, "sample")
    prism_sandbox.create_instance("box")
    refused = run_prism("save", "box", "tpl", "--yes")
    assert refused.exit_code == 2 and "a project is required" in refused.stderr
    result = run_prism(
        "save", "box", "tpl", "--project", "p1", "--ticket", "T-1", "--yes", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    (image,) = prism_sandbox.own_images()
    assert plugin_api.tags_of(image)["Team"] == "p1"
    assert any("tagged Team=p1" in note for note in result.json()["notes"])
    text = (prism_sandbox.prism_home / "templates" / "tpl.yaml").read_text(encoding="utf-8")
    assert "Ticket: T-1" in text
