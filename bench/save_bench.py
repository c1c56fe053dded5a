"""Benchmark ``prism save`` against the seed's workflow on the sandbox cloud.

Run from the repository root::

    python -m bench.save_bench              # realistic durations (about 5 minutes)
    python -m bench.save_bench --scale 0.1  # quick run

For 0, 1, 3 and 6 copy regions it measures instance downtime, total time and the
EC2/SSM/STS calls by action, for prism's default mode (EC2 reboots the instance
during CreateImage), for ``prism save --stop`` and for the baseline in
:mod:`bench.baseline` (the seed's stop/start workflow), and prints markdown tables.

Downtime: default mode, CreateImage request until the instance passes its status
checks again; ``--stop`` and the seed, StopInstances until ``running`` is seen again.
Total: the first state-changing request (StopInstances or CreateImage) until exit.
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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prism_core.plugin_manager import installed_plugin_names
from prism_sandbox import Faults, Sandbox, Timings

ROOT = Path(__file__).resolve().parent.parent

SOURCE = "us-east-1"
COPY_REGIONS = ["us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1"]
#: Realistic proportions (seconds at --scale 1; one second stands for 10-15 s of EC2):
#: a stop and a start take 30-45 s each; EC2's reboot during CreateImage (clean OS
#: shutdown, snapshot initiation, boot on the same host: no host release, no EBS
#: detach/attach) about 45-60 s; snapshot ids are listed within ~10 s; the image is
#: available after 2-3 minutes and a copy after about as long.
BASE_TIMINGS = {
    "stop": 3.0,
    "start": 3.0,
    "reboot": 4.0,
    "snapshot": 1.0,
    "image": 12.0,
    "copy": 10.0,
}
KINDS = ("prism", "prism-stop", "seed")


@dataclass
class Run:
    """One measured save."""

    downtime: float
    total: float  # stop request -> command exit
    wall: float = 0.0  # command start -> exit (adds interpreter start-up and checks)
    calls: Counter[str] = field(default_factory=Counter)


class TimedFaults(Faults):
    """The sandbox's fault table, also noting when each real (not DryRun) call arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[tuple[float, str]] = []

    def _take_fault(self, region: str, action: str, dry_run: bool = False) -> Any:
        if not dry_run:
            with self._lock:
                self.times.append((time.monotonic(), action))
        return super()._take_fault(region, action, dry_run)

    def first(self, *actions: str) -> float:
        """When the first real call of any of ``actions`` arrived (monotonic clock)."""
        with self._lock:
            return next(t for t, a in self.times if a in actions)


def _command(kind: str, name: str, template: str, regions: list[str], poll: float) -> list[str]:
    if kind in ("prism", "prism-stop"):
        args = [sys.executable, "-m", "prism_core", "save", name, template, "--yes", "-o", "json"]
        args += ["--stop"] if kind == "prism-stop" else []
        return args + (["--copy-to-regions", ",".join(regions)] if regions else [])
    args = [sys.executable, "-m", "bench.baseline", name, template, "--poll", str(poll)]
    return args + (["--copy-to-regions", ",".join(regions)] if regions else [])


