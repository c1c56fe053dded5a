"""What ``prism save --scrub`` adds to a save that shares its image (issue 24).

Run from the repository root::

    python -m bench.scrub_bench             # about a minute
    python -m bench.scrub_bench --repeat 3

Saves the seeded ``genomics-box`` on the sandbox twice per round, sharing it with an
account: as it is (``--allow-secrets``) and as a scrubbed derivative (``--scrub``). The
sandbox's state transitions last a scaled-down version of EC2's (``TIMINGS``), so the
table shows where the scrub's extra time goes, not EC2's absolute times: the helper's
boot, its user data until it powers off, the derivative's image, the helper's
termination. Printed as a markdown table; the downtime is the same for both (the scrub
works on the team image, never on the workstation).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.environment import dependencies_only
from prism_sandbox import Sandbox, Timings

ROOT = Path(__file__).resolve().parent.parent
#: EC2's transitions scaled down about 60 times (a minute becomes a second).
TIMINGS = Timings(stop=1.0, start=1.0, snapshot=0.5, image=2.0, copy=2.0, reboot=1.0,
                  user_data=1.0)
PLAIN = ["--share-with", "111122223333", "--allow-secrets"]
SCRUB = ["--share-with", "111122223333", "--scrub"]


def run_save(python: str, sandbox: Sandbox, home: Path, name: str, extra: list[str]) -> dict:
    """One ``prism save genomics-box NAME ... --yes -o json``: its wall time and result."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PRISM_"))}
    env.update(sandbox.env())
    env.update(
        PRISM_HOME=str(home),
        PRISM_POLL_DELAY_SECONDS="0.1",
        AWS_CONFIG_FILE=str(home / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "none"),
    )
    started = time.perf_counter()
    done = subprocess.run(
        [python, "-m", "prism_core", "save", "genomics-box", name, *extra, "--yes", "-o",
         "json"],
        env=env, capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"prism save {' '.join(extra)} failed: {done.stderr}")
    result = json.loads(done.stdout)
    return {"wall": wall, "downtime": result["instance"]["downtime_seconds"] or 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scrub_bench")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    plain: list[dict] = []
    scrub: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="prism-bench-env-") as environment:
        python = str(dependencies_only(Path(environment) / "venv")[0])
        with Sandbox(TIMINGS) as sandbox, tempfile.TemporaryDirectory() as tmp:
            sandbox.create_instance("genomics-box", tree="genomics-box")
            for round_ in range(args.repeat):
                plain.append(run_save(python, sandbox, Path(tmp), f"plain-{round_}", PLAIN))
                scrub.append(run_save(python, sandbox, Path(tmp), f"scrub-{round_}", SCRUB))

    def median(runs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    print(
        f"`prism save genomics-box` shared with an account, sandbox timings {TIMINGS} "
        f"(median of {args.repeat}):\n"
    )
    print("| save | wall | instance downtime |")
    print("|---|---|---|")
    print(f"| `--allow-secrets` (shared as it is) | {median(plain, 'wall'):.2f} s | "
          f"{median(plain, 'downtime'):.2f} s |")
    print(f"| `--scrub` (scrubbed derivative shared) | {median(scrub, 'wall'):.2f} s | "
          f"{median(scrub, 'downtime'):.2f} s |")
    extra = median(scrub, "wall") - median(plain, "wall")
    print(f"| the scrub's extra time (after the downtime) | {extra:+.2f} s | "
          f"{median(scrub, 'downtime') - median(plain, 'downtime'):+.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
