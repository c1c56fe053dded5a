"""Each sandbox instance's disk as a directory tree, and the seeded workstations' files.

An instance's tree is ``<trees>/<instance-id>``; CreateImage copies it to
``<trees>/<ami-id>``, CopyImage to the copy's id, and RunInstances from an image with a
tree copies it to the new instance. Run Command and user data run against these trees.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

_UBUNTU = 'ID=ubuntu\nVERSION_ID="22.04"\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n'
_PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "ubuntu:x:1000:1000:Ubuntu:/home/ubuntu:/bin/bash\n"
)
_DEBS = {
    "base": [
        ("bash", "5.1-6ubuntu1.1"),
        ("coreutils", "8.32-4.1ubuntu1.2"),
        ("openssh-server", "1:8.9p1-3ubuntu0.10"),
        ("python3", "3.10.6-1~22.04"),
        ("python3-pip", "22.0.2+dfsg-1ubuntu0.4"),
        ("git", "1:2.34.1-1ubuntu1.11"),
        ("curl", "7.81.0-1ubuntu1.16"),
        ("amazon-ssm-agent", "3.3.40.0-1"),
    ],
    "my-analysis": [("r-base", "4.1.2-1ubuntu2"), ("libopenblas0", "0.3.20+ds-1")],
    "genomics-box": [("zlib1g", "1:1.2.11.dfsg-2ubuntu9.2"), ("default-jre", "2:1.11-72build2")],
}
_PIP = {
    "my-analysis": [
        ("numpy", "1.26.4"),
        ("pandas", "2.2.1"),
        ("scipy", "1.12.0"),
        ("matplotlib", "3.8.3"),
        ("jupyterlab", "4.1.5"),
        ("scikit-learn", "1.4.1"),
    ],
    "genomics-box": [("biopython", "1.83"), ("pysam", "0.22.0"), ("snakemake", "8.5.3")],
}
_CONDA = [
    ("python", "3.11.8", "hab00c5b_0"),
    ("samtools", "1.19.2", "h50ea8bc_0"),
    ("bwa", "0.7.17", "he4a0461_11"),
    ("bcftools", "1.19", "h8b25389_1"),
    ("pysam", "0.22.0", "py311h2b2a7a6_0"),
]
_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAA"
    "AAABAAAAMwAAAAtzc2gtZWQyNTUxOQAAACBzYW5kYm94LWZha2Uta2V5\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
_PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNhbmRib3gtZmFrZS1rZXk ubuntu@genomics-box\n"
#: Workstation profiles that seeded instances can be given.
PROFILES = ("my-analysis", "genomics-box")


def safe_relative(path: str) -> PurePosixPath:
    """``path`` (absolute on the instance) as a path inside a tree; refuses ``..``."""
    parts = [p for p in PurePosixPath("/" + path.lstrip("/")).parts[1:] if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"{path!r} is not a file path inside the instance")
    return PurePosixPath(*parts)


def add_file(tree: Path, path: str, content: bytes | str, mode: int = 0o600) -> Path:
    """Write ``content`` at ``path`` (absolute on the instance) inside ``tree``."""
    target = tree / safe_relative(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.parent.resolve() != target.parent or not target.parent.resolve().is_relative_to(
        tree.resolve()
    ):
        raise ValueError(f"{path!r} goes through a symbolic link")
    data = content.encode() if isinstance(content, str) else content
    target.write_bytes(data)
    target.chmod(mode)
    return target


def copy_tree(source: Path, target: Path) -> None:
    """``target`` becomes a copy of ``source`` (links kept as links)."""
    if target.exists():
        shutil.rmtree(target)
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    else:
        target.mkdir(parents=True)


def launched(sb: Any, image_id: str, instance: Any) -> None:
    """A new instance's tree: a copy of its image's (empty for images with none).

    When its user data is prism's scrub (``prism_core.inspection.scrub``), it runs for
    real against that copy once the instance has been running ``timings.user_data``
    seconds, and the instance powers off
    (stops), as the script does on EC2. Other user data is not run (the sandbox is
    reachable by every local user)."""
    source = sb.trees / image_id
    tree = sb.tree(instance.id)
    copy_tree(source, tree)
    text = _user_data(instance)
    if text is None:
        return
    from prism_core.inspection.scrub import paths_of

    if paths_of(text) is None:
        return

    def boot() -> None:
        if instance.state != "running":
            return
        run_user_data(tree, text)
        instance.stop()

    sb.scheduler.at(sb.timings.start + sb.timings.user_data + 0.001, boot)


def run_user_data(tree: Path, text: str) -> subprocess.CompletedProcess[bytes]:
    """Run a user data script with ``sh`` against ``tree`` (``PRISM_INSPECT_ROOT``)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PRISM_INSPECT_ROOT": str(tree),
        "PRISM_SCRUB_POWEROFF": "0",
    }
    return subprocess.run(
        ["sh", "-s"], input=text.encode(), env=env, cwd=tree, capture_output=True, timeout=120
    )


