"""Unit layer: the whole save pipeline (``pipeline.execute``) in milliseconds, through
in-memory fakes of its collaborators (tests/unit/pipeline_fakes.py): every phase of the
table failing by its row's policy, interrupted, and resumed after; plugins raising
``SystemExit``; the wait schedule passed down; the pre-flight provider check.

What only the wire can prove (AWS errors, throttling, real signals and ``kill -9``, the
CLI's exit codes and messages) stays in the end-to-end suite (tests/test_fault_matrix.py,
tests/test_interrupts.py, tests/test_plugin_failures.py, tests/test_phase_providers.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from hostile_plugins import ERRORS, raising
from pipeline_fakes import INSTANCE, SOURCE, Save, instance_down, new_save

from prism_core import hookimpl
from prism_core.aws.tags import LOCK_TAG
from prism_core.aws.waiting import WaitSchedule
from prism_core.exceptions import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_REFUSED,
    InputError,
    Interrupted,
    PluginRefusal,
    Terminated,
)
from prism_core.save import phases, pipeline
from prism_core.save.phase_providers import check_providers
from prism_core.settings import DEFAULT_TIMEOUTS

COPY = "us-east-2"
EXECUTED = [p.name for p in phases.EXECUTED]
HOOK = {p.name: p.hook for p in phases.EXECUTED}
POLICY = {p.name: p.on_failure for p in phases.EXECUTED}


def execute(save: Save, **kwargs: Any) -> pipeline.SaveOutcome:
    return pipeline.execute(save.ctx, save.hooks, guard=save.guard, clock=save.clock, **kwargs)


def hooks_called(save: Save) -> list[str]:
    return [entry for entry in save.log if entry.startswith("prism_")]


def steps_run(save: Save) -> list[str]:
    """The phase hooks called but the template's renderer (the document is rendered once
    per set of images and journaled: a resumed save renders again only if they changed)."""
    return [hook for hook in hooks_called(save) if hook != "prism_template_render"]


def hooks_from(phase: str) -> list[str]:
    """The phase hooks of ``phase`` and every later row, in order."""
    return [h for h in (HOOK[p] for p in EXECUTED[EXECUTED.index(phase):]) if h]


def fail_in(save: Save, phase: str, exc: BaseException) -> dict[str, Any] | None:
    """Make ``phase`` raise ``exc``: its plugin (a hook row) or its step (prism core);
    the ``steps`` to pass to ``execute`` (``None``: the table's own)."""
    if HOOK[phase]:
        save.plugin.raises[str(HOOK[phase])] = exc
        return None

    def failing(ctx: Any, hooks: Any, guard: Any) -> None:
        save.log.append(phase)
        raise exc

    return {**pipeline.STEPS, phase: failing}


def assert_lock_released(save: Save) -> None:
    """No save lock or version claim is left in SSM, no lock tag on the instance."""
    assert not any(save.cloud.parameters.values()), save.cloud.parameters
    assert LOCK_TAG not in save.cloud.tags.get(INSTANCE, {})
    assert save.ctx.state.lock is None


# -- the whole table ----------------------------------------------------------------------
def test_a_save_runs_the_table_in_order_and_ends_clean(tmp_path) -> None:
    save = new_save(tmp_path, copies=(COPY,))
    outcome = execute(save)
    assert outcome.exit_code == EXIT_OK, save.ctx.state.failures
    assert save.log == [
        "guard.prepare", "guard.stop", "guard.begin_reboot", "prism_image", "guard.restart",
        "guard.confirm_reboot", "prism_post_image", "prism_copy", "prism_register",
        "prism_template_render", "guard.join",
    ]
    assert save.ctx.state.phases_done == EXECUTED
    assert not instance_down(save.ctx.state)
    assert_lock_released(save)
    assert not save.journal.kept  # done: nothing to resume
    assert (tmp_path / "templates" / "env1.yaml").exists()
    assert set(outcome.to_dict()["amis"]) == {SOURCE, COPY}
    # the lock is taken (SSM, conditional) and tagged before the first change
    assert save.cloud.actions()[:2] == ["PutParameter", "CreateTags"]


# -- a failure in each phase, as its row says ------------------------------------------------
@pytest.mark.parametrize("phase", EXECUTED)
def test_a_failure_in_each_phase_follows_its_rows_policy_then_resume_finishes(
    tmp_path, phase
) -> None:
    save = new_save(tmp_path, copies=(COPY,))
    steps = fail_in(save, phase, RuntimeError("boom"))
    outcome = execute(save, steps=steps)
    state = save.ctx.state
    where = " (plugin fake-ec2)" if HOOK[phase] else ""
    assert f"{phase} phase failed{where}: boom" in state.failures
    assert not instance_down(state)  # whatever failed, the instance is up
    assert state.lock is None and LOCK_TAG not in save.cloud.tags.get(INSTANCE, {})
    assert phase not in state.phases_done
    policy = POLICY[phase]
    later = hooks_from(phase)[1:] if HOOK[phase] else hooks_from(phase)
    if policy == phases.FAIL_SAVE:  # the image: nothing else runs, nothing is left
        assert outcome.exit_code == EXIT_FAILURE
        assert "guard.restart_after_failure" in save.log
        assert not set(later) & set(hooks_called(save))
        assert not save.journal.kept and save.cloud.live_images() == []
        assert_lock_released(save)
        return
    if policy == phases.FAIL_SAVE_IF_UNUSABLE:  # the image never became available
        assert outcome.exit_code == EXIT_FAILURE
        assert not set(later) & set(hooks_called(save))
        assert state.status == "failed"
    else:  # recorded: the later phases still ran
        assert policy == phases.RECORD
        if later:
            assert hooks_called(save)[-len(later):] == later
        written = phase != "template"
        assert outcome.exit_code == (EXIT_PARTIAL if written else EXIT_FAILURE)
        assert (tmp_path / "templates" / "env1.yaml").exists() is written
    assert save.journal.kept  # kept for --resume
    # the cause gone, --resume runs that phase again and every later one, nothing before
    save.plugin.raises.clear()
    save.log.clear()
    resumed = save.resumed()
    assert execute(resumed).exit_code == EXIT_OK, resumed.ctx.state.failures
    assert steps_run(resumed) == [h for h in hooks_from(phase) if h != "prism_template_render"]
    assert len(save.cloud.live_images()) == 1  # no second image
    assert resumed.ctx.state.phases_done == EXECUTED
    assert_lock_released(resumed)
    assert (tmp_path / "templates" / "env1.yaml").exists()


# -- Ctrl-C or SIGTERM in each phase, then --resume after the phases done -------------------
INTERRUPTS = {"ctrl-c": (KeyboardInterrupt, "Ctrl-C"), "sigterm": (Terminated, "signal SIGTERM")}


@pytest.mark.parametrize("interrupt", list(INTERRUPTS))
@pytest.mark.parametrize("phase", EXECUTED)
def test_an_interrupt_in_each_phase_leaves_the_instance_up_and_resume_finishes(
    tmp_path, phase, interrupt
) -> None:
    save = new_save(tmp_path, copies=(COPY,))
    kind, said = INTERRUPTS[interrupt]
    steps = fail_in(save, phase, Terminated(15) if kind is Terminated else KeyboardInterrupt())
    with pytest.raises(Interrupted) as caught:
        execute(save, steps=steps)
    assert f"interrupted by {said}" in str(caught.value)
    assert save.ctx.cancel.is_set()  # the other threads' waits stop too
    state = save.ctx.state
    assert not instance_down(state)
    assert state.lock is None and LOCK_TAG not in save.cloud.tags.get(INSTANCE, {})
    if phase == "image":  # before CreateImage: nothing created, nothing to resume
        assert "before anything was created" in str(caught.value)
        assert not save.journal.kept
        assert_lock_released(save)  # the version claims too
        return
    assert "finish with `prism save --resume`" in caught.value.hint
    assert state.status == "interrupted"
    done = EXECUTED[: EXECUTED.index(phase)]
    assert [p for p in state.phases_done if p in done] == done
    save.plugin.raises.clear()
    save.log.clear()
    resumed = save.resumed()
    outcome = execute(resumed)
    assert outcome.exit_code == EXIT_OK, resumed.ctx.state.failures
    # the image is done: only a down instance would be brought back; the rest runs once
    assert resumed.log[0] == "guard.restart_after_failure"
    assert steps_run(resumed) == [h for h in hooks_from(phase) if h != "prism_template_render"]
    assert "prism_image" not in hooks_called(resumed)
    assert len(save.cloud.live_images()) == 1 and len(save.cloud.live_images(COPY)) == 1
    assert_lock_released(resumed)
    assert not resumed.journal.kept


def test_an_interrupt_while_create_image_answers_finds_the_image_by_name(tmp_path) -> None:
    """EC2 made the image, Ctrl-C came before its id: the image is found by its name and
    recorded, so --resume adopts it (no second image)."""
    save = new_save(tmp_path)
    save.plugin.raises["prism_image:answer-lost"] = KeyboardInterrupt()
    with pytest.raises(Interrupted) as caught:
        execute(save)
    (image_id,) = save.cloud.live_images()
    assert image_id in str(caught.value)
    assert save.ctx.state.images[SOURCE].image_id == image_id
    assert not instance_down(save.ctx.state)
    save.plugin.raises.clear()
    resumed = save.resumed()
    assert execute(resumed).exit_code == EXIT_OK
    assert save.cloud.live_images() == [image_id]


# -- plugins that try to end prism ------------------------------------------------------------
@pytest.mark.parametrize("error", ["exit-0", "exit-none", "exit-text", "base-exception"])
@pytest.mark.parametrize("hook", phases.PHASE_HOOKS)
def test_a_base_exception_in_a_phase_hook_fails_it_naming_the_plugin(
    tmp_path, hook, error
) -> None:
    """SystemExit (even 0) or another BaseException from a hook never ends a save with
    exit 0: the phase fails by its row's policy, naming the plugin; the instance is up."""
    save = new_save(tmp_path, copies=(COPY,), plugins=(("hostile", raising(hook, error)),))
    kind = type(ERRORS[error]).__name__
    if hook == "prism_pre_stop":
        with pytest.raises(PluginRefusal) as caught:
            pipeline.preflight(save.ctx, save.hooks)
        assert caught.value.exit_code == EXIT_REFUSED
        assert f"plugin hostile raised {kind}" in str(caught.value)
        assert save.cloud.calls == []  # refused before anything changed
        return
    outcome = execute(save)
    assert outcome.exit_code in (EXIT_FAILURE, EXIT_PARTIAL)
    assert any(f"plugin hostile raised {kind}" in f for f in save.ctx.state.failures)
    assert not instance_down(save.ctx.state)
    assert save.ctx.state.lock is None


# -- the template phase ----------------------------------------------------------------------
def test_an_unwritable_template_folder_fails_the_save_then_resume_writes_it(tmp_path) -> None:
    """(From the e2e fault matrix: a local file, no wire behaviour.)"""
    save = new_save(tmp_path)
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "templates").write_text("not a directory")
    outcome = execute(save)
    assert outcome.exit_code == EXIT_FAILURE
    assert any("cannot write the template" in f for f in save.ctx.state.failures)
    assert outcome.to_dict()["amis"][SOURCE]  # reported, recorded, resumable
    assert not instance_down(save.ctx.state)
    (tmp_path / "templates").unlink()
    resumed = save.resumed()
    assert execute(resumed).exit_code == EXIT_OK
    assert hooks_called(resumed)[-1] == "prism_template_render"
    assert (tmp_path / "templates" / "env1.yaml").exists()