def _save(
    kind: str, faults: TimedFaults, name: str, template: str, regions: list[str], poll: float
) -> Run:
    """Run one save as its own process, as a user would; times come from both ends."""
    started = time.monotonic()
    done = subprocess.run(
        _command(kind, name, template, regions, poll),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    ended = time.monotonic()
    if done.returncode != 0:
        raise RuntimeError(f"{kind} save exited {done.returncode}: {done.stderr[-2000:]}")
    document = json.loads(done.stdout)
    return Run(
        downtime=float(document["instance"]["downtime_seconds"]),
        total=ended - faults.first("StopInstances", "CreateImage"),
        wall=ended - started,
    )


def _calls(sandbox: Sandbox) -> Counter[str]:
    return Counter(action for _region, action in sandbox.faults.calls())


def measure(sandbox: Sandbox, kind: str, regions: list[str], poll: float, seq: int) -> Run:
    """One save of a fresh instance; the call log covers the save only."""
    name, template = f"{kind}-box-{seq}", f"{kind}-env-{seq}"
    sandbox.create_instance(name, SOURCE)
    faults = sandbox.faults
    assert isinstance(faults, TimedFaults)
    faults.clear_calls()
    faults.times.clear()
    with tempfile.TemporaryDirectory(prefix="prism-bench-") as home:
        os.environ["PRISM_HOME"] = home
        run = _save(kind, faults, name, template, regions, poll)
    run.calls = _calls(sandbox)
    return run


def _median(runs: list[Run]) -> Run:
    calls: Counter[str] = Counter()
    for action in {a for r in runs for a in r.calls}:
        calls[action] = round(statistics.median(r.calls[action] for r in runs))
    return Run(
        statistics.median(r.downtime for r in runs),
        statistics.median(r.total for r in runs),
        statistics.median(r.wall for r in runs),
        calls,
    )


def _targets(timings: Timings, poll: float, copies: int, kind: str) -> tuple[float, float]:
    """Downtime and total targets of ``kind`` (prism's two modes)."""
    copy = timings.copy if copies else 0.0
    if kind == "prism":  # EC2 reboots: at least until the snapshots are listed
        downtime = max(timings.reboot, timings.snapshot) + 2 * poll
        return downtime, timings.image + copy + 2 * poll
    downtime = timings.stop + timings.snapshot + timings.start + 2 * poll
    return downtime, timings.stop + timings.image + copy + 2 * poll


def _cell(run: Run, target: float) -> str:
    return f"{run.downtime:.2f} s (≤ {target:.2f} {'ok' if run.downtime <= target else 'MISSED'})"


def tables(results: dict[int, dict[str, Run]], timings: Timings, poll: float, cap: int) -> str:
    """The markdown report: downtime and total of each mode and the seed, then calls."""
    lines = [
        f"Sandbox timings (s): stop {timings.stop:g}, start {timings.start:g}, "
        f"reboot {timings.reboot:g}, snapshot ids {timings.snapshot:g}, "
        f"image {timings.image:g}, copy {timings.copy:g}; poll delay {poll:g} s; "
        f"copy concurrency cap {cap}.",
        "",
        "| regions copied | downtime default (reboot) | downtime --stop | downtime seed "
        "| seed / default | total default | total --stop | total seed "
        "| wall default | wall seed | calls default | calls seed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for copies, runs in results.items():
        p, s, b = runs["prism"], runs["prism-stop"], runs["seed"]
        reboot_t, reboot_total_t = _targets(timings, poll, copies, "prism")
        stop_t, stop_total_t = _targets(timings, poll, copies, "prism-stop")
        lines.append(
            f"| {copies} | {_cell(p, reboot_t)} | {_cell(s, stop_t)} | {b.downtime:.2f} s "
            f"| {b.downtime / p.downtime:.1f}x "
            f"| {p.total:.2f} s | {s.total:.2f} s | {b.total:.2f} s "
            f"| {p.wall:.2f} s | {b.wall:.2f} s "
            f"| {sum(p.calls.values())} | {sum(b.calls.values())} |"
        )
    lines += ["", "API calls per save, by action (prism default / prism --stop / seed):", ""]
    counts = list(results)
    actions = sorted({a for pair in results.values() for r in pair.values() for a in r.calls})
    lines.append("| action | " + " | ".join(f"{n} regions" for n in counts) + " |")
    lines.append("|---|" + "---|" * len(counts))
    for action in actions:
        cells = [
            " / ".join(str(results[n][kind].calls[action]) for kind in KINDS) for n in counts
        ]
        lines.append(f"| {action} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every duration")
    parser.add_argument("--poll", type=float, default=None, help="poll delay (default 1 s × scale)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell (median)")
    parser.add_argument("--regions", default="0,1,3,6", help="copy region counts to measure")
    parser.add_argument("--only", choices=KINDS, help="run one kind only")
    args = parser.parse_args(argv)
    timings = Timings(**{k: v * args.scale for k, v in BASE_TIMINGS.items()})
    poll = args.poll if args.poll is not None else 1.0 * args.scale
    counts = [int(n) for n in args.regions.split(",")]
    kinds = [args.only] if args.only else list(KINDS)
    from prism_core.settings import Settings

    cap = Settings.load({}).copy_concurrency
    results: dict[int, dict[str, Run]] = {}
    with Sandbox(timings) as sandbox:
        sandbox.faults = TimedFaults()
        os.environ.update(sandbox.env(SOURCE))
        os.environ["PRISM_POLL_DELAY_SECONDS"] = str(poll)
        os.environ["PRISM_DISABLE_PLUGINS"] = ",".join(installed_plugin_names())
        os.environ["AWS_CONFIG_FILE"] = os.devnull
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        os.environ.pop("AWS_PROFILE", None)
        seq = 0
        for copies in counts:
            regions = COPY_REGIONS[:copies]
            results[copies] = {}
            for kind in kinds:
                runs = []
                for _ in range(args.repeat):
                    seq += 1
                    runs.append(measure(sandbox, kind, regions, poll, seq))
                results[copies][kind] = _median(runs)
                r = results[copies][kind]
                print(
                    f"# {kind:6} {copies} regions: downtime {r.downtime:.2f}s "
                    f"total {r.total:.2f}s calls {sum(r.calls.values())}",
                    flush=True,
                )
            if args.only:
                for kind in KINDS:
                    results[copies].setdefault(kind, results[copies][args.only])
    print()
    print(tables(results, timings, poll, cap))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
