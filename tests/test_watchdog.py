"""``--stop`` cannot strand the instance: real `prism` processes killed, hung up, quit,
their output pipe closed, or throttled while the instance is down."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time

import pytest
from helpers import PrismProcess

from prism_core.save import watchdog_lease
from prism_core.testing import prism_argv
from prism_sandbox import Timings

POLL = 0.1
MOMENTS = ["Instance stopped", "AMI creation started"]


@pytest.fixture
def slow_cloud(prism_sandbox, monkeypatch):
    prism_sandbox.timings = Timings(stop=1.0, start=0.3, snapshot=1.0, image=1.5)
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", str(POLL))
    return prism_sandbox


def _resume_finishes(sandbox, run_prism, instance_id: str) -> None:
    result = run_prism("save", "--resume", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    (document,) = result.json()["resumed"]
    assert document["status"] == "done"
    assert len(sandbox.own_images()) == 1
    assert sandbox.instance_state(instance_id) == "running"
    assert sandbox.journals() == []


@pytest.mark.parametrize("moment", MOMENTS)
def test_kill_9_while_down_the_watchdog_starts_the_instance(slow_cloud, run_prism, moment):
    instance_id = slow_cloud.create_instance("box")
    prism = PrismProcess("save", "box", "env1", "--stop", "--yes")
    prism.wait_for(moment)
    prism.proc.kill()
    prism.finish()
    # no prism command runs: the watchdog alone brings the instance back
    assert slow_cloud.wait_running(instance_id) == "running"
    starts = [a for _, a in slow_cloud.faults.calls() if a == "StartInstances"]
    assert len(starts) == 1
    (path,) = slow_cloud.journals()
    deadline = time.monotonic() + 30
    state = json.loads(path.read_text())
    while state["status"] != "interrupted" and time.monotonic() < deadline:
        time.sleep(0.05)
        state = json.loads(path.read_text())
    assert state["status"] == "interrupted" and state["pid"] is None
    assert any("its watchdog started it again" in note for note in state["summary"])
    # the watchdog records the start, then sees the instance run and exits; a resume
    # before it exits is left alone on purpose ("run it again once it is done")
    while watchdog_lease.holder(path.parent, state["save_id"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    _resume_finishes(slow_cloud, run_prism, instance_id)


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGQUIT], ids=["SIGHUP", "SIGQUIT"])
def test_hangup_and_quit_are_handled_like_ctrl_c(slow_cloud, run_prism, moment, signum):
    instance_id = slow_cloud.create_instance("box")
    prism = PrismProcess("save", "box", "env1", "--stop", "--yes")
    prism.wait_for(moment)
    prism.proc.send_signal(signum)
    code = prism.finish()
    assert code == 1, prism.stderr
    assert f"interrupted by signal {signal.Signals(signum).name}" in prism.stderr
    assert "Traceback" not in prism.stderr
    assert slow_cloud.wait_running(instance_id) == "running"
    if slow_cloud.journals():  # an image was requested: resume finishes it, with that one image
        _resume_finishes(slow_cloud, run_prism, instance_id)
    else:
        assert slow_cloud.own_images() == []


def test_closed_output_pipe_never_skips_the_restart(slow_cloud, tmp_path):
    instance_id = slow_cloud.create_instance("box")
    result = tmp_path / "result.json"
    prism = shlex.join(prism_argv("save", "box", "env1", "--stop", "--yes", "-o", "json"))
    script = (  # stderr into grep, which exits after the first match; stdout to a file
        f"{prism} 2>&1 >{result} "
        "| grep -m1 'AMI creation started'; echo \"prism exit ${PIPESTATUS[0]}\""
    )
    done = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("ok AMI creation started: ami-"), done.stdout
    assert lines[-1] == "prism exit 0", done.stdout + done.stderr
    assert slow_cloud.instance_state(instance_id) == "running"
    assert len(slow_cloud.own_images()) == 1 and slow_cloud.journals() == []
    template = slow_cloud.prism_home / "templates" / "env1.yaml"
    assert template.exists()
    document = json.loads(result.read_text())
    assert document["status"] == "done"
    assert "progress output failed (BrokenPipeError); the save went on without it" in (
        document["notes"]
    )


@pytest.mark.long
@pytest.mark.parametrize(
    ("moment", "action"),
    [("Stopping instance", "DescribeInstances"), ("AMI creation started", "StartInstances")],
)
def test_throttling_while_down_is_retried_until_the_timeouts(slow_cloud, moment, action):
    instance_id = slow_cloud.create_instance("box")
    prism = PrismProcess("save", "box", "env1", "--stop", "--yes")
    prism.wait_for(moment)
    slow_cloud.faults.inject(
        action, times=16, code="RequestLimitExceeded", message="Request limit exceeded.", status=503
    )
    code = prism.finish(timeout=240)
    assert code == 0, prism.stderr
    calls = [a for _, a in slow_cloud.faults.calls()].count(action)
    assert calls >= 17
    assert slow_cloud.instance_state(instance_id) == "running"
    assert len(slow_cloud.own_images()) == 1 and slow_cloud.journals() == []
