"""An original-format template (``slug``, semver ``version``) is named the same way by
``templates tree`` and by ``launch``: by its slug, with its version as written."""

from __future__ import annotations

import pytest


def _original_template(prism_sandbox, suffix: str) -> None:
    image_id = prism_sandbox.instance(prism_sandbox.create_instance("source"))["ImageId"]
    folder = prism_sandbox.prism_home / "templates"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"pkg{suffix}").write_text(
        'name: "Package ML"\nslug: pkg-ml\ndescription: ML packages\nbase: ami-based\n'
        f'package_manager: ami\nversion: "1.0.0"\nami_config:\n  amis:\n'
        f"    us-east-1:\n      x86_64: {image_id}\n"
    )


@pytest.mark.parametrize("suffix", [".yml", ".yaml"])
def test_tree_and_launch_name_an_original_template_alike(prism_sandbox, run_prism, suffix):
    _original_template(prism_sandbox, suffix)
    tree = run_prism("templates", "tree")
    assert tree.exit_code == 0, tree.stderr
    assert "pkg-ml v1.0.0" in tree.stdout and "pkg v1" not in tree.stdout
    launched = run_prism("launch", "pkg-ml", "ml-box", "--yes")
    assert launched.exit_code == 0, launched.stderr
    assert "Template: pkg-ml v1.0.0 (local)" in launched.stdout
