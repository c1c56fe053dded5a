"""Hostile settings: malformed or hostile command-line values, absurd numbers, typos in
prism's config keys, a PRISM_HOME that is a file, unwritable, relative or full, a registry
prefix SSM would refuse. Each is refused in one line naming the option, variable or key
(exit 2) before anything changes in the cloud; every run is a child process under a
memory limit (helpers.run_prism_child)."""

from __future__ import annotations

import os
import re

import pytest
from helpers import SmallDisk, run_prism_child, small_disks_available


def _refused(result, *expected: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("prism: error: ")
    for text in expected:
        assert text in lines[0], lines[0]
    assert "Traceback" not in result.stderr and "unexpected" not in lines[0]
    assert not any(ch in result.stderr for ch in "\x1b\x9b\x07"), result.stderr  # escapes


@pytest.fixture
def box(prism_sandbox):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.faults.clear_calls()
    return instance_id


def _unchanged(sandbox, instance_id: str) -> None:
    assert sandbox.own_images() == []
    assert sandbox.instance_state(instance_id) == "running"
    instance = sandbox.ec2().describe_instances(InstanceIds=[instance_id])
    tags = instance["Reservations"][0]["Instances"][0].get("Tags", [])
    assert [t["Value"] for t in tags if t["Key"] == "prism:save-lock"] == []


#: The CLI wiring of each family of argument refusals; every rule's full table of values
#: is proven offline, before any AWS call, in tests/unit/test_save_refusals.py.
CASES = [
    # (id, extra argv after "save", expected text in the error)
    ("unknown-instance", ["nobody", "env1"], "no instance named 'nobody'"),
    ("malformed-instance-id", ["i-zzzz", "env1"], "no instance named 'i-zzzz'"),
    ("template-traversal", ["box", "../etc/passwd"], "invalid template name"),
    ("template-empty", ["box", ""], "INSTANCE and TEMPLATE"),
    ("copy-region-unknown", ["box", "env1", "--copy-to-regions", "eu-north-9"], "does not exist"),
    ("tag-escape-key", ["box", "env1", "--tag", "\x1b[2J\x1b[31mk=v"], "control characters"),
    ("description-8bit-csi", ["box", "env1", "--description", "\x9b2J"], "control characters"),
    ("resume-and-abort", ["--resume", "--abort"], "exclude each other"),
    ("missing-template", ["box"], "INSTANCE and TEMPLATE"),
]


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_arguments_are_refused_before_any_change(prism_sandbox, box, argv, expected):
    _refused(run_prism_child("save", *argv, "--yes"), expected)
    _unchanged(prism_sandbox, box)


def test_terminated_instance(prism_sandbox):
    prism_sandbox.create_instance("gone", state="terminated")
    _refused(run_prism_child("save", "gone", "env1", "--yes"), "is terminated")


def test_ambiguous_instance(prism_sandbox):
    prism_sandbox.create_instance("twin")
    prism_sandbox.create_instance("twin")
    _refused(run_prism_child("save", "twin", "env1", "--yes"), "are named 'twin'")


def test_public_with_block_public_access(box, prism_sandbox):
    prism_sandbox.set_block_public_access("us-east-1", True)
    result = run_prism_child("save", "box", "env1", "--public", "--yes")
    _refused(result, "block public access")
    _unchanged(prism_sandbox, box)


def test_disabled_region(prism_sandbox, box, monkeypatch):
    from moto.ec2.models.availability_zones_and_regions import RegionsAndZonesBackend

    original = RegionsAndZonesBackend.describe_regions

    def enabled_only(self, region_names=None):
        return [r for r in original(self, region_names) if r.name != "ap-east-1"]

    monkeypatch.setattr(RegionsAndZonesBackend, "describe_regions", enabled_only)
    result = run_prism_child("save", "box", "env1", "--copy-to-regions", "ap-east-1", "--yes")
    _refused(result, "ap-east-1 does not exist or is not enabled")
    _unchanged(prism_sandbox, box)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["save", "box", "env1", "--bogus"], "unrecognized arguments: --bogus"),
        (["launch", "env1", "new-box", "--size", "HUGE"], "invalid choice: 'HUGE'"),
        (["save", "box", "env1", "-o", "xml"], "invalid choice: 'xml'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
    ids=["unknown-flag", "bad-size", "bad-output", "unknown-command"],
)
def test_usage_errors_are_one_line(prism_sandbox, box, argv, expected):
    result = run_prism_child(*argv)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0] and "--help" in lines[0], lines[0]
    _unchanged(prism_sandbox, box)


