"""Benchmark ``prism save`` against the seed's workflow on the sandbox cloud.

Run from the repository root::

    python -m bench.save_bench              # realistic durations (about 5 minutes)
    python -m bench.save_bench --scale 0.1  # quick run

For each number of copy regions asked (``--regions 0,1,3,6`` by default; any count up
to every other commercial region) it measures instance downtime, pre-flight (first AWS
call until the first change in the cloud), total time and the EC2/SSM/STS calls by
action, for prism's default mode (EC2 reboots the instance during CreateImage), for
``prism save --stop`` and for the baseline in :mod:`bench.baseline` (the seed's
stop/start workflow), and prints markdown tables with each figure next to its target,
and the calls next to the careful minimum documented in :func:`minimum_calls`.

prism and the seed run in a fresh virtual environment holding prism's dependencies
(:mod:`bench.environment`; prism from this checkout) and the contrib plugins a user
installs, prism-marketplace and prism-cost-tags (:data:`PLUGINS`; ``--core-only``:
none), so their hooks run in every save as they would for that user. The
institution-example plugin is left out: its locked policy (a *required* plugin)
refuses every region but eu-west-1/2, so it would refuse the measured saves.

Downtime: default mode, CreateImage request until the instance passes its status
checks again; ``--stop`` and the seed, StopInstances until ``running`` is seen again.
Total: the first state-changing request (StopInstances or CreateImage) until exit.
"""

from __future__ import annotations

import argparse
import json
import math
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

from bench.environment import with_plugins
from prism_sandbox import Faults, Sandbox, Timings

ROOT = Path(__file__).resolve().parent.parent

SOURCE = "us-east-1"
#: The first regions copied to; beyond them, every other commercial region in order.
PREFERRED = ["us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1"]
#: The contrib plugins installed with prism (see the module's docstring).
PLUGINS = ("prism-marketplace", "prism-cost-tags")
#: Pre-flight may grow by at most this much per extra region (seconds).
PREFLIGHT_PER_REGION = 0.08


def commercial_regions() -> list[str]:
    """Every commercial (``aws`` partition) EC2 region botocore knows, the source excepted."""
    import botocore.session

    known = botocore.session.get_session().get_available_regions("ec2", partition_name="aws")
    return PREFERRED + sorted(r for r in known if r not in PREFERRED and r != SOURCE)


def copy_regions(count: int) -> list[str]:
    """The first ``count`` copy regions; more than exist is an error, never a silent cap."""
    regions = commercial_regions()
    if not 0 <= count <= len(regions):
        raise SystemExit(
            f"--regions: {count} copy regions asked, but there are {len(regions)} commercial "
            f"regions besides {SOURCE}"
        )
    return regions[:count]


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
#: The interpreter of the clean environment the saves run in (set by :func:`main`).
PYTHON = sys.executable


@dataclass
class Run:
    """One measured save."""

    downtime: float
    total: float  # stop request -> command exit
    wall: float = 0.0  # command start -> exit (adds interpreter start-up and checks)
    preflight: float = 0.0  # first AWS call -> first change in the cloud
    calls: Counter[str] = field(default_factory=Counter)


#: Actions that change the cloud (their DryRun twins do not count).
CHANGES = {"CreateTags", "StopInstances", "CreateImage", "PutParameter", "CopyImage"}


