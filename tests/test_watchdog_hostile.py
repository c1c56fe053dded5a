"""The ``--stop`` watchdog trusts the cloud and its own record, not a file: a journal
removed, forged or damaged while the instance is down, an owner suspended (SIGSTOP) or
asked to suspend (Ctrl-Z), an instance terminated by someone else. Real `prism`
processes against the sandbox; every prism run is the real command in a child process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest
from helpers import PrismProcess, run_prism_child

from prism_core.save.journal import process_alive, process_started
from prism_sandbox import Timings

POLL = 0.1


@pytest.fixture
def slow_cloud(prism_sandbox, monkeypatch):
    prism_sandbox.timings = Timings(stop=1.0, start=0.3, snapshot=1.0, image=1.5)
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", str(POLL))
    return prism_sandbox


@pytest.fixture
def start_prism():
    """Start `prism ARGS` (a PrismProcess); whatever a failing test leaves of it (a
    suspended prism, its watchdog) is killed at the end."""
    started: list[PrismProcess] = []

    def start(*args: str) -> PrismProcess:
        started.append(PrismProcess(*args))
        return started[-1]

    yield start
    for prism in started:
        pids = [int(p) for p in re.findall(r"Watchdog \(pid (\d+)\)", prism.stderr)]
        if prism.proc.poll() is None:
            prism.proc.kill()
            prism.proc.wait()
        for pid in pids:
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)


def _watchdog_pid(prism: PrismProcess) -> int:
    prism.wait_for("Watchdog (pid")
    (pid,) = re.findall(r"Watchdog \(pid (\d+)\)", prism.stderr)
    return int(pid)


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not process_alive(pid)


def _down_within(sandbox, instance_id: str, seconds: float) -> bool:
    """Whether EC2 shows the instance stopping or stopped within ``seconds``."""
    deadline = time.monotonic() + seconds
    while sandbox.instance_state(instance_id) in ("pending", "running"):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _journal_note(sandbox, text: str, timeout: float = 30.0) -> dict:
    """The journal once the watchdog wrote ``text`` into its summary."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sandbox.journals():
            try:
                state = json.loads(path.read_text())
            except ValueError:
                continue
            if state.get("pid") is None and any(text in n for n in state.get("summary", [])):
                return state
        time.sleep(0.05)
    raise AssertionError(f"no journal says {text!r}: {[p.read_text() for p in sandbox.journals()]}")