#: A few absurd values through the CLI (every timeout with every value:
#: tests/unit/test_settings_refusals.py).
ENV_ABSURD = [("image", "nan"), ("stop", "5\x1b[31m")]
CONFIG_ABSURD = [("copy", "9" * 5000), ("snapshots", "'5 s'")]


@pytest.mark.parametrize(("name", "value"), ENV_ABSURD, ids=lambda v: repr(v)[:12])
def test_every_timeout_variable_refuses_absurd_numbers(
    prism_sandbox, box, monkeypatch, name, value
):
    variable = f"PRISM_TIMEOUT_{name.upper()}_SECONDS"
    monkeypatch.setenv(variable, value)
    _refused(run_prism_child("save", "box", "env1", "--yes"), variable)
    _unchanged(prism_sandbox, box)


@pytest.mark.parametrize(("name", "value"), CONFIG_ABSURD, ids=lambda v: repr(v)[:12])
def test_every_config_timeout_refuses_absurd_numbers(prism_sandbox, box, monkeypatch, name, value):
    monkeypatch.delenv("PRISM_POLL_DELAY_SECONDS")
    prism_sandbox.write_config(f"prism:\n  timeouts:\n    {name}: {value}\n")
    _refused(run_prism_child("save", "box", "env1", "--yes"), "config")
    _unchanged(prism_sandbox, box)


def test_timeout_checks_run_for_every_command(box, monkeypatch):
    """Not only the save: a launch (which waits too) refuses the same setting."""
    monkeypatch.setenv("PRISM_TIMEOUT_SETUP_SECONDS", "nan")
    _refused(run_prism_child("launch", "env1", "new-box", "--yes"), "PRISM_TIMEOUT_SETUP_SECONDS")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PRISM_POLL_DELAY_SECONDS", "soon")],  # the rest: tests/unit/test_settings_refusals.py
)
def test_absurd_environment_numbers(prism_sandbox, box, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    _refused(run_prism_child("save", "box", "env1", "--yes"), variable)
    _unchanged(prism_sandbox, box)


@pytest.mark.parametrize(
    ("config", "expected"),
    [  # the full table of values and typos: tests/unit/test_settings_refusals.py
        ("prism:\n  poll_delay: 5\n", "did you mean poll_delay_seconds?"),
        ("prism:\n  checkip_url: \"http://\\e[2Jevil\"\n", "must be an http(s) URL"),
    ],
)
def test_bad_config_values_and_typos(prism_sandbox, box, monkeypatch, config, expected):
    monkeypatch.delenv("PRISM_POLL_DELAY_SECONDS")  # else it wins over the config file
    prism_sandbox.write_config(config)
    _refused(run_prism_child("save", "box", "env1", "--yes"), expected)
    _unchanged(prism_sandbox, box)


def test_a_misspelt_section_is_reported_and_a_foreign_one_left_alone(prism_sandbox, run_prism):
    """`prsim:` (close to `prism:`) would silently drop its settings: one warning line,
    naming the section and the likely one; a section far from every known name (a plugin
    may read it without declaring it) gives none. Neither stops the command."""
    prism_sandbox.create_instance("box")
    prism_sandbox.write_config("prsim:\n  copy_concurrency: 2\nlab-notes:\n  owner: ana\n")
    result = run_prism("save", "box", "env1", "--dry-run")
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "config section" in line]
    assert warnings == [
        "prism: warning: config section 'prsim' is neither prism's nor declared by an "
        "installed plugin (its settings may be ignored); did you mean prism?"
    ]


