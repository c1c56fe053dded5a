"""Unit layer: the original tool's format (names, versions, sizes), base OS table, the
setup script for every package manager, and the archive migration. No sandbox."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from prism_core.exceptions import InputError
from prism_core.templates import archive, base_images, compat, userdata
from prism_core.templates.document import schema_errors

FIXTURES = Path(__file__).parent.parent / "original_templates"


def test_key_title_and_version() -> None:
    doc = {"name": "Deep Learning GPU", "slug": "dl-gpu", "version": "1.0.0"}
    assert compat.key_of(doc, Path("x/deep-learning-gpu.yml")) == "dl-gpu"
    assert compat.key_of({"name": "Deep Learning GPU"}, Path("deep-learning-gpu.yml")) == (
        "deep-learning-gpu"
    )
    assert compat.key_of({"name": "A B"}) is None
    assert compat.title(doc) == "Deep Learning GPU"
    assert (compat.version_number(doc), compat.version_label(doc)) == (1, "1.0.0")
    assert compat.version_number({"version": "7"}) == 7 == compat.version_number({"version": 7})


def test_minimum_size() -> None:
    assert compat.below_minimum("XS", "M") and not compat.below_minimum("L", "M")
    assert not compat.below_minimum("GPU-S", "M") and compat.below_minimum("XL", "GPU-S")
    assert compat.at_least("S", "M") == "M" and compat.at_least("L", "M") == "L"


def test_ports_follow_the_original() -> None:
    doc = {
        "services": [{"name": "a", "port": 8888}, {"name": "b"}],
        "instance_defaults": {"ports": [22, 6006]},
        "ports": [8888, 443],
    }
    assert compat.ports(doc) == [22, 8888, 6006, 443]


@pytest.mark.parametrize(
    ("base", "family", "user"),
    [
        ("ubuntu-22.04", "apt", "ubuntu"),
        ("ubuntu", "apt", "ubuntu"),
        ("debian", "apt", "admin"),
        ("amazonlinux", "dnf", "ec2-user"),
        ("rocky-9", "dnf", "rocky"),
        ("rhel", "dnf", "ec2-user"),
    ],
)
def test_base_os_table(base: str, family: str, user: str) -> None:
    release = base_images.require_base(base, "t")
    assert (release.family, release.user) == (family, user)
    assert release.parameters or (release.owner and release.name_pattern)


def test_ubuntu_parameters_are_canonicals() -> None:
    release = base_images.require_base("ubuntu-24.04", "t")
    assert release.parameter_names("arm64")[0] == (
        "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id"
    )
    assert base_images.require_base("rocky-9", "t").image_name("arm64").endswith(".aarch64")
    with pytest.raises(InputError, match="cannot build on base 'alpine'"):
        base_images.require_base("alpine", "t")


@pytest.mark.parametrize("path", sorted(FIXTURES.rglob("*.y*ml")), ids=lambda p: p.name)
def test_fixtures_render_valid_bash(path: Path, tmp_path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert schema_errors(doc) == []
    base = base_images.known_base(doc["base"])
    script = userdata.render(doc, compat.key_of(doc, path) or "t", base)
    target = tmp_path / "s.sh"
    target.write_text(script)
    assert subprocess.run(["bash", "-n", str(target)], capture_output=True).returncode == 0
    assert userdata.READY_MARKER in script


@pytest.mark.parametrize("manager", ["apt", "conda", "pip", "spack"])
def test_each_manager_installs_with_its_tool(manager: str) -> None:
    doc = {
        "name": "T",
        "description": "d",
        "base": "ubuntu-22.04",
        "package_manager": manager,
        "packages": {manager if manager != "apt" else "system": ["pkg-a", "pkg b"]},
    }
    script = userdata.render(doc, "t", base_images.require_base("ubuntu-22.04", "t"))
    assert "pkg-a 'pkg b'" in script
    tool = {
        "apt": "prism_system_install",
        "conda": "conda install",
        "pip": "pip install",
        "spack": "spack install",
    }[manager]
    assert f"{tool}" in script


def test_large_scripts_are_compressed_or_refused() -> None:
    small = userdata.encode("echo hi\n", "t")
    assert small == b"echo hi\n"
    packed = userdata.encode("echo " + "a" * 40000 + "\n", "t")
    assert packed[:2] == b"\x1f\x8b"
    noise = "".join(f"echo {i * 7919 % 100003:x}{i}\n" for i in range(20000))
    with pytest.raises(InputError, match="KiB EC2 allows"):
        userdata.encode(noise, "t")


def test_legacy_archive_moves_out_of_templates(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "versions" / "env1").mkdir(parents=True)
    (templates / "versions" / "env1" / "1.yaml").write_text("name: env1\n")
    (templates / "versions" / "env1" / "notes.txt").write_text("mine")
    moved = archive.migrate(templates)
    assert moved == [str(tmp_path / "archive" / "env1" / "1.yaml")]
    assert (templates / "versions" / "env1" / "notes.txt").exists()  # not ours: left
    assert archive.versions(templates, "env1") == {1: tmp_path / "archive" / "env1" / "1.yaml"}
    assert archive.migrate(templates) == []
