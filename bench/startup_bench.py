"""Start-up of prism in a regular (non-editable) install, against the interpreter's own.

Run from the repository root::

    python -m bench.startup_bench [--runs 15] [--core-only]

prism and the contrib plugins (as a user installs them: ``pip install .`` plus
``contrib/*``; ``--core-only``: prism alone) are installed the regular way
(``pip install --no-deps``, wheel builds: no editable finder) into a fresh virtual
environment that holds them and their dependencies only (the running environment's
copies of those, linked in): no other distribution, so no plugin a development
environment has installed (a *required* one cannot be disabled) is measured with
prism. Every command, the interpreter's
own included, runs in that environment. Each command runs ``--runs`` times as a fresh
process after one warm-up run; the table shows the median wall time, the median
CPU time (user + system: less sensitive to a loaded machine), and the targets:
``prism --version`` ≤ 2 × ``python -c pass`` and ``prism --help`` ≤ 0.5 ×
``python -c "import boto3"``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.environment import CONTRIB, with_prism
from bench.save_bench import _load

ROOT = Path(__file__).resolve().parent.parent


def timed(command: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    """Median wall and CPU seconds of ``runs`` fresh runs of ``command`` (after a warm-up)."""
    walls, cpus = [], []
    for i in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(command, env=env, capture_output=True, check=True, cwd=env["PRISM_HOME"])
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if i:
            walls.append(wall)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main(argv: list[str] | None = None) -> int:
    """Print a markdown table of start-up times and the two ratios against their targets."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--core-only", action="store_true", help="prism alone, without the contrib plugins"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="prism-startup-") as tmp:
        python, prism = with_prism(Path(tmp) / "venv", () if args.core_only else CONTRIB)
        home = Path(tmp) / "home"
        home.mkdir()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTHON", "PRISM_", "VIRTUAL_ENV"))
        }
        env["PRISM_HOME"] = str(home)
        py = str(python)
        commands = [
            ("python -c pass", [py, "-c", "pass"]),
            ('python -c "import boto3"', [py, "-c", "import boto3"]),
            ("prism --version", [py, str(prism), "--version"]),
            ("prism --help", [py, str(prism), "--help"]),
            ("prism plugins", [py, str(prism), "plugins"]),
            ("prism templates list --local", [py, str(prism), "templates", "list", "--local"]),
        ]
        found = subprocess.run(
            [py, "-c", "import prism_core, sys; sys.stdout.write(prism_core.__file__)"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=home,
        ).stdout
        assert found.startswith(tmp), f"prism was imported from {found}, not the install"
        plugins = subprocess.run(
            [py, str(prism), "plugins"], env=env, capture_output=True, text=True, check=True
        ).stdout
        rows = {label: timed(cmd, args.runs, env) for label, cmd in commands}
    base, boto = rows["python -c pass"], rows['python -c "import boto3"']
    print(f"{args.runs} runs each, a fresh environment from {sys.executable}; {_load()}\n")
    print("Plugins loaded (`prism plugins`):\n\n```\n" + plugins.strip() + "\n```\n")
    print("| command | median wall | median CPU | wall vs `-c pass` | wall vs `import boto3` |")
    print("|---|---|---|---|---|")
    for label, (wall, cpu) in rows.items():
        print(
            f"| `{label}` | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms "
            f"| {wall / base[0]:.2f}x | {wall / boto[0]:.2f}x |"
        )
    version, helps = rows["prism --version"], rows["prism --help"]
    print()
    print("| target | wall | CPU | |")
    print("|---|---|---|---|")
    for what, ratio_wall, ratio_cpu, limit in (
        (
            "`prism --version` ≤ 2 × `python -c pass`",
            version[0] / base[0],
            version[1] / max(base[1], 1e-3),
            2.0,
        ),
        (
            '`prism --help` ≤ 0.5 × `python -c "import boto3"`',
            helps[0] / boto[0],
            helps[1] / max(boto[1], 1e-3),
            0.5,
        ),
    ):
        ok = "ok" if ratio_wall <= limit else "MISSED"
        print(f"| {what} | {ratio_wall:.2f}x {ok} | {ratio_cpu:.2f}x | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
