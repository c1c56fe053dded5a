"""Unit layer: the sandbox is prism's test cloud, not part of prism: importing it (every
module of it) imports neither prism's templates nor its settings; what prism wants seeded
is handed over as data (:class:`prism_sandbox.seed.Seed`)."""

from __future__ import annotations

import json
import subprocess
import sys

from prism_sandbox.seed import Seed, Workstation

PROGRAM = """
import importlib, json, pkgutil, sys
import prism_sandbox
names = sorted(m.name for m in pkgutil.iter_modules(prism_sandbox.__path__, "prism_sandbox."))
for name in names:
    if name != "prism_sandbox.__main__":
        importlib.import_module(name)
import prism_sandbox.__main__  # its module only: main() does not run
print(json.dumps({"imported": names, "modules": sorted(sys.modules)}))
"""


def test_importing_the_sandbox_imports_neither_templates_nor_settings() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120, check=True
    )
    found = json.loads(done.stdout.splitlines()[-1])
    assert "prism_sandbox.server" in found["imported"] and "prism_sandbox.seed" in found["imported"]
    banned = [
        m
        for m in found["modules"]
        if m in ("prism_core.templates", "prism_core.settings")
        or m.startswith("prism_core.templates.")
    ]
    assert banned == []


def test_a_seed_goes_through_json_unchanged() -> None:
    seed = Seed(
        {"/aws/service/canonical/x": "arm64"},
        [("123456789012", "Rocky-10-EC2-Base-10.0-sandbox.x86_64", "x86_64")],
        {"box": Workstation(ports=[22, 8888], tags={"prism:template": "python-ml"}, tree="box")},
    )
    assert Seed.from_json(seed.to_json()) == seed
    assert Seed.from_json(seed.to_json()).without_workstations().workstations == {}


def test_prism_seeds_every_image_it_resolves_and_two_workstations() -> None:
    from prism_core.cli import sandbox_seed

    plain, demo = sandbox_seed.prism_seed(), sandbox_seed.prism_seed(with_workstations=True)
    assert plain.workstations == {} and sorted(demo.workstations) == sorted(
        sandbox_seed.DEMO_WORKSTATIONS
    )
    assert set(sandbox_seed.builtin_image_parameters()) <= set(plain.parameters)
    assert plain.owner_images and all(len(item) == 3 for item in plain.owner_images)
