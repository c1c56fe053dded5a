"""The inventory across kill -9: the SBOM taken before the image is kept beside the journal,
so `--resume` stores and references it; an upload cut off from its record is journaled,
so `--abort` removes it (its tags prove it is this save's)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import boto3
import pytest
from helpers import PrismProcess

from prism_sandbox import Timings

BUCKET = "prism-inventory-123456789012-us-east-1"
KEY = "inventory/gen-env/1.cdx.json"


@pytest.fixture
def slow_box(prism_sandbox, monkeypatch):
    prism_sandbox.create_instance("genomics-box", tree="genomics-box")
    prism_sandbox.timings = Timings(snapshot=0.5, image=3.0)
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "0.1")
    return prism_sandbox


def _objects() -> list[str]:
    s3 = boto3.client("s3")
    try:
        return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    except s3.exceptions.NoSuchBucket:
        return []


def _attachments() -> list[str]:
    return [p.name for p in (Path(os.environ["PRISM_HOME"]) / "journal").glob("*.attachment")]


def _wait_for_the_upload(prism: PrismProcess) -> None:
    deadline = time.monotonic() + 60
    while not _objects():
        assert time.monotonic() < deadline and prism.proc.poll() is None, prism.stderr
        time.sleep(0.05)


def test_kill_after_inspection_then_resume_stores_the_inventory(slow_box, run_prism):
    prism = PrismProcess("save", "genomics-box", "gen-env", "--no-reboot", "--yes")
    prism.wait_for("Waiting for the AMI to be available")  # inspected, imaged, not stored
    prism.proc.kill()
    prism.finish()
    assert _objects() == [] and len(_attachments()) == 1

    resumed = run_prism("save", "--resume", "--yes", "-o", "json")
    assert resumed.exit_code == 0, resumed.stderr
    assert _objects() == [KEY] and _attachments() == []

    shutil.rmtree(Path(os.environ["PRISM_HOME"]))  # a teammate: nothing local
    listed = run_prism("templates", "packages", "gen-env", "--match", "samtools", "-o", "json")
    assert listed.exit_code == 0, listed.stderr
    assert {(p["kind"], p["name"]) for p in listed.json()["packages"]} == {("conda", "samtools")}


def test_kill_between_the_upload_and_its_record_then_abort_removes_it(slow_box, run_prism):
    slow_box.faults.delay("PutObject", 30.0)  # the object is stored, the answer held
    prism = PrismProcess("save", "genomics-box", "gen-env", "--no-reboot", "--yes")
    _wait_for_the_upload(prism)
    assert _objects() == [KEY], prism.stderr
    prism.proc.kill()
    prism.finish()

    aborted = run_prism("save", "--abort", "--yes", "-o", "json")
    assert aborted.exit_code == 0, aborted.stderr
    removed = aborted.json()["aborted"][0]["removed"]
    assert f"inventory s3://{BUCKET}/{KEY}" in removed, removed
    assert _objects() == [] and _attachments() == []


def test_abort_keeps_an_object_another_save_owns(slow_box, run_prism):
    slow_box.faults.delay("PutObject", 30.0)
    prism = PrismProcess("save", "genomics-box", "gen-env", "--no-reboot", "--yes")
    _wait_for_the_upload(prism)
    prism.proc.kill()
    prism.finish()
    s3 = boto3.client("s3")
    s3.put_object_tagging(Bucket=BUCKET, Key=KEY, Tagging={"TagSet": [
        {"Key": "prism:save-id", "Value": "someone-else"}]})

    aborted = run_prism("save", "--abort", "--yes", "-o", "json")
    problems = aborted.json()["aborted"][0]["problems"]
    assert any("not this save's" in p for p in problems), problems
    assert _objects() == [KEY]


def test_resume_removes_only_attachments_whose_journal_is_gone(tmp_path):
    from prism_core.save.leftovers import remove_leftovers

    (tmp_path / "env-1.json").write_text("{}")
    kept = tmp_path / "env-1.inventory.cdx.attachment"
    orphan = tmp_path / "env-2.inventory.cdx.attachment"
    young = tmp_path / "env-3.inventory.cdx.attachment"
    for path in (kept, orphan, young):
        path.write_text("{}")
    old = time.time() - 3600
    for path in (kept, orphan):
        os.utime(path, (old, old))
    assert remove_leftovers(tmp_path) == [orphan.name]
    assert kept.exists() and young.exists() and not orphan.exists()
