"""Unit layer: the ``--stop`` watchdog's rules. Its owner is known from how it was
started (never from a journal), a suspended owner counts as gone after the grace,
the cloud's answer decides what it does, and a live watchdog's lease keeps a later save
from taking the save lock as stale."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from prism_core.save import watchdog_lease
from prism_core.save.leftovers import remove_leftovers, stale_temp_files
from prism_core.save.owner import Owner, OwnerWatch
from prism_core.save.watchdog_duty import DONE, LEAVE, START, WAIT, next_step


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _watch(statuses: list, grace: float = 5.0) -> tuple[OwnerWatch, Clock]:
    clock = Clock()
    answers = iter(statuses)
    return OwnerWatch(Owner(pid=4242, started=777), grace, lambda pid: next(answers), clock), clock


@pytest.mark.parametrize("state", ["R", "S", "D", "I"])
def test_an_owner_that_runs_or_sleeps_is_not_gone(state) -> None:
    watch, _ = _watch([(state, 777)] * 3)
    assert [watch.gone() for _ in range(3)] == [None, None, None]


@pytest.mark.parametrize(
    "status",
    [None, ("Z", 777), ("X", 777), ("S", 778), ("R", 1)],
    ids=["no-process", "zombie", "dead", "pid-reused", "pid-reused-early"],
)
def test_an_owner_that_exited_or_whose_pid_was_reused_is_gone(status) -> None:
    watch, _ = _watch([status])
    assert watch.gone() == "exited"


@pytest.mark.parametrize("letter", ["T", "t"], ids=["sigstop", "traced"])
def test_a_suspended_owner_is_gone_after_the_grace_only(letter) -> None:
    watch, clock = _watch([(letter, 777)] * 4, grace=5.0)
    assert watch.gone() is None
    clock.now += 4.9
    assert watch.gone() is None
    clock.now += 0.2
    assert watch.gone() == "suspended"


def test_a_suspension_that_ends_starts_the_grace_again() -> None:
    watch, clock = _watch([("T", 777), ("S", 777), ("T", 777), ("T", 777)], grace=5.0)
    assert watch.gone() is None
    clock.now += 4.0
    assert watch.gone() is None  # continued (SIGCONT)
    clock.now += 2.0
    assert watch.gone() is None  # suspended again: a new grace
    clock.now += 4.0
    assert watch.gone() is None


@pytest.mark.parametrize("state", [None, "terminated", "shutting-down"])
def test_an_instance_gone_is_left_at_once(state) -> None:
    for seen_back in (False, True):
        for in_flight in (False, True):
            assert next_step(state, seen_back=seen_back, stop_in_flight=in_flight) == LEAVE


@pytest.mark.parametrize("state", ["pending", "running"])
def test_an_instance_up_is_done_once_no_stop_can_land_late(state) -> None:
    assert next_step(state, seen_back=False, stop_in_flight=False) == DONE
    assert next_step(state, seen_back=False, stop_in_flight=True) == WAIT
    assert next_step(state, seen_back=True, stop_in_flight=True) == DONE


def test_a_stopped_instance_is_started_and_a_stopping_one_waited_for() -> None:
    assert next_step("stopped", seen_back=False, stop_in_flight=False) == START
    for state in ("stopping", "unknown"):
        assert next_step(state, seen_back=True, stop_in_flight=True) == WAIT


def test_the_watchdog_refuses_an_owner_that_is_not_its_parent(tmp_path) -> None:
    """A watchdog started by hand naming another process as its owner (or a forged start
    time) never reports ready: prism would refuse to stop the instance."""
    from prism_core.save.journal import process_started

    parent = os.getpid()
    base = [
        sys.executable, "-m", "prism_core.save.watchdog", "--journal",
        str(tmp_path / "s-1.json"), "--save-id", "s-1", "--instance-id", "i-1",
        "--region", "us-east-1", "--image-name", "x",
    ]
    for owner, started in ((1, ""), (parent, str((process_started(parent) or 0) + 1))):
        done = subprocess.run(
            [*base, "--owner-pid", str(owner), "--owner-started", started],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 2 and "ready" not in done.stdout
    assert watchdog_lease.lease_files(tmp_path) == []


def test_a_lease_is_seen_held_until_released_and_not_taken_twice(tmp_path) -> None:
    lease = watchdog_lease.take(tmp_path, "env1-20260101T000000Z-abc123")
    try:
        assert watchdog_lease.holder(tmp_path, "env1-20260101T000000Z-abc123") is not None
        with pytest.raises(watchdog_lease.Held):
            watchdog_lease.take(tmp_path, "env1-20260101T000000Z-abc123")
        assert remove_leftovers(tmp_path) == []  # a live lease is never removed
    finally:
        lease.release()
    assert watchdog_lease.holder(tmp_path, "env1-20260101T000000Z-abc123") is None


def test_a_killed_watchdogs_lease_is_a_leftover(tmp_path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; "
         "from prism_core.save import watchdog_lease as w; "
         f"w.take(Path({str(tmp_path)!r}), 's-1'); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert [h.save_id for h in watchdog_lease.live_holders(tmp_path)] == ["s-1"]
    finally:
        holder.kill()
        holder.wait()
    assert watchdog_lease.live_holders(tmp_path) == []
    assert remove_leftovers(tmp_path) == [".s-1.watchdog"]


def _settings(home):
    from prism_core.settings import Settings

    return Settings(home=home)


def test_a_lock_whose_journal_is_gone_is_not_stale_while_its_watchdog_lives(tmp_path) -> None:
    from prism_core.save.locks import stale

    settings = _settings(tmp_path)
    settings.journal_dir.mkdir(parents=True)
    lock = {"save_id": "env1-20260101T000000Z-abc123", "host": socket.gethostname(),
            "home": str(tmp_path)}
    lease = watchdog_lease.take(settings.journal_dir, lock["save_id"])
    try:
        assert not stale(lock, settings)
    finally:
        lease.release()
    assert stale(lock, settings)  # no journal, no watchdog: the save is over


OURS = ".env1-20260101T000000Z-abc123.json.k2j_9xq1.tmp"
NOT_OURS = [
    "env1.json.k2j_9xq1.tmp",  # no leading dot
    ".env1.json.K2J_9XQ1.tmp",  # not mkstemp's alphabet
    ".env1.json.k2j9xq1.tmp",  # seven characters
    ".env1.yaml.k2j_9xq1.tmp",
    "..json.k2j_9xq1.tmp",
    ".env1.json.k2j_9xq1.tmp.keep",
    "notes.txt",
]


def test_only_stale_journal_temp_files_of_prisms_own_pattern_are_removed(tmp_path) -> None:
    old = time.time() - 3600
    for name in [OURS, *NOT_OURS]:
        (tmp_path / name).write_text("{}")
        os.utime(tmp_path / name, (old, old))
    fresh = tmp_path / ".env2-20260101T000000Z-abc123.json.abcdefgh.tmp"
    fresh.write_text("{")  # a write under way
    os.symlink(tmp_path / "notes.txt", tmp_path / ".env3.json.abcdefgh.tmp")
    os.mkfifo(tmp_path / ".env4.json.abcdefgh.tmp")
    assert [p.name for p in stale_temp_files(tmp_path)] == [OURS]
    assert remove_leftovers(tmp_path) == [OURS]
    left = set(os.listdir(tmp_path))
    assert set(NOT_OURS) <= left and fresh.name in left
    assert {".env3.json.abcdefgh.tmp", ".env4.json.abcdefgh.tmp"} <= left


def _proc_state(pid: int) -> str:
    from prism_core.save.owner import process_status

    status = process_status(pid)
    return status[0] if status else "gone"


def _wait_state(pid: int, wanted: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    state = _proc_state(pid)
    while state != wanted and time.monotonic() < deadline:
        time.sleep(0.02)
        state = _proc_state(pid)
    return state


def test_ctrl_z_suspends_as_usual_unless_an_instance_is_held_down() -> None:
    """The shield ignores SIGTSTP (and says so) only while an instance is held down."""
    import signal

    code = (
        "import sys, time\n"
        "from prism_core.save import suspend_shield as s\n"
        "s.install(); print('free', flush=True)\n"
        "sys.stdin.readline(); s.instance_down('i-0abc'); print('down', flush=True)\n"
        "sys.stdin.readline(); s.instance_up('i-0abc'); print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    # its own process group, whose parent (this test) is in another group of the same
    # session: the kernel discards a stop signal sent to an orphaned group (as this test's
    # own may be, under a CI runner), so SIGTSTP's default action would never show
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, process_group=0,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "free"
        child.send_signal(signal.SIGTSTP)
        assert _wait_state(child.pid, "T") == "T"  # suspended, as without the shield
        child.send_signal(signal.SIGCONT)
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "down"
        child.send_signal(signal.SIGTSTP)
        time.sleep(0.3)
        assert _proc_state(child.pid) != "T"
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "up"  # it kept running
        child.send_signal(signal.SIGTSTP)
        assert _wait_state(child.pid, "T") == "T"
    finally:
        child.kill()
        _, err = child.communicate()
    assert "Ctrl-Z ignored while instance i-0abc is stopped" in err
