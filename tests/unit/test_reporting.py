"""The engine's progress protocol: the CLI's Progress (and a batch save's labelled one)
and the silent reporter of the scheduled save implement every method of it."""

from __future__ import annotations

import inspect
import io

import pytest

from prism_core.cli.progress import LabelledProgress, Progress
from prism_core.reporting import NullReporter, ProgressReporter, format_duration

METHODS = ("line", "blank", "waiting", "reading", "finished")


def _accepts(implementation: inspect.Signature, protocol: inspect.Signature) -> bool:
    """Whether every parameter of the protocol's method is one the implementation takes."""
    params = implementation.parameters
    keywords = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for name, wanted in protocol.parameters.items():
        given = params.get(name)
        if given is None:
            if not (keywords and wanted.kind is wanted.KEYWORD_ONLY):
                return False
        elif given.kind is not wanted.kind and not (
            wanted.kind is wanted.KEYWORD_ONLY and given.kind is given.POSITIONAL_OR_KEYWORD
        ):
            return False
    return True


@pytest.mark.parametrize("reporter", [Progress, LabelledProgress, NullReporter])
def test_reporters_implement_the_protocol(reporter):
    assert set(METHODS) == {
        name for name in vars(ProgressReporter) if not name.startswith("_")
    }
    for name in METHODS:
        method = getattr(reporter, name)
        assert callable(method), name
        assert _accepts(inspect.signature(method), inspect.signature(
            getattr(ProgressReporter, name))), f"{reporter.__name__}.{name}"


def test_the_null_reporter_shows_nothing_and_waits_quietly():
    reporter = NullReporter()
    reporter.line("save", "Saving")
    reporter.blank()
    reporter.reading("45%", {"percent": 45})
    reporter.finished("ami-1", "done", phase="image")
    with reporter.waiting("the image", resource="ami-1", phase="image") as tick:
        tick(1.5)


def test_a_labelled_progress_labels_its_lines():
    stream = io.StringIO()
    labelled = LabelledProgress(Progress(stream, live=False), "lab")
    labelled.line("info", "Planned")
    assert stream.getvalue().endswith("[lab] Planned\n")


def test_durations():
    assert format_duration(0.44) == "0.4s"
    assert format_duration(75) == "1m 15s"
    assert format_duration(3725) == "1h 2m 5s"
