"""Marketplace credentials in the system keyring (never in plain files)."""

from __future__ import annotations

import json
from typing import Any

from prism_core.exceptions import InputError

SERVICE = "prism-marketplace"
FIX = (
    "install and unlock a system keyring (GNOME Keyring or KWallet via Secret Service, "
    "macOS Keychain, Windows Credential Locker) or choose one with PYTHON_KEYRING_BACKEND; "
    "prism never stores secrets in plain files"
)


def _backend() -> Any:
    import keyring
    from keyring.backends import fail

    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        raise InputError("no usable system keyring to store marketplace credentials", FIX)
    return backend


def store(bucket: str, credentials: dict[str, str]) -> None:
    """Store the access key for ``bucket`` in the keyring; one-line error if none is usable."""
    from keyring.errors import KeyringError

    backend = _backend()
    try:
        backend.set_password(SERVICE, bucket, json.dumps(credentials))
    except KeyringError as exc:
        raise InputError(f"the system keyring refused the credentials ({exc})", FIX) from None


def check_usable() -> None:
    """Refuse early (before prompting for a secret) when no keyring is usable."""
    _backend()


def lookup(bucket: str) -> dict[str, str] | None:
    """Credentials stored by ``login`` for ``bucket``, or ``None`` (use the AWS config)."""
    import keyring
    from keyring.errors import KeyringError

    try:
        raw = keyring.get_password(SERVICE, bucket)
    except KeyringError:
        return None
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
