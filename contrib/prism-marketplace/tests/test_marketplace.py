"""prism-marketplace against moto's S3 (through prism's sandbox), via the real CLI."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import yaml
from keyring.backends import fail

BUCKET = "lab-templates"  # as in conftest.py


def _saved(prism_sandbox, run_prism, *extra):
    prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "seismic-env", "--yes", *extra)
    assert result.exit_code == 0, result.stderr
    return result


def _templates() -> Path:
    return Path(os.environ["PRISM_HOME"]) / "templates"


def _index(s3) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key="catalog.json")["Body"].read())


def test_publish_search_show_install(prism_sandbox, run_prism, marketplace):
    _saved(prism_sandbox, run_prism)
    local = (_templates() / "seismic-env.yaml").read_bytes()
    result = run_prism("marketplace", "publish", "seismic-env", "-o", "json")
    assert result.exit_code == 0, result.stderr
    entry = result.json()
    assert entry["sha256"] == hashlib.sha256(local).hexdigest()
    stored = marketplace.get_object(Bucket=BUCKET, Key=entry["key"])["Body"].read()
    assert stored == local
    assert _index(marketplace)["templates"]["seismic-env"]["regions"] == ["us-east-1"]

    found = run_prism("marketplace", "search", "SEISMIC", "-o", "json").json()["templates"]
    assert [e["name"] for e in found] == ["seismic-env"]
    assert "no template matches" in run_prism("marketplace", "search", "genomics").stdout
    shown = run_prism("marketplace", "show", "seismic-env")
    assert shown.exit_code == 0 and "sha256:" in shown.stdout

    (_templates() / "seismic-env.yaml").unlink()
    result = run_prism("marketplace", "install", "seismic-env")
    assert result.exit_code == 0, result.stderr
    assert yaml.safe_load((_templates() / "seismic-env.yaml").read_text())["name"] == "seismic-env"


def test_save_with_publish_publishes_the_rendered_template(prism_sandbox, run_prism, marketplace):
    result = _saved(prism_sandbox, run_prism, "--publish", "-o", "json")
    assert any("Published to marketplace" in n for n in result.json()["notes"])
    entry = _index(marketplace)["templates"]["seismic-env"]
    stored = marketplace.get_object(Bucket=BUCKET, Key=entry["key"])["Body"].read()
    assert stored == (_templates() / "seismic-env.yaml").read_bytes()


def test_publish_without_bucket_refuses_before_stopping(prism_sandbox, run_prism, memory_keyring):
    instance = prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "tpl", "--yes", "--publish")
    assert result.exit_code == 2
    assert "no marketplace bucket configured" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    ec2 = prism_sandbox.client("ec2")
    state = ec2.describe_instances(InstanceIds=[getattr(instance, "instance_id", instance)])
    assert state["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"


def test_failed_publish_keeps_the_save(prism_sandbox, run_prism, marketplace, monkeypatch):
    from prism_marketplace import catalog

    def broken(self, *a, **k):
        raise RuntimeError("S3 is down")

    monkeypatch.setattr(catalog.Catalog, "publish", broken)
    prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "seismic-env", "--yes", "--publish", "-o", "json")
    assert result.exit_code == 3
    assert (_templates() / "seismic-env.yaml").exists()
    assert any("marketplace publish failed" in f for f in result.json()["failures"])


def test_install_refuses_a_tampered_file(prism_sandbox, run_prism, marketplace):
    _saved(prism_sandbox, run_prism)
    entry = run_prism("marketplace", "publish", "seismic-env", "-o", "json").json()
    marketplace.put_object(Bucket=BUCKET, Key=entry["key"], Body=b"name: evil\n")
    result = run_prism("marketplace", "install", "seismic-env")
    assert result.exit_code == 2 and "sha256" in result.stderr


def test_install_refuses_amis_this_account_cannot_launch(prism_sandbox, run_prism, marketplace):
    _saved(prism_sandbox, run_prism)
    path = _templates() / "seismic-env.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["ami_config"]["amis"]["us-east-1"]["x86_64"] = "ami-0123456789abcdef0"
    doc["version"] = 7
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert run_prism("marketplace", "publish", "seismic-env").exit_code == 0
    result = run_prism("marketplace", "install", "seismic-env")
    assert result.exit_code == 2
    assert "ami-0123456789abcdef0" in result.stderr and "cannot launch" in result.stderr


def test_republishing_a_version_with_other_content_is_refused(
    prism_sandbox, run_prism, marketplace
):
    _saved(prism_sandbox, run_prism)
    assert run_prism("marketplace", "publish", "seismic-env").exit_code == 0
    assert run_prism("marketplace", "publish", "seismic-env").exit_code == 0  # same bytes
    path = _templates() / "seismic-env.yaml"
    path.write_text(path.read_text().replace("description:", "description: changed", 1))
    result = run_prism("marketplace", "publish", "seismic-env")
    assert result.exit_code == 2 and "already in the marketplace" in result.stderr


def test_login_stores_credentials_in_the_keyring(
    prism_sandbox, run_prism, marketplace, memory_keyring
):
    result = run_prism(
        "marketplace", "login", "--access-key-id", "AKIDEXAMPLE", input="secret-key\n"
    )
    assert result.exit_code == 0, result.stderr
    stored = json.loads(memory_keyring.secrets[("prism-marketplace", BUCKET)])
    assert stored == {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret-key"}
    home = Path(os.environ["PRISM_HOME"])
    assert not any("secret-key" in p.read_text() for p in home.rglob("*") if p.is_file())

    from prism_marketplace.catalog import MarketplaceConfig, s3_client

    client = s3_client(MarketplaceConfig(BUCKET))
    assert client._request_signer._credentials.access_key == "AKIDEXAMPLE"


def test_login_without_keyring_says_how_to_fix(prism_sandbox, run_prism, marketplace):
    import keyring

    keyring.set_keyring(fail.Keyring())
    result = run_prism("marketplace", "login", "--access-key-id", "AKID", input="s\n")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no usable system keyring" in lines[0]
    assert "PYTHON_KEYRING_BACKEND" in lines[0]


def test_bad_marketplace_config_is_refused(prism_sandbox, run_prism, memory_keyring):
    config = Path(os.environ["PRISM_HOME"]) / "config.yml"
    config.write_text("marketplace:\n  bucket: Not_A_Bucket\n")
    result = run_prism("marketplace", "search", "x")
    assert result.exit_code == 2 and "config marketplace.bucket" in result.stderr
