"""``prism templates ...`` and ``prism save --validate`` against the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def images(sandbox, region: str) -> list[str]:
    """prism's AMIs in ``region`` (not the sandbox's base images), their ids sorted."""
    return sorted(i["ImageId"] for i in sandbox.own_images(region))


def snapshots(sandbox, region: str) -> set[str]:
    answer = sandbox.client("ec2", region).describe_snapshots(OwnerIds=["self"])["Snapshots"]
    return {s["SnapshotId"] for s in answer}


def registry(sandbox, region: str, name: str = "env1") -> list[str]:
    ssm = sandbox.client("ssm", region)
    found = ssm.get_parameters_by_path(Path=f"/prism/templates/{name}", Recursive=True)
    current = ssm.get_parameters(Names=[f"/prism/current/{name}"])["Parameters"]
    return sorted(p["Name"] for p in found["Parameters"] + current)


def registered(sandbox, region: str, name: str = "env1") -> tuple[list[str], list[str]]:
    """(entries holding a document, entries holding a version claim) of ``name``."""
    ssm = sandbox.client("ssm", region)
    found = ssm.get_parameters_by_path(Path=f"/prism/templates/{name}", Recursive=True)
    current = ssm.get_parameters(Names=[f"/prism/current/{name}"])["Parameters"]
    documents, claims = [], []
    for parameter in found["Parameters"] + current:
        is_claim = "claim" in json.loads(parameter["Value"])
        (claims if is_claim else documents).append(parameter["Name"])
    return sorted(documents), sorted(claims)


def test_list_merges_sources_and_reports_malformed(
    saved_template, run_prism, monkeypatch, tmp_path
):
    home = Path(saved_template["template_path"]).parent
    (home / "broken.yaml").write_text("name: broken\ndescription: x\nami_config: {amis: {}}\n")
    result = run_prism("templates", "list", "-o", "json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    rows = {r["name"]: r for r in doc["templates"]}
    assert rows["env1"]["sources"] == ["local", "registry"]
    assert rows["python-ml"]["sources"] == ["built-in"]
    assert "r-research" in rows and "broken" not in rows
    assert len(doc["problems"]) == 1 and "broken.yaml" in doc["problems"][0]
    assert "field ami_config.amis" in doc["problems"][0]
    assert "prism: warning:" in result.stderr and "broken.yaml" in result.stderr
    # a teammate sees it from the registry alone
    monkeypatch.setenv("PRISM_HOME", str(tmp_path / "empty"))
    text = run_prism("templates", "list")
    assert "env1" in text.stdout and "registry" in text.stdout


def test_show_lists_versions_with_dates_and_amis(prism_sandbox, run_prism):
    prism_sandbox.create_instance("my-box")
    first = run_prism("save", "my-box", "env1", "--yes", "-o", "json").json()
    second = run_prism(
        "save", "my-box", "env1", "--copy-to-regions", "us-east-2", "--yes", "-o", "json"
    ).json()
    doc = run_prism("templates", "show", "env1", "-o", "json").json()
    versions = {v["version"]: v for v in doc["versions"]}
    assert sorted(versions) == [1, 2] and versions[2]["newest"]
    assert versions[1]["amis"]["us-east-1"]["x86_64"] == first["amis"]["us-east-1"]
    assert versions[2]["amis"]["us-east-2"]["x86_64"] == second["amis"]["us-east-2"]
    assert versions[1]["saved_date"].endswith("Z")
    assert set(versions[1]["sources"]) == {"local", "registry"}
    text = run_prism("templates", "show", "env1").stdout
    assert "v2 (newest, default)" in text and first["amis"]["us-east-1"] in text
    assert run_prism("templates", "show", "nope").exit_code == 2


def test_validate_file_and_name(saved_template, run_prism, tmp_path):
    good = run_prism("templates", "validate", saved_template["template_path"])
    assert good.exit_code == 0 and "OK:" in good.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\ndescription: x\nami_config: {amis: {us-east-1: {x86_64: ami-1}}}\n"
        "instance_defaults: {ports: [22, 99999]}\n"
    )
    result = run_prism("templates", "validate", str(bad))
    assert result.exit_code == 2
    assert "field ami_config.amis.us-east-1.x86_64" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("!!python/object/apply:os.system ['true']\n")
    assert run_prism("templates", "validate", str(unsafe)).exit_code == 2
    assert run_prism("templates", "validate", "python-ml").exit_code == 0
    assert run_prism("templates", "validate", "env1", "-o", "json").json()["valid"] is True


def test_validate_boot_existing_template(saved_template, prism_sandbox, run_prism):
    result = run_prism("templates", "validate", "env1", "--boot", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["boot_check"]["images"] == [saved_template["amis"]["us-east-1"]]
    ec2 = prism_sandbox.client("ec2")
    checks = ec2.describe_instances(Filters=[{"Name": "tag-key", "Values": ["prism:boot-check"]}])[
        "Reservations"
    ]
    states = [i["State"]["Name"] for r in checks for i in r["Instances"]]
    assert states and all(s in ("shutting-down", "terminated") for s in states)


def test_delete_purge_removes_amis_snapshots_and_registry(saved_template, prism_sandbox, run_prism):
    before = {r: snapshots(prism_sandbox, r) for r in ("us-east-1", "us-east-2")}
    assert registry(prism_sandbox, "us-east-2")
    refused = run_prism("templates", "delete", "env1", "--purge")
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert images(prism_sandbox, "us-east-1") == [saved_template["amis"]["us-east-1"]]
    result = run_prism("templates", "delete", "env1", "--purge", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    removed = result.json()["removed"]
    for region in ("us-east-1", "us-east-2"):
        assert images(prism_sandbox, region) == []
        assert registry(prism_sandbox, region) == []
        saved_snaps = {s.split(":")[1] for s in removed["snapshots"] if s.startswith(region)}
        assert saved_snaps and saved_snaps <= before[region]
        assert not (saved_snaps & snapshots(prism_sandbox, region))
    assert not Path(saved_template["template_path"]).exists()
    assert "env1" not in {
        r["name"] for r in run_prism("templates", "list", "-o", "json").json()["templates"]
    }
    assert run_prism("templates", "delete", "env1", "--yes").exit_code == 2


def test_delete_without_purge_keeps_amis(saved_template, prism_sandbox, run_prism):
    result = run_prism("templates", "delete", "env1", "--yes")
    assert result.exit_code == 0, result.stderr
    assert images(prism_sandbox, "us-east-1") == [saved_template["amis"]["us-east-1"]]
    assert registry(prism_sandbox, "us-east-1") == []
    assert run_prism("templates", "delete", "python-ml", "--yes").exit_code == 2


def test_prune_keeps_newest(prism_sandbox, run_prism):
    prism_sandbox.create_instance("my-box")
    saves = [
        run_prism(
            "save", "my-box", "env1", "--copy-to-regions", "us-east-2", "--yes", "-o", "json"
        ).json()
        for _ in range(3)
    ]
    assert [s["version"] for s in saves] == [1, 2, 3]
    result = run_prism("templates", "prune", "env1", "--keep", "1", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["removed_versions"] == [2, 1]
    for region in ("us-east-1", "us-east-2"):
        assert images(prism_sandbox, region) == [saves[2]["amis"][region]]
        assert registry(prism_sandbox, region) == [
            "/prism/current/env1",
            "/prism/templates/env1/versions/3",
        ]
    home = Path(saves[2]["template_path"]).parent
    assert not list((home.parent / "archive" / "env1").glob("*.yaml"))
    shown = run_prism("templates", "show", "env1", "-o", "json").json()
    assert [v["version"] for v in shown["versions"]] == [3]
    launched = run_prism("launch", "env1", "box", "--yes", "-o", "json")
    assert launched.exit_code == 0 and launched.json()["image_id"] == saves[2]["amis"]["us-east-1"]
    assert run_prism("templates", "prune", "env1", "--keep", "0", "--yes").exit_code == 2


def test_prune_removes_the_pruned_versions_sboms(prism_sandbox, run_prism):
    """Each version's SBOM goes with it, as with `templates delete --purge`: the dry run
    lists them, the kept version's stays, and an object whose tags name another save is
    left alone and reported (exit 3)."""
    prism_sandbox.create_instance("my-box")
    for _ in range(3):
        assert run_prism("save", "my-box", "env1", "--yes").exit_code == 0
    s3 = prism_sandbox.client("s3")
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"]
                 if b["Name"].startswith("prism-inventory-")]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == [f"inventory/env1/{v}.cdx.json" for v in (1, 2, 3)]
    dry = run_prism("templates", "prune", "env1", "--keep", "1", "--dry-run", "-o", "json")
    assert dry.exit_code == 0, dry.stderr
    assert "and 2 inventory SBOM(s)" in dry.stderr
    plan = dry.json()["plan"]
    for key in keys[:2]:
        assert f"   inventory SBOM s3://{bucket}/{key} (save " in dry.stderr
        assert any(line.startswith(f"inventory SBOM s3://{bucket}/{key} ") for line in plan)
    assert keys[2] not in dry.stderr + json.dumps(plan)
    # a stranger's object where version 1's SBOM was: not that version's save
    s3.put_object_tagging(Bucket=bucket, Key=keys[0], Tagging={"TagSet": [
        {"Key": "prism:save-id", "Value": "someone-else"}]})
    result = run_prism("templates", "prune", "env1", "--keep", "1", "--yes", "-o", "json")
    assert result.exit_code == 3, result.stderr  # one thing was left alone
    removed = result.json()["removed"]
    assert result.json()["removed_versions"] == [2, 1]
    assert removed["inventories"] == [f"inventory s3://{bucket}/{keys[1]}"]
    assert any(keys[0] in line and "not this save's" in line for line in removed["kept"])
    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert left == [keys[0], keys[2]]
    packages = run_prism("templates", "packages", "env1", "-o", "json")
    assert packages.exit_code == 0, packages.stderr


def test_save_validate_success(prism_sandbox, run_prism):
    prism_sandbox.create_instance("my-box")
    result = run_prism("save", "my-box", "env1", "--validate", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert "Boot check passed" in result.stderr
    assert ("us-east-1", "DescribeInstanceStatus") in prism_sandbox.faults.calls()
    assert result.json()["registry"] and result.json()["template_path"]


def test_save_validate_launch_failure_leaves_ami_unregistered(prism_sandbox, run_prism):
    prism_sandbox.create_instance("my-box")
    prism_sandbox.faults.inject(
        "RunInstances",
        code="InsufficientInstanceCapacity",
        message="no capacity",
        status=400,
        times=-1,
    )
    result = run_prism(
        "save",
        "my-box",
        "env1",
        "--validate",
        "--copy-to-regions",
        "us-east-2",
        "--yes",
        "-o",
        "json",
    )
    prism_sandbox.faults.clear()
    assert result.exit_code == 1
    doc = result.json()
    assert doc["template_path"] is None and doc["registry"] == []
    assert any("boot check" in f and "no capacity" in f for f in doc["failures"])
    # nothing registered, and a failed save releases its version claim
    assert registered(prism_sandbox, "us-east-1") == ([], [])
    assert images(prism_sandbox, "us-east-2") == []  # not copied either
    assert len(images(prism_sandbox, "us-east-1")) == 1  # the AMI is kept, unregistered
    assert not (prism_sandbox.prism_home / "templates" / "env1.yaml").exists()


@pytest.fixture
def impaired(monkeypatch):
    """Every running instance fails its instance status check (moto always says ok)."""
    from moto.ec2.models.instances import Instance

    monkeypatch.setattr(
        Instance,
        "instance_status",
        property(
            lambda self: {
                "Status": "impaired",
                "Details": [{"Name": "reachability", "Status": "failed"}],
            }
        ),
    )


def test_save_validate_status_check_failure(prism_sandbox, run_prism, impaired):
    prism_sandbox.create_instance("my-box")
    result = run_prism("save", "my-box", "env1", "--validate", "--yes", "-o", "json")
    assert result.exit_code == 1
    doc = result.json()
    assert doc["template_path"] is None and doc["registry"] == []
    assert any("failed its status checks" in f for f in doc["failures"])
    # nothing registered, and a failed save releases its version claim
    assert registered(prism_sandbox, "us-east-1") == ([], [])
    ec2 = prism_sandbox.client("ec2")
    checks = ec2.describe_instances(Filters=[{"Name": "tag-key", "Values": ["prism:boot-check"]}])[
        "Reservations"
    ]
    assert all(
        i["State"]["Name"] in ("shutting-down", "terminated")
        for r in checks
        for i in r["Instances"]
    )
    # the original instance is running again
    box = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["my-box"]}])
    assert box["Reservations"][0]["Instances"][0]["State"]["Name"] in ("pending", "running")


def test_templates_list_local_does_not_import_boto3(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from prism_core.cli.app import main; "
        "main(['templates', 'list', '--local'], entry_points=[]);"
        "main(['--help'], entry_points=[]); assert 'boto3' not in sys.modules, 'boto3 imported'"
    )
    env = {"PRISM_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "python-ml" in done.stdout


def test_local_listing_cache_follows_file_changes(prism_sandbox, run_prism, tmp_path):
    from prism_core.templates.document import dump

    home = prism_sandbox.prism_home
    folder = home / "templates"
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "name": "cached",
        "description": "first",
        "base": "ami-based",
        "version": 1,
        "ami_config": {"amis": {"us-east-1": {"x86_64": "ami-0123456789abcdef0"}}},
    }
    (folder / "cached.yaml").write_text(dump(doc))

    def listed():
        result = run_prism("templates", "list", "--local", "-o", "json")
        assert result.exit_code == 0, result.stderr
        return {r["name"]: r for r in result.json()["templates"]}, result.json()["problems"]

    assert listed()[0]["cached"]["description"] == "first"
    assert (home / "cache" / "templates.json").is_file()
    doc["description"] = "second, longer than the first"
    (folder / "cached.yaml").write_text(dump(doc))
    assert listed()[0]["cached"]["description"] == "second, longer than the first"
    (folder / "cached.yaml").write_text("name: [unclosed")
    rows, problems = listed()
    assert "cached" not in rows and any("cached.yaml" in p for p in problems)
    (home / "cache" / "templates.json").write_text("{not json")  # a broken cache is rebuilt
    (folder / "cached.yaml").write_text(dump(doc))
    assert listed()[0]["cached"]["version"] == 1


def test_registry_listing_reads_summaries_in_pages(prism_sandbox, run_prism):
    """60 registered templates are listed with two DescribeParameters calls (pages of 50);
    a template of the older layout is found by name, and by list --legacy."""
    from prism_core.templates import registry as layout

    ssm = prism_sandbox.client("ssm", "us-east-1")
    for i in range(60):
        doc = {
            "name": f"team-{i:02d}",
            "description": f"template {i}",
            "base": "ami-based",
            "version": 2,
            "ami_config": {"amis": {"us-east-1": {"x86_64": "ami-0123456789abcdef0"}}},
        }
        layout.write_version(ssm, "/prism/", doc)
        layout.write_current(ssm, "/prism/", doc)
    old = dict(doc, name="old-layout", version=4)
    ssm.put_parameter(
        Name="/prism/templates/old-layout/template", Value=json.dumps(old), Type="String"
    )
    prism_sandbox.faults.clear_calls()
    result = run_prism("templates", "list", "-o", "json")
    assert result.exit_code == 0, result.stderr
    rows = {r["name"]: r for r in result.json()["templates"]}
    assert rows["team-07"]["version"] == 2 and rows["team-07"]["sources"] == ["registry"]
    assert rows["team-07"]["description"] == "template 7"
    ssm_calls = [a for r, a in prism_sandbox.faults.calls() if a != "DescribeRegions"]
    assert ssm_calls == ["DescribeParameters", "DescribeParameters"]
    assert "old-layout" not in rows
    legacy = run_prism("templates", "list", "--legacy", "-o", "json").json()
    assert {r["name"]: r["version"] for r in legacy["templates"]}["old-layout"] == 4
    shown = run_prism("templates", "show", "old-layout", "-o", "json")
    assert shown.exit_code == 0, shown.stderr

