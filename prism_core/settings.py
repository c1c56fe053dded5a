"""Where prism keeps its files and the tunables read from environment and config."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prism_core import config_schema
from prism_core.exceptions import InputError
from prism_core.files import ensure_private_dir
from prism_core.validation import comma_list, owner_ids, printable

SYSTEM_CONFIG = "/etc/prism/prism.yml"
#: Config files are small; anything bigger is refused before it is parsed.
MAX_CONFIG_BYTES = 256 * 1024
#: The key, in any section, that lists that section's keys user config cannot change.
LOCKED_KEY = "locked"

#: Where ``prism launch`` learns the caller's public address (as Packer does).
DEFAULT_CHECKIP_URL = "https://checkip.amazonaws.com"
#: How ``prism save`` images a running instance (config ``prism.image_mode``):
#: ``reboot`` (EC2 reboots it during CreateImage, the default), ``stop`` (prism stops,
#: images and starts it, a watchdog holding the restart) or ``no-reboot``.
IMAGE_MODES = config_schema.IMAGE_MODES

#: Wait limits in seconds, per thing waited on (config ``prism.timeouts``).
DEFAULT_TIMEOUTS: dict[str, float] = {
    "stop": 1200.0,
    "start": 1200.0,
    "snapshots": 1800.0,
    "image": 4 * 3600.0,
    "copy": 8 * 3600.0,
    "setup": 3600.0,  # `prism launch --wait-ready`: the template's setup script
    "fast_restore": 6 * 3600.0,  # --fast-restore: EC2 optimizes about an hour per TiB
}


#: The keys of the ``prism:`` config section (anything else is reported as a typo): the
#: properties of its schema, :data:`prism_core.config_schema.PRISM_SCHEMA`.
PRISM_KEYS = config_schema.PRISM_KEYS
#: The role ``--copy-to-accounts`` assumes in an account given without ``:ROLE``
#: (the role AWS Organizations creates in the accounts it creates).
DEFAULT_ACCOUNT_ROLE = "OrganizationAccountAccessRole"
#: Bounds of the tunables: (lowest, highest), as the schema states them.
POLL_DELAY_RANGE = config_schema.POLL_DELAY_RANGE
TIMEOUT_RANGE = config_schema.TIMEOUT_RANGE
COPY_CONCURRENCY_RANGE = config_schema.COPY_CONCURRENCY_RANGE
#: Attempts per AWS call (botocore's standard retry mode, throttling included).
MAX_ATTEMPTS_RANGE = config_schema.MAX_ATTEMPTS_RANGE
BATCH_CONCURRENCY_RANGE = config_schema.BATCH_CONCURRENCY_RANGE
#: SSM parameter names: these characters, at most 15 levels, no ``aws``/``ssm`` start.
_SSM_PREFIX = re.compile(r"^/(?:[A-Za-z0-9_.-]+/){1,10}$")


def prism_home() -> Path:
    """``$PRISM_HOME`` or ``~/.prism``, as an absolute path (see :func:`pin_prism_home`)."""
    raw = os.environ.get("PRISM_HOME") or str(Path.home() / ".prism")
    return Path(os.path.abspath(os.path.expanduser(raw)))


def pin_prism_home() -> None:
    """Make a relative ``PRISM_HOME`` absolute once, at start-up, so a later change of
    directory (or a helper process) can never point prism at another folder."""
    raw = os.environ.get("PRISM_HOME")
    if raw and not os.path.isabs(os.path.expanduser(raw)):
        os.environ["PRISM_HOME"] = str(prism_home())


def check_home(home: Path) -> None:
    """Refuse a ``PRISM_HOME`` that is not a directory."""
    if home.exists() and not home.is_dir():
        raise InputError(
            f"PRISM_HOME {home} is not a directory", "point PRISM_HOME at a directory"
        )


def check_writable(home: Path) -> None:
    """Refuse (before anything changes) a ``PRISM_HOME`` prism cannot write its journal in."""
    import errno
    import tempfile

    check_home(home)
    try:
        journal = ensure_private_dir(home / "journal")
        with tempfile.NamedTemporaryFile(dir=journal, prefix=".probe-") as probe:
            probe.write(b"\n")  # a full disk takes an empty file, not a byte
            probe.flush()
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InputError(
                f"PRISM_HOME {home} is full ({exc.strerror}); nothing was changed",
                "prism journals every save there; free space there or set PRISM_HOME "
                "to a folder with room",
            ) from None
        raise InputError(
            f"PRISM_HOME {home} is not writable ({exc.strerror})",
            "prism journals every save there; fix its permissions or set PRISM_HOME",
        ) from None


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
    from prism_core.safe_yaml import load_yaml_bounded

    if not os.path.lexists(path):  # a dangling symlink is a config that cannot be read
        return None
    content = load_yaml_bounded(
        Path(path), what=f"config file {path}", max_bytes=MAX_CONFIG_BYTES, hint="fix or remove it"
    )
    if content is None:
        return None
    if not isinstance(content, dict) or not all(isinstance(v, dict) for v in content.values()):
        raise InputError(f"config file {path} must map section names (e.g. prism:) to settings")
    return content


def config_key(key: Any) -> str:
    """A config key as prism compares it: the way the config handler stores it
    (configparser lower-cases option names), so ``IMAGE_MODE`` and ``image_mode`` are one
    key for the locks too. A key that is not text is refused (one line)."""
    if not isinstance(key, str):
        raise InputError(
            f"config key {printable(str(key), 40)!r} is not a name",
            "write setting names as text (e.g. image_mode: stop)",
        )
    return key.lower()


class ConfigLocks:
    """Keys locked by the packaged defaults or the system config, per section.

    A section's ``locked: [key, ...]`` in those layers means later layers (the user's
    ``$PRISM_HOME/config.yml``) cannot change those keys: a user value for a locked key
    is ignored with a warning, and a user's own ``locked`` list is ignored. Key names are
    compared as the config handler stores them (:func:`config_key`), whatever their case.
    """

    def __init__(self) -> None:
        self.locked: dict[str, dict[str, str]] = {}
        self.warnings: list[str] = []

    def add(self, content: Mapping[str, Any], source: str) -> None:
        """Record the ``locked`` lists of ``content`` (a config layer) as coming from ``source``."""
        for section, values in content.items():
            if not isinstance(values, Mapping):
                continue
            keys = next((v for k, v in values.items() if config_key(k) == LOCKED_KEY), None)
            if keys is None:
                continue
            if isinstance(keys, str):
                keys = [keys]
            if not isinstance(keys, list | tuple) or not all(isinstance(k, str) for k in keys):
                raise InputError(f"{source}: {section}.{LOCKED_KEY} must be a list of key names")
            for key in keys:
                self.locked.setdefault(str(section), {}).setdefault(config_key(key), source)

    def enforce(self, content: dict[str, Any], source: str) -> dict[str, Any]:
        """``content`` without the keys it may not change (each one becomes a warning)."""
        kept: dict[str, Any] = {}
        for section, values in content.items():
            locked = self.locked.get(str(section), {})
            section_values = {}
            for key, value in (values or {}).items():
                name = config_key(key)
                shown = printable(key, 60)
                if name == LOCKED_KEY:
                    self.warnings.append(
                        f"{source}: {section}.{shown} is ignored (only the installed "
                        f"defaults and {system_config_path()} can lock keys)"
                    )
                elif name in locked:
                    self.warnings.append(
                        f"{source}: {section}.{shown} is locked by {locked[name]}; "
                        "your value is ignored"
                    )
                else:
                    section_values[key] = value
            kept[section] = section_values
        return kept

    def strip(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A section's values without its ``locked`` list (not a setting itself)."""
        return {k: v for k, v in values.items() if config_key(k) != LOCKED_KEY}

    def is_locked(self, section: str, key: str) -> bool:
        """Whether ``section.key`` is locked."""
        return config_key(key) in self.locked.get(section, {})

    def section(self, section: str) -> dict[str, str]:
        """The locked keys of ``section``: key -> the layer that locked it."""
        return dict(self.locked.get(section, {}))


