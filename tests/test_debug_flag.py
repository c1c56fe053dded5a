"""``--debug`` is accepted by every command that offers it (Cement's own ``debug`` key
never reaches prism's config check)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "words",
    [
        ("iam-policy",),
        ("list",),
        ("templates", "list"),
        ("plugins",),
        ("save", "box", "box-env", "--dry-run"),
    ],
)
def test_debug_is_accepted(prism_sandbox, run_prism, words):
    prism_sandbox.create_instance("box")
    result = run_prism(*words, "--debug")
    assert result.exit_code == 0, result.stderr
    assert "unknown key" not in result.stderr


def test_debug_in_the_user_config_is_still_refused(prism_sandbox, run_prism):
    prism_sandbox.write_config("prism:\n  debgu: true\n")
    result = run_prism("iam-policy", "--debug")
    assert result.exit_code == 2 and "unknown key 'debgu'" in result.stderr
