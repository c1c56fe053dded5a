"""Local commands start without importing the heavy libraries (checked with -X importtime).

Wall time is measured by ``bench/startup_bench.py``, never asserted here.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = ("boto3", "botocore", "questionary", "prompt_toolkit", "moto", "jsonschema")


def imported_modules(*args: str, home: str) -> set[str]:
    """Top-level package names a ``python -m prism_core ARGS`` run imports."""
    env = dict(os.environ, PRISM_HOME=home)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "prism_core", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "prism_core" in names
    return names


@pytest.mark.parametrize(
    ("args", "heavy"),
    [
        (("--help",), HEAVY),
        (("plugins",), HEAVY),
        (("save", "--help"), HEAVY),
        # templates list validates documents with jsonschema; the AWS libraries stay out
        (("templates", "list", "--local"), tuple(h for h in HEAVY if h != "jsonschema")),
    ],
)
def test_local_commands_do_not_import_heavy_libraries(tmp_path, args, heavy):
    names = imported_modules(*args, home=str(tmp_path))
    assert not names & set(heavy), f"prism {' '.join(args)} imported {sorted(names & set(heavy))}"
