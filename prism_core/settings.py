"""Where prism keeps its files and the tunables read from environment and config."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prism_core.exceptions import InputError

SYSTEM_CONFIG = "/etc/prism/prism.yml"
#: Config files are small; anything bigger is refused before it is parsed.
MAX_CONFIG_BYTES = 256 * 1024
#: The key, in any section, that lists that section's keys user config cannot change.
LOCKED_KEY = "locked"

#: Where ``prism launch`` learns the caller's public address (as Packer does).
DEFAULT_CHECKIP_URL = "https://checkip.amazonaws.com"

#: Wait limits in seconds, per thing waited on (config ``prism.timeouts``).
DEFAULT_TIMEOUTS: dict[str, float] = {
    "stop": 1200.0,
    "start": 1200.0,
    "snapshots": 1800.0,
    "image": 4 * 3600.0,
    "copy": 8 * 3600.0,
}


def prism_home() -> Path:
    """``$PRISM_HOME`` or ``~/.prism``."""
    return Path(os.environ.get("PRISM_HOME") or Path.home() / ".prism").expanduser()


def user_config_path() -> Path:
    """The user's config file, ``$PRISM_HOME/config.yml``."""
    return prism_home() / "config.yml"


def system_config_path() -> str:
    """The system-wide config file (``/etc/prism/prism.yml``)."""
    return SYSTEM_CONFIG


def read_config_file(path: str | Path) -> dict[str, dict[str, Any]] | None:
    """One config file, bounded and safely parsed: ``{section: {key: value}}``.

    ``None`` when the file does not exist; a one-line :class:`InputError` when it cannot be
    read, is too big, is not YAML or is not a mapping of sections to mappings.
    """
    from prism_core.bounded_input import load_yaml

    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(f"config file {path} cannot be read: {exc.strerror}") from None
    content = load_yaml(data, f"config file {path} cannot be read", max_bytes=MAX_CONFIG_BYTES)
    if content is None:
        return None
    if not isinstance(content, dict) or not all(isinstance(v, dict) for v in content.values()):
        raise InputError(f"config file {path} must map section names (e.g. prism:) to settings")
    return content


class ConfigLocks:
    """Keys locked by the packaged defaults or the system config, per section.

    A section's ``locked: [key, ...]`` in those layers means later layers (the user's
    ``$PRISM_HOME/config.yml``) cannot change those keys: a user value for a locked key
    is ignored with a warning, and a user's own ``locked`` list is ignored.
    """

    def __init__(self) -> None:
        self.locked: dict[str, dict[str, str]] = {}
        self.warnings: list[str] = []

    def add(self, content: Mapping[str, Any], source: str) -> None:
        """Record the ``locked`` lists of ``content`` (a config layer) as coming from ``source``."""
        for section, values in content.items():
            keys = (values or {}).get(LOCKED_KEY) if isinstance(values, Mapping) else None
            if keys is None:
                continue
            if isinstance(keys, str):
                keys = [keys]
            if not isinstance(keys, list | tuple) or not all(isinstance(k, str) for k in keys):
                raise InputError(f"{source}: {section}.{LOCKED_KEY} must be a list of key names")
            for key in keys:
                self.locked.setdefault(str(section), {}).setdefault(key, source)

    def enforce(self, content: dict[str, Any], source: str) -> dict[str, Any]:
        """``content`` without the keys it may not change (each one becomes a warning)."""
        kept: dict[str, Any] = {}
        for section, values in content.items():
            locked = self.locked.get(str(section), {})
            section_values = {}
            for key, value in (values or {}).items():
                if key == LOCKED_KEY:
                    self.warnings.append(
                        f"{source}: {section}.{LOCKED_KEY} is ignored (only the installed "
                        f"defaults and {system_config_path()} can lock keys)"
                    )
                elif key in locked:
                    self.warnings.append(
                        f"{source}: {section}.{key} is locked by {locked[key]}; "
                        "your value is ignored"
                    )
                else:
                    section_values[key] = value
            kept[section] = section_values
        return kept

    def strip(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A section's values without its ``locked`` list (not a setting itself)."""
        return {k: v for k, v in values.items() if k != LOCKED_KEY}

    def is_locked(self, section: str, key: str) -> bool:
        """Whether ``section.key`` is locked."""
        return key in self.locked.get(section, {})


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
    #: AMI owners trusted besides this account, its organization and Amazon
    #: (config ``prism.trusted_image_owners``; an institution ships its list).
    trusted_image_owners: list[str] = field(default_factory=list)
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
        owners = section.get("trusted_image_owners") or []
        if isinstance(owners, str | int):
            owners = [o for o in str(owners).split(",") if o.strip()]
        if not isinstance(owners, list | tuple):
            raise InputError("config prism.trusted_image_owners must be a list of account ids")
        from prism_core.templates.provenance import owner_ids

        settings.trusted_image_owners = owner_ids(owners, "config prism.trusted_image_owners")
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
