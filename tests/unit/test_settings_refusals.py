"""Unit layer: absurd numbers, typos and hostile values in prism's environment variables
and ``prism:`` config section are refused by ``Settings.load`` in one line naming the
variable or key. Config text is read from a real file by the reader the CLI uses
(``read_config_file``, the user layer's lock enforcement), then loaded (no sandbox, no
process).

The CLI wiring (exit 2, one ``prism: error:`` line, nothing changed in the cloud, every
command checks the settings) is proven end to end by ``tests/test_hostile_settings.py``
and ``tests/test_hostile_policy.py`` for a few of these values.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from prism_core.exceptions import InputError
from prism_core.settings import DEFAULT_TIMEOUTS, ConfigLocks, Settings, read_config_file

TIMEOUTS = ["stop", "start", "snapshots", "image", "copy", "setup"]
ENV_ABSURD = ["nan", "-inf", "-1", "0", "1e308", "9" * 5000, "inf\n", "5\x1b[31m", "0x10"]
CONFIG_ABSURD = [
    ".nan", "-.inf", "-1", "0", "1e308", "9" * 5000, "2024-13-45", "'5 s'", "[5]", "{}"
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.setenv("PRISM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PRISM_POLL_DELAY_SECONDS", raising=False)
    monkeypatch.delenv("PRISM_CHECKIP_URL", raising=False)
    for name in DEFAULT_TIMEOUTS:
        monkeypatch.delenv(f"PRISM_TIMEOUT_{name.upper()}_SECONDS", raising=False)
    return monkeypatch


def _load_config(tmp_path: Path, text: str) -> Settings:
    """Settings from a user config file holding ``text``, read as the CLI reads it."""
    path = tmp_path / "config.yml"
    path.write_text(text, encoding="utf-8")
    content = ConfigLocks().enforce(read_config_file(path) or {}, str(path))
    return Settings.load(content.get("prism") or {})


def _one_line(error: Any, *expected: str) -> None:
    message = str(error.value)
    assert "\n" not in message, message
    assert not any(ch in message for ch in "\x1b\x9b\x07"), message
    for text in expected:
        assert text in message, message


@pytest.mark.parametrize(
    ("name", "value"),
    list(itertools.product(TIMEOUTS, ENV_ABSURD)),
    ids=lambda v: repr(v)[:12],
)
def test_every_timeout_variable_refuses_absurd_numbers(
    clean_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    variable = f"PRISM_TIMEOUT_{name.upper()}_SECONDS"
    clean_env.setenv(variable, value)
    with pytest.raises(InputError) as refused:
        Settings.load({})
    _one_line(refused, variable)


@pytest.mark.parametrize(
    ("name", "value"),
    list(itertools.product(TIMEOUTS, CONFIG_ABSURD)),
    ids=lambda v: repr(v)[:12],
)
def test_every_config_timeout_refuses_absurd_numbers(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str
) -> None:
    with pytest.raises(InputError) as refused:
        _load_config(tmp_path, f"prism:\n  timeouts:\n    {name}: {value}\n")
    _one_line(refused, "config")


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
def test_absurd_environment_numbers(
    clean_env: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(InputError) as refused:
        Settings.load({})
    _one_line(refused, variable)


BAD_CONFIG = [
    ("prism:\n  poll_delay_seconds: .nan\n", "poll_delay_seconds"),
    ("prism:\n  poll_delay_seconds: true\n", "poll_delay_seconds"),
    ("prism:\n  timeouts: {image: .inf}\n", "timeouts.image"),
    ("prism:\n  timeouts: {copy: -5}\n", "timeouts.copy"),
    ("prism:\n  copy_concurrency: 100000\n", "copy_concurrency"),
    ("prism:\n  copy_concurrency: 0\n", "copy_concurrency"),
    ("prism:\n  copy_concurrency: 2.5\n", "copy_concurrency"),
    ("prism:\n  max_attempts: 0\n", "max_attempts"),
    ("prism:\n  max_attempts: 1000\n", "max_attempts"),
    ("prism:\n  max_attempts: .nan\n", "max_attempts"),
    ("prism:\n  poll_delay: 5\n", "did you mean poll_delay_seconds?"),
    ("prism:\n  copy_concurency: 5\n", "did you mean copy_concurrency?"),
    ("prism:\n  timeouts: {imgae: 5}\n", "did you mean image?"),
    ("prism:\n  registry_prefix: /aws/prism/\n", "reserves names starting with 'aws'"),
    ("prism:\n  registry_prefix: /SSM-stuff/\n", "reserves names starting with 'aws' or 'ssm'"),
    ("prism:\n  registry_prefix: '/pri sm/'\n", "not a valid SSM parameter path"),
    ("prism:\n  registry_prefix: prism\n", "must start with '/'"),
    ("prism:\n  kms_keys: {us-east-2: \"\\e[31mkey\"}\n", "not a KMS key id"),
    ("prism:\n  kms_keys: {us-east-2: [alias/x]}\n", "kms_keys.us-east-2"),
    ("prism:\n  kms_keys: {'../eu': alias/images}\n", "is not a region name"),
    ("prism:\n  checkip_url: \"http://\\e[2Jevil\"\n", "must be an http(s) URL"),
    ("prism:\n  checkip_url: 'https://a b/'\n", "must be an http(s) URL"),
    ("prism:\n  image_mode: \"\\e[2J\"\n", "image_mode"),
    ("prism:\n  trusted_image_owners: [\"\\e[2J\"]\n", "trusted_image_owners"),
    ("prism:\n  deprecate_after_days: .nan\n", "deprecate_after_days"),
    ("prism:\n  batch_concurrency: 1e400\n", "batch_concurrency"),
    ("prism:\n  timeouts: [1, 2]\n", "timeouts must be a mapping"),
]


@pytest.mark.parametrize(("config", "expected"), BAD_CONFIG)
def test_bad_config_values_and_typos(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, config: str, expected: str
) -> None:
    with pytest.raises(InputError) as refused:
        _load_config(tmp_path, config)
    _one_line(refused, expected)


@pytest.mark.parametrize("key", ["1", "2.5", "null", "true"])
def test_a_config_key_that_is_not_text_is_refused(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, key: str
) -> None:
    with pytest.raises(InputError) as refused:
        _load_config(tmp_path, f"prism:\n  {key}: stop\n")
    _one_line(refused, "is not a name")