def _whole_number(value: Any, key: str, bounds: tuple[int, int]) -> int:
    """A whole number within ``bounds`` for config ``key``; a one-line error if not."""
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InputError(
            f"config {key} must be a whole number from {low} to {high}, not {str(value)[:40]}"
        )
    return value


def _number(value: Any, what: str, bounds: tuple[float, float]) -> float:
    """A finite number within ``bounds``; a one-line error naming ``what`` if not."""
    low, high = bounds
    shown = repr(value)[:40] if isinstance(value, str) else str(value)[:40]
    try:
        if isinstance(value, bool):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{what} must be a number of seconds, not {shown}") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise InputError(f"{what} must be between {low:g} and {high:g}, not {shown}")
    return number


#: A KMS key as CopyImage takes it: key id, multi-Region key id, alias, or their ARNs.
_KMS_KEY = re.compile(
    r"(arn:aws[a-z-]*:kms:[a-z0-9-]{1,30}:\d{12}:)?"
    r"(key/)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
    r"|(arn:aws[a-z-]*:kms:[a-z0-9-]{1,30}:\d{12}:)?alias/[A-Za-z0-9/_-]{1,250}"
)
#: An http(s) URL without spaces or control characters.
_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[!-~]*)?")


def _kms_region(region: Any) -> str:
    from prism_core.validation import region_name

    try:
        return region_name(str(region))
    except InputError:
        raise InputError(
            f"config prism.kms_keys: {str(region)[:40]!r} is not a region name",
            "map region names (e.g. eu-west-1) to KMS key ids or ARNs",
        ) from None


