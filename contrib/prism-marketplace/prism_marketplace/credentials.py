"""Marketplace credentials in a secure keyring, never in a plain or "alt" file.

keyring picks the backend with the highest priority among those installed; with
``keyrings.alt`` installed (common on Debian/Ubuntu) that can be ``PlaintextKeyring``,
a base64 file. ``login`` therefore uses only a backend that keeps secrets encrypted by
the system (Secret Service, KWallet, macOS Keychain, Windows Credential Locker) or one
the user chose explicitly (``PYTHON_KEYRING_BACKEND`` or keyringrc) that is not a
plaintext or ``keyrings.alt`` backend, and reports which one it used.
"""

from __future__ import annotations

import json
import os
from typing import Any

from prism_core.plugin_api import InputError

SERVICE = "prism-marketplace"
FIX = (
    "install and unlock a system keyring (GNOME Keyring or KWallet via Secret Service, "
    "macOS Keychain, Windows Credential Locker), or install a keyring backend that encrypts "
    "and choose it explicitly with PYTHON_KEYRING_BACKEND; prism never stores secrets in "
    "plain files"
)
#: Modules of backends that keep secrets in files prism does not trust.
REFUSED_MODULES = ("keyrings.alt",)
REFUSED_NAMES = ("plaintext", "unencrypted", "uncrypted")


def describe(backend: Any) -> str:
    """``Name (module.Class)`` of a keyring backend."""
    cls = type(backend)
    name = getattr(backend, "name", None) or cls.__name__
    return f"{name} ({cls.__module__}.{cls.__qualname__})"


def _explicit() -> bool:
    """Whether the user chose a backend (environment or keyringrc), not keyring's priority."""
    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        return True
    try:
        from keyring.core import load_config

        return load_config() is not None
    except Exception:
        return False


def refusal(backend: Any) -> str | None:
    """Why ``backend`` may not hold secrets, or ``None`` if it may."""
    from keyring.backends import fail, null

    cls = type(backend)
    module, name = cls.__module__, cls.__name__.lower()
    if isinstance(backend, fail.Keyring | null.Keyring):
        return "no usable keyring"
    if module.startswith(REFUSED_MODULES) or any(word in name for word in REFUSED_NAMES):
        return f"keyring backend {describe(backend)} keeps secrets in a file"
    if hasattr(backend, "file_path") and not _explicit():
        return (
            f"keyring backend {describe(backend)} keeps secrets in a file and was not "
            "chosen explicitly"
        )
    return None


def secure_backend() -> Any:
    """The keyring backend ``login`` will use; one-line refusal if none is secure.

    A chain of backends (keyring's default with several installed) is never used as a
    whole: the best secure member is picked, so a failure never falls back to a file.
    """
    import keyring

    active = keyring.get_keyring()
    members = list(getattr(active, "backends", None) or [active])
    members.sort(key=lambda b: getattr(b, "priority", 0), reverse=True)
    reasons = []
    for backend in members:
        why = refusal(backend)
        if why is None:
            return backend
        reasons.append(why)
    raise InputError(f"no secure keyring to store marketplace credentials ({reasons[0]})", FIX)


def store(backend: Any, bucket: str, credentials: dict[str, str]) -> str:
    """Store the access key for ``bucket`` in ``backend``; return the backend's description."""
    from keyring.errors import KeyringError

    try:
        backend.set_password(SERVICE, bucket, json.dumps(credentials))
    except KeyringError as exc:
        raise InputError(f"the keyring refused the credentials ({exc})", FIX) from None
    return describe(backend)


def lookup(bucket: str) -> dict[str, str] | None:
    """Credentials stored by ``login`` for ``bucket`` (read only from a secure backend), or
    ``None`` (then the AWS configuration applies)."""
    from keyring.errors import KeyringError

    try:
        raw = secure_backend().get_password(SERVICE, bucket)
    except (KeyringError, InputError):
        return None
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
