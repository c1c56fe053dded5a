"""A clean environment for the benchmarks: a fresh virtual environment holding prism's
dependencies only (the running environment's copies, linked in), so that no other
distribution installed for development (contrib plugins, a *required* one among them,
test tools) is measured with prism."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _dependencies(name: str) -> list[Any]:
    """The installed distributions ``name`` needs at run time (no extras), transitively."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement

    seen: dict[str, Any] = {}
    todo = [Requirement(r) for r in distribution(name).requires or []]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = req.name.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            seen[key] = distribution(req.name)
        except PackageNotFoundError:
            continue  # an optional platform dependency not installed here
        todo += [Requirement(r) for r in seen[key].requires or []]
    return list(seen.values())


def dependencies_only(root: Path) -> tuple[Path, Path]:
    """A fresh virtual environment in ``root`` holding prism's run-time dependencies and
    nothing else; its interpreter and its site-packages folder."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(root)
    python = root / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    for dist in _dependencies("prism-cloud"):
        base = Path(dist.locate_file(""))
        tops = {Path(f).parts[0] for f in dist.files or [] if not Path(f).is_absolute()}
        for top in tops - {".."}:
            if (base / top).exists() and not (site / top).exists():
                (site / top).symlink_to(base / top)
    return python, site


def with_prism(root: Path) -> tuple[Path, Path]:
    """:func:`dependencies_only` plus prism installed the regular way (a wheel build, not
    editable); the interpreter and prism's console script."""
    python, site = dependencies_only(root)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-compile",
            "--target",
            str(site),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    # byte-compile as a regular install does (pip's --target leaves it to the first run)
    for package in ("prism_core", "prism_plugins"):
        subprocess.run([str(python), "-m", "compileall", "-q", str(site / package)], check=True)
    return python, site / "bin" / "prism"