class TimedFaults(Faults):
    """The sandbox's fault table, also noting when each real (not DryRun) call arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[tuple[float, str]] = []
        self.started: float | None = None

    def _take_fault(self, region: str, action: str, dry_run: bool = False) -> Any:
        with self._lock:
            if self.started is None:
                self.started = time.monotonic()
            if not dry_run:
                self.times.append((time.monotonic(), action))
        return super()._take_fault(region, action, dry_run)

    def first_change(self) -> float:
        """When the first call that changes something arrived (the save-lock tag)."""
        with self._lock:
            return next(t for t, a in self.times if a in CHANGES)

    def first(self, *actions: str) -> float:
        """When the first real call of any of ``actions`` arrived (monotonic clock)."""
        with self._lock:
            return next(t for t, a in self.times if a in actions)


def _command(kind: str, name: str, template: str, regions: list[str], poll: float) -> list[str]:
    if kind in ("prism", "prism-stop"):
        args = [PYTHON, "-m", "prism_core", "save", name, template, "--yes", "-o", "json"]
        args += ["--stop"] if kind == "prism-stop" else []
        return args + (["--copy-to-regions", ",".join(regions)] if regions else [])
    args = [PYTHON, "-m", "bench.baseline", name, template, "--poll", str(poll)]
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
    assert faults.started is not None
    return Run(
        downtime=float(document["instance"]["downtime_seconds"]),
        total=ended - faults.first("StopInstances", "CreateImage"),
        wall=ended - started,
        preflight=faults.first_change() - faults.started,
    )


def _calls(sandbox: Sandbox) -> Counter[str]:
    return Counter(action for _region, action in sandbox.faults.calls())


#: Clients of the warm-up, by (sandbox endpoint, service, region): built once per run.
_CLIENTS: dict[tuple[str, str, str], Any] = {}


def _warm(sandbox: Sandbox, regions: list[str]) -> None:
    """Build the moto backends a save touches (moto builds each on its first request
    after a reset, IAM's with every managed policy), outside the measured save."""

    def client(service: str, region: str) -> Any:
        key = (sandbox.endpoint, service, region)
        if key not in _CLIENTS:
            _CLIENTS[key] = sandbox.client(service, region)
        return _CLIENTS[key]

    client("sts", SOURCE).get_caller_identity()
    for region in regions:
        client("ec2", region).describe_images(Owners=["self"])
        client("ssm", region).get_parameters_by_path(Path="/prism/")


def measure(sandbox: Sandbox, kind: str, regions: list[str], poll: float, seq: int) -> Run:
    """One save of a fresh instance in a freshly reset sandbox (moto scans every image
    and instance it holds, which EC2 does not: each save starts from the same state);
    the call log covers the save only."""
    name, template = f"{kind}-box-{seq}", f"{kind}-env-{seq}"
    sandbox.reset()
    _warm(sandbox, [SOURCE, *regions])
    sandbox.create_instance(name, SOURCE)
    faults = sandbox.faults
    assert isinstance(faults, TimedFaults)
    faults.clear_calls()
    faults.times.clear()
    faults.started = None
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
        statistics.median(r.preflight for r in runs),
        calls,
    )


def _targets(timings: Timings, poll: float, copies: int, kind: str) -> tuple[float, float]:
    """Downtime and total targets of ``kind`` (prism's two modes)."""
    copy = timings.copy if copies else 0.0
    if kind == "prism":  # EC2 reboots: at least until the snapshots are listed
        downtime = max(timings.reboot, timings.snapshot) + 2 * poll
        return downtime, timings.image + copy + poll
    downtime = timings.stop + timings.snapshot + timings.start + 2 * poll
    total = timings.stop + timings.image + copy + poll
    return downtime, total


def _cell(run: Run, target: float) -> str:
    return f"{run.downtime:.2f} s (≤ {target:.2f} {_ok(run.downtime <= target)})"


def _polls(duration: float, poll: float) -> int:
    """Polls a careful waiter needs: one per poll delay, the last one seeing it done."""
    return max(1, math.ceil(duration / poll)) if poll > 0 else 1


