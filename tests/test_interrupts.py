"""Ctrl-C and kill -9 against a real `prism` process: the instance always comes back."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from helpers import PrismProcess

from prism_sandbox import Timings


@pytest.fixture
def slow_cloud(prism_sandbox, monkeypatch):
    prism_sandbox.timings = Timings(stop=1.5, start=0.3, snapshot=1.5, image=2.0, copy=2.5)
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "0.1")
    return prism_sandbox


@pytest.mark.parametrize(
    "moment",
    [
        "Stopping instance",  # waiting for stopped
        "AMI creation started",  # waiting for the snapshots
        "Waiting for the AMI to be available",  # waiting for available
        "Copying AMI to",  # waiting for the copies
    ],
)
def test_ctrl_c_during_each_wait_brings_the_instance_back(slow_cloud, moment):
    instance_id = slow_cloud.create_instance("box")
    prism = PrismProcess(
        "save", "box", "env1", "--copy-to-regions", "us-east-2", "--stop", "--yes"
    )
    prism.wait_for(moment)
    time.sleep(0.15)
    prism.proc.send_signal(signal.SIGINT)
    code = prism.finish()
    assert code in (1, 2), prism.stderr
    assert "Traceback" not in prism.stderr
    assert "interrupted" in prism.stderr or "cancelled" in prism.stderr
    assert slow_cloud.wait_running(instance_id) == "running"


def test_sigterm_during_the_copies(slow_cloud):
    instance_id = slow_cloud.create_instance("box")
    prism = PrismProcess("save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes")
    prism.wait_for("Copying AMI to")
    prism.proc.send_signal(signal.SIGTERM)
    assert prism.finish() == 1, prism.stderr
    assert "interrupted by signal SIGTERM" in prism.stderr
    assert "prism save --resume" in prism.stderr
    assert slow_cloud.wait_running(instance_id) == "running"


def test_kill_9_in_default_mode_ec2_brings_it_back_then_resume(slow_cloud, run_prism):
    instance_id = slow_cloud.create_instance("box")
    slow_cloud.timings.reboot = 1.0
    prism = PrismProcess("save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes")
    prism.wait_for("AMI creation started")
    prism.proc.kill()
    prism.finish()
    assert [r["instance_id"] for r in slow_cloud.reboots] == [instance_id]  # EC2's own reboot
    assert slow_cloud.wait_running(instance_id) == "running"
    slow_cloud.timings = Timings.fast()
    result = run_prism("save", "--resume", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert slow_cloud.instance_state(instance_id) == "running"
    assert len(slow_cloud.own_images()) == 1
    assert len(slow_cloud.own_images("us-east-2")) == 1
    (document,) = result.json()["resumed"]
    assert document["status"] == "done"


def test_kill_9_during_copies_then_resume(slow_cloud, run_prism):
    instance_id = slow_cloud.create_instance("box")
    prism = PrismProcess("save", "box", "env1", "--copy-to-regions", "us-east-2,eu-west-1", "--yes")
    prism.wait_for("Copying AMI to")
    time.sleep(0.3)
    prism.proc.kill()
    prism.finish()
    result = run_prism("save", "--resume", "--yes")
    assert result.exit_code == 0, result.stderr
    assert slow_cloud.wait_running(instance_id) == "running"
    for region in ("us-east-1", "us-east-2", "eu-west-1"):
        assert len(slow_cloud.own_images(region)) == 1, region


def test_resume_leaves_a_save_that_is_still_running_alone(slow_cloud, run_prism):
    slow_cloud.create_instance("box")
    slow_cloud.timings = Timings(stop=0.3, start=0.3, snapshot=0.3, image=8.0)
    prism = PrismProcess("save", "box", "env1", "--yes")
    try:
        prism.wait_for("AMI creation started")
        result = run_prism("save", "--resume", "--yes")
        assert result.exit_code == 2
        assert "still running" in result.stderr
    finally:
        prism.proc.send_signal(signal.SIGINT)
        prism.finish()


def test_resume_is_not_fooled_by_a_reused_pid(slow_cloud, run_prism):
    """A killed save's pid later given to another prism process (the kernel reuses pids):
    the journal's start time tells them apart, so the save is resumed, not left alone."""
    instance_id = slow_cloud.create_instance("box")
    prism = PrismProcess("save", "box", "env1", "--copy-to-regions", "us-east-2", "--yes")
    prism.wait_for("Copying AMI to")
    prism.proc.kill()
    prism.finish()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "prism"])
    try:
        (path,) = slow_cloud.journals()
        journal = json.loads(path.read_text())
        assert journal["status"] == "running" and isinstance(journal["pid_started"], int)
        journal["pid"] = other.pid  # the same pid, now another process named prism
        path.write_text(json.dumps(journal))
        result = run_prism("save", "--resume", "--yes")
    finally:
        other.kill()
        other.wait()
    assert result.exit_code == 0, result.stderr
    assert "still running" not in result.stderr
    assert slow_cloud.wait_running(instance_id) == "running"
    assert len(slow_cloud.own_images("us-east-2")) == 1