def _kms_key(region: Any, key: Any) -> str:
    if not isinstance(key, str) or not _KMS_KEY.fullmatch(key):
        raise InputError(
            f"config prism.kms_keys.{region}: {str(key)[:80]!r} is not a KMS key id, alias or ARN",
            "write e.g. alias/images or arn:aws:kms:REGION:ACCOUNT:key/KEY-ID",
        )
    return key


def _accounts(section: Mapping[str, Any]) -> tuple[str, dict[str, dict[str, str]]]:
    """``prism.account_role`` and ``prism.account_kms_keys`` (account -> region -> key)."""
    from prism_core.validation import ACCOUNT_ID, ROLE_NAME

    role = str(section.get("account_role") or DEFAULT_ACCOUNT_ROLE)
    if not ROLE_NAME.fullmatch(role):
        raise InputError(
            f"config prism.account_role: {role[:64]!r} is not an IAM role name",
            "write the role's name, e.g. OrganizationAccountAccessRole",
        )
    raw = section.get("account_kms_keys") or {}
    if not isinstance(raw, Mapping) or len(raw) > 100:
        raise InputError("config prism.account_kms_keys must map account ids to region -> key")
    keys: dict[str, dict[str, str]] = {}
    for account, regions in raw.items():
        if not ACCOUNT_ID.fullmatch(str(account)) or not isinstance(regions, Mapping):
            raise InputError(
                f"config prism.account_kms_keys: {str(account)[:40]!r} must be a 12-digit "
                "account id mapping region names to KMS keys",
                "e.g. account_kms_keys: {'111122223333': {eu-west-1: alias/images}}",
            )
        keys[str(account)] = {_kms_region(r): _kms_key(r, k) for r, k in regions.items()}
    return role, keys


def section_typos(sections: list[str], known: list[str]) -> list[str]:
    """A warning for each config section that nothing declares but whose name is close
    to one that is declared (``prsim:``): its settings would be ignored. Sections far
    from every known name are left alone (a plugin may read one without declaring it)."""
    import difflib

    warnings = []
    for name in sections:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        if close:
            warnings.append(
                f"config section {printable(name, 80)!r} is neither prism's nor declared "
                f"by an installed plugin (its settings may be ignored); did you mean {close[0]}?"
            )
    return warnings