def minimum_calls(copies: int, timings: Timings, poll: float) -> Counter[str]:
    """The careful minimum of calls for a ``--stop`` save with prism's guarantees, by action.

    Per save: find the instance, its volumes, security groups, type, its addresses
    (a stop changes a public IP without an Elastic IP) and the caller (one call each);
    one region check; DryRun checks of the lock tag, the stop, the image and each copy;
    the lock tag and its removal; stop, image, start; copies with their tags in
    ``TagSpecifications``.

    The registry, per region: one version lookup (GetParametersByPath); the version
    claim that makes concurrent saves of a template take different numbers (one
    conditional PutParameter, which the version entry then replaces); the version
    entry and the current entry (two PutParameter); the newest version read before the
    current entry is written and once after (two GetParametersByPath: the current
    entry follows the newest version even when two saves register at once).
    Per save, the one-save-per-instance lock: read in pre-flight (refuse early), one
    conditional PutParameter, and at the end a read that proves it is still ours
    before its DeleteParameter.

    Waits are polled once per poll delay (the instance stopping and starting, the
    snapshots listed, the image and each copy available), except that a careful
    waiter polls a copy only when it is due. prism's reads of the snapshots' progress
    (DescribeSnapshots, one or two per image and copy: they schedule the polls) are
    not in the minimum: they count against the 1.3x.
    """
    regions = 1 + copies
    calls: Counter[str] = Counter(
        {
            "DescribeInstances": 1 + _polls(timings.stop, poll) + _polls(timings.start, poll),
            "DescribeVolumes": 1,
            "DescribeSecurityGroups": 1,
            "DescribeInstanceTypes": 1,
            "DescribeAddresses": 1,
            "GetCallerIdentity": 1,
            "DescribeRegions": 1,
            "GetParametersByPath": 3 * regions,
            "GetParameter": 2,
            "DeleteParameter": 1,
            "StopInstances": 2,
            "CreateImage": 2,
            "StartInstances": 1,
            "CreateTags": 2,
            "DeleteTags": 1,
            "DescribeImages": regions
            + _polls(timings.snapshot, poll)
            + _polls(max(timings.image - timings.snapshot - timings.start, 0.0), poll)
            + copies,
            "PutParameter": 1 + 3 * regions,
        }
    )
    if copies:
        calls["CopyImage"] = 2 * copies
    return calls


