"""Listing 500 templates: local files and the shared registry, against their targets.

Run from the repository root::

    python -m bench.listing_bench [--count 500] [--runs 3]

Local: ``prism templates list --local`` over ``--count`` template files, run as a
process (first run fills the parse cache; the median of the next ``--runs`` is the
figure; target ≤ 0.5 s), next to the seed's way of reading them (PyYAML's
pure-Python safe loader and a schema validation per file, in-process).

Registry: the SSM calls ``prism templates list`` makes with ``--count`` templates
registered on the sandbox (target ≤ 20), next to the calls of a full scan of the
older layout (a ``template``, ``versions/1`` and ``ami/x86_64`` entry per template).

prism runs in a fresh virtual environment holding its dependencies only
(:mod:`bench.environment`; prism from this checkout), so no plugin installed for
development (one may change the registry prefix or add work) is measured.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.environment import dependencies_only
from bench.save_bench import _load

ROOT = Path(__file__).resolve().parent.parent
LOCAL_TARGET, REGISTRY_TARGET = 0.5, 20


def _document(i: int) -> dict[str, Any]:
    return {
        "name": f"env-{i:04d}",
        "description": f"Saved by prism from box-{i} (bench template {i})",
        "base": "ami-based",
        "package_manager": "ami",
        "source": "saved-from-instance",
        "saved_from": f"box-{i}",
        "saved_date": "2026-01-01T00:00:00Z",
        "version": 1 + i % 3,
        "maintainer": "bench",
        "project": None,
        "ami_config": {
            "amis": {
                region: {"x86_64": f"ami-{i:08x}{n:09x}"}
                for n, region in enumerate(("us-east-1", "us-east-2", "eu-west-1"))
            }
        },
        "instance_defaults": {
            "type": "t3.medium",
            "ports": [22, 8888],
            "root_volume_gb": 30,
            "estimated_cost_per_hour": {"x86_64": 0.0416},
        },
        "tags": {"Name": f"env-{i:04d}", "Type": "saved-instance", "Source": "prism-save"},
    }


#: The interpreter of the clean environment prism runs in (set by :func:`main`).
PYTHON = sys.executable


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one ``prism ARGS`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [PYTHON, "-m", "prism_core", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def local(count: int, runs: int) -> list[str]:
    """Markdown rows for the local listing."""
    import jsonschema
    import yaml

    from prism_core.templates.document import dump, schema

    with tempfile.TemporaryDirectory(prefix="prism-listing-") as home:
        folder = Path(home) / "templates"
        folder.mkdir()
        for i in range(count):
            (folder / f"env-{i:04d}.yaml").write_text(dump(_document(i)), encoding="utf-8")
        env = dict(os.environ, PRISM_HOME=home)
        cold, _cpu = _run(["templates", "list", "--local"], env)
        timings = [_run(["templates", "list", "--local"], env) for _ in range(max(1, runs))]
        warm = statistics.median(t[0] for t in timings)
        cpu = statistics.median(t[1] for t in timings)
        started = time.perf_counter()
        validator = jsonschema.Draft202012Validator(schema())
        for path in sorted(folder.glob("*.yaml")):
            validator.validate(yaml.load(path.read_text(), Loader=yaml.SafeLoader))  # noqa: S506
        seed = time.perf_counter() - started
    ok = "ok" if warm <= LOCAL_TARGET else "MISSED"
    return [
        f"| local, {count} files | {warm:.2f} s wall, {cpu:.2f} s CPU (first run, filling "
        f"the cache: {cold:.2f} s) "
        f"| ≤ {LOCAL_TARGET} s {ok} | {seed:.2f} s (parsing and validation alone) |"
    ]


def registry(count: int) -> list[str]:
    """Markdown rows for the registry listing (SSM calls)."""
    import json

    from prism_core.templates import registry as layout
    from prism_sandbox import Sandbox

    with Sandbox() as sandbox:
        ssm = sandbox.client("ssm", "us-east-1")
        docs = [_document(i) for i in range(count)]

        def write(doc: dict[str, Any]) -> None:
            layout.write_version(ssm, "/prism/", doc)
            layout.write_current(ssm, "/prism/", doc)
            base = layout.parameter_base("/old/", doc["name"])
            for name, value in (
                (f"{base}/template", json.dumps(doc)),
                (f"{base}/versions/1", json.dumps(doc)),
                (f"{base}/ami/x86_64", "ami-0123456789abcdef0"),
            ):
                ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(write, docs))
        env = dict(os.environ, **sandbox.env("us-east-1"))
        env["PRISM_HOME"] = tempfile.mkdtemp(prefix="prism-listing-")
        sandbox.faults.clear_calls()
        _run(["templates", "list", "-o", "json"], env)
        calls = [a for _r, a in sandbox.faults.calls() if a in SSM_READS]
        sandbox.faults.clear_calls()
        found = layout.legacy_current_documents(ssm, "/old/")
        assert len(found) == count
        seed = [a for _r, a in sandbox.faults.calls() if a in SSM_READS]
    ok = "ok" if len(calls) <= REGISTRY_TARGET else "MISSED"
    return [
        f"| registry, {count} templates | {len(calls)} calls ({_by_action(calls)}) "
        f"| ≤ {REGISTRY_TARGET} calls {ok} | {len(seed)} calls ({_by_action(seed)}) |"
    ]


SSM_READS = {"GetParametersByPath", "DescribeParameters", "GetParameter", "GetParameters"}


def _by_action(calls: list[str]) -> str:
    return ", ".join(f"{calls.count(a)} {a}" for a in sorted(set(calls)))


def main(argv: list[str] | None = None) -> int:
    """Print the markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    global PYTHON
    with tempfile.TemporaryDirectory(prefix="prism-listing-env-") as environment:
        PYTHON = str(dependencies_only(Path(environment) / "venv")[0])
        rows = local(args.count, args.runs) + registry(args.count)
    print(f"Load: {_load()}\n")
    print("| listing | prism | target | seed's way |")
    print("|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
