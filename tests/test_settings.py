"""Poll delay and wait limits: defaults, config file, environment, and what a timeout says."""

from __future__ import annotations

import pytest

from prism_core.aws.waiting import poll_delays
from prism_core.exceptions import InputError
from prism_core.settings import DEFAULT_TIMEOUTS, Settings
from prism_sandbox import Timings


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.setenv("PRISM_HOME", str(tmp_path))
    monkeypatch.delenv("PRISM_POLL_DELAY_SECONDS", raising=False)
    for name in DEFAULT_TIMEOUTS:
        monkeypatch.delenv(f"PRISM_TIMEOUT_{name.upper()}_SECONDS", raising=False)
    return monkeypatch


def test_defaults(clean_env):
    settings = Settings.load({})
    assert settings.poll_delay == 15.0
    assert settings.timeouts == DEFAULT_TIMEOUTS
    assert settings.critical_poll_delay == 7.5
    assert settings.copy_concurrency is None  # every region at once
    assert Settings.load({"copy_concurrency": 3}).copy_concurrency == 3


def test_config_section_then_environment_wins(clean_env):
    section = {"poll_delay_seconds": 2, "timeouts": {"image": 60, "copy": 90.5}}
    settings = Settings.load(section)
    assert settings.poll_delay == 2.0
    assert settings.timeouts["image"] == 60.0 and settings.timeouts["copy"] == 90.5
    assert settings.timeouts["stop"] == DEFAULT_TIMEOUTS["stop"]
    clean_env.setenv("PRISM_POLL_DELAY_SECONDS", "0.25")
    clean_env.setenv("PRISM_TIMEOUT_IMAGE_SECONDS", "7")
    settings = Settings.load(section)
    assert settings.poll_delay == 0.25
    assert settings.timeouts["image"] == 7.0


@pytest.mark.parametrize(
    "section",
    [{"poll_delay_seconds": "soon"}, {"timeouts": {"forever": 1}}, {"timeouts": [1]}],
)
def test_bad_values_are_refused(clean_env, section):
    with pytest.raises(InputError):
        Settings.load(section)


def test_back_off_never_polls_faster_than_a_quarter_delay():
    delay = poll_delays(8.0)
    assert [delay(n) for n in range(5)] == [2.0, 4.0, 8.0, 8.0, 8.0]


def test_config_file_sets_poll_and_a_tiny_timeout(prism_sandbox, run_prism, tmp_path):
    """$PRISM_HOME/config.yml is read by the CLI; the timeout names what was awaited."""
    import os
    from pathlib import Path

    prism_sandbox.timings = Timings(image=30.0, snapshot=0.0)
    prism_sandbox.create_instance("box")
    home = Path(os.environ["PRISM_HOME"])
    (home / "config.yml").write_text(
        "prism:\n  poll_delay_seconds: 0.02\n  timeouts: {image: 0.2}\n", encoding="utf-8"
    )
    result = run_prism("save", "box", "env1", "--yes")
    assert result.exit_code == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if "timed out" in line]
    assert len(lines) == 1, result.stderr
    assert "timed out after 0.2s waiting for image ami-" in lines[0]
    # the instance is running again (it was restarted once the snapshots were listed)
    state = prism_sandbox.client("ec2").describe_instances()["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "running"


def test_environment_timeout_for_the_stop(prism_sandbox, run_prism, monkeypatch):
    prism_sandbox.create_instance("box")
    prism_sandbox.timings = Timings(stop=30.0)
    monkeypatch.setenv("PRISM_TIMEOUT_STOP_SECONDS", "0.1")
    result = run_prism("save", "box", "env1", "--stop", "--yes")
    assert result.exit_code == 1
    assert "timed out after 0.1s waiting for instance i-" in result.stderr
    assert "to stop" in result.stderr
