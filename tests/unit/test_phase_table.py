"""Unit layer: the save's phase table and the loop that runs it (no sandbox, no AWS).

``execute`` runs :data:`prism_core.save.phases.EXECUTED` through ``_run_phases``; here
its steps are recorders, so order, failure policy and resume behaviour are checked in
milliseconds."""

from __future__ import annotations

import inspect
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from prism_core import hookspecs
from prism_core.exceptions import ValidationFailed
from prism_core.save import phases, pipeline

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
ORDER = ["image", "post_image", "scrub", "copy", "fast_restore", "register", "template"]


class Ctx:
    """What ``_run_phases`` reads of a save context."""

    def __init__(self, done: list[str] | None = None) -> None:
        self.state = SimpleNamespace(phases_done=list(done or []), failures=[])
        self.cancel = threading.Event()
        self.source = SimpleNamespace(ok=True)

    def record(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self.state, key, value)

    def source_image(self) -> Any:
        return self.source


class Preload:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def join(self) -> None:
        self.log.append("preload joined")


@pytest.fixture
def run(monkeypatch):
    """``run(ctx, raises={phase: exc}, records={phase})`` -> (calls, result)."""

    def go(ctx: Ctx, raises: dict[str, BaseException] | None = None,
           records: set[str] | None = None) -> tuple[list[str], Any]:
        calls: list[str] = []

        def step(name: str):
            def run_step(ctx: Ctx, hooks: Any, guard: Any) -> None:
                calls.append(name)
                if name == "image" and "image" not in ctx.state.phases_done:
                    ctx.record(phases_done=[*ctx.state.phases_done, "image"])
                if name in (records or set()):
                    ctx.state.failures.append(f"{name} went wrong")
                if name in (raises or {}):
                    raise (raises or {})[name]

            return run_step

        monkeypatch.setattr(pipeline, "STEPS", {n: step(n) for n in pipeline.STEPS})
        monkeypatch.setattr(pipeline, "start_preload", lambda ctx: Preload(calls))
        monkeypatch.setattr(
            pipeline, "_failed", lambda ctx, hooks, guard, exc, phase, started: f"failed:{phase}"
        )
        monkeypatch.setattr(
            pipeline, "_fail", lambda ctx, hooks, exc, phase: ctx.state.failures.append(phase)
        )
        return calls, pipeline._run_phases(ctx, None, None, 0.0)

    return go


def test_the_table_is_the_order_prism_has_always_had() -> None:
    assert [p.name for p in phases.PHASES] == ["pre_stop", *ORDER]
    assert phases.PHASE_HOOKS == (
        "prism_pre_stop", "prism_image", "prism_post_image", "prism_copy",
        "prism_register", "prism_template_render",
    )
    assert [p.name for p in phases.EXECUTED] == ORDER
    assert phases.AFTER_IMAGE_HOOKS == phases.PHASE_HOOKS[2:]


def test_every_row_has_a_hook_of_hookspecs_in_source_order_and_a_step() -> None:
    lines = [inspect.getsourcelines(getattr(hookspecs, h))[1] for h in phases.PHASE_HOOKS]
    assert lines == sorted(lines)
    assert set(pipeline.STEPS) == {p.name for p in phases.EXECUTED}
    assert len({p.name for p in phases.PHASES}) == len(phases.PHASES)


def test_failure_and_resume_policies() -> None:
    policy = {p.name: (p.on_failure, p.on_resume) for p in phases.PHASES}
    assert policy["pre_stop"] == (phases.REFUSE, phases.RECHECK)
    assert policy["image"] == (phases.FAIL_SAVE, phases.RESTORE_IF_DONE)
    assert policy["post_image"] == (phases.FAIL_SAVE_IF_UNUSABLE, phases.SKIP_IF_DONE)
    for name in ("scrub", "copy", "fast_restore", "register", "template"):
        assert policy[name] == (phases.RECORD, phases.SKIP_IF_DONE), name
    assert [p.name for p in phases.PHASES if p.late] == ["register", "template"]


def test_hooks_sort_in_phase_order_then_alphabetically() -> None:
    hooks = ["prism_settings", "prism_template_render", "prism_add_options", "prism_image"]
    assert sorted(hooks, key=phases.hook_rank) == [
        "prism_image", "prism_template_render", "prism_add_options", "prism_settings",
    ]


def test_docs_hold_the_generated_table() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    assert phases.markdown_table() in text, "run `python -m prism_core.save.phases`"


def test_a_new_save_runs_every_phase_in_order(run) -> None:
    ctx = Ctx()
    calls, result = run(ctx)
    assert result is None
    assert calls == [*ORDER[:5], "preload joined", "register", "template"]
    assert ctx.state.phases_done == ORDER


def test_resume_skips_what_is_done_and_restores_the_instance(run) -> None:
    ctx = Ctx(["image", "post_image", "scrub", "copy"])
    calls, _ = run(ctx)
    # the image step runs to bring the instance back; it decides itself
    assert [c for c in calls if c != "preload joined"] == [
        "image", "fast_restore", "register", "template"
    ]


def test_once_a_phase_runs_again_every_later_phase_runs_too(run) -> None:
    ctx = Ctx(["image", "post_image", "scrub", "register", "template"])
    calls, _ = run(ctx)
    assert [c for c in calls if c != "preload joined"] == [
        "image", "copy", "fast_restore", "register", "template"
    ]


def test_image_failure_ends_the_save(run) -> None:
    calls, result = run(Ctx(), raises={"image": RuntimeError("no")})
    assert result == "failed:image" and calls == ["image"]


def test_post_image_failure_ends_the_save_only_if_the_image_is_unusable(run) -> None:
    ctx = Ctx()
    calls, result = run(ctx, raises={"post_image": RuntimeError("share refused")})
    assert result is None and calls[-1] == "template"
    assert "post_image" not in ctx.state.phases_done and "post_image" in ctx.state.failures
    ctx = Ctx()
    ctx.source = SimpleNamespace(ok=False)
    _, result = run(ctx, raises={"post_image": RuntimeError("image failed")})
    assert result == "failed:post_image"
    _, result = run(Ctx(), raises={"post_image": ValidationFailed("boot check failed")})
    assert result == "failed:post_image"


def test_a_recorded_failure_lets_later_phases_run_and_is_not_done(run) -> None:
    ctx = Ctx()
    calls, result = run(ctx, raises={"copy": RuntimeError("copy")}, records={"register"})
    assert result is None and calls[-1] == "template"
    assert ctx.state.phases_done == ["image", "post_image", "scrub", "fast_restore", "template"]


def test_a_cancelled_batch_save_stops_before_the_next_phase(run) -> None:
    ctx = Ctx(["image"])
    ctx.cancel.set()
    with pytest.raises(KeyboardInterrupt):
        run(ctx)
