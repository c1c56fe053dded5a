"""The inventory of every version: a CycloneDX SBOM in the account's store (S3), read
back by a teammate with an empty PRISM_HOME; `templates packages`, `diff`, `show`,
`history`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import boto3

ACCOUNT = "123456789012"


def _dist(sb, instance_id: str, name: str, version: str) -> None:
    site = "/opt/conda/envs/genomics/lib/python3.11/site-packages"
    sb.add_file(instance_id, f"{site}/{name}-{version}.dist-info/METADATA",
                f"Name: {name}\nVersion: {version}\n")


def test_inventory_round_trip_through_the_shared_store(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("genomics-box", tree="genomics-box")
    saved = run_prism("save", "genomics-box", "gen-env", "--yes", "-o", "json")
    assert saved.exit_code == 0, saved.stderr
    home = Path(os.environ["PRISM_HOME"])
    doc = json.loads(boto3.client("ssm").get_parameter(
        Name="/prism/templates/gen-env/versions/1")["Parameter"]["Value"])
    inventory = doc["inventory"]
    bucket = f"prism-inventory-{ACCOUNT}-us-east-1"
    assert inventory["sbom"] == f"s3://{bucket}/inventory/gen-env/1.cdx.json"
    assert inventory["secrets"] == {"private-key": 1, "cloud-credentials": 1, "token": 1,
                                    "history": 1}
    assert inventory["packages"]["conda"] >= 5
    s3 = boto3.client("s3")
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    sbom = json.loads(s3.get_object(Bucket=bucket, Key="inventory/gen-env/1.cdx.json")["Body"]
                      .read())
    assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.5"
    assert any(c.get("purl", "").startswith("pkg:conda/samtools@") for c in sbom["components"])

    # a teammate: same account, nothing local
    shutil.rmtree(home / "templates")
    listed = run_prism("templates", "packages", "gen-env", "--match", "SAMtools", "-o", "json")
    assert listed.exit_code == 0, listed.stderr
    names = {(p["kind"], p["name"]) for p in listed.json()["packages"]}
    assert names == {("conda", "samtools")}
    text = run_prism("templates", "packages", "gen-env@1")
    assert text.exit_code == 0 and "/opt/conda/envs/genomics (conda, " in text.stdout
    raw = run_prism("templates", "packages", "gen-env", "-o", "cyclonedx")
    assert json.loads(raw.stdout)["bomFormat"] == "CycloneDX"
    show = run_prism("templates", "show", "gen-env")
    assert "secrets found: 4" in show.stdout and " packages (" in show.stdout

    # a second version after installing a package and removing the token
    _dist(prism_sandbox, instance_id, "scikit-learn", "1.4.1")
    os.unlink(prism_sandbox.tree(instance_id) / "home/ubuntu/.cache/huggingface/token")
    assert run_prism("save", "genomics-box", "gen-env", "--yes").exit_code == 0
    changes = run_prism("templates", "diff", "gen-env@1", "gen-env@2", "-o", "json")
    assert changes.exit_code == 0, changes.stderr
    document = changes.json()
    assert [(r["change"], r["name"]) for r in document["packages"]] == [
        ("added", "scikit-learn")]
    assert document["secrets_removed"] == [
        {"kind": "token", "path": "/home/ubuntu/.cache/huggingface/token"}]
    text = run_prism("templates", "diff", "gen-env@1", "gen-env@2")
    assert "+ scikit-learn 1.4.1" in text.stdout
    assert "- tokens and passwords: /home/ubuntu/.cache/huggingface/token" in text.stdout
    same = run_prism("templates", "diff", "gen-env@2", "gen-env@2")
    assert same.exit_code == 0 and "no package changes" in same.stdout
    history = run_prism("templates", "history", "gen-env")
    assert "secrets found: 3" in history.stdout
    assert "CHANGED since the previous version" in history.stdout


def test_a_version_without_inventory_says_why(prism_sandbox, run_prism):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.ssm_agent[instance_id] = False
    assert run_prism("save", "box", "env1", "--yes").exit_code == 0
    result = run_prism("templates", "packages", "env1")
    assert result.exit_code == 2
    assert "env1@1 has no inventory: Systems Manager does not manage the instance" in (
        result.stderr)
    show = run_prism("templates", "show", "env1")
    assert "inventory" in show.stdout and "unavailable" in show.stdout


def test_abort_removes_the_saves_inventory(prism_sandbox, run_prism):
    from test_plugins import _raiser

    from prism_core.testing import EXTRA_PLUGINS

    prism_sandbox.create_instance("genomics-box", tree="genomics-box")
    EXTRA_PLUGINS.append(("flaky", _raiser("prism_template_render")))
    try:
        failed = run_prism("save", "genomics-box", "gen-env", "--yes")
    finally:
        EXTRA_PLUGINS.pop()
    assert failed.exit_code == 1, failed.stderr
    s3 = boto3.client("s3")
    bucket = f"prism-inventory-{ACCOUNT}-us-east-1"
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 1
    aborted = run_prism("save", "--abort", "--yes")
    assert aborted.exit_code == 0, aborted.stderr
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
