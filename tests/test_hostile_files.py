"""Hostile files: alias bombs, deep nesting, non-UTF-8, oversized and special files in
templates/, config.yml and /etc/prism/prism.yml. Each is a one-line error naming the file
(exit 2, nothing changed), or for `templates list` a warning while the others are listed.
Every prism run here is a child process under a memory limit (helpers.run_prism_child)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import run_prism_child

from prism_core.cli.sandbox_seed import builtin_image_parameters

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


def _symlink_to_itself(path: Path) -> None:
    path.symlink_to(path.name)


def _dangling_symlink(path: Path) -> None:
    path.symlink_to(path.parent / "nowhere" / "gone.yaml")


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
    ("malformed", _write(b"prism: [1, 2\n"), "not valid YAML"),
    ("impossible-date", _write(b"prism:\n  when: 2024-13-45\n"), "not valid YAML"),
    ("huge-integer", _write(b"prism:\n  n: " + b"9" * 5000 + b"\n"), "thousands of digits"),
    ("directory", _directory, "a directory"),
    ("symlink-loop", _symlink_to_itself, "symbolic links"),
    ("dangling-symlink", _dangling_symlink, "No such file"),
]
IDS = [case[0] for case in HOSTILE]


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


#: Through the commands other than `templates validate`: the special files (which could
#: hang or exhaust the process) and one content kind; every content kind through each
#: reader: tests/unit/test_hostile_file_readers.py.
SPECIAL_AND_BOMB = [
    c
    for c in HOSTILE
    if c[0] in ("alias-bomb", "dev-zero", "fifo", "directory", "symlink-loop", "dangling-symlink")
]
# a folder named *.yaml in templates/ is a folder of templates, not a bad file
FILES = [c for c in SPECIAL_AND_BOMB if c[0] != "directory"]


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in FILES], ids=[c[0] for c in FILES])
def test_bad_template_file_is_skipped_and_the_rest_listed(prism_sandbox, make, expected):
    templates = prism_sandbox.prism_home / "templates"
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


@pytest.mark.parametrize(
    ("make", "expected"), [c[1:] for c in SPECIAL_AND_BOMB], ids=[c[0] for c in SPECIAL_AND_BOMB]
)
def test_bad_user_config_refuses_the_save(prism_sandbox, make, expected):
    instance_id = prism_sandbox.create_instance("box")
    make(prism_sandbox.prism_home / "config.yml")
    result = run_prism_child("save", "box", "env1", "--yes")
    _one_line_refusal(result, "config.yml", expected)
    assert prism_sandbox.own_images() == []
    assert prism_sandbox.instance_state(instance_id) == "running"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("name: ok\ndescription: d\n", "ami_config"),
        ("- a list\n", "must be a mapping"),
        ("name: ok\ndescription: " + "x" * 300_000 + "\n", "larger than"),
        (GOOD.replace("us-east-1:", "1:"), "key '1' is not text"),
        (GOOD + "tags: {2024-01-01: x}\n", "key '2024-01-01' is not text"),
    ],
    ids=["missing-field", "not-a-mapping", "huge-field", "number-key", "date-key"],
)
def test_validate_refuses_a_malformed_template(prism_sandbox, tmp_path, content, expected):
    path = tmp_path / "t.yaml"
    path.write_text(content)
    _one_line_refusal(run_prism_child("templates", "validate", str(path)), "t.yaml", expected)


def test_config_yaml_tags_are_never_constructed(prism_sandbox, tmp_path):
    marker = tmp_path / "pwned"
    (prism_sandbox.prism_home / "config.yml").write_text(
        f"prism: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    _one_line_refusal(run_prism_child("save", "box", "env1", "--yes"), "config.yml", "not valid")
    assert not marker.exists()


SYSTEM = [
    c
    for c in HOSTILE
    if c[0] in ("alias-bomb", "fifo", "dev-zero", "symlink-loop", "dangling-symlink")
]


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in SYSTEM], ids=[c[0] for c in SYSTEM])
def test_bad_system_config_refuses_the_save(prism_sandbox, make, expected, tmp_path):
    instance_id = prism_sandbox.create_instance("box")
    system = tmp_path / "prism.yml"
    make(system)
    result = run_prism_child("save", "box", "env1", "--yes", system_config=str(system))
    _one_line_refusal(result, str(system), expected)
    assert prism_sandbox.own_images() == []
    assert prism_sandbox.instance_state(instance_id) == "running"


def test_launch_of_a_good_template_ignores_a_bad_neighbour(prism_sandbox):
    prism_sandbox.create_instance("box")
    assert run_prism_child("save", "box", "env1", "--yes").exit_code == 0
    _fifo(prism_sandbox.prism_home / "templates" / "zz-evil.yaml")
    result = run_prism_child("launch", "env1", "new-box", "--yes")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("target", ["victim", "dev-null"])
def test_a_template_file_that_is_a_symlink_is_never_written_through(
    prism_sandbox, tmp_path, target
):
    """templates/env1.yaml is a symlink to someone else's file (or a device): saving
    env1, twice so the archive step runs too, replaces the link and never writes to,
    moves or deletes its target."""
    victim = tmp_path / "victim.yaml"
    victim.write_text("keep me\n")
    link_to = str(victim) if target == "victim" else "/dev/null"
    templates = prism_sandbox.prism_home / "templates"
    templates.mkdir()
    (templates / "env1.yaml").symlink_to(link_to)
    instance_id = prism_sandbox.create_instance("box")
    for _ in range(2):
        result = run_prism_child("save", "box", "env1", "--yes", "-o", "json")
        assert result.exit_code == 0, result.stdout + result.stderr
    assert victim.read_text() == "keep me\n"
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    current = templates / "env1.yaml"
    assert current.is_file() and not current.is_symlink()
    assert prism_sandbox.instance_state(instance_id) == "running"


BATCH = SPECIAL_AND_BOMB


@pytest.mark.parametrize(("make", "expected"), [c[1:] for c in BATCH], ids=[c[0] for c in BATCH])
def test_bad_batch_file_refuses_every_save(prism_sandbox, make, expected, tmp_path):
    """`prism save --batch FILE` reads FILE like every other file: a FIFO does not hang
    it, /dev/zero or an alias bomb does not exhaust memory; one line, exit 2."""
    instance_id = prism_sandbox.create_instance("box")
    path = tmp_path / "batch.yaml"
    make(path)
    result = run_prism_child("save", "--batch", str(path), "--yes", timeout=60)
    _one_line_refusal(result, "batch.yaml", expected)
    assert prism_sandbox.own_images() == []
    assert prism_sandbox.instance_state(instance_id) == "running"


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_prism_caches_that_are_special_files_are_rebuilt(prism_sandbox, kind):
    """$PRISM_HOME/cache (parsed templates, plugin entry points) is untrusted too: a cache
    file turned into a FIFO or a symlink to /dev/zero neither hangs prism nor fills its
    memory; the commands answer as if there were no cache."""
    templates = prism_sandbox.prism_home / "templates"
    templates.mkdir()
    (templates / "good-env.yaml").write_text(GOOD)
    assert run_prism_child("templates", "list", "--local").exit_code == 0
    caches = sorted((prism_sandbox.prism_home / "cache").glob("*.json"))
    assert caches, list(prism_sandbox.prism_home.rglob("*"))
    for cache in caches:
        cache.unlink()
        _fifo(cache) if kind == "fifo" else _symlink_to_dev_zero(cache)
    listed = run_prism_child("templates", "list", "--local", "-o", "json", timeout=60)
    assert listed.exit_code == 0, listed.stderr
    assert "good-env" in [t["name"] for t in listed.json()["templates"]]
    plugins = run_prism_child("plugins", timeout=60)
    assert plugins.exit_code == 0, plugins.stderr


def _inheritance_bomb(templates: Path, levels: int = 7, fan_out: int = 30) -> None:
    """t0 inherits t1 thirty times, t1 inherits t2 thirty times, ...: 30**7 merges if
    each listing is resolved again."""
    for level in range(levels + 1):
        parents = ", ".join([f"t{level + 1}"] * fan_out) if level < levels else ""
        (templates / f"t{level}.yaml").write_text(
            f"name: t{level}\ndescription: level {level}\nbase: ubuntu-22.04\n"
            "package_manager: apt\npackages: {system: [vim]}\n"
            + (f"inherits: [{parents}]\n" if parents else "")
        )


def test_an_inheritance_bomb_is_refused_in_bounded_time(prism_sandbox):
    templates = prism_sandbox.prism_home / "templates"
    templates.mkdir()
    _inheritance_bomb(templates)
    result = run_prism_child("launch", "t0", "new-box", "--yes", timeout=60)
    _one_line_refusal(result, "t0", "inherit")
    for argv in (("templates", "list", "--local"), ("templates", "show", "t0")):
        answer = run_prism_child(*argv, timeout=60)
        assert "Traceback" not in answer.stderr, answer.stderr
    assert prism_sandbox.client("ec2").describe_instances(
        Filters=[{"Name": "tag:Name", "Values": ["new-box"]}]
    )["Reservations"] == []


def test_user_data_over_ec2s_limit_is_refused_before_anything_is_created(prism_sandbox):
    templates = prism_sandbox.prism_home / "templates"
    templates.mkdir()
    import secrets

    # ~50 KB of random hex: over 16 KiB even gzip-compressed
    script = "\n".join(f"echo {secrets.token_hex(40)}" for _ in range(600))
    (templates / "big.yaml").write_text(
        "name: big\ndescription: a long setup\nbase: ubuntu-22.04\npackage_manager: apt\n"
        "packages: {system: [vim]}\npost_install: |\n"
        + "".join(f"  {line}\n" for line in script.splitlines())
    )
    prism_sandbox.publish_base_images(builtin_image_parameters(), ["us-east-1"])
    ec2 = prism_sandbox.client("ec2")
    groups = len(ec2.describe_security_groups()["SecurityGroups"])
    result = run_prism_child("launch", "big", "new-box", "--yes")
    _one_line_refusal(result, "big", "16 KiB")
    assert ec2.describe_instances(
        Filters=[{"Name": "tag:Name", "Values": ["new-box"]}]
    )["Reservations"] == []
    assert len(ec2.describe_security_groups()["SecurityGroups"]) == groups
