"""Hostile settings: absurd numbers, typos in prism's config keys, a PRISM_HOME that is a
file, unwritable or relative, a registry prefix SSM would refuse. Each is refused in one
line naming the variable or key (exit 2) before anything changes in the cloud; every run
is a child process under a memory limit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import MEMORY_LIMIT_BYTES, instance_state, own_images, run_prism_child


def _refused(result, *expected: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("prism: error: ")
    for text in expected:
        assert text in lines[0], lines[0]
    assert "Traceback" not in result.stderr and "unexpected" not in lines[0]


@pytest.fixture
def box(prism_sandbox):
    return prism_sandbox.create_instance("box")


def _unchanged(instance_id: str) -> None:
    assert own_images() == []
    assert instance_state(instance_id) == "running"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PRISM_POLL_DELAY_SECONDS", "nan"),
        ("PRISM_POLL_DELAY_SECONDS", "inf"),
        ("PRISM_POLL_DELAY_SECONDS", "-1"),
        ("PRISM_POLL_DELAY_SECONDS", "1e308"),
        ("PRISM_POLL_DELAY_SECONDS", "soon"),
        ("PRISM_TIMEOUT_IMAGE_SECONDS", "NaN"),
        ("PRISM_TIMEOUT_COPY_SECONDS", "-Infinity"),
        ("PRISM_TIMEOUT_STOP_SECONDS", "99999999999"),
        ("PRISM_TIMEOUT_SNAPSHOTS_SECONDS", "0"),
    ],
)
def test_absurd_environment_numbers(box, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    _refused(run_prism_child("save", "box", "env1", "--yes"), variable)
    _unchanged(box)


def _config(text: str) -> None:
    home = Path(os.environ["PRISM_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yml").write_text(text)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("prism:\n  poll_delay_seconds: .nan\n", "poll_delay_seconds"),
        ("prism:\n  poll_delay_seconds: true\n", "poll_delay_seconds"),
        ("prism:\n  timeouts: {image: .inf}\n", "timeouts.image"),
        ("prism:\n  timeouts: {copy: -5}\n", "timeouts.copy"),
        ("prism:\n  copy_concurrency: 100000\n", "copy_concurrency"),
        ("prism:\n  copy_concurrency: 0\n", "copy_concurrency"),
        ("prism:\n  copy_concurrency: 2.5\n", "copy_concurrency"),
        ("prism:\n  poll_delay: 5\n", "did you mean poll_delay_seconds?"),
        ("prism:\n  copy_concurency: 5\n", "did you mean copy_concurrency?"),
        ("prism:\n  timeouts: {imgae: 5}\n", "did you mean image?"),
        ("prism:\n  registry_prefix: /aws/prism/\n", "reserves names starting with 'aws'"),
        ("prism:\n  registry_prefix: /SSM-stuff/\n", "reserves names starting with 'aws' or 'ssm'"),
        ("prism:\n  registry_prefix: '/pri sm/'\n", "not a valid SSM parameter path"),
        ("prism:\n  registry_prefix: prism\n", "must start with '/'"),
    ],
)
def test_bad_config_values_and_typos(box, monkeypatch, config, expected):
    monkeypatch.delenv("PRISM_POLL_DELAY_SECONDS")  # else it wins over the config file
    _config(config)
    _refused(run_prism_child("save", "box", "env1", "--yes"), expected)
    _unchanged(box)


def test_prism_home_that_is_a_file(box, monkeypatch, tmp_path):
    home = tmp_path / "home-file"
    home.write_text("not a directory")
    monkeypatch.setenv("PRISM_HOME", str(home))
    _refused(run_prism_child("save", "box", "env1", "--yes"), "PRISM_HOME", "not a directory")
    _unchanged(box)


def test_prism_home_that_cannot_be_written(box, monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("PRISM_HOME", str(blocker / "home"))  # below a file: never creatable
    _refused(run_prism_child("save", "box", "env1", "--yes"), "PRISM_HOME", "not writable")
    _unchanged(box)


def test_relative_prism_home_is_made_absolute_once(box, tmp_path):
    import resource

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))

    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, PRISM_HOME="rel-home", MALLOC_ARENA_MAX="2")
    done = subprocess.run(
        [sys.executable, "-m", "prism_core", "save", "box", "env1", "--yes"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=limited,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (work / "rel-home" / "templates" / "env1.yaml").is_file()
    assert str(work / "rel-home" / "templates" / "env1.yaml") in done.stdout


def test_full_prism_home_the_save_goes_on_and_says_what_exists(box):
    """Every file write fails (RLIMIT_FSIZE makes writes fail like a full disk): the
    save goes on, the instance is back, and the message lists what was created."""
    import resource
    import signal

    def full_disk() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16, 16))

    env = dict(os.environ, MALLOC_ARENA_MAX="2")
    done = subprocess.run(
        [sys.executable, "-m", "prism_core", "save", "box", "env1", "--yes"],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=full_disk,
        timeout=120,
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    assert instance_state(box) == "running"
    (image,) = own_images()
    assert "could not be written" in done.stdout
    assert f"us-east-1: {image['ImageId']}" in done.stdout
