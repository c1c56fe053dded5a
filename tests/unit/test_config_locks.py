"""Unit layer: an installation's locked ``prism:`` keys against a hostile user's config,
variables and flags. The config layers are read by the real application object
(``PrismApp`` with the system and user files, as ``main()`` builds it, no command run);
the flags are checked by ``plan_save`` with clients that fail the test on any use.

The CLI wiring (the dry run shows the locked value, the refusal is one line, exit 2,
nothing changed) is proven end to end for one case of each family in
``tests/test_hostile_policy.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_save_refusals import NoCloud, options_of

from prism_core.exceptions import InputError
from prism_core.save.pipeline import plan_save
from prism_core.settings import DEFAULT_TIMEOUTS, Settings

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


#: (locked key, a user value that would lift the policy)
OVERRIDES = [
    ("image_mode", "no-reboot"),
    ("default_copy_regions", "us-west-2"),
    ("deprecate_after_days", "0"),
    ("locked", "[]"),
]
CASES = [
    pytest.param(spelled, value, id=f"{key}-{spelled.encode('ascii', 'replace').decode()}")
    for key, value in OVERRIDES
    for spelled in _spellings(key)
]


@pytest.fixture
def files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, Path]:
    """The system config (every key a flag or variable could reach locked) and the
    user's config file, empty."""
    monkeypatch.setenv("PRISM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PRISM_POLL_DELAY_SECONDS", raising=False)
    monkeypatch.delenv("PRISM_CHECKIP_URL", raising=False)
    for name in DEFAULT_TIMEOUTS:
        monkeypatch.delenv(f"PRISM_TIMEOUT_{name.upper()}_SECONDS", raising=False)
    system = tmp_path / "prism.yml"
    system.write_text(SYSTEM, encoding="utf-8")
    monkeypatch.setattr("prism_core.settings.SYSTEM_CONFIG", str(system))
    user = tmp_path / "config.yml"
    user.write_text("", encoding="utf-8")
    return system, user


def _app_settings(system: Path, user: Path) -> tuple[Settings, list[str]]:
    """The settings and config warnings of a prism run with these two config files."""
    from prism_core.cli.app import PrismApp

    app = PrismApp(argv=["plugins"], config_files=[str(system), str(user)])
    app.setup()
    settings = app.settings
    return settings, list(app.config_locks.warnings)


def _policy_holds(settings: Settings) -> None:
    assert settings.image_mode == "stop"
    assert settings.default_copy_regions == "us-east-2"
    assert settings.deprecate_after_days == 30


@pytest.mark.parametrize(("spelled", "value"), CASES)
def test_a_locked_key_holds_in_every_spelling(
    files: tuple[Path, Path], spelled: str, value: str
) -> None:
    system, user = files
    text = f"prism:\n  {spelled}: {value}\n"
    if spelled.lower() == "locked":  # a user's own lock list and an unlocked-by-case key
        text = f"prism:\n  {spelled}: []\n  IMAGE_MODE: no-reboot\n"
    user.write_text(text, encoding="utf-8")
    settings, warnings = _app_settings(system, user)
    _policy_holds(settings)
    assert any("is locked by" in w or "is ignored" in w for w in warnings), warnings


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PRISM_IMAGE_MODE", "no-reboot"),
        ("PRISM_DEFAULT_COPY_REGIONS", "us-west-2"),
        ("PRISM_DEPRECATE_AFTER_DAYS", "0"),
        ("PRISM_TRUSTED_IMAGE_OWNERS", "999988887777"),
        ("PRISM_LOCKED", ""),
        ("PRISM_PRISM_IMAGE_MODE", "no-reboot"),
    ],
)
def test_no_variable_named_after_a_config_key_changes_it(
    files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """Cement's config handler maps ``PRISM_<KEY>`` / ``PRISM_<SECTION>_<KEY>`` onto any
    config value; prism reads only the variables it documents."""
    monkeypatch.setenv(variable, value)
    settings, _ = _app_settings(*files)
    _policy_holds(settings)
    assert settings.trusted_image_owners == ["111122223333"]


FLAGS = [
    (["--reboot"], "prism.image_mode"),
    (["--no-reboot"], "prism.image_mode"),
    (["--copy-to-regions", "us-west-2"], "prism.default_copy_regions"),
    (["--copy-to-regions", "us-east-2,us-west-2"], "prism.default_copy_regions"),
    (["--deprecate-after", "400"], "prism.deprecate_after_days"),
]


@pytest.mark.parametrize(("flags", "lock"), FLAGS, ids=[" ".join(f) for f, _ in FLAGS])
def test_a_flag_cannot_override_a_locked_key(
    files: tuple[Path, Path], flags: list[str], lock: str
) -> None:
    settings, _ = _app_settings(*files)
    # --no-inherit: no previous version is looked up, so plan_save reaches the lock check
    # without the cloud (nothing was saved before in these cases either)
    argv = ["box", "env1", "--no-inherit", *flags]
    options, region = options_of(argv, settings.default_copy_regions)
    with pytest.raises(InputError) as refused:
        plan_save(options, settings, NoCloud(region), progress=None)  # type: ignore[arg-type]
    message = str(refused.value)
    assert lock in message and "locked by" in message and "prism.yml" in message, message


def test_flags_restating_the_locked_values_get_past_the_lock_check(
    files: tuple[Path, Path],
) -> None:
    settings, _ = _app_settings(*files)
    argv = ["box", "env1", "--no-inherit", "--stop", "--copy-to-regions", "us-east-2",
            "--deprecate-after", "30"]  # fmt: skip
    options, region = options_of(argv, settings.default_copy_regions)
    with pytest.raises(AssertionError, match="used the clients"):
        plan_save(options, settings, NoCloud(region), progress=None)  # type: ignore[arg-type]