def test_prism_home_that_is_a_file(prism_sandbox, box, monkeypatch, tmp_path):
    home = tmp_path / "home-file"
    home.write_text("not a directory")
    monkeypatch.setenv("PRISM_HOME", str(home))
    _refused(run_prism_child("save", "box", "env1", "--yes"), "PRISM_HOME", "not a directory")
    _unchanged(prism_sandbox, box)


def test_prism_home_that_cannot_be_written(prism_sandbox, box, monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("PRISM_HOME", str(blocker / "home"))  # below a file: never creatable
    _refused(run_prism_child("save", "box", "env1", "--yes"), "PRISM_HOME", "not writable")
    _unchanged(prism_sandbox, box)


def test_relative_prism_home_is_made_absolute_once(box, monkeypatch, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("PRISM_HOME", "rel-home")
    result = run_prism_child("save", "box", "env1", "--yes", cwd=work)
    assert result.exit_code == 0, result.stderr
    assert (work / "rel-home" / "templates" / "env1.yaml").is_file()
    assert str(work / "rel-home" / "templates" / "env1.yaml") in result.stdout


def _ignore_sigxfsz() -> None:
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past RLIMIT_FSIZE fails (EFBIG)


def test_writes_failing_during_the_save_the_save_goes_on(prism_sandbox, box, monkeypatch):
    """From CreateImage on, every file write fails (RLIMIT_FSIZE set on the running prism;
    runs everywhere, the real full disk is test_full_disk_during_the_save): the save goes
    on, the instance is back, the message lists what was created and what to do."""
    import resource

    from moto.ec2.models.amis import AmiBackend

    original = AmiBackend.create_image
    child: list[int] = []

    def limit_then_create(self, *args, **kwargs):
        resource.prlimit(child[0], resource.RLIMIT_FSIZE, (16, 16))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AmiBackend, "create_image", limit_then_create)
    result = run_prism_child(
        "save", "box", "env1", "--yes", preexec=_ignore_sigxfsz, on_start=child.append
    )
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert prism_sandbox.instance_state(box) == "running"
    (image,) = prism_sandbox.own_images()
    assert "could not be written (File too large)" in result.stdout
    assert f"us-east-1: {image['ImageId']}" in result.stdout
    assert "then run `prism save --resume`" in result.stdout


@pytest.fixture
def small_home(box, monkeypatch, tmp_path):
    """PRISM_HOME on a real 1 MiB filesystem (a tmpfs in a user namespace)."""
    reason = small_disks_available()
    if reason is not None:
        pytest.skip(f"no real full disk here ({reason}); the RLIMIT_FSIZE test stands in")
    home = tmp_path / "small-home"
    monkeypatch.setenv("PRISM_HOME", str(home))
    disk = SmallDisk(home, "1m")
    yield disk
    disk.close()


def test_full_disk_during_the_save(prism_sandbox, box, small_home, monkeypatch):
    """The disk fills up as EC2 starts the image: the save goes on, the instance is back,
    the message says what was created and how to finish; once space is freed,
    `prism save --resume` finishes the save with the same image."""
    from moto.ec2.models.amis import AmiBackend

    original = AmiBackend.create_image

    def fill_then_create(self, *args, **kwargs):
        small_home.fill()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AmiBackend, "create_image", fill_then_create)
    result = small_home.run("save", "box", "env1", "--yes")
    monkeypatch.setattr(AmiBackend, "create_image", original)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert prism_sandbox.instance_state(box) == "running"
    (image,) = prism_sandbox.own_images()
    assert "No space left on device" in result.stdout
    assert f"us-east-1: {image['ImageId']}" in result.stdout
    assert "prism save --resume" in result.stdout
    small_home.free()
    resumed = small_home.run("save", "--resume", "--yes", "-o", "json")
    assert resumed.exit_code == 0, (resumed.stdout, resumed.stderr)
    assert [i["ImageId"] for i in prism_sandbox.own_images()] == [image["ImageId"]]
    assert os.path.isfile(os.path.join(small_home.view, "templates", "env1.yaml"))
    assert prism_sandbox.instance_state(box) == "running"


