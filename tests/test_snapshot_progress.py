"""Image and copy waits show the snapshots' progress as a percentage with an estimate of
the time left (EC2's ``Progress``, emulated by the sandbox's timed transitions)."""

from __future__ import annotations

import re

from prism_core.aws.snapshot_progress import Reading, eta, percent


def test_reading_and_rate():
    assert percent([{"State": "pending", "Progress": "40%"},
                    {"State": "completed", "Progress": "100%"}]) == 40.0
    assert eta((0.0, 20.0), (10.0, 60.0)) == 10.0
    assert eta((0.0, 20.0), (10.0, 20.0)) is None
    assert Reading(45.0, 200.0).text() == "45% of the snapshots, about 3m 20s left"
    assert Reading(45.0, None).text() == "45% of the snapshots"


def test_save_waits_show_percent_and_time_left(prism_sandbox, run_prism, monkeypatch):
    from prism_sandbox import Timings

    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "0.2")
    prism_sandbox.timings = Timings(snapshot=0.1, image=2.0, copy=2.0)
    prism_sandbox.create_instance("box")
    result = run_prism("save", "box", "env", "--copy-to-regions", "us-east-2", "--no-reboot",
                       "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    readings = result.json()["progress"]  # the same numbers for scripts
    assert {r["phase"] for r in readings} == {"image", "copy"}, readings
    image_reading = next(r for r in readings if r["phase"] == "image")
    assert image_reading["region"] == "us-east-1" and 0 <= image_reading["percent"] < 100
    assert image_reading["eta_seconds"] is not None and "elapsed_seconds" in image_reading
    image = re.search(r"Image ami-\w+ in us-east-1: (\d+)% of the snapshots, about "
                      r"(\d+m \d+s|\d+s) left", result.stderr)
    assert image and 0 <= int(image.group(1)) < 100, result.stderr
    assert re.search(r"Copy ami-\w+ to us-east-2: \d+% of the snapshots", result.stderr), \
        result.stderr


def test_templates_copy_shows_percent(prism_sandbox, run_prism, monkeypatch):
    from prism_sandbox import Timings

    prism_sandbox.create_instance("box")
    assert run_prism("save", "box", "env", "--yes").exit_code == 0
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "0.2")
    prism_sandbox.timings = Timings(copy=1.5)
    result = run_prism("templates", "copy", "env@1", "--to-regions", "us-west-1", "--yes",
                       "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert re.search(r"Copy to us-west-1: \d+% of the snapshots", result.stderr), result.stderr
    assert result.json()["progress"][0]["region"] == "us-west-1"