def test_a_template_rendered_under_another_name_is_not_written(tmp_path) -> None:
    """(From the e2e plugin failures: the template step's own check.)"""

    class Renamer:
        @hookimpl(tryfirst=True)
        def prism_template_render(self, ctx: Any) -> dict[str, Any]:
            amis = {r: {"x86_64": i.image_id} for r, i in ctx.images().items()}
            return {"name": "victim", "description": "x", "base": "ami-based",
                    "ami_config": {"amis": amis}}

    save = new_save(tmp_path, plugins=(("renamer", Renamer()),))
    (tmp_path / "templates").mkdir(parents=True)
    (tmp_path / "templates" / "victim.yaml").write_text("precious: true\n")
    outcome = execute(save)
    assert outcome.exit_code == EXIT_FAILURE
    assert any("named 'victim'" in f for f in save.ctx.state.failures)
    assert (tmp_path / "templates" / "victim.yaml").read_text() == "precious: true\n"
    assert not (tmp_path / "templates" / "env1.yaml").exists()


# -- the wait schedule is the pipeline's to pass ---------------------------------------------
def test_the_waits_follow_the_schedule_the_pipeline_is_given(tmp_path) -> None:
    class Slow:
        @hookimpl(tryfirst=True)
        def prism_post_image(self, ctx: Any) -> None:
            ctx.wait(lambda: None, what="the image", limit="image", steady=True)

    save = new_save(tmp_path, plugins=(("slow", Slow()),))
    waits = WaitSchedule(poll=10.0, limits={**DEFAULT_TIMEOUTS, "image": 60.0})
    outcome = execute(save, waits=waits)
    assert outcome.exit_code == EXIT_FAILURE  # the image never became usable
    assert any("timed out after 60s waiting for the image" in f for f in save.ctx.state.failures)
    assert save.clock.pauses == [10.0] * 6  # one poll in, then one per poll: no back-off
    assert outcome.elapsed == 60.0  # the save's clock is the one given
    assert save.progress.waits == ["the image"]
    assert not instance_down(save.ctx.state)