@dataclass
class Settings:
    """Tunables, from (lowest to highest) defaults, config files, environment."""

    home: Path
    poll_delay: float = 15.0
    timeouts: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))
    registry_prefix: str = "/prism/"
    #: Regions copied at once; ``None`` (the default): every region at once. Copy
    #: quotas are per destination region and prism sends one copy per region, so no
    #: quota is approached; a cap only bounds threads and the polling rate.
    copy_concurrency: int | None = None
    max_attempts: int = 8
    kms_keys: dict[str, str] = field(default_factory=dict)
    #: ``--copy-to-regions`` when the option is not given (config ``prism.default_copy_regions``).
    default_copy_regions: str | None = None
    #: The service that answers the caller's public IP address (config
    #: ``prism.checkip_url``, env ``PRISM_CHECKIP_URL``); ``prism launch`` opens ports
    #: to that address only.
    checkip_url: str = DEFAULT_CHECKIP_URL
    #: The image mode when neither ``--stop``, ``--reboot`` nor ``--no-reboot`` is given.
    image_mode: str = "reboot"
    #: AMI owners trusted besides this account, its organization and Amazon
    #: (config ``prism.trusted_image_owners``; an institution ships its list).
    trusted_image_owners: list[str] = field(default_factory=list)
    #: ``--deprecate-after`` when the option is not given (config ``prism.deprecate_after_days``).
    deprecate_after_days: int | None = None
    #: Saves run at once by ``prism save --batch`` (config ``prism.batch_concurrency``).
    batch_concurrency: int = 3
    #: The role assumed in a ``--copy-to-accounts`` account given without one.
    account_role: str = DEFAULT_ACCOUNT_ROLE
    #: KMS keys of other accounts (account -> region -> key) their copies are encrypted with.
    account_kms_keys: dict[str, dict[str, str]] = field(default_factory=dict)
    #: IAM roles ``prism iam-policy`` lets launches pass (config ``prism.instance_profiles``):
    #: role names, or paths ending in ``/``; none by default (no ``iam:PassRole``).
    instance_profiles: list[str] = field(default_factory=list)
    #: IMDSv1 allowed (config ``prism.imds_v1``; off by default): images prism saves are
    #: not marked ``ImdsSupport=v2.0`` and ``prism iam-policy`` does not require IMDSv2.
    imds_v1: bool = False
    #: Every other config section (plugin settings), defaults applied and validated.
    plugin_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Called once, the first time :attr:`templates_dir` is read: the app settles there
    #: the template versions detached saves of this machine made
    #: (:mod:`prism_core.templates.detached_pending`).
    before_templates_read: Callable[[], None] | None = field(
        default=None, repr=False, compare=False
    )
    #: Keys of the ``prism:`` section an installation locked: key -> the layer that did.
    locked: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(
        cls, config: Mapping[str, Any] | None = None, locked: Mapping[str, str] | None = None
    ) -> Settings:
        """Build settings from the ``prism`` config section and the environment.

        ``locked`` (key -> source) names the keys an installation locked: an environment
        variable that would change one is refused, naming the lock.
        """
        section = {config_key(k): v for k, v in (config or {}).items()}
        if section:  # prism's own section, checked as a plugin's is (no jsonschema import
            # for an empty one: most runs have no prism: settings)
            config_schema.validate_section("prism", section, config_schema.PRISM_SCHEMA)
        home = prism_home()
        check_home(home)
        settings = cls(home=home, locked={config_key(k): v for k, v in (locked or {}).items()})
        if "poll_delay_seconds" in section:
            settings.poll_delay = _number(
                section["poll_delay_seconds"], "config prism.poll_delay_seconds", POLL_DELAY_RANGE
            )
        env_delay = os.environ.get("PRISM_POLL_DELAY_SECONDS")
        if env_delay:
            delay = _number(env_delay, "PRISM_POLL_DELAY_SECONDS", POLL_DELAY_RANGE)
            settings.refuse_override(
                "poll_delay_seconds", "PRISM_POLL_DELAY_SECONDS", delay != settings.poll_delay
            )
            settings.poll_delay = delay
        timeouts = section.get("timeouts") or {}
        if not isinstance(timeouts, Mapping):
            raise InputError("config prism.timeouts must be a mapping of wait name to seconds")
        for name, value in timeouts.items():
            settings.timeouts[name] = _number(value, f"config prism.timeouts.{name}", TIMEOUT_RANGE)
        for name in DEFAULT_TIMEOUTS:
            variable = f"PRISM_TIMEOUT_{name.upper()}_SECONDS"
            env_value = os.environ.get(variable)
            if env_value:
                seconds = _number(env_value, variable, TIMEOUT_RANGE)
                settings.refuse_override("timeouts", variable, seconds != settings.timeouts[name])
                settings.timeouts[name] = seconds
        settings.registry_prefix = registry_prefix(section.get("registry_prefix", "/prism/"))
        value = section.get("copy_concurrency")
        if value is not None and value != "unlimited":  # no cap: every region at once
            settings.copy_concurrency = _whole_number(
                value, "prism.copy_concurrency", COPY_CONCURRENCY_RANGE
            )
        if section.get("max_attempts") is not None:
            settings.max_attempts = _whole_number(
                section["max_attempts"], "prism.max_attempts", MAX_ATTEMPTS_RANGE
            )
        kms_keys = section.get("kms_keys") or {}
        if not isinstance(kms_keys, Mapping):
            raise InputError("config prism.kms_keys must map region names to KMS key ids or ARNs")
        settings.kms_keys = {_kms_region(k): _kms_key(k, v) for k, v in kms_keys.items()}
        settings.account_role, settings.account_kms_keys = _accounts(section)
        regions = section.get("default_copy_regions")
        if isinstance(regions, list | tuple):
            regions = ",".join(str(r) for r in regions)
        settings.default_copy_regions = str(regions) if regions else None
        checkip = os.environ.get("PRISM_CHECKIP_URL") or section.get("checkip_url")
        if os.environ.get("PRISM_CHECKIP_URL"):
            settings.refuse_override(
                "checkip_url",
                "PRISM_CHECKIP_URL",
                str(checkip).strip() != str(section.get("checkip_url", DEFAULT_CHECKIP_URL)),
            )
        if checkip:
            checkip = str(checkip).strip()
            if not _URL.fullmatch(checkip):
                raise InputError(
                    f"checkip_url {checkip[:80]!r} must be an http(s) URL",
                    f"e.g. {DEFAULT_CHECKIP_URL}",
                )
            settings.checkip_url = checkip
        mode = str(section.get("image_mode", settings.image_mode))
        if mode not in IMAGE_MODES:
            raise InputError(
                f"config prism.image_mode is {mode!r}", f"use one of {', '.join(IMAGE_MODES)}"
            )
        settings.image_mode = mode
        owners = section.get("trusted_image_owners") or []
        if isinstance(owners, str | int):
            owners = comma_list(str(owners))
        if not isinstance(owners, list | tuple):
            raise InputError("config prism.trusted_image_owners must be a list of account ids")
        settings.trusted_image_owners = owner_ids(owners, "config prism.trusted_image_owners")
        if section.get("deprecate_after_days") not in (None, "", 0):
            from prism_core.validation import positive_days

            settings.deprecate_after_days = positive_days(
                section["deprecate_after_days"], "config prism.deprecate_after_days"
            )
        if section.get("imds_v1") is not None:
            if not isinstance(section["imds_v1"], bool):
                shown = str(section["imds_v1"])[:40]
                raise InputError(f"config prism.imds_v1 must be true or false, not {shown}")
            settings.imds_v1 = section["imds_v1"]
        if "batch_concurrency" in section:
            settings.batch_concurrency = _whole_number(
                section["batch_concurrency"], "prism.batch_concurrency", BATCH_CONCURRENCY_RANGE
            )
        settings.instance_profiles = instance_roles(section.get("instance_profiles"))
        return settings

    def refuse_override(self, key: str, what: str, differs: bool) -> None:
        """Refuse ``what`` (a flag or an environment variable) when it would change the
        locked key ``prism.<key>``: a one-line error naming the lock (nothing changed)."""
        source = self.locked.get(key)
        if differs and source is not None:
            raise InputError(
                f"{what} would change prism.{key}, which is locked by {source}",
                f"leave {what} out (this installation sets {key}) or ask your administrator",
            )

    @property
    def critical_poll_delay(self) -> float:
        """Half the poll delay: for waits while the instance is down."""
        return self.poll_delay / 2.0

    @property
    def templates_dir(self) -> Path:
        """``$PRISM_HOME/templates``: every command finds the local templates here, so the
        first read runs :attr:`before_templates_read` (once)."""
        hook, self.before_templates_read = self.before_templates_read, None
        if hook is not None:
            hook()
        return self.home / "templates"

    @property
    def journal_dir(self) -> Path:
        """``$PRISM_HOME/journal``: one file per save in progress."""
        return self.home / "journal"


