"""The key pair a launch uses: ``--key-name``, or the user's ``~/.ssh`` public key
imported once as ``prism-<user>`` (tagged as prism's)."""

from __future__ import annotations

import getpass
import hashlib
import re
from pathlib import Path
from typing import Any

from prism_core.aws.clients import error_code, error_message
from prism_core.aws.tags import KEY_OF_TAG, tag_list
from prism_core.exceptions import InputError

#: Public keys looked for in ``~/.ssh``, in this order.
PUBLIC_KEYS = ("id_ed25519.pub", "id_rsa.pub")
MAX_PUBLIC_KEY_BYTES = 16 * 1024
KEY_NAME = re.compile(r"^[\x20-\x7e]{1,255}$")
PUBLIC_KEY_LINE = re.compile(r"^(ssh-ed25519|ssh-rsa) [A-Za-z0-9+/=]{40,}( .*)?$")


def default_key_name() -> str:
    """``prism-<user>``: the key pair prism imports for this user."""
    user = re.sub(r"[^A-Za-z0-9_.-]", "-", getpass.getuser() or "user")[:64]
    return f"prism-{user}"


def local_public_key(home: Path | None = None) -> Path | None:
    """``~/.ssh/id_ed25519.pub``, else ``~/.ssh/id_rsa.pub``, else ``None``."""
    ssh = (home or Path.home()) / ".ssh"
    for name in PUBLIC_KEYS:
        path = ssh / name
        if path.is_file():
            return path
    return None


def read_public_key(path: Path) -> str:
    """The public key line of ``path`` (bounded; must look like an OpenSSH public key)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_PUBLIC_KEY_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", "pass --key-name") from None
    line = data[:MAX_PUBLIC_KEY_BYTES].decode("ascii", errors="replace").strip()
    if len(data) > MAX_PUBLIC_KEY_BYTES or not PUBLIC_KEY_LINE.fullmatch(line):
        raise InputError(
            f"{path} is not an OpenSSH public key",
            "regenerate it with `ssh-keygen -t ed25519`, or pass --key-name",
        )
    return line


def _key_body(line: str) -> str:
    return " ".join(line.split()[:2])


def _existing_key(ec2: Any, name: str) -> dict[str, Any] | None:
    try:
        pairs = ec2.describe_key_pairs(KeyNames=[name], IncludePublicKey=True)["KeyPairs"]
    except Exception as exc:
        if error_code(exc) == "InvalidKeyPair.NotFound":
            return None
        raise
    return dict(pairs[0]) if pairs else None


def choose_key(
    ec2: Any, key_name: str | None, region: str
) -> tuple[str | None, str | None, Path | None]:
    """(key pair name, private key path, public key to import) for this launch."""
    home = Path.home()
    if key_name:
        if not KEY_NAME.fullmatch(key_name):
            raise InputError(f"invalid --key-name {key_name[:40]!r}", "use 1-255 ASCII characters")
        if _existing_key(ec2, key_name) is None:
            raise InputError(
                f"key pair {key_name!r} does not exist in {region}",
                f"import it with `aws ec2 import-key-pair --region {region} --key-name "
                f"{key_name} --public-key-material fileb://~/.ssh/id_ed25519.pub`, or leave "
                "out --key-name and prism imports your ~/.ssh key",
            )
        candidates = [home / ".ssh" / f"{key_name}.pem", home / ".ssh" / key_name]
        private = next((p for p in candidates if p.is_file()), candidates[0])
        return key_name, str(private), None
    public = local_public_key(home)
    if public is None:
        return None, None, None
    line = read_public_key(public)
    private = str(public.with_suffix(""))
    base = default_key_name()
    digest = hashlib.sha256(_key_body(line).encode()).hexdigest()[:8]
    for name in (base, f"{base}-{digest}"):
        existing = _existing_key(ec2, name)
        if existing is None:
            return name, private, public
        stored = existing.get("PublicKey")
        if not stored or _key_body(stored) == _key_body(line):
            return name, private, None
    raise InputError(
        f"key pairs {base} and {base}-{digest} hold other public keys than {public}",
        "pass --key-name with a key pair you hold the private key of",
    )


def ensure_key_pair(ec2: Any, key_name: str | None, public_key: Path | None) -> bool:
    """Import ``public_key`` (the user's) as key pair ``key_name`` (once; tagged as
    prism's). ``True`` when this call imported it (a launch's rollback deletes it again)."""
    if not key_name or public_key is None:
        return False
    material = read_public_key(public_key).encode()
    try:
        ec2.import_key_pair(
            KeyName=key_name,
            PublicKeyMaterial=material,
            TagSpecifications=[
                {
                    "ResourceType": "key-pair",
                    "Tags": tag_list({KEY_OF_TAG: getpass.getuser() or "user"}),
                }
            ],
        )
    except Exception as exc:
        if error_code(exc) != "InvalidKeyPair.Duplicate":  # imported by a concurrent launch
            raise InputError(
                f"could not import {public_key} as key pair {key_name}: "
                f"{error_message(exc)}",
                "pass --key-name with an existing key pair",
            ) from None
        return False
    return True