def _user_data(instance: Any) -> str | None:
    raw = getattr(instance, "user_data", None)
    if not raw:
        return None
    try:
        return (
            str(raw.decode())
            if hasattr(raw, "decode") and not isinstance(raw, bytes)
            else (base64.b64decode(raw).decode())
        )
    except (ValueError, UnicodeDecodeError):
        return None


def _dpkg(names: list[tuple[str, str]]) -> str:
    return "\n".join(
        f"Package: {n}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {v}\n"
        for n, v in names
    )


def _dist(tree: Path, site: str, name: str, version: str) -> None:
    add_file(
        tree,
        f"{site}/{name.replace('-', '_')}-{version}.dist-info/METADATA",
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        0o644,
    )


def seed_workstation(tree: Path, profile: str) -> None:
    """Fill ``tree`` with a research workstation's files (``PROFILES``)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown workstation profile {profile!r}")
    tree.mkdir(parents=True, exist_ok=True)
    add_file(tree, "/etc/os-release", _UBUNTU, 0o644)
    add_file(tree, "/etc/passwd", _PASSWD, 0o644)
    add_file(tree, "/var/lib/dpkg/status", _dpkg(_DEBS["base"] + _DEBS[profile]), 0o644)
    home = "/home/ubuntu"
    add_file(tree, f"{home}/.ssh/authorized_keys", _PUB)
    add_file(tree, f"{home}/.ssh/known_hosts", "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\n")
    add_file(tree, f"{home}/.bashrc", "export PATH=$HOME/.local/bin:$PATH\n", 0o644)
    if profile == "my-analysis":
        for name, version in _PIP[profile]:
            _dist(tree, "/usr/local/lib/python3.10/dist-packages", name, version)
        add_file(
            tree,
            "/usr/lib/R/site-library/data.table/DESCRIPTION",
            "Package: data.table\nVersion: 1.14.10\n",
            0o644,
        )
        add_file(tree, f"{home}/analysis/.env.example", "API_TOKEN=\n", 0o644)
        add_file(tree, f"{home}/.bash_history", "")
        return
    env = "/opt/conda/envs/genomics"
    add_file(tree, "/opt/conda/conda-meta/conda-24.1.2-py311h06a4308_0.json", "{}", 0o644)
    for name, version, build in _CONDA:
        add_file(tree, f"{env}/conda-meta/{name}-{version}-{build}.json", "{}", 0o644)
    for name, version in _PIP[profile]:
        _dist(tree, f"{env}/lib/python3.11/site-packages", name, version)
    add_file(
        tree,
        f"{home}/.aws/credentials",
        "[default]\naws_access_key_id = AKIASANDBOXEXAMPLE\n"
        "aws_secret_access_key = sandbox/not/a/real/secret\n",
    )
    add_file(tree, f"{home}/.ssh/id_ed25519", _KEY)
    add_file(tree, f"{home}/.ssh/id_ed25519.pub", _PUB, 0o644)
    add_file(tree, f"{home}/.cache/huggingface/token", "hf_sandboxNotARealToken\n")
    add_file(
        tree,
        f"{home}/.bash_history",
        "conda activate genomics\nsamtools view -b in.sam > out.bam\n"
        "aws s3 cp out.bam s3://lab-bucket/\n",
    )
