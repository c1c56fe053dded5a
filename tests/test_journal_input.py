"""Journals as hostile input: a journal edited by hand is refused in one line naming
the file and what to do (exit 2), never ``template 'None'`` or an unexpected error;
what a killed journal write leaves is removed by ``--resume`` and ``--abort``, and
nothing else is. Every prism run is the real command in a memory-limited child."""

from __future__ import annotations

import json
import os
import time

from helpers import run_prism_child

CORRUPTIONS = {
    "template-none": lambda d: d["request"].update(template_name=None),
    "request-missing": lambda d: d.pop("request"),
    "copy-regions-text": lambda d: d["request"].update(copy_to_regions="us-east-2"),
    "images-list": lambda d: d.update(images=[{"region": "us-east-1"}]),
    "image-id-number": lambda d: d["images"]["us-east-1"].update(image_id=5),
    "status-unknown": lambda d: d.update(status="finished"),
    "version-text": lambda d: d.update(template_version="../1"),
    "summary-not-text": lambda d: d.update(summary=[{"a": 1}]),
    "flag-as-text": lambda d: d.update(stopped_by_prism="yes"),
}


def _partial_save(sandbox) -> str:
    """A save whose copy failed (exit 3): its journal stays for --resume/--abort."""
    sandbox.create_instance("box")
    sandbox.faults.inject(
        "CopyImage", region="us-east-2", times=-1, status=400, code="InvalidRequest",
        message="copy refused",
    )
    result = run_prism_child(
        "save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes", "-o", "json"
    )
    sandbox.faults.clear()
    assert result.exit_code == 3, result.stdout + result.stderr
    return str(result.json()["save_id"])


def test_a_hand_edited_journal_is_refused_in_one_line(prism_sandbox):
    save_id = _partial_save(prism_sandbox)
    path = prism_sandbox.prism_home / "journal" / f"{save_id}.json"
    original = path.read_text()
    for case, corrupt in CORRUPTIONS.items():
        data = json.loads(original)
        corrupt(data)
        path.write_text(json.dumps(data))
        for verb in ("--resume", "--abort"):
            result = run_prism_child("save", verb, "--yes")
            lines = result.stderr.strip().splitlines()
            assert result.exit_code == 2, (case, verb, result.stdout, result.stderr)
            assert len(lines) == 1, (case, verb, result.stderr)
            assert str(path) in lines[0] and "move it aside" in lines[0], (case, lines[0])
            assert "None" not in lines[0].split("cannot be used")[0], (case, lines[0])
    assert len(prism_sandbox.own_images()) == 1  # nothing was resumed or removed
    path.write_text(original)
    assert run_prism_child("save", "--abort", "--yes").exit_code == 0


def test_resume_and_abort_remove_only_stale_journal_temp_files(prism_sandbox):
    journal = prism_sandbox.prism_home / "journal"
    journal.mkdir(parents=True)
    old = time.time() - 3600
    stale = [".env1-20260101T000000Z-abc123.json.k2j_9xq1.tmp", ".x.json.abcdefgh.tmp"]
    kept = ["env1.json.k2j_9xq1.tmp", ".env1.yaml.k2j_9xq1.tmp", "notes.txt"]
    for name in stale + kept:
        (journal / name).write_text('{"save_id": ')
        os.utime(journal / name, (old, old))
    fresh = journal / ".env2-20260101T000000Z-abc123.json.abcdefgh.tmp"
    fresh.write_text("{")  # a write under way now
    os.symlink("/dev/zero", journal / ".env3.json.abcdefgh.tmp")
    for verb in ("--abort", "--resume"):
        result = run_prism_child("save", verb, "--yes")
        assert result.exit_code == 2, result.stdout + result.stderr  # nothing to do
        assert "no interrupted save" in result.stderr
    left = set(os.listdir(journal))
    assert not left & set(stale)
    assert set(kept) | {fresh.name, ".env3.json.abcdefgh.tmp"} <= left
