"""Start-up time of local prism commands against ``python -c "import boto3"``.

Run from the repository root::

    python -m bench.startup_bench [--runs 15]

Each command runs ``--runs`` times as a fresh process (after one warm-up run);
the table shows the median and the fastest run, hyperfine-style.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

COMMANDS: list[tuple[str, list[str]]] = [
    ('python -c "import boto3"', ["-c", "import boto3"]),
    ("prism --help", ["-m", "prism_core", "--help"]),
    ("prism plugins", ["-m", "prism_core", "plugins"]),
    ("prism templates list --local", ["-m", "prism_core", "templates", "list", "--local"]),
]


def timed(args: list[str], runs: int, env: dict[str, str]) -> list[float]:
    """Wall times of ``runs`` fresh runs of ``python ARGS`` (after a warm-up)."""
    times = []
    for i in range(runs + 1):
        started = time.perf_counter()
        subprocess.run([sys.executable, *args], env=env, capture_output=True, check=True)
        if i:
            times.append(time.perf_counter() - started)
    return times


def main(argv: list[str] | None = None) -> int:
    """Print a markdown table of start-up times."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="prism-startup-") as home:
        env = dict(os.environ, PRISM_HOME=home)
        rows = [(label, timed(cmd, args.runs, env)) for label, cmd in COMMANDS]
    reference = statistics.median(rows[0][1])
    print(f"{args.runs} runs each, {sys.executable}\n")
    print("| command | median | min | vs import boto3 |")
    print("|---|---|---|---|")
    for label, times in rows:
        median = statistics.median(times)
        print(
            f"| `{label}` | {median * 1000:.0f} ms | {min(times) * 1000:.0f} ms "
            f"| {median / reference:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
