"""The original Go tool's templates in prism: list, validate, launch (AMI- and
package-based), and templates prism saves that the original accepts.

The fixtures in ``tests/original_templates/`` are written for these tests in the
original's format (display names, slugs, semver, ``.yml``, apt/conda/pip/dnf, users,
services, post_install, an AMI-based template with instance types and ssh user).
"""

from __future__ import annotations

import base64
import gzip
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from original_rules import violations

from prism_core.aws.tags import tags_of
from prism_core.cli.sandbox_seed import publish_public_images

FIXTURES = Path(__file__).parent / "original_templates"
UBUNTU = "/aws/service/canonical/ubuntu/server/{}/stable/current/amd64/hvm/{}/ami-id"

#: key -> what each fixture must produce at launch.
EXPECTED: dict[str, dict[str, Any]] = {
    "genomics-apt": {
        "title": "Genomics Workbench (APT)",
        "label": "1.2.0",
        "image": ("ssm", UBUNTU.format("22.04", "ebs-gp2")),
        "type": "t3.large",
        "ssh": "ubuntu",
        "ports": [22, 8080],
        "packages": ["bwa", "samtools", "bcftools", "nginx", "r-base-core"],
        "users": ["analyst", "pipeline"],
        "services": ["nginx"],
        "install": "apt-get",
    },
    "climate-conda": {
        "title": "Climate Modelling Notebook",
        "label": "2.0.0",
        "image": ("ssm", UBUNTU.format("24.04", "ebs-gp3")),
        "type": "t3.medium",
        "ssh": "ubuntu",
        "ports": [22, 8888],
        "packages": [
            "python=3.12",
            "xarray",
            "dask",
            "netcdf4",
            "jupyterlab",
            "cftime>=1.6",
            "intake-esm",
        ],
        "users": ["researcher"],
        "services": ["jupyter"],
        "install": "/opt/miniforge/bin/conda install",
    },
    "streamlit-dashboards": {
        "title": "Streamlit Dashboards",
        "label": "0.3.0",
        "image": ("ssm", "/aws/service/debian/release/12/latest/amd64"),
        "type": "t3.medium",
        "ssh": "admin",
        "ports": [22, 8501],
        "packages": ["streamlit", "pandas==2.2.*", "plotly"],
        "users": ["dashboards"],
        "services": ["streamlit"],
        "install": "/opt/prism-venv/bin/python -m pip install",
    },
    "rocky-hpc": {
        "title": "Rocky HPC Node",
        "label": "0.9.1",
        "image": ("owner", "792107900819"),
        "type": "t3.medium",
        "ssh": "rocky",
        "ports": [22],
        "packages": ["gcc-gfortran", "openmpi", "openmpi-devel", "munge"],
        "users": ["hpcuser"],
        "services": ["munge"],
        "install": "dnf install -y",
    },
    "imaging-gpu": {
        "title": "Imaging GPU Workstation",
        "label": "1.0",
        "image": ("ami", "ami-0aaaaaaaaaaaaaaa1"),
        "type": "g4dn.xlarge",
        "ssh": "ubuntu",
        "ports": [22, 8888, 6006],
        "packages": [],
        "users": ["microscopist"],
        "services": ["jupyter-lab"],
        "install": "imaging environment ready",
    },
}


@pytest.fixture
def original_home(prism_sandbox: Any) -> dict[str, Any]:
    """The fixtures in ``$PRISM_HOME/templates``; public images in us-east-1; the
    AMI-based fixture's images registered (their ids written into its copy)."""
    publish_public_images(prism_sandbox, ["us-east-1"])
    templates = prism_sandbox.prism_home / "templates"
    shutil.copytree(FIXTURES, templates)
    gpu = templates / "imaging-gpu.yml"
    text = gpu.read_text()
    amis: dict[str, str] = {}
    for placeholder, arch, region in (
        ("ami-0aaaaaaaaaaaaaaa1", "x86_64", "us-east-1"),
        ("ami-0aaaaaaaaaaaaaaa2", "arm64", "us-east-1"),
        ("ami-0aaaaaaaaaaaaaaa3", "x86_64", "us-west-2"),
    ):
        real = prism_sandbox.publish_owner_image(
            "123456789012", f"imaging-gpu-{arch}-{region}", arch, region
        )
        amis[placeholder] = real
        text = text.replace(placeholder, real)
    gpu.write_text(text)
    return {"templates": templates, "amis": amis}


