"""A clean environment for the benchmarks: a fresh virtual environment holding prism's
dependencies only (the running environment's copies, linked in), so that no other
distribution installed for development (contrib plugins, a *required* one among them,
test tools) is measured with prism unless asked: :func:`with_prism` can install the
contrib plugins too, as a user who installs them has them."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


#: The contrib plugins, as a user installs them (``pip install contrib/NAME``).
CONTRIB = ("prism-marketplace", "prism-cost-tags", "institution-example")
#: Distributions installed from this repository, never linked from the running environment.
_OURS = frozenset(
    {"prism-cloud", "prism-marketplace", "prism-cost-tags", "prism-institution-example"}
)


def _dependencies(*names: str) -> list[Any]:
    """The installed distributions ``names`` need at run time (no extras), transitively,
    without the distributions of this repository."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement

    seen: dict[str, Any] = dict.fromkeys(_OURS)
    todo = [Requirement(r) for name in names for r in distribution(name).requires or []]
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
    return [dist for key, dist in seen.items() if key not in _OURS]


def dependencies_only(root: Path, plugins: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """A fresh virtual environment in ``root`` holding prism's run-time dependencies (and
    those of the contrib ``plugins`` named) and nothing else; its interpreter and its
    site-packages folder."""
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
    dists = ["prism-cloud", *(_distribution_name(p) for p in plugins)]
    for dist in _dependencies(*dists):
        base = Path(dist.locate_file(""))
        tops = {Path(f).parts[0] for f in dist.files or [] if not Path(f).is_absolute()}
        for top in tops - {".."}:
            if (base / top).exists() and not (site / top).exists():
                (site / top).symlink_to(base / top)
    return python, site


def _distribution_name(plugin: str) -> str:
    """The distribution name of a contrib plugin folder (its setup.cfg's ``name``)."""
    import configparser

    config = configparser.ConfigParser()
    config.read(ROOT / "contrib" / plugin / "setup.cfg")
    return config["metadata"]["name"]


def install(site: Path, python: Path, sources: list[Path]) -> None:
    """Install ``sources`` (project folders) into ``site`` the regular way (wheel builds,
    no dependencies), byte-compiled as a regular install is."""
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
            *(str(source) for source in sources),
        ],
        check=True,
        capture_output=True,
    )
    # byte-compile as a regular install does (pip's --target leaves it to the first run)
    packages = [p for p in site.iterdir() if p.is_dir() and p.name.startswith("prism_")]
    for package in packages:
        subprocess.run([str(python), "-m", "compileall", "-q", str(package)], check=True)


def with_plugins(root: Path, plugins: tuple[str, ...]) -> Path:
    """:func:`dependencies_only` plus the contrib ``plugins`` named, installed the regular
    way; prism itself runs from this checkout (``python -m prism_core`` from its root).
    The interpreter."""
    python, site = dependencies_only(root, plugins)
    if plugins:
        install(site, python, [ROOT / "contrib" / plugin for plugin in plugins])
    return python


def with_prism(root: Path, plugins: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """:func:`dependencies_only` plus prism (and the contrib ``plugins`` named, e.g.
    :data:`CONTRIB`) installed the regular way (wheel builds, not editable); the
    interpreter and prism's console script."""
    python, site = dependencies_only(root, plugins)
    install(site, python, [ROOT, *(ROOT / "contrib" / plugin for plugin in plugins)])
    return python, site / "bin" / "prism"