# -- pre-flight: every phase the request needs has a provider -------------------------------
@pytest.mark.parametrize("mode", ["stop", "reboot", "no-reboot"])
@pytest.mark.parametrize(
    ("hook", "builtin", "copies"),
    [("prism_image", "ec2-image", ()), ("prism_template_render", "yaml-template", ()),
     ("prism_copy", "ec2-copy", (COPY,))],
)
def test_a_phase_without_provider_is_refused_before_any_call(
    tmp_path, mode, hook, builtin, copies
) -> None:
    """(From the e2e phase-provider matrix: the check is the same in every image mode.)"""
    save = new_save(tmp_path, copies=copies, mode=mode, without=(hook,))
    save.hooks.blocked = [builtin]
    with pytest.raises(InputError) as caught:
        pipeline.preflight(save.ctx, save.hooks)
    assert f"({hook}): its built-in plugin {builtin} is blocked by PRISM_DISABLE_PLUGINS" in str(
        caught.value
    )
    assert "nothing was changed" in str(caught.value)
    assert save.cloud.calls == [] and save.log == []
    assert not save.journal.kept


def test_a_phase_the_request_does_not_need_may_lack_a_provider(tmp_path) -> None:
    save = new_save(tmp_path, without=("prism_copy",))
    check_providers(save.ctx, save.hooks)  # no copy regions: no copy provider needed
    assert execute(save).exit_code == EXIT_OK
