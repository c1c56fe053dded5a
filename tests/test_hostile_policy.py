"""An installation's policy against a hostile user: locked config keys written in any
letter case (or Unicode form that lower-cases to the key), and command-line flags or
environment variables that map to a locked key. The lock holds, or the command is refused
in one line naming the lock (exit 2) before anything changes; every run is a child
process under a memory limit (helpers.run_prism_child)."""

from __future__ import annotations

import json
import os

import pytest
from helpers import run_prism_child

#: The system config (/etc/prism/prism.yml) of these tests: every prism key a flag or a
#: variable could reach is locked.
SYSTEM = """\
prism:
  image_mode: stop
  default_copy_regions: us-east-2
  deprecate_after_days: 30
  trusted_image_owners: ['111122223333']
  checkip_url: https://checkip.example.edu/
  timeouts: {image: 600}
  locked: [image_mode, default_copy_regions, deprecate_after_days, trusted_image_owners,
           checkip_url, timeouts]
"""


def _refused(result, *expected: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("prism: error: ")
    for text in expected:
        assert text in lines[0], lines[0]
    assert "Traceback" not in result.stderr and "unexpected" not in lines[0]


@pytest.fixture
def system(tmp_path):
    path = tmp_path / "prism.yml"
    path.write_text(SYSTEM)
    return str(path)


@pytest.fixture
def box(prism_sandbox):
    instance_id = prism_sandbox.create_instance("box")
    prism_sandbox.faults.clear_calls()
    return instance_id


def _unchanged(sandbox, instance_id: str) -> None:
    assert sandbox.own_images() == []
    assert sandbox.instance_state(instance_id) == "running"


def _spellings(key: str) -> list[str]:
    """Forms of ``key`` that the config handler stores as ``key``: upper, title, mixed
    case, and the Kelvin sign for a ``k`` (it lower-cases to ASCII ``k``)."""
    forms = {
        key.upper(),
        key.title(),
        "".join(c.upper() if i % 2 else c for i, c in enumerate(key)),
        key[0].upper() + key[1:],
    }
    if "k" in key:
        forms.add(key.replace("k", "\u212a"))
    return sorted(forms - {key})


#: (locked key, a user value that would lift the policy, what the dry run must still show)
OVERRIDES = [
    ("image_mode", "no-reboot", ("image_mode", "stop")),
    ("default_copy_regions", "us-west-2", ("copy_to_regions", ["us-east-2"])),
    ("deprecate_after_days", 0, ("deprecate_after_days", 30)),
    ("locked", "[]", ("image_mode", "stop")),
]
#: One spelling per key through the CLI (upper case; the Kelvin sign for ``locked``);
#: every spelling of every key: tests/unit/test_config_locks.py.
CASES = [
    pytest.param(spelled, value, shown, id=f"{key}-{spelled.encode('ascii', 'replace').decode()}")
    for key, value, shown in OVERRIDES
    for spelled in _spellings(key)
    if spelled == (key.replace("k", "\u212a") if key == "locked" else key.upper())
]


@pytest.mark.parametrize(("spelled", "value", "shown"), CASES)
def test_a_locked_key_holds_in_every_spelling(prism_sandbox, box, system, spelled, value, shown):
    text = f"prism:\n  {spelled}: {value}\n"
    if spelled.lower() == "locked":  # a user's own lock list and an unlocked-by-case key
        text = f"prism:\n  {spelled}: []\n  IMAGE_MODE: no-reboot\n"
    prism_sandbox.write_config(text)
    result = run_prism_child("save", "box", "env1", "--dry-run", "-o", "json", system_config=system)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    field, expected = shown
    source = document["request"] if field in document["request"] else document
    assert source[field] == expected
    assert "is locked by" in result.stderr or "is ignored" in result.stderr
    _unchanged(prism_sandbox, box)


def test_a_plugin_sections_locked_key_holds_in_every_spelling():
    """The locks of any section (an institution's policy section) compare keys the way
    the config handler stores them."""
    from prism_core.settings import ConfigLocks

    locks = ConfigLocks()
    locks.add({"policy": {"locked": ["Require_Project", "allowed_regions"]}}, "/etc/prism")
    for key in ("require_project", "allowed_regions"):
        for spelled in [key, *_spellings(key)]:
            kept = locks.enforce({"policy": {spelled: False, "contact": "x"}}, "user")
            assert kept == {"policy": {"contact": "x"}}, spelled
            assert locks.is_locked("policy", spelled)


@pytest.mark.parametrize("key", [2.5])  # 1, None, True: tests/unit/test_settings_refusals.py
def test_a_config_key_that_is_not_text_is_refused(prism_sandbox, box, key):
    prism_sandbox.write_config(f"prism:\n  {json.dumps(key)}: stop\n")
    _refused(run_prism_child("save", "box", "env1", "--yes"), "is not a name")
    _unchanged(prism_sandbox, box)


#: Two flags through the CLI (every flag that maps to a locked key:
#: tests/unit/test_config_locks.py).
FLAGS = [
    (["--no-reboot"], "prism.image_mode"),
    (["--copy-to-regions", "us-east-2,us-west-2"], "prism.default_copy_regions"),
]


@pytest.mark.parametrize(("flags", "lock"), FLAGS, ids=[" ".join(f) for f, _ in FLAGS])
def test_a_flag_cannot_override_a_locked_key(prism_sandbox, box, system, flags, lock):
    result = run_prism_child("save", "box", "env1", *flags, "--yes", system_config=system)
    _refused(result, lock, "locked by", "prism.yml")
    _unchanged(prism_sandbox, box)


def test_a_batch_entry_cannot_override_a_locked_key(prism_sandbox, box, system, tmp_path):
    batch = tmp_path / "batch.yaml"
    batch.write_text("- {instance: box, template: env1, no_reboot: true}\n")
    result = run_prism_child("save", "--batch", str(batch), "--yes", system_config=system)
    _refused(result, "prism.image_mode", "locked by")
    _unchanged(prism_sandbox, box)


def test_flags_restating_the_locked_values_are_fine(prism_sandbox, box, system):
    result = run_prism_child(
        "save", "box", "env1", "--stop", "--copy-to-regions", "us-east-2",
        "--deprecate-after", "30", "--dry-run", "-o", "json", system_config=system,
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["image_mode"] == "stop"


@pytest.mark.parametrize(
    ("variable", "value", "lock"),
    [
        ("PRISM_TIMEOUT_IMAGE_SECONDS", "60000", "prism.timeouts"),
        ("PRISM_CHECKIP_URL", "https://evil.example.com/", "prism.checkip_url"),
    ],
)
def test_an_environment_variable_cannot_override_a_locked_key(
    prism_sandbox, box, system, monkeypatch, variable, value, lock
):
    monkeypatch.setenv(variable, value)
    _refused(run_prism_child("save", "box", "env1", "--yes", system_config=system), variable, lock)
    _unchanged(prism_sandbox, box)


def test_trust_owner_cannot_widen_a_locked_owner_list(prism_sandbox, system):
    result = run_prism_child(
        "launch", "python-ml", "new-box", "--trust-owner", "999988887777", "--yes",
        system_config=system,
    )
    _refused(result, "--trust-owner", "prism.trusted_image_owners", "locked by")
    assert prism_sandbox.ec2().describe_instances()["Reservations"] == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [  # the other variables: tests/unit/test_config_locks.py
        ("PRISM_IMAGE_MODE", "no-reboot"),
        ("PRISM_PRISM_IMAGE_MODE", "no-reboot"),
    ],
)
def test_no_variable_named_after_a_config_key_changes_it(
    prism_sandbox, box, system, monkeypatch, variable, value
):
    """Cement's config handler maps ``PRISM_<KEY>`` / ``PRISM_<SECTION>_<KEY>`` onto any
    config value; prism reads only the variables it documents."""
    monkeypatch.setenv(variable, value)
    result = run_prism_child("save", "box", "env1", "--dry-run", "-o", "json", system_config=system)
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["image_mode"] == "stop"
    assert document["request"]["copy_to_regions"] == ["us-east-2"]
    assert document["request"]["deprecate_after_days"] == 30


def test_no_variable_changes_a_plugin_sections_locked_key(tmp_path, monkeypatch):
    from prism_core.cli.app import PrismApp

    path = tmp_path / "prism.yml"
    path.write_text("policy:\n  require_project: true\n  locked: [require_project]\n")
    monkeypatch.setattr("prism_core.settings.SYSTEM_CONFIG", str(path))
    for variable in ("PRISM_POLICY_REQUIRE_PROJECT", "PRISM_POLICY_LOCKED"):
        monkeypatch.setenv(variable, "")
    app = PrismApp(argv=["plugins"], config_files=[str(path)])
    app.setup()
    assert app.config.get_section_dict("policy")["require_project"] is True


# -- required plugins: nothing but the program calling main() chooses plugins ---------------

REQUIRED = "institution-example"  # installed next to prism for the tests, as required

RELEASE_ATTEMPTS = [
    {"PRISM_DISABLE_PLUGINS": REQUIRED},
    {"PRISM_DISABLE_PLUGINS": f"boot-check,{REQUIRED.upper()},{REQUIRED}"},
    {"PYTEST_CURRENT_TEST": "t.py::t (call)", "PRISM_TEST_RELEASED_PLUGINS": REQUIRED},
    {
        "PYTEST_CURRENT_TEST": "t.py::t (call)",
        "PRISM_TEST_RELEASED_PLUGINS": REQUIRED,
        "PRISM_DISABLE_PLUGINS": REQUIRED,
    },
    {"PRISM_REQUIRED_PLUGINS": "", "PRISM_PRISM_REQUIRED_PLUGINS": ""},
    {"PRISM_INSTITUTION_EXAMPLE_ALLOWED_REGIONS": "us-east-1"},
    {"PRISM_PLUGINS": "", "PRISM_ENTRY_POINTS": "", "PRISM_ONLY_PLUGINS": ""},
]


def _installed_policy(result) -> None:
    assert result.exit_code == 0, result.stderr
    listed = json.loads(result.stdout)
    assert REQUIRED in listed["required"]
    assert REQUIRED in {p["name"] for p in listed["plugins"]}


@pytest.mark.parametrize("variables", RELEASE_ATTEMPTS, ids=lambda v: ",".join(v))
def test_no_variable_releases_a_required_plugin(tmp_path, variables):
    """The real console script (`python -m prism_core`, every installed plugin)."""
    import subprocess
    import sys

    env = dict(os.environ, PRISM_HOME=str(tmp_path), **variables)
    done = subprocess.run(
        [sys.executable, "-m", "prism_core", "plugins", "-o", "json"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    from prism_core.testing import PrismResult

    _installed_policy(PrismResult(done.returncode, done.stdout, done.stderr))


USER_CONFIGS = [
    "prism:\n  required_plugins: []\n",
    "prism:\n  Required_Plugins: []\n  LOCKED: []\n",
    "institution-example:\n  locked: []\n  allowed_regions: [us-east-1]\n",
    "institution-example:\n  Locked: []\n  ALLOWED_REGIONS: [us-east-1]\n"
    "  Require_project: false\n",
]


@pytest.mark.parametrize("config", USER_CONFIGS)
@pytest.mark.parametrize("variables", RELEASE_ATTEMPTS[:4], ids=lambda v: ",".join(v))
def test_a_required_plugin_survives_variables_and_config(
    prism_sandbox, box, monkeypatch, prism_only_plugins, config, variables
):
    prism_only_plugins(REQUIRED)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    prism_sandbox.write_config(config)
    _installed_policy(run_prism_child("plugins", "-o", "json"))
    refused = run_prism_child("save", "box", "env1", "--region", "us-east-1", "--yes")
    assert refused.exit_code == 2, refused.stderr
    assert "Example University policy" in refused.stderr
    _unchanged(prism_sandbox, box)


@pytest.mark.parametrize(
    "flags",
    [["--disable-plugins", REQUIRED], ["--no-plugins"], ["-p", f"no:{REQUIRED}"]],
    ids=lambda f: f[0],
)
def test_no_flag_releases_a_required_plugin(prism_sandbox, box, prism_only_plugins, flags):
    prism_only_plugins(REQUIRED)
    result = run_prism_child("save", "box", "env1", "--region", "us-east-1", *flags, "--yes")
    assert result.exit_code == 2
    _installed_policy(run_prism_child("plugins", "-o", "json"))
    _unchanged(prism_sandbox, box)


def test_production_code_knows_nothing_of_tests():
    """Only the test harness (prism_core.testing) may know of pytest; nothing else in
    prism reads a test's state, so no variable can make prism believe it runs in a test."""
    import pathlib

    import prism_core
    import prism_plugins

    roots = [pathlib.Path(prism_core.__file__).parent, pathlib.Path(prism_plugins.__file__).parent]
    offenders = []
    for root in roots:
        for path in root.rglob("*.py"):
            if path.name == "testing.py" and path.parent.name == "prism_core":
                continue
            text = path.read_text(encoding="utf-8")
            words = ("PYTEST", "pytest", "prism_core.testing", "EXTRA_PLUGINS", "RELEASED_PLUGINS")
            for word in words:
                if word in text:
                    offenders.append(f"{path.name}: {word}")
    assert offenders == []