#: A role name (IAM's characters) or a role path such as ``/research/``.
_ROLE = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}|/(?:[A-Za-z0-9+=,.@_-]+/){1,10}")


def instance_roles(value: Any) -> list[str]:
    """``prism.instance_profiles``: the role names or paths launches may pass."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = comma_list(value)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InputError("config prism.instance_profiles must be a list of role names or paths")
    for role in value:
        if not _ROLE.fullmatch(role):
            raise InputError(
                f"config prism.instance_profiles: {role[:80]!r} is not a role name or path",
                "write a role name (research-workstation) or a path (/research/)",
            )
    return list(dict.fromkeys(value))


def registry_prefix(value: Any) -> str:
    """The registry prefix, checked against SSM's rules for parameter names so that a
    prefix SSM would refuse is refused before anything changes."""
    prefix = str(value)
    if not prefix.startswith("/"):
        raise InputError(f"registry_prefix {prefix[:60]!r} must start with '/'")
    prefix = prefix if prefix.endswith("/") else prefix + "/"
    if not _SSM_PREFIX.fullmatch(prefix) or len(prefix) > 200:
        raise InputError(
            f"registry_prefix {prefix[:60]!r} is not a valid SSM parameter path",
            "use 1-10 levels of letters, digits, '_', '.' or '-', such as /prism/",
        )
    first = prefix.strip("/").split("/")[0].lower()
    if first.startswith(("aws", "ssm")):
        raise InputError(
            f"registry_prefix {prefix!r}: SSM reserves names starting with 'aws' or 'ssm'",
            "pick another prefix, such as /prism/",
        )
    return prefix
