"""Names in error messages are shown as typed (no double escaping), over-long ones say
"too long" with the limit, and template names that differ only in case are refused."""

from __future__ import annotations

from helpers import refused


def test_unicode_name_is_shown_as_typed(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "répertoire-ü", "--yes")
    refused(result, "invalid template name 'répertoire-ü'", "ASCII letters")
    assert "\\x" not in result.stderr


def test_control_characters_are_shown_escaped_once(prism_sandbox, run_prism):
    result = run_prism("save", "box", "a\x1b[31m", "--yes")
    refused(result, "'a\\x1b[31m'")


def test_over_long_template_name_says_too_long(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    refused(run_prism("save", "box", "a" * 65, "--yes"), "too long (65 characters)", "at most 64")


def test_over_long_instance_name_says_too_long(prism_sandbox, run_prism):
    refused(
        run_prism("launch", "python-ml", "é" * 256, "--yes"),
        "too long (256 characters)", "at most 255",
    )


def test_case_twin_of_a_local_template_is_refused(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    assert run_prism("save", "box", "My-Env", "--yes").exit_code == 0
    (prism_sandbox.prism_home / "templates" / "My-Env.yaml").rename(
        prism_sandbox.prism_home / "templates" / "My-Env.yml"
    )
    before = prism_sandbox.own_images()
    refused(run_prism("save", "box", "my-env", "--yes"), "existing template My-Env", "case")
    assert prism_sandbox.own_images() == before


def test_case_twin_in_the_registry_is_refused(prism_sandbox, run_prism, tmp_path, monkeypatch):
    prism_sandbox.create_instance("box")
    assert run_prism("save", "box", "My-Env", "--yes").exit_code == 0
    monkeypatch.setenv("PRISM_HOME", str(tmp_path / "teammate"))  # an empty PRISM_HOME
    refused(
        run_prism("save", "box", "my-env", "--yes"),
        "existing template My-Env (in the registry in us-east-1)",
    )
    assert run_prism("save", "box", "My-Env", "--yes").exit_code == 0  # a new version
