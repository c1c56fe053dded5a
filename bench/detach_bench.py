"""Benchmark ``prism save --detach`` against an attached save on the sandbox cloud.

Run from the repository root::

    python -m bench.detach_bench              # realistic-ish durations (about a minute)
    python -m bench.detach_bench --scale 0.2  # quick run

In one run, with two copy regions: the time ``prism save --detach`` takes to return
(target: its pre-flight, until the first change in the cloud, plus CreateImage plus 2 s),
the total of the detached save (the command's start until its execution ends), and the
total of an attached save of a twin instance. prism runs as its own process, as a user
would run it; the save engine runs in the sandbox (moto's Step Functions interpreter).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.environment import dependencies_only
from prism_sandbox import Faults, Sandbox, Timings

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "us-east-1"
COPIES = ["us-east-2", "eu-west-1"]
BASE_TIMINGS = {"stop": 10.0, "start": 10.0, "snapshot": 3.0, "image": 20.0, "copy": 20.0,
                "reboot": 8.0}


class TimedFaults(Faults):
    """The fault table, also noting when the first CreateImage (not DryRun) arrived."""

    create_image: float | None = None
    first_call: float | None = None

    def _take_fault(self, region: str, action: str, dry_run: bool = False):  # type: ignore[no-untyped-def]
        now = time.monotonic()
        if self.first_call is None:
            self.first_call = now
        if action == "CreateImage" and not dry_run and self.create_image is None:
            self.create_image = now
        return super()._take_fault(region, action, dry_run)


#: The interpreter prism runs with: a fresh environment of prism's dependencies only
#: (bench.environment), so plugins installed for development are not measured.
PYTHON = sys.executable


def _prism(*args: str) -> tuple[float, dict]:
    started = time.monotonic()
    done = subprocess.run([PYTHON, "-m", "prism_core", *args, "-o", "json"],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"prism {' '.join(args)} exited {done.returncode}: "
                           f"{done.stderr[-2000:]}")
    return started, json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    """Run both saves and print a markdown table."""
    global PYTHON
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every duration")
    args = parser.parse_args(argv)
    timings = Timings(**{k: v * args.scale for k, v in BASE_TIMINGS.items()})
    poll = max(0.05, 1.0 * args.scale)
    environment = tempfile.TemporaryDirectory(prefix="prism-bench-env-")
    PYTHON = str(dependencies_only(Path(environment.name) / "venv")[0])
    with environment, tempfile.TemporaryDirectory(prefix="prism-bench-") as home, \
            Sandbox(timings) as sb:
        faults = TimedFaults()
        sb.faults = faults
        os.environ.update(sb.env(SOURCE))
        os.environ.update(PRISM_HOME=home, PRISM_POLL_DELAY_SECONDS=str(poll),
                          AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
        os.environ.pop("AWS_PROFILE", None)
        sb.create_instance("detached-box", SOURCE)
        sb.create_instance("attached-box", SOURCE)
        _prism("cloud", "setup", "--yes")
        regions = ",".join(COPIES)

        faults.first_call = faults.create_image = None
        started, detached = _prism("save", "detached-box", "detached-env", "--detach",
                                   "--copy-to-regions", regions, "--yes")
        returned = time.monotonic()
        assert faults.first_call is not None and faults.create_image is not None
        preflight = faults.create_image - faults.first_call
        sfn = sb.client("stepfunctions", SOURCE)
        while sfn.describe_execution(executionArn=detached["execution"])["status"] == "RUNNING":
            time.sleep(0.05)
        detached_total = time.monotonic() - started

        started, _ = _prism("save", "attached-box", "attached-env", "--copy-to-regions",
                            regions, "--yes")
        attached_total = time.monotonic() - started

    return_time = returned - faults.first_call if faults.first_call else 0.0
    target = preflight + timings.snapshot + 2.0
    print(f"| measure (2 copy regions, scale {args.scale}) | seconds | target |")
    print("|---|---|---|")
    print(f"| `prism save --detach` returns (first AWS call to exit) | {return_time:.2f} "
          f"| ≤ {target:.2f} (pre-flight {preflight:.2f} + CreateImage + 2) "
          f"{'met' if return_time <= target else 'MISSED'} |")
    print(f"| detached save, total | {detached_total:.2f} | - |")
    print(f"| attached save, total | {attached_total:.2f} | - |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
