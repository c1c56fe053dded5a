"""Fixture trees for the inspection program: a workstation's files under a tmp folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from prism_core.inspection import script
from prism_core.inspection.findings import Report

PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq user@host\n"
DPKG_STATUS = """Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.1-6ubuntu1
Description: GNU Bourne Again SHell
 multi-line description
 Package: not-a-package

Package: removed-thing
Status: deinstall ok config-files
Version: 1.0

Package: libc6
Status: install ok installed
Architecture: i386
Version: 2.35-0ubuntu3
"""


PROGRAM = Path(script.__file__).parent.parent / "data" / "inspect_instance.py"


def write(root: Path, path: str, text: str | bytes = "", mode: int | None = None) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text)
    if mode is not None:
        target.chmod(mode)
    return target


def dist_info(root: Path, site: str, name: str, version: str) -> None:
    write(
        root,
        f"{site}/{name.replace('-', '_')}-{version}.dist-info/METADATA",
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nbody\n",
    )


def conda_meta(root: Path, prefix: str, name: str, version: str, build: str = "py_0") -> None:
    write(root, f"{prefix}/conda-meta/{name}-{version}-{build}.json", json.dumps({"name": name}))


def run_json(root: Path, **env: Any) -> dict[str, Any]:
    """The program's JSON document for ``root``."""
    program = PROGRAM
    environ = {**os.environ, "PRISM_INSPECT_ROOT": str(root), "PRISM_INSPECT_FORMAT": "json"}
    environ.update({k: str(v) for k, v in env.items()})
    out = subprocess.run(
        [sys.executable, str(program)], env=environ, capture_output=True, timeout=120, check=True
    )
    return json.loads(out.stdout)


def run_commands(root: Path, part: int = 1, **env: Any) -> str:
    """What AWS-RunShellScript would print: the real commands run by ``sh``."""
    environ = {**os.environ, "PRISM_INSPECT_ROOT": str(root)}
    environ.update({k: str(v) for k, v in env.items()})
    out = subprocess.run(
        ["sh", "-c", "\n".join(script.commands(part))],
        env=environ,
        capture_output=True,
        timeout=120,
        check=True,
    )
    return out.stdout.decode()


def report(root: Path, **env: Any) -> Report:
    return Report.from_document(run_json(root, **env))


def paths(rep: Report, kind: str | None = None) -> set[str]:
    return {f.path for f in rep.findings if kind is None or f.kind == kind}
