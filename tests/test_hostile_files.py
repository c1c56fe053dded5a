"""Hostile files: alias bombs, deep nesting, non-UTF-8, oversized and special files in
templates/, config.yml and /etc/prism/prism.yml. Each is a one-line error naming the file
(exit 2, nothing changed), or for `templates list` a warning while the others are listed.
Every prism run here is a child process under a memory limit (helpers.run_prism_child)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import instance_state, own_images, run_prism_child

GOOD = """name: good-env
description: a template that is fine
ami_config:
  amis:
    us-east-1: {x86_64: ami-0123456789abcdef0}
"""


def billion_laughs() -> bytes:
    """The classic 9x9 alias bomb (about 400 bytes, 10^9 strings once expanded)."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return ("\n".join(lines) + "\n").encode()


def _write(content: bytes) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_bytes(content)

    return make


def _symlink_to_dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _directory(path: Path) -> None:
    path.mkdir()


HOSTILE: list[tuple[str, Callable[[Path], None], str]] = [
    ("alias-bomb", _write(billion_laughs()), "aliases"),
    ("deep-nesting", _write(b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n"), "nested"),
    ("deep-mapping", _write(b"".join(b"  " * i + b"k:\n" for i in range(200)) + b"\n"), "nested"),
    ("not-utf8", _write("name: caf\u00e9\n".encode("latin-1")), "not UTF-8"),
    ("oversized", _write(b"description: " + b"x" * (2 * 1024 * 1024) + b"\n"), "larger than"),
    ("dev-zero", _symlink_to_dev_zero, "a device"),
    ("fifo", _fifo, "a FIFO"),
    ("python-tag", _write(b"!!python/object/apply:os.system ['true']\n"), "not valid YAML"),
]
IDS = [case[0] for case in HOSTILE]


def _home() -> Path:
    home = Path(os.environ["PRISM_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    return home


def _one_line_refusal(result, *expected: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("prism: error: "), lines[0]
    for text in expected:
        assert text in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert "unexpected" not in lines[0]
    return lines[0]


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in HOSTILE], ids=IDS)
def test_bad_template_file_is_skipped_and_the_rest_listed(prism_sandbox, make, expected):
    templates = _home() / "templates"
    templates.mkdir()
    (templates / "good-env.yaml").write_text(GOOD)
    make(templates / "evil.yaml")
    result = run_prism_child("templates", "list", "--local", "-o", "json")
    assert result.exit_code == 0, result.stderr
    names = [t["name"] for t in result.json()["templates"]]
    assert "good-env" in names
    warnings = [line for line in result.stderr.splitlines() if "evil.yaml" in line]
    assert len(warnings) == 1 and expected in warnings[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in HOSTILE], ids=IDS)
def test_validate_refuses_a_bad_file_in_one_line(prism_sandbox, make, expected, tmp_path):
    path = tmp_path / "evil.yaml"
    make(path)
    _one_line_refusal(run_prism_child("templates", "validate", str(path)), "evil.yaml", expected)


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in HOSTILE], ids=IDS)
def test_bad_user_config_refuses_the_save(prism_sandbox, make, expected):
    instance_id = prism_sandbox.create_instance("box")
    make(_home() / "config.yml")
    result = run_prism_child("save", "box", "env1", "--yes")
    _one_line_refusal(result, "config.yml", expected)
    assert own_images() == []
    assert instance_state(instance_id) == "running"


@pytest.mark.parametrize(
    ("make", "expected"),
    [c[1:] for c in HOSTILE if c[0] in ("alias-bomb", "fifo", "dev-zero", "not-utf8")],
    ids=["alias-bomb", "not-utf8", "dev-zero", "fifo"],
)
def test_bad_system_config_refuses_the_save(prism_sandbox, make, expected, tmp_path):
    instance_id = prism_sandbox.create_instance("box")
    system = tmp_path / "prism.yml"
    make(system)
    result = run_prism_child("save", "box", "env1", "--yes", system_config=str(system))
    _one_line_refusal(result, str(system), expected)
    assert own_images() == []
    assert instance_state(instance_id) == "running"


def test_launch_of_a_good_template_ignores_a_bad_neighbour(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    assert run_prism("save", "box", "env1", "--yes").exit_code == 0
    _fifo(_home() / "templates" / "zz-evil.yaml")
    result = run_prism_child("launch", "env1", "new-box", "--yes")
    assert result.exit_code == 0, result.stderr