def tables(
    results: dict[int, dict[str, Run]], timings: Timings, poll: float, cap: int | None
) -> str:
    """The markdown report: times with ratios and targets, pre-flight, calls by action."""
    lines = [
        f"Sandbox timings (s): stop {timings.stop:g}, start {timings.start:g}, "
        f"reboot {timings.reboot:g}, snapshot ids {timings.snapshot:g}, "
        f"image {timings.image:g}, copy {timings.copy:g}; poll delay {poll:g} s; "
        f"copy concurrency cap {cap or 'none (every region at once)'}.",
        "",
        "Default mode (EC2 reboots the instance during CreateImage):",
        "",
        "| regions copied | downtime default | total default | total target "
        "| pre-flight default | calls default |",
        "|---|---|---|---|---|---|",
    ]
    for copies, runs in results.items():
        d = runs["prism"]
        down_t, total_t = _targets(timings, poll, copies, "prism")
        lines.append(
            f"| {copies} | {_cell(d, down_t)} | {d.total:.2f} s "
            f"| ≤ {total_t:.2f} s {_ok(d.total <= total_t)} | {d.preflight:.2f} s "
            f"| {sum(d.calls.values())} |"
        )
    lines += [
        "",
        "`prism save --stop` against the seed's stop/start workflow (the call minimum is "
        "that of a stop/start save):",
        "",
        "| regions copied | downtime --stop | downtime seed | downtime target "
        "| total --stop | total seed | ratio | total target | pre-flight --stop "
        "| pre-flight target | calls --stop | calls minimum | calls target | calls seed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    first = min(results)
    base = results[first]["prism-stop"].preflight
    for copies, pair in results.items():
        p, b = pair["prism-stop"], pair["seed"]
        down_t, total_t = _targets(timings, poll, copies, "prism-stop")
        pre_t = base + PREFLIGHT_PER_REGION * (copies - first)
        minimum = sum(minimum_calls(copies, timings, poll).values())
        calls = sum(p.calls.values())
        lines.append(
            f"| {copies} | {p.downtime:.2f} s | {b.downtime:.2f} s "
            f"| ≤ {down_t:.2f} s {_ok(p.downtime <= down_t)} "
            f"| {p.total:.2f} s | {b.total:.2f} s | {b.total / p.total:.1f}x "
            f"| ≤ {total_t:.2f} s {_ok(p.total <= total_t)} "
            f"| {p.preflight:.2f} s | ≤ {pre_t:.2f} s {_ok(p.preflight <= pre_t)} "
            f"| {calls} | {minimum} | ≤ {1.3 * minimum:.0f} {_ok(calls <= 1.3 * minimum)} "
            f"| {sum(b.calls.values())} |"
        )
    lines += [
        "",
        f"Pre-flight target: the {first}-region figure + {PREFLIGHT_PER_REGION * 1000:.0f} ms "
        "per extra region. Calls target: 1.3 × the minimum (`minimum_calls` in this file).",
        "",
        "API calls per save, by action (minimum / prism default / prism --stop / seed):",
        "",
    ]
    counts = list(results)
    minima = {n: minimum_calls(n, timings, poll) for n in counts}
    actions = sorted(
        {a for pair in results.values() for r in pair.values() for a in r.calls}
        | {a for m in minima.values() for a in m}
    )
    lines.append("| action | " + " | ".join(f"{n} regions" for n in counts) + " |")
    lines.append("|---|" + "---|" * len(counts))
    for action in actions:
        cells = [
            f"{minima[n][action]} / {results[n]['prism'].calls[action]} / "
            f"{results[n]['prism-stop'].calls[action]} / {results[n]['seed'].calls[action]}"
            for n in counts
        ]
        lines.append(f"| {action} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ok(met: bool) -> str:
    return "ok" if met else "MISSED"


def _load() -> str:
    """The machine's load averages (1, 5, 15 min) and cores, for the record."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    global PYTHON
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every duration")
    parser.add_argument("--poll", type=float, default=None, help="poll delay (default 1 s × scale)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell (median)")
    parser.add_argument(
        "--regions",
        default="0,1,3,6",
        help="copy region counts to measure (each up to every other commercial region)",
    )
    parser.add_argument("--only", choices=KINDS, help="run one kind only")
    parser.add_argument(
        "--core-only", action="store_true", help="prism alone, without the contrib plugins"
    )
    args = parser.parse_args(argv)
    timings = Timings(**{k: v * args.scale for k, v in BASE_TIMINGS.items()})
    poll = args.poll if args.poll is not None else 1.0 * args.scale
    counts = [int(n) for n in args.regions.split(",")]
    for count in counts:
        copy_regions(count)  # refuse a count beyond every commercial region up front
    kinds = [args.only] if args.only else list(KINDS)
    from prism_core.settings import Settings

    cap = Settings.load({}).copy_concurrency
    results: dict[int, dict[str, Run]] = {}
    environment = tempfile.TemporaryDirectory(prefix="prism-bench-env-")
    plugins = () if args.core_only else PLUGINS
    PYTHON = str(with_plugins(Path(environment.name) / "venv", plugins))
    with environment, Sandbox(timings) as sandbox:
        sandbox.faults = TimedFaults()
        os.environ.update(sandbox.env(SOURCE))
        os.environ["PRISM_POLL_DELAY_SECONDS"] = str(poll)
        os.environ["AWS_CONFIG_FILE"] = os.devnull
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
        os.environ.pop("AWS_PROFILE", None)
        seq = 0
        for copies in counts:
            regions = copy_regions(copies)
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
                    f"total {r.total:.2f}s pre-flight {r.preflight:.2f}s "
                    f"calls {sum(r.calls.values())}",
                    flush=True,
                )
            if args.only:
                for kind in KINDS:
                    results[copies].setdefault(kind, results[copies][args.only])
    print()
    print(f"Load: {_load()}\n")
    print(f"Contrib plugins installed: {', '.join(plugins) or 'none'}\n")
    print(tables(results, timings, poll, cap))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
