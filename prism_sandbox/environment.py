"""Environment variables that point AWS SDKs (and prism) at a sandbox, never at real AWS.

Every ``AWS_*`` variable the user has is dropped (profiles, session tokens,
service-specific endpoints, ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS``...), the AWS
config and credentials files are pointed at paths that do not exist, and dummy
credentials plus ``AWS_ENDPOINT_URL`` are set.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

DEFAULT_REGION = "us-east-1"
SHELLS = ("sh", "fish")


def endpoint_variables(endpoint: str, region: str = DEFAULT_REGION) -> dict[str, str]:
    """The sandbox's endpoint, its dummy credentials, a default region and no instance
    metadata: enough for a child process whose other variables are already clean."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def sandbox_variables(
    endpoint: str, scratch: Path, region: str = DEFAULT_REGION, *, pin_region: bool = True
) -> dict[str, str]:
    """The variables to set; ``scratch`` is a folder whose ``aws-*`` entries do not exist.

    ``pin_region=False`` leaves ``AWS_REGION`` out (apply with :func:`changes`: unset), so
    ``AWS_DEFAULT_REGION`` decides the region; tests change it that way.
    """
    variables = endpoint_variables(endpoint, region)
    variables["AWS_CONFIG_FILE"] = str(scratch / "aws-config-none")
    variables["AWS_SHARED_CREDENTIALS_FILE"] = str(scratch / "aws-credentials-none")
    if pin_region:
        variables["AWS_REGION"] = region
    return variables


def changes(wanted: Mapping[str, str], current: Mapping[str, str]) -> dict[str, str | None]:
    """``wanted`` plus ``None`` (unset) for every other ``AWS_*`` variable in ``current``."""
    result: dict[str, str | None] = {
        key: None for key in current if key.startswith("AWS_") and key not in wanted
    }
    result.update(wanted)
    return result


@contextmanager
def isolated_environ(wanted: Mapping[str, str]) -> Iterator[None]:
    """Apply ``changes(wanted, os.environ)`` and restore ``os.environ`` exactly afterwards."""
    saved = dict(os.environ)
    try:
        for key, value in changes(wanted, saved).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def shell_lines(variables: Mapping[str, str | None], shell: str = "sh") -> list[str]:
    """``export``/``unset`` lines (POSIX shells) or ``set -gx``/``set -e`` lines (fish)."""
    lines = []
    for key, value in variables.items():
        if value is None:
            lines.append(f"set -e {key}" if shell == "fish" else f"unset {key}")
        elif shell == "fish":
            lines.append(f"set -gx {key} {shlex.quote(value)}")
        else:
            lines.append(f"export {key}={shlex.quote(value)}")
    return lines