def _resume_finishes(sandbox, instance_id: str) -> None:
    result = run_prism_child("save", "--resume", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    (document,) = result.json()["resumed"]
    assert document["status"] == "done"
    assert len(sandbox.own_images()) == 1
    assert sandbox.instance_state(instance_id) == "running"
    assert sandbox.journals() == []


def _forge(path, **fields) -> None:
    state = json.loads(path.read_text())
    state.update(fields)
    path.write_text(json.dumps(state))


@pytest.fixture
def live_stranger():
    """A live process that is not prism: what a forged journal ``pid`` points at."""
    proc = subprocess.Popen(["sleep", "120"])
    yield proc
    proc.kill()
    proc.wait()


TAMPERING = {
    "removed": lambda path, stranger: path.unlink(),
    "forged-pid": lambda path, stranger: _forge(
        path, pid=stranger.pid, pid_started=process_started(stranger.pid)
    ),
    "forged-restarted": lambda path, stranger: _forge(
        path, instance_restarted=True, status="done"
    ),
    "damaged": lambda path, stranger: path.write_text('{"save_id": '),
    "forged-image": lambda path, stranger: _forge(
        path,
        images={"us-east-1": {"region": "us-east-1", "image_id": "ami-0000000000000dead"}},
    ),
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_the_watchdog_restarts_whatever_the_journal_says(
    start_prism, slow_cloud, live_stranger, tampering
):
    """The journal is removed, forged or damaged while the instance is down, then prism is
    killed: the watchdog still starts the instance, and the journal (written again from
    its own reading when needed) lets `--resume` finish with the one image."""
    instance_id = slow_cloud.create_instance("box")
    prism = start_prism("save", "box", "env1", "--stop", "--yes")
    prism.wait_for("AMI creation started")
    prism.proc.send_signal(signal.SIGSTOP)  # nothing rewrites the journal meanwhile
    (path,) = slow_cloud.journals()
    TAMPERING[tampering](path, live_stranger)
    prism.proc.kill()
    prism.finish()
    assert slow_cloud.wait_running(instance_id) == "running"
    state = _journal_note(slow_cloud, "its watchdog started it again")
    assert state["status"] == "interrupted" and state["instance_restarted"] is True
    if tampering in ("removed", "damaged"):
        assert any("wrote it again" in note for note in state["summary"])
    _resume_finishes(slow_cloud, instance_id)


def test_a_journal_removed_while_down_keeps_the_lock_and_the_duty(
    start_prism, slow_cloud, monkeypatch
):
    """Removing the journal of a save whose instance is down neither frees the save lock
    for another save nor hides the save from `--resume`, which says what holds it; once
    prism dies the watchdog restarts the instance and writes the journal again."""
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "5")  # a grace of 20 s while suspended
    instance_id = slow_cloud.create_instance("box")
    # EC2 throttles CreateImage until prism is killed: the image is never requested,
    # however late the SIGSTOP reaches prism on a busy machine
    slow_cloud.faults.inject("CreateImage", times=-1, code="RequestLimitExceeded", status=503)
    prism = start_prism("save", "box", "env1", "--stop", "--yes")
    watchdog = _watchdog_pid(prism)
    prism.wait_for("Stopping instance")
    # prism says so just before it sends StopInstances: suspended before EC2 has it, it
    # would leave the instance running (nothing for the watchdog to do)
    assert _down_within(slow_cloud, instance_id, 30)
    prism.proc.send_signal(signal.SIGSTOP)  # the save stands still, the instance down
    (path,) = slow_cloud.journals()
    path.unlink()
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", str(POLL))
    second = run_prism_child("save", "box", "env2", "--stop", "--yes")
    assert second.exit_code == 2, second.stdout + second.stderr
    assert "being saved already" in second.stderr
    for verb in ("--resume", "--abort"):
        found = run_prism_child("save", verb, "--yes")
        assert found.exit_code == 2, found.stdout + found.stderr
        lines = found.stderr.strip().splitlines()
        assert len(lines) == 1 and "watchdog of save" in lines[0], found.stderr
        assert "restart duty" in lines[0] and f"prism save {verb}" in lines[0]
    assert process_alive(watchdog)
    prism.proc.kill()
    prism.finish()
    slow_cloud.faults.clear()
    assert slow_cloud.wait_running(instance_id) == "running"
    state = _journal_note(slow_cloud, "its watchdog started it again")
    assert state["stopped_by_prism"] is False  # before the image: the resume stops it again
    assert _gone_within(watchdog, 10)
    refused = run_prism_child("save", "--resume")  # no terminal, no --yes: it says why
    assert refused.exit_code == 2, refused.stdout + refused.stderr
    assert "stops instance" in refused.stderr and "again" in refused.stderr
    result = run_prism_child("save", "--resume", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"stops instance box ({instance_id}) again" in result.stderr
    assert slow_cloud.instance_state(instance_id) == "running"
    assert len(slow_cloud.own_images()) == 1 and slow_cloud.journals() == []


def test_a_suspended_prism_is_ended_and_the_instance_started(start_prism, slow_cloud):
    """SIGSTOP cannot be caught: once prism has been suspended for the grace while the
    instance is down, its watchdog ends it and starts the instance; `--resume` finishes."""
    instance_id = slow_cloud.create_instance("box")
    prism = start_prism("save", "box", "env1", "--stop", "--yes")
    prism.wait_for("Instance stopped")
    prism.proc.send_signal(signal.SIGSTOP)
    code = prism.finish(timeout=60)
    assert code == -signal.SIGKILL
    assert slow_cloud.wait_running(instance_id) == "running"
    _journal_note(slow_cloud, "prism was suspended for too long")
    _resume_finishes(slow_cloud, instance_id)


def test_ctrl_z_is_ignored_while_the_instance_is_down_and_said(start_prism, slow_cloud):
    instance_id = slow_cloud.create_instance("box")
    prism = start_prism("save", "box", "env1", "--stop", "--yes", "-o", "json")
    prism.wait_for("Stopping instance")
    for _ in range(3):
        prism.proc.send_signal(signal.SIGTSTP)
        time.sleep(0.1)
    prism.wait_for("Ctrl-Z ignored")
    assert prism.finish() == 0, prism.stderr
    assert f"Ctrl-Z ignored while instance {instance_id} is stopped" in prism.stderr
    assert slow_cloud.instance_state(instance_id) == "running"


@pytest.mark.parametrize("fate", ["terminated", "stopped-then-terminated"])
def test_a_watchdog_whose_instance_was_terminated_leaves_at_once(
    start_prism, slow_cloud, monkeypatch, fate
):
    """Someone terminates the instance while it is down: when prism dies the watchdog
    does not start it, nor wait for it until the (long) start timeout, and says why."""
    monkeypatch.setenv("PRISM_TIMEOUT_START_SECONDS", "600")
    instance_id = slow_cloud.create_instance("box")
    prism = start_prism("save", "box", "env1", "--stop", "--yes")
    watchdog = _watchdog_pid(prism)
    prism.wait_for("Stopping instance" if fate == "terminated" else "Instance stopped")
    prism.proc.send_signal(signal.SIGSTOP)
    slow_cloud.ec2().terminate_instances(InstanceIds=[instance_id])
    slow_cloud.faults.clear_calls()
    prism.proc.kill()
    prism.finish()
    assert _gone_within(watchdog, 10), "the watchdog still polls a terminated instance"
    assert "StartInstances" not in [a for _, a in slow_cloud.faults.calls()]
    assert slow_cloud.instance_state(instance_id) in ("shutting-down", "terminated")
    (path,) = slow_cloud.journals()
    assert any("nothing to restart" in n for n in json.loads(path.read_text())["summary"])


@pytest.mark.parametrize("moment", ["Instance stopped", "AMI creation started"])
def test_resume_never_stops_a_hand_restarted_instance_unannounced(
    start_prism, slow_cloud, moment
):
    """prism and its watchdog are killed while the instance is down, and someone starts it
    by hand. Before its image was requested, `--resume` says it stops the instance again
    and needs --yes without a terminal; after, it never stops it again."""
    instance_id = slow_cloud.create_instance("box")
    if moment == "Instance stopped":
        # EC2 throttles CreateImage until prism is killed: the image is never requested,
        # however late the SIGSTOP reaches prism on a busy machine
        slow_cloud.faults.inject("CreateImage", times=-1, code="RequestLimitExceeded", status=503)
    prism = start_prism("save", "box", "env1", "--stop", "--yes")
    watchdog = _watchdog_pid(prism)
    prism.wait_for(moment)
    prism.proc.send_signal(signal.SIGSTOP)
    os.kill(watchdog, signal.SIGKILL)
    prism.proc.kill()
    prism.finish()
    slow_cloud.faults.clear()
    assert _gone_within(watchdog, 5)
    slow_cloud.ec2().start_instances(InstanceIds=[instance_id])
    assert slow_cloud.wait_running(instance_id) == "running"
    slow_cloud.faults.clear_calls()
    asked = run_prism_child("save", "--resume")
    assert asked.exit_code == 2, asked.stdout + asked.stderr
    assert "Traceback" not in asked.stderr
    stops_again = moment == "Instance stopped"
    assert ("stops instance" in asked.stderr) is stops_again, asked.stderr
    assert not {"StopInstances", "CreateImage"} & {a for _, a in slow_cloud.faults.calls()}
    result = run_prism_child("save", "--resume", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert (f"stops instance box ({instance_id}) again" in result.stderr) is stops_again
    stops = [a for _, a in slow_cloud.faults.calls()].count("StopInstances")
    assert stops == (1 if stops_again else 0)
    assert slow_cloud.instance_state(instance_id) == "running"
    assert len(slow_cloud.own_images()) == 1 and slow_cloud.journals() == []