def test_full_disk_at_the_start_is_refused(prism_sandbox, box, small_home):
    small_home.fill()
    _refused(small_home.run("save", "box", "env1", "--yes"), "PRISM_HOME", "free")
    _unchanged(prism_sandbox, box)


def test_full_disk_before_the_stop_keeps_the_instance_running(
    box, small_home, prism_sandbox, monkeypatch
):
    """`--stop` with the disk filling up as the save starts: the journal cannot record
    the stop (the watchdog and --resume would not know to restart), so prism does not
    stop the instance; it says why and what to do."""
    from moto.ec2.models.tags import TagBackend

    original = TagBackend.create_tags

    def fill_then_tag(self, *args, **kwargs):
        small_home.fill()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TagBackend, "create_tags", fill_then_tag)
    result = small_home.run("save", "box", "env1", "--stop", "--yes")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert "the instance was not stopped" in result.stdout
    assert "free space there" in result.stdout
    assert prism_sandbox.instance_state(box) == "running"
    assert prism_sandbox.own_images() == []
    calls = [action for _, action in prism_sandbox.faults.calls()]
    after_lock = calls[calls.index("PutParameter") :]  # the preflight's are dry runs
    assert "StopInstances" not in after_lock and "StartInstances" not in after_lock


#: The commands run on a full PRISM_HOME, reading ones first (the launch and the delete
#: change the cloud, so they come last).
FULL_HOME_COMMANDS = [
    ("templates", "list"),
    ("templates", "show", "env1"),
    ("plugins",),
    ("launch", "env1", "new-box", "--yes"),
    ("templates", "delete", "env1", "--yes"),
]


@pytest.mark.long
def test_commands_on_a_full_prism_home(box, small_home):
    """Caches and key files are extras: on a full PRISM_HOME the reading commands still
    answer, and the writing ones refuse or report in one line, never a traceback. One
    save and one full disk for every command."""
    saved = small_home.run("save", "box", "env1", "--yes")
    assert saved.exit_code == 0, saved.stderr
    small_home.fill()
    for argv in FULL_HOME_COMMANDS:
        result = small_home.run(*argv)
        assert "Traceback" not in result.stderr, (argv, result.stderr)
        assert "unexpected" not in result.stderr, (argv, result.stderr)
        if result.exit_code != 0:
            assert len(result.stderr.strip().splitlines()) == 1, (argv, result.stderr)


def test_full_disk_during_a_stop_mode_save(prism_sandbox, box, small_home, monkeypatch):
    """`--stop`, the disk filling up as EC2 starts the image (after the stop was
    journaled): prism restarts the instance itself, its watchdog does not get in the way,
    and the message says what to do."""
    from moto.ec2.models.amis import AmiBackend

    from prism_core.save.journal import process_alive

    original = AmiBackend.create_image

    def fill_then_create(self, *args, **kwargs):
        small_home.fill()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AmiBackend, "create_image", fill_then_create)
    result = small_home.run("save", "box", "env1", "--stop", "--yes")
    monkeypatch.setattr(AmiBackend, "create_image", original)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert prism_sandbox.instance_state(box) == "running"
    # the journal could not say the instance was restarted, so prism ended its watchdog
    # itself: it does not take the save over once prism has exited
    (watchdog,) = re.findall(r"Watchdog \(pid (\d+)\)", result.stderr + result.stdout)
    assert not process_alive(int(watchdog))
    (image,) = prism_sandbox.own_images()
    assert f"us-east-1: {image['ImageId']}" in result.stdout
    assert "prism save --resume" in result.stdout
    small_home.free()
    resumed = small_home.run("save", "--resume", "--yes")
    assert resumed.exit_code == 0, (resumed.stdout, resumed.stderr)
    assert [i["ImageId"] for i in prism_sandbox.own_images()] == [image["ImageId"]]
    assert prism_sandbox.instance_state(box) == "running"
