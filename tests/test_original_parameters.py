"""The original tool's parameterised templates in prism: ``parameters:``, ``variables:``,
``{{.name}}`` placeholders and ``{{if}}`` blocks filled in at launch, ``--param``,
the prompt for a parameter without a default, display names, and prism's built-ins.

The fixtures under ``tests/original_templates/parameterised/`` are written for these
tests in the original's format.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import Any

import pexpect
import pytest
from helpers import spawn_prism_in_pty
from original_rules import violations
from test_original_templates import FIXTURES, bash_syntax_ok, user_data_of

from prism_core.cli.sandbox_seed import publish_public_images

PARAMETERISED = FIXTURES / "parameterised"


@pytest.fixture
def templates(prism_sandbox: Any) -> Path:
    """The parameterised fixtures in ``$PRISM_HOME/templates``; Ubuntu images published."""
    publish_public_images(prism_sandbox, ["us-east-1"])
    folder = prism_sandbox.prism_home / "templates"
    shutil.copytree(PARAMETERISED, folder)
    return folder


def _launched(prism_sandbox: Any, run_prism: Any, *args: str) -> tuple[dict[str, Any], str]:
    result = run_prism("launch", *args, "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    return doc, user_data_of(prism_sandbox, doc["id"])


def test_the_fixtures_are_what_the_original_loads():
    import yaml

    for path in sorted(PARAMETERISED.glob("*.yml")):
        assert violations(yaml.safe_load(path.read_text())) == [], path


def test_defaults_fill_every_placeholder(templates, prism_sandbox, run_prism, tmp_path):
    doc, script = _launched(prism_sandbox, run_prism, "ml-configurable", "ml-box")
    assert "{{" not in script and "}}" not in script
    assert doc["parameters"] == {
        "python_version": "3.11",
        "ml_framework": "pytorch",
        "jupyter_interface": "lab",
        "gpu_support": "false",
        "workers": "4",
        "extra_packages": "",
        "user_name": "researcher",
    }
    assert shlex.quote("python=3.11") in script
    assert "# Service jupyter-lab" in script
    assert shlex.quote("c.ServerApp.ip = '0.0.0.0'") in script
    assert " researcher\n" in script  # the user account, named by the parameter
    assert "conda install pytorch cpuonly -c pytorch -y" in script
    assert "pytorch-cuda" not in script and "tensorflow" not in script
    assert "conda create -n ml-env python=3.11 -y" in script
    assert "workers=4" in script and "pip install \n" not in script
    bash_syntax_ok(script, tmp_path)


def test_param_values_choose_the_branches(templates, prism_sandbox, run_prism, tmp_path):
    doc, script = _launched(
        prism_sandbox,
        run_prism,
        "ml-configurable",
        "tf-box",
        "--param",
        "ml_framework=tensorflow",
        "--param",
        "gpu_support=true",
        "--param",
        "user_name=ana",
        "--param",
        "python_version=3.12",
        "--param",
        "extra_packages=xarray dask",
    )
    assert doc["parameters"]["ml_framework"] == "tensorflow"
    assert "pip install tensorflow-gpu-build" in script
    assert "conda install pytorch" not in script
    assert shlex.quote("python=3.12") in script and " ana\n" in script
    assert "pip install xarray dask" in script and "/home/ana/.jupyter" in script
    bash_syntax_ok(script, tmp_path)


@pytest.mark.parametrize(
    ("params", "message"),
    [  # every rule's refusal, in the launch plan: tests/unit/test_launch_parameters.py
        (["gpu_support=maybe"], "gpu_support: maybe is not true or false"),
        (["nope=1"], "has no parameter nope (parameters: extra_packages,"),
    ],
)
def test_bad_values_are_refused_before_anything_changes(
    templates, prism_sandbox, run_prism, params, message
):
    prism_sandbox.faults.clear_calls()
    args = [arg for p in params for arg in ("--param", p)]
    result = run_prism("launch", "ml-configurable", "bad", *args, "--yes")
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("prism: error")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert not [c for c in prism_sandbox.faults.calls() if c[1] == "RunInstances"]


def test_a_parameter_without_default_must_be_given(templates, prism_sandbox, run_prism):
    missing = run_prism("launch", "workshop", "ws", "--yes")
    assert missing.exit_code == 2
    assert "needs parameter course" in missing.stderr
    assert "pass --param course=VALUE" in missing.stderr
    too_many = run_prism(
        "launch", "workshop", "ws", "--param", "course=BIO101", "--param", "seats=61", "--yes"
    )
    assert too_many.exit_code == 2 and "61 is above 60" in too_many.stderr
    doc, script = _launched(
        prism_sandbox,
        run_prism,
        "workshop",
        "ws",
        "--param",
        "course=BIO101",
        "--param",
        "seats=30",
    )
    assert doc["parameters"] == {"course": "BIO101", "seats": "30"}
    assert "seq 1 30" in script and 'echo "BIO101" > /etc/course' in script


def test_the_terminal_asks_for_parameters_without_default(templates, monkeypatch):
    monkeypatch.setenv("PROMPT_TOOLKIT_NO_CPR", "1")
    child = spawn_prism_in_pty(
        120, "launch", "workshop", "ws", "--param", "seats=12", "--dry-run", "-o", "json"
    )
    child.expect("Course code")
    child.sendline("CHEM201")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert '"course": "CHEM201"' in child.before and "/etc/course" in child.before


def test_a_template_is_found_by_its_display_name(templates, prism_sandbox, run_prism, tmp_path):
    for ref in ("Basic Research (APT)", "basic-research-apt", "Basic Research (APT)@1"):
        result = run_prism("launch", ref, "basic-box", "--dry-run", "-o", "json")
        assert result.exit_code == 0, (ref, result.stderr)
        assert result.json()["template"] == "basic-research-apt"
    unknown = run_prism("launch", "Basic Research (DNF)", "x", "--dry-run")
    assert unknown.exit_code == 2 and "Traceback" not in unknown.stderr


def test_builtins_fill_a_template_without_parameters(templates, prism_sandbox, run_prism, tmp_path):
    doc, script = _launched(prism_sandbox, run_prism, "basic-research-apt", "idle-box")
    assert doc["parameters"] == {}
    assert "IDLE_THRESHOLD_MINUTES=15" in script and "HIBERNATE_THRESHOLD_MINUTES=45" in script
    assert "*/5 * * * *" in script
    assert shlex.quote("c.NotebookApp.ip = '0.0.0.0'") in script
    assert "{{.Names}}" in script  # a docker format string, not a placeholder
    bash_syntax_ok(script, tmp_path)
    refused = run_prism("launch", "basic-research-apt", "x", "--param", "a=b", "--yes")
    assert refused.exit_code == 2 and "has no parameters" in refused.stderr


def test_an_undeclared_placeholder_is_refused(templates, prism_sandbox, run_prism):
    path = templates / "ml-configurable.yml"
    path.write_text(path.read_text().replace("{{.workers}}", "{{.wrokers}}"))
    result = run_prism("launch", "ml-configurable", "x", "--yes")
    assert result.exit_code == 2
    assert "post_install uses {{.wrokers}}, which is neither a parameter" in result.stderr
    checked = run_prism("templates", "validate", str(path))
    assert checked.exit_code == 2 and "uses {{.wrokers}}" in checked.stderr


def test_show_lists_the_parameters(templates, run_prism):
    for key in ("ml-configurable", "workshop", "basic-research-apt"):
        checked = run_prism("templates", "validate", key, "-o", "json")
        assert checked.exit_code == 0, checked.stderr
        assert checked.json()["original_tool"]["accepts"], checked.stdout
    shown = run_prism("templates", "show", "workshop")
    assert shown.exit_code == 0, shown.stderr
    assert "parameters" in shown.stdout and "course (required)" in shown.stdout
    doc = run_prism("templates", "show", "ml-configurable", "-o", "json").json()
    assert "python_version=3.11 [3.10|3.11|3.12]" in doc["versions"][0]["parameters"]