def user_data_of(sandbox: Any, instance_id: str) -> str:
    """The user data RunInstances received, read back with DescribeInstanceAttribute."""
    value = sandbox.client("ec2").describe_instance_attribute(
        InstanceId=instance_id, Attribute="userData"
    )["UserData"]["Value"]
    raw = base64.b64decode(value)
    return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()


def bash_syntax_ok(script: str, tmp_path: Path) -> None:
    path = tmp_path / "user-data.sh"
    path.write_text(script)
    check = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def expected_image(sandbox: Any, original_home: dict[str, Any], key: str) -> str:
    kind, what = EXPECTED[key]["image"]
    if kind == "ssm":
        return str(sandbox.client("ssm").get_parameter(Name=what)["Parameter"]["Value"])
    if kind == "ami":
        return str(original_home["amis"][what])
    images = sandbox.client("ec2").describe_images(
        Owners=[what], Filters=[{"Name": "name", "Values": ["Rocky-10-*x86_64"]}]
    )["Images"]
    return str(images[0]["ImageId"])


def test_list_shows_every_original_template(original_home, run_prism):
    result = run_prism("templates", "list", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["problems"] == []
    rows = {r["name"]: r for r in doc["templates"]}
    for key, facts in EXPECTED.items():
        assert rows[key]["title"] == facts["title"]
        assert rows[key]["version_label"] == facts["label"]
        assert rows[key]["sources"] == ["local"]
    assert rows["genomics-apt"]["kind"] == "package"
    assert rows["imaging-gpu"]["kind"] == "image"
    text = run_prism("templates", "list", "--local").stdout
    assert "Genomics Workbench (APT)" in text and "1.2.0" in text
    shown = run_prism("templates", "show", "genomics-apt", "-o", "json").json()
    assert shown["versions"][0]["version_label"] == "1.2.0"


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_each_validates_and_launches(key, original_home, prism_sandbox, run_prism, tmp_path):
    facts = EXPECTED[key]
    by_name = run_prism("templates", "validate", key)
    assert by_name.exit_code == 0, by_name.stderr
    files = [p for p in original_home["templates"].rglob("*.y*ml")]
    path = next(p for p in files if key in (p.stem, yaml.safe_load(p.read_text()).get("slug")))
    assert violations(yaml.safe_load(path.read_text())) == []  # the original loads the fixture
    by_file = run_prism("templates", "validate", str(path), "-o", "json")
    assert by_file.exit_code == 0 and by_file.json()["valid"], by_file.stderr
    assert by_file.json()["original_tool"] == {"accepts": True, "problems": []}

    result = run_prism("launch", key, f"{key}-box", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["image_id"] == expected_image(prism_sandbox, original_home, key)
    assert doc["type"] == facts["type"]
    assert doc["ssh"].startswith(f"ssh {facts['ssh']}@")
    assert doc["ports"] == facts["ports"]
    assert doc["template_version_label"] == facts["label"]
    tags = tags_of(prism_sandbox.instance(doc["id"]))
    assert tags["prism:template"] == key and tags["prism:template-version"] == facts["label"]

    script = user_data_of(prism_sandbox, doc["id"])
    assert script == doc["user_data"]
    assert facts["install"] in script
    for package in facts["packages"]:
        assert shlex.quote(package) in script, package
    for user in facts["users"]:
        assert "useradd -m -s " in script and f" {user}\n" in script, user
    for service in facts["services"]:
        assert f"# Service {service}" in script, service
    assert "PRISM-SETUP-COMPLETE template=" + key in script
    bash_syntax_ok(script, tmp_path)


def test_values_are_shell_quoted(original_home, run_prism, tmp_path):
    result = run_prism("launch", "genomics-apt", "q-box", "--dry-run", "-o", "json")
    assert result.exit_code == 0, result.stderr
    script = result.json()["user_data"]
    assert shlex.quote("root /srv/reports;  # it's quoted") in script
    # post_install runs as its own file, written with one quoted printf argument
    assert 'bash "$PRISM_STATE/post-install.sh"' in script
    # a hostile package name cannot run a command
    hostile = original_home["templates"] / "hostile.yml"
    hostile.write_text(
        yaml.safe_dump(
            {
                "name": "Hostile",
                "slug": "hostile",
                "description": "x",
                "base": "ubuntu-22.04",
                "package_manager": "apt",
                "packages": {"system": ["vim; touch /tmp/pwned", "$(reboot)"]},
                "post_install": "echo '; EOF'\nexit 0",
            }
        )
    )
    text = run_prism("launch", "hostile", "h-box", "--dry-run", "-o", "json").json()["user_data"]
    assert "'vim; touch /tmp/pwned' '$(reboot)'" in text
    bash_syntax_ok(text, tmp_path)


def test_dry_run_changes_nothing(original_home, prism_sandbox, run_prism):
    prism_sandbox.faults.clear_calls()
    ec2 = prism_sandbox.client("ec2")
    before = ec2.describe_instances()["Reservations"]
    result = run_prism("launch", "rocky-hpc", "dry-box", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "Dry run: would launch 'dry-box'" in result.stdout
    assert "prism_system_install gcc-gfortran openmpi openmpi-devel munge" in result.stdout
    assert "dnf install -y" in result.stdout
    calls = {action for _region, action in prism_sandbox.faults.calls()}
    assert not calls & {"CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "ImportKeyPair"}
    # RunInstances only as the pre-flight's DryRun: no instance was launched
    assert ec2.describe_instances()["Reservations"] == before


def test_wait_ready_waits_for_the_marker(original_home, prism_sandbox, run_prism):
    result = run_prism("launch", "climate-conda", "ready-box", "--wait-ready", "-y", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["setup"] == "complete"
    assert doc["setup_marker"].startswith("PRISM-SETUP-COMPLETE template=climate-conda")
    prism_sandbox.setup_outcome = "failed"
    failed = run_prism("launch", "climate-conda", "bad-box", "--wait-ready", "--yes")
    assert failed.exit_code not in (0, 2)
    assert "setup of i-" in failed.stderr and "PRISM-SETUP-FAILED" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_size_rules_of_original_templates(original_home, run_prism):
    small = run_prism("launch", "genomics-apt", "tiny", "--size", "XS", "--yes")
    assert small.exit_code == 2 and "needs at least size S" in small.stderr
    arm = run_prism("launch", "imaging-gpu", "arm-box", "--size", "S", "--dry-run", "-o", "json")
    assert arm.exit_code == 0, arm.stderr
    assert arm.json()["image_id"] == original_home["amis"]["ami-0aaaaaaaaaaaaaaa1"]


def test_refusals_are_one_line_and_change_nothing(original_home, prism_sandbox, run_prism):
    templates = original_home["templates"]
    rocky = yaml.safe_load((templates / "rocky-hpc.yml").read_text())
    rocky.update(slug="rocky-apt", package_manager="apt")
    (templates / "rocky-apt.yml").write_text(yaml.safe_dump(rocky))
    gpu = yaml.safe_load((templates / "imaging-gpu.yml").read_text())
    gpu["slug"] = "gone-gpu"
    gpu["ami_config"]["amis"]["us-east-1"]["x86_64"] = "ami-0123456789abcdef0"
    (templates / "gone-gpu.yml").write_text(yaml.safe_dump(gpu))
    alpine = dict(rocky, slug="alpine-box", base="alpine", package_manager="dnf")
    (templates / "alpine-box.yml").write_text(yaml.safe_dump(alpine))
    prism_sandbox.faults.clear_calls()
    for key, message in (
        ("rocky-apt", "installs with apt, but its base rocky (rocky 10) uses dnf"),
        ("gone-gpu", "its image ami-0123456789abcdef0 in us-east-1 does not exist"),
        ("alpine-box", "prism cannot build on base 'alpine'"),
    ):
        result = run_prism("launch", key, "x", "--yes")
        assert result.exit_code == 2, result.stderr
        assert message in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("prism: error")]
        assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    no_base = run_prism("launch", "genomics-apt", "x", "--region", "eu-west-3", "--yes")
    assert no_base.exit_code == 2 and "no ubuntu 22.04 image found in eu-west-3" in no_base.stderr
    assert not [c for c in prism_sandbox.faults.calls() if c[1] == "RunInstances"]


def test_validate_reports_every_error(prism_sandbox, run_prism, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "name: Bad\ndescription: 7\nbase: ubuntu-22.04\npackage_manager: yum\n"
        "users:\n  - groups: [sudo]\nservices:\n  - name: web\n    port: 70000\n"
    )
    result = run_prism("templates", "validate", str(bad), "-o", "json")
    assert result.exit_code == 2
    errors = result.json()["errors"]
    joined = "\n".join(errors)
    for field in ("description", "package_manager", "users.0", "services.0.port"):
        assert f"field {field}:" in joined, (field, errors)
    assert len(errors) >= 4
    text = run_prism("templates", "validate", str(bad))
    assert "INVALID" in text.stdout and text.stdout.count("  - field") == len(errors)
    assert f"(and {len(errors) - 1} more, listed above)" in text.stderr


def test_saved_template_passes_the_original_rules(prism_sandbox, run_prism):
    publish_public_images(prism_sandbox, ["us-east-1"])
    launched = run_prism("launch", "python-ml", "ml-box", "--yes", "-o", "json")
    assert launched.exit_code == 0, launched.stderr
    first = run_prism("save", "ml-box", "seismic", "--yes", "-o", "json")
    assert first.exit_code == 0, first.stderr
    second = run_prism(
        "save", "ml-box", "seismic", "--description", "v2", "--yes", "-o", "json"
    ).json()
    path = Path(second["template_path"])
    doc = yaml.safe_load(path.read_text())
    assert violations(doc) == []
    assert doc["base"] == "ami-based" and doc["package_manager"] == "ami"
    assert doc["version"] == "2" and doc["slug"] == "seismic" and doc["description"] == "v2"
    # lineage is prism's own field (the original ignores it): its version is the number
    assert doc["parent"] == {"template": "python-ml", "version": 1}
    shown = run_prism("templates", "show", "seismic", "-o", "json").json()
    assert shown["versions"][0]["parent"] == {"template": "python-ml", "version": 1}
    assert doc["ami_config"]["ssh_user"] == "ubuntu"
    assert doc["ami_config"]["amis"]["us-east-1"]["x86_64"].startswith("ami-")
    # the first save got a description prism wrote, and lives in the archive now
    home = path.parent.parent
    archived = home / "archive" / "seismic" / "1.yaml"
    older = yaml.safe_load(archived.read_text())
    assert violations(older) == [] and older["description"].startswith("Saved by prism from")
    # the original's recursive scan sees only templates it can load
    for file in path.parent.rglob("*"):
        if file.is_file() and file.suffix in (".yaml", ".yml"):
            assert violations(yaml.safe_load(file.read_text())) == [], file
    assert not (path.parent / "versions").exists()
    # the registry holds the same document
    registered = run_prism("templates", "show", "seismic", "-o", "json").json()
    assert [v["version"] for v in registered["versions"]] == [2, 1]
    relaunch = run_prism("launch", "seismic@1", "again", "--yes", "-o", "json")
    assert relaunch.exit_code == 0 and relaunch.json()["ssh"].startswith("ssh ubuntu@")


def test_old_layout_and_legacy_archive_still_read(prism_sandbox, run_prism):
    prism_sandbox.create_instance("old-box")
    saved = run_prism("save", "old-box", "legacy", "--yes", "-o", "json").json()
    path = Path(saved["template_path"])
    doc = yaml.safe_load(path.read_text())
    # rewrite it the way earlier prism releases did
    old = dict(doc, base="python-ml", version=1, ssh_user="ubuntu", description="")
    for key in ("slug", "package_manager", "parent"):
        old.pop(key, None)
    old["ami_config"] = {"amis": doc["ami_config"]["amis"]}
    legacy = path.parent / "versions" / "legacy"
    legacy.mkdir(parents=True)
    (legacy / "1.yaml").write_text(yaml.safe_dump(old))
    path.write_text(yaml.safe_dump(dict(old, version=2)))
    shown = run_prism("templates", "show", "legacy", "-o", "json")
    assert shown.exit_code == 0, shown.stderr
    assert [v["version"] for v in shown.json()["versions"]] == [2, 1]
    assert not (path.parent / "versions").exists()
    assert (path.parent.parent / "archive" / "legacy" / "1.yaml").is_file()
    launched = run_prism("launch", "legacy@1", "from-old", "--yes", "-o", "json")
    assert launched.exit_code == 0, launched.stderr
    assert launched.json()["ssh"].startswith("ssh ubuntu@")
    # validate says what the original tool would refuse in the old layout
    checked = run_prism("templates", "validate", "legacy@1", "-o", "json").json()
    assert checked["valid"] and not checked["original_tool"]["accepts"]
    problems = " ".join(checked["original_tool"]["problems"])
    assert "base 'python-ml'" in problems and "description" in problems
    assert "version" not in problems  # its YAML decoder reads `version: 1` as "1"


def test_sandbox_publishes_public_images_in_every_region(prism_sandbox):
    from prism_sandbox.seed import all_regions

    regions = all_regions()
    publish_public_images(prism_sandbox, regions)
    for region in (regions[0], "ap-southeast-2", regions[-1]):
        ssm = prism_sandbox.client("ssm", region)
        value = ssm.get_parameter(Name=UBUNTU.format("24.04", "ebs-gp3"))["Parameter"]["Value"]
        ec2 = prism_sandbox.client("ec2", region)
        assert ec2.describe_images(ImageIds=[value])["Images"][0]["Architecture"] == "x86_64"
        rocky = ec2.describe_images(Owners=["792107900819"])["Images"]
        assert {i["Architecture"] for i in rocky} == {"x86_64", "arm64"}


def test_delete_finds_yml_templates_by_slug(original_home, prism_sandbox, run_prism):
    path = original_home["templates"] / "community" / "streamlit-dashboards.yml"
    result = run_prism("templates", "delete", "streamlit-dashboards", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["removed"]["files"] == [str(path)] and not path.exists()
    gpu = run_prism("templates", "delete", "imaging-gpu", "--purge", "--yes", "-o", "json")
    assert gpu.exit_code == 0 and not (original_home["templates"] / "imaging-gpu.yml").exists()
    # images listed by a template prism did not save are not prism's to deregister
    assert gpu.json()["removed"]["images"] == []
    ec2 = prism_sandbox.client("ec2")
    assert (
        len(ec2.describe_images(ImageIds=list(original_home["amis"].values())[:2])["Images"]) == 2
    )
    rows = {r["name"] for r in run_prism("templates", "list", "-o", "json").json()["templates"]}
    assert "streamlit-dashboards" not in rows and "imaging-gpu" not in rows
    assert "genomics-apt" in rows


def test_inherited_templates_merge_their_parents(original_home, run_prism, tmp_path):
    result = run_prism("launch", "rocky-conda-stack", "stack", "--dry-run", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    script = doc["user_data"]
    # the parent's system packages, user and service, then the child's
    assert "gcc-gfortran openmpi openmpi-devel munge" in script
    assert "conda install -y -c conda-forge numpy pandas" in script
    for user in ("hpcuser", "datascientist"):
        assert f" {user}\n" in script
    assert "# Service munge" in script and "# Service jupyter" in script
    assert doc["ports"] == [22, 8888] and doc["ssh_user"] == "rocky"
    bash_syntax_ok(script, tmp_path)
    orphan = original_home["templates"] / "orphan.yml"
    orphan.write_text(
        "name: Orphan\nslug: orphan\ndescription: x\nbase: ubuntu\npackage_manager: apt\n"
        "inherits: [Nobody]\n"
    )
    missing = run_prism("launch", "orphan", "o", "--yes")
    assert missing.exit_code == 2 and "inherits from 'Nobody'" in missing.stderr
