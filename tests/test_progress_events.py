"""`--progress json`: every stderr line is one event the packaged JSON Schema validates;
the image and copy waits carry a percentage that never goes back and ends at 100; stdout
stays one document. `--progress none` prints no progress; bad values are refused."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest

from prism_sandbox import Timings


def _validator() -> jsonschema.Draft202012Validator:
    text = resources.files("prism_core").joinpath("data/progress_event.schema.json").read_text()
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _events(stderr: str) -> list[dict]:
    validator = _validator()
    events = []
    for line in stderr.splitlines():
        event = json.loads(line)  # every line is JSON
        errors = [e.message for e in validator.iter_errors(event)]
        assert not errors, (line, errors)
        events.append(event)
    assert events and events[-1]["event"] == "done"
    assert [e["event"] for e in events].count("done") == 1
    return events


def _percent_by_resource(events: list[dict]) -> dict[str, list[float]]:
    seen: dict[str, list[float]] = {}
    for event in events:
        if event.get("resource") and event.get("percent") is not None:
            seen.setdefault(event["resource"], []).append(event["percent"])
    return seen


@pytest.fixture
def timed_cloud(prism_sandbox, monkeypatch):
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "0.2")
    prism_sandbox.timings = Timings(snapshot=0.1, image=2.0, copy=2.0)
    prism_sandbox.create_instance("box")
    return prism_sandbox


def test_save_with_a_copy_as_json_events(timed_cloud, run_prism):
    result = run_prism("save", "box", "env", "--copy-to-regions", "us-east-2", "--no-reboot",
                       "--yes", "-o", "json", "--progress", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)  # stdout: exactly one document
    assert document["exit_code"] == 0
    events = _events(result.stderr)
    assert events[-1]["exit_code"] == 0
    percents = _percent_by_resource(events)
    phases = {e.get("phase") for e in events if e["event"] == "progress"}
    assert phases == {"image", "copy"}, events
    assert len(percents) == 2, percents  # the image and its copy
    for resource, values in percents.items():
        assert values == sorted(values), (resource, values)
        assert values[-1] == 100, (resource, values)
        assert any(v < 100 for v in values), (resource, values)  # a reading on the way
    waits = [e for e in events if e["event"] == "wait" and e.get("resource") in percents]
    assert {w["phase"] for w in waits} >= {"image", "copy"}, waits
    assert all("percent" in w and "eta_seconds" in w for w in waits)
    progress = [e for e in events if e["event"] == "progress" and e["percent"] < 100]
    assert any(e["eta_seconds"] is not None for e in progress), progress
    assert {e["region"] for e in progress} == {"us-east-1", "us-east-2"}
    assert any(e["event"] == "phase" and e["status"] == "ok" for e in events)


def test_resume_and_templates_copy_as_json_events(timed_cloud, run_prism, monkeypatch):
    timed_cloud.faults.inject("CopyImage", region="us-east-2", code="InvalidRequest",
                              message="copy refused", status=400)
    first = run_prism("save", "box", "env", "--copy-to-regions", "us-east-2", "--no-reboot",
                      "--yes", "--progress", "json")
    assert first.exit_code == 3, first.stderr
    events = _events(first.stderr)
    assert events[-1]["exit_code"] == 3
    assert any(e["event"] == "phase" and e["status"] == "failed" for e in events)

    monkeypatch.setenv("PRISM_PROGRESS", "json")  # the variable sets the default
    resumed = run_prism("save", "--resume", "--yes", "-o", "json")
    assert resumed.exit_code == 0, resumed.stderr
    json.loads(resumed.stdout)
    percents = _percent_by_resource(_events(resumed.stderr))
    assert [values[-1] for values in percents.values()] == [100], percents

    copied = run_prism("templates", "copy", "env@1", "--to-regions", "us-west-1", "--yes",
                       "-o", "json")
    assert copied.exit_code == 0, copied.stderr
    json.loads(copied.stdout)
    events = _events(copied.stderr)
    (values,) = _percent_by_resource(events).values()
    assert values == sorted(values) and values[-1] == 100
    assert {e["region"] for e in events if e["event"] == "progress"} == {"us-west-1"}


def test_errors_and_warnings_are_events(prism_sandbox, run_prism):
    result = run_prism("save", "no-such-box", "env", "--yes", "--progress", "json")
    assert result.exit_code == 2
    events = _events(result.stderr)
    assert events[-2]["event"] == "error" and "no-such-box" in events[-2]["message"]
    assert events[-1] == {**events[-1], "event": "done", "exit_code": 2}


def test_progress_none_prints_no_progress(timed_cloud, run_prism):
    result = run_prism("save", "box", "env", "--no-reboot", "--yes", "-o", "json",
                       "--progress", "none")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "", result.stderr
    assert json.loads(result.stdout)["exit_code"] == 0
    text = run_prism("save", "box", "env", "--no-reboot", "--yes")
    assert "Creating AMI" in text.stderr  # text stays the default


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_a_bad_value_is_refused_in_one_line(prism_sandbox, run_prism, monkeypatch, how):
    prism_sandbox.create_instance("box")
    if how == "flag":
        result = run_prism("save", "box", "env", "--yes", "--progress", "xml")
    else:
        monkeypatch.setenv("PRISM_PROGRESS", "xml")
        result = run_prism("save", "box", "env", "--yes")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "xml" in lines[0], result.stderr
    assert "--progress" in lines[0] or "PRISM_PROGRESS" in lines[0]
    assert prism_sandbox.own_images() == []


def test_launch_as_json_events(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    assert run_prism("save", "box", "env", "--yes").exit_code == 0
    result = run_prism("launch", "env", "new-box", "--yes", "-o", "json", "--progress", "json")
    assert result.exit_code == 0, result.stderr
    json.loads(result.stdout)
    events = _events(result.stderr)
    assert any(e["event"] == "phase" for e in events), events
    assert events[-1]["exit_code"] == 0


def test_batch_events_name_their_save(prism_sandbox, run_prism, tmp_path):
    prism_sandbox.create_instance("a")
    prism_sandbox.create_instance("b")
    batch = tmp_path / "batch.yaml"
    batch.write_text("- {instance: a, template: ta}\n"
                     "- {instance: b, template: tb, copy_to_regions: us-east-2}\n")
    result = run_prism("save", "--batch", str(batch), "--yes", "-o", "json",
                       "--progress", "json")
    assert result.exit_code == 0, result.stderr
    json.loads(result.stdout)
    events = _events(result.stderr)
    finished = {(e.get("template"), e["phase"]) for e in events
                if e["event"] == "progress" and e["percent"] == 100}
    assert finished == {("ta", "image"), ("tb", "image"), ("tb", "copy")}, finished
