"""Where prism keeps its files and the tunables read from environment and config."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prism_core.exceptions import InputError

SYSTEM_CONFIG = "/etc/prism/prism.yml"

#: Where ``prism launch`` learns the caller's public address (as Packer does).
DEFAULT_CHECKIP_URL = "https://checkip.amazonaws.com"

#: Wait limits in seconds, per thing waited on (config ``prism.timeouts``).
DEFAULT_TIMEOUTS: dict[str, float] = {
    "stop": 1200.0,
    "start": 1200.0,
    "snapshots": 1800.0,
    "image": 4 * 3600.0,
    "copy": 8 * 3600.0,
    "setup": 3600.0,  # `prism launch --wait-ready`: the template's setup script
}


def prism_home() -> Path:
    """``$PRISM_HOME`` or ``~/.prism``."""
    return Path(os.environ.get("PRISM_HOME") or Path.home() / ".prism").expanduser()


def user_config_path() -> Path:
    """The user's config file, ``$PRISM_HOME/config.yml``."""
    return prism_home() / "config.yml"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by the user only; return it."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
    return path


def _number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, not {value!r}") from None
    if number < 0:
        raise InputError(f"{what} must not be negative, not {value!r}")
    return number


@dataclass
class Settings:
    """Tunables, from (lowest to highest) defaults, config files, environment."""

    home: Path
    poll_delay: float = 15.0
    timeouts: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))
    registry_prefix: str = "/prism/"
    #: Regions copied at once. Copy quotas are per destination region and prism sends
    #: one copy per region, so this only bounds threads and the polling rate.
    copy_concurrency: int = 10
    max_attempts: int = 8
    kms_keys: dict[str, str] = field(default_factory=dict)
    #: ``--copy-to-regions`` when the option is not given (config ``prism.default_copy_regions``).
    default_copy_regions: str | None = None
    #: The service that answers the caller's public IP address (config
    #: ``prism.checkip_url``, env ``PRISM_CHECKIP_URL``); ``prism launch`` opens ports
    #: to that address only.
    checkip_url: str = DEFAULT_CHECKIP_URL
    #: Every other config section (plugin settings), defaults applied and validated.
    plugin_config: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, config: Mapping[str, Any] | None = None) -> Settings:
        """Build settings from the ``prism`` config section and the environment."""
        section = dict(config or {})
        settings = cls(home=prism_home())
        if "poll_delay_seconds" in section:
            settings.poll_delay = _number(section["poll_delay_seconds"], "poll_delay_seconds")
        env_delay = os.environ.get("PRISM_POLL_DELAY_SECONDS")
        if env_delay:
            settings.poll_delay = _number(env_delay, "PRISM_POLL_DELAY_SECONDS")
        timeouts = section.get("timeouts") or {}
        if not isinstance(timeouts, Mapping):
            raise InputError("config prism.timeouts must be a mapping of wait name to seconds")
        for name, value in timeouts.items():
            if name not in DEFAULT_TIMEOUTS:
                raise InputError(
                    f"unknown timeout {name!r} in config",
                    f"use one of {', '.join(DEFAULT_TIMEOUTS)}",
                )
            settings.timeouts[name] = _number(value, f"timeouts.{name}")
        for name in DEFAULT_TIMEOUTS:
            env_value = os.environ.get(f"PRISM_TIMEOUT_{name.upper()}_SECONDS")
            if env_value:
                settings.timeouts[name] = _number(
                    env_value, f"PRISM_TIMEOUT_{name.upper()}_SECONDS"
                )
        prefix = str(section.get("registry_prefix", settings.registry_prefix))
        if not prefix.startswith("/"):
            raise InputError(f"registry_prefix {prefix!r} must start with '/'")
        settings.registry_prefix = prefix if prefix.endswith("/") else prefix + "/"
        if "copy_concurrency" in section:
            settings.copy_concurrency = max(
                1, int(_number(section["copy_concurrency"], "copy_concurrency"))
            )
        kms_keys = section.get("kms_keys") or {}
        if not isinstance(kms_keys, Mapping):
            raise InputError("config prism.kms_keys must map region names to KMS key ids or ARNs")
        settings.kms_keys = {str(k): str(v) for k, v in kms_keys.items()}
        regions = section.get("default_copy_regions")
        if isinstance(regions, list | tuple):
            regions = ",".join(str(r) for r in regions)
        settings.default_copy_regions = str(regions) if regions else None
        checkip = os.environ.get("PRISM_CHECKIP_URL") or section.get("checkip_url")
        if checkip:
            checkip = str(checkip).strip()
            if not checkip.startswith(("https://", "http://")):
                raise InputError(
                    f"checkip_url {checkip[:80]!r} must be an http(s) URL",
                    f"e.g. {DEFAULT_CHECKIP_URL}",
                )
            settings.checkip_url = checkip
        return settings

    @property
    def critical_poll_delay(self) -> float:
        """Half the poll delay: for waits while the instance is down and for the copies."""
        return self.poll_delay / 2.0

    @property
    def templates_dir(self) -> Path:
        """``$PRISM_HOME/templates``."""
        return self.home / "templates"

    @property
    def journal_dir(self) -> Path:
        """``$PRISM_HOME/journal``: one file per save in progress."""
        return self.home / "journal"


def validate_section(section: str, values: Mapping[str, Any], schema: Any, plugin: str) -> None:
    """Check a plugin's config section against its JSON schema; one-line error if not."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(dict(schema))
    errors = sorted(validator.iter_errors(dict(values)), key=lambda e: list(e.absolute_path))
    if errors:
        where = ".".join([section, *(str(p) for p in errors[0].absolute_path)])
        raise InputError(
            f"config {where}: {errors[0].message}",
            f"fix the {section}: section of prism.yml (settings of plugin {plugin})",
        )
