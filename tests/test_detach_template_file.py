"""The local template file of a detached save: written by the first command of the saving
machine that reads templates once the save engine has finished (the registry is the
source of truth, checked as the registry read path checks it); until then, or when the
save failed, that command says so in one line and uses what exists."""

from __future__ import annotations

import json

import pytest
import yaml


@pytest.fixture
def engine(prism_sandbox, run_prism):
    result = run_prism("cloud", "setup", "--yes")
    assert result.exit_code == 0, result.stderr
    return prism_sandbox


def _detach(run_prism, template="env", *extra):
    result = run_prism("save", "box", template, "--copy-to-regions", "us-east-2", "--detach",
                       "--yes", "-o", "json", *extra)
    assert result.exit_code == 0, result.stderr
    return result.json()


def _lines(stderr, save_id):
    return [line for line in stderr.splitlines() if save_id in line]


def test_the_first_read_writes_the_template_an_attached_save_would(engine, run_prism):
    engine.create_instance("box", ports=[22, 8888])
    home = engine.prism_home
    # an attached save of the same instance: the file format to match
    attached = run_prism("save", "box", "other", "--copy-to-regions", "us-east-2", "--yes")
    assert attached.exit_code == 0, attached.stderr
    expected = yaml.safe_load((home / "templates" / "other.yaml").read_text())

    engine.timings.copy = 60.0  # the engine is still copying
    save_id = _detach(run_prism)["save_id"]
    marker = home / "detached" / f"{save_id}.json"
    assert marker.exists()
    assert not (home / "templates" / "env.yaml").exists()

    listed = run_prism("templates", "list")
    assert listed.exit_code == 0, listed.stderr
    (line,) = _lines(listed.stderr, save_id)
    assert "version 1 is still being saved" in line and "using what exists here" in line
    assert marker.exists() and not (home / "templates" / "env.yaml").exists()

    engine.timings.copy = 0.0
    assert run_prism("saves", "follow", save_id).exit_code == 0
    launched = run_prism("launch", "env", "box-2", "--yes")
    assert launched.exit_code == 0, launched.stderr
    (line,) = _lines(launched.stderr, save_id)
    path = home / "templates" / "env.yaml"
    assert line == f"prism: template env: version 1, saved by detached save {save_id}, " \
                   f"written to {path}"
    assert not marker.exists()
    written = yaml.safe_load(path.read_text())
    registered = json.loads(engine.client("ssm").get_parameter(
        Name="/prism/templates/env/versions/1")["Parameter"]["Value"])
    assert written == registered
    assert written["save_id"] == save_id
    assert list(written["ami_config"]["amis"]) == ["us-east-1", "us-east-2"]
    # the attached save's layout: the same fields in the same order, `inventory` too (the
    # laptop stored the SBOM once the image was requested, before the hand-over)
    assert list(written) == list(expected)
    assert list(written["inventory"]) == list(expected["inventory"])
    assert written["inventory"]["packages"] == expected["inventory"]["packages"]
    sbom = written["inventory"]["sbom"]
    assert sbom.endswith("/inventory/env/1.cdx.json")
    bucket, _, key = sbom[len("s3://"):].partition("/")
    s3 = engine.client("s3")
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}
    assert tags == {"prism:template": "env", "prism:version": "1", "prism:save-id": save_id}
    packages = run_prism("templates", "packages", "env", "-o", "json")
    assert packages.exit_code == 0, packages.stderr  # read back, its checksum checked
    assert list(written["ami_config"]) == list(expected["ami_config"])
    assert list(written["instance_defaults"]) == list(expected["instance_defaults"])
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)

    again = run_prism("templates", "show", "env")
    assert again.exit_code == 0 and not _lines(again.stderr, save_id)


def test_a_failed_detached_save_is_said_once_and_writes_nothing(engine, run_prism):
    engine.create_instance("box")
    home = engine.prism_home
    # the source image ends failed: the execution fails (--stop: the laptop does not
    # wait for the snapshots, the engine sees the failure)
    engine.faults.fail_image()
    save_id = _detach(run_prism, "env", "--stop")["save_id"]
    assert run_prism("saves", "follow", save_id).exit_code == 1
    shown = run_prism("templates", "show", "env")
    (line,) = _lines(shown.stderr, save_id)
    assert f"detached save {save_id} failed" in line
    assert "version 1 was not made, using what exists here" in line
    assert not (home / "templates" / "env.yaml").exists()
    assert not (home / "detached" / f"{save_id}.json").exists()
    again = run_prism("templates", "list")
    assert not _lines(again.stderr, save_id)


def test_a_registry_entry_not_made_by_the_save_is_not_written(engine, run_prism):
    engine.create_instance("box")
    home = engine.prism_home
    save_id = _detach(run_prism)["save_id"]
    assert run_prism("saves", "follow", save_id).exit_code == 0
    ssm = engine.client("ssm")
    name = "/prism/templates/env/versions/1"
    forged = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    forged["save_id"] = "someone-else"
    ssm.put_parameter(Name=name, Value=json.dumps(forged), Type="String", Overwrite=True)
    shown = run_prism("templates", "list")
    (line,) = _lines(shown.stderr, save_id)
    assert "was not written here" in line and "another save's version" in line
    assert not (home / "templates" / "env.yaml").exists()
    assert not (home / "detached" / f"{save_id}.json").exists()


def test_delete_purge_removes_each_versions_sbom(engine, run_prism):
    """An attached and a detached version of one template: `templates delete --purge`
    deletes both SBOMs (each proven by its object's save-id tag), and leaves an object
    whose tags name another save."""
    engine.create_instance("box")
    assert run_prism("save", "box", "env", "--yes").exit_code == 0
    save_id = _detach(run_prism)["save_id"]
    assert run_prism("saves", "follow", save_id).exit_code == 0
    s3 = engine.client("s3")
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"]
                 if b["Name"].startswith("prism-inventory-")]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["inventory/env/1.cdx.json", "inventory/env/2.cdx.json"]
    # a stranger's object where version 1's SBOM was: not this template's save
    s3.put_object_tagging(Bucket=bucket, Key=keys[0], Tagging={"TagSet": [
        {"Key": "prism:save-id", "Value": "someone-else"}]})
    deleted = run_prism("templates", "delete", "env", "--purge", "--yes", "-o", "json")
    assert deleted.exit_code == 3, deleted.stderr  # one thing was left alone
    removed = deleted.json()["removed"]
    assert removed["inventories"] == [f"inventory s3://{bucket}/{keys[1]}"]
    assert any("not this save's" in line for line in removed["kept"])
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert left == [keys[0]]
