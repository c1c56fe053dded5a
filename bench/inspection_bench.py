"""What the look inside an instance costs a save (issue 24).

Run from the repository root::

    python -m bench.inspection_bench            # about a minute
    python -m bench.inspection_bench --repeat 5

Two measurements, printed as markdown tables:

1. The inspection program alone (``prism_core/data/inspect_instance.py``, as Run Command
   runs it: gzip + base64 parts) on synthetic home directories of growing size: wall
   time, files visited (the walk stops at 50,000) and output size / Run Command parts.
2. ``prism save --dry-run`` of the seeded ``genomics-box`` on the sandbox (Run Command
   runs the real script against the instance's tree), with and without ``--no-inspect``:
   the difference is what the inspection adds to the save. It runs before any downtime
   and before CreateImage, so the downtime and the image/copy times are unchanged.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.environment import dependencies_only
from prism_core.inspection import script
from prism_sandbox import Sandbox, Timings

ROOT = Path(__file__).resolve().parent.parent


def synthetic_home(root: Path, files: int) -> None:
    """``files`` small files in a home, 500 per folder, a few packages and one key."""
    home = root / "home" / "ubuntu"
    for i in range(files):
        folder = home / "data" / f"d{i // 500:04d}"
        if i % 500 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.csv").write_text("x\n")
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    (home / ".ssh" / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    meta = root / "opt" / "conda" / "conda-meta"
    meta.mkdir(parents=True, exist_ok=True)
    for i in range(300):
        (meta / f"pkg{i}-1.{i}-h0_0.json").write_text("{}")


def time_program(root: Path, repeat: int) -> tuple[float, int, int]:
    """Median seconds, characters printed (part 1) and parts of one run."""
    env = {**os.environ, "PRISM_INSPECT_ROOT": str(root)}
    command = ["sh", "-c", "\n".join(script.commands(1))]
    times, out = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
        times.append(time.perf_counter() - started)
    parts = script.Parts()
    total = parts.add(out)
    return statistics.median(times), len(out), total


def time_dry_run(python: str, sandbox: Sandbox, home: Path, extra: list[str], repeat: int) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PRISM_"))}
    env.update(sandbox.env())
    env.update(
        PRISM_HOME=str(home),
        PRISM_POLL_DELAY_SECONDS="0.05",
        AWS_CONFIG_FILE=str(home / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "none"),
    )
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(
            [
                python,
                "-m",
                "prism_core",
                "save",
                "genomics-box",
                "gen-env",
                "--dry-run",
                *extra,
            ],
            env=env,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"prism save --dry-run failed: {done.stderr}")
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inspection_bench")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="1000,10000,50000,200000")
    args = parser.parse_args(argv)
    print(
        "The inspection program on a home of N files (median of "
        f"{args.repeat}; the walk stops at 50,000 files):\n"
    )
    print("| files in home | wall | output (part 1) | Run Command parts |")
    print("|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",") if s):
        with tempfile.TemporaryDirectory(prefix="prism-inspect-bench-") as tmp:
            synthetic_home(Path(tmp), size)
            seconds, chars, parts = time_program(Path(tmp), args.repeat)
        print(f"| {size:,} | {seconds:.2f} s | {chars:,} chars | {parts} |")

    # prism's dependencies only: plugins installed for development (a required one among
    # them) are not measured (bench.environment)
    with tempfile.TemporaryDirectory(prefix="prism-bench-env-") as environment:
        python = str(dependencies_only(Path(environment) / "venv")[0])
        with Sandbox(Timings.fast()) as sandbox, tempfile.TemporaryDirectory() as tmp:
            sandbox.create_instance("genomics-box", tree="genomics-box")
            inspected = time_dry_run(python, sandbox, Path(tmp), [], args.repeat)
            skipped = time_dry_run(python, sandbox, Path(tmp), ["--no-inspect"], args.repeat)
    print(
        f"\n`prism save genomics-box gen-env --dry-run` on the sandbox (median of {args.repeat}):\n"
    )
    print("| | wall |")
    print("|---|---|")
    print(f"| with the inspection | {inspected:.2f} s |")
    print(f"| `--no-inspect` | {skipped:.2f} s |")
    print(f"| the inspection's cost (before any downtime) | {inspected - skipped:+.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
