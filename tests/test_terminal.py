"""The wizard and the confirmation, driven in a real pseudo-terminal (pexpect)."""

from __future__ import annotations

import os
from pathlib import Path

import pexpect
import pytest

from prism_core.testing import prism_argv

ENTER, CTRL_C, CTRL_D, DOWN, SPACE = "\r", "\x03", "\x04", "\x1b[B", " "
TIMEOUT = 30


def spawn(*args: str, env: dict[str, str] | None = None) -> pexpect.spawn:
    env = dict(os.environ if env is None else env)
    env.update(PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm", LANG="C.UTF-8", PYTHONUTF8="1")
    env.pop("NO_COLOR", None)
    # the test's own plugin selection (the prism_only_plugins fixture) applies here too
    command = prism_argv(*args)
    return pexpect.spawn(
        command[0],
        command[1:],
        env=env,
        dimensions=(40, 120),
        encoding="utf-8",
        timeout=TIMEOUT,
    )


def finish(child: pexpect.spawn) -> tuple[int, str]:
    child.expect(pexpect.EOF, timeout=60)
    child.close()
    return child.exitstatus, child.before


_BOX: dict[str, object] = {}


def _exists(sandbox, instance_id: str) -> bool:
    try:
        return sandbox.instance_state(instance_id) == "running" and not sandbox.own_images()
    except Exception:
        return False


@pytest.fixture
def box(prism_sandbox_server, tmp_path_factory):
    """A running instance "box" shared by the tests that must change nothing.

    Those tests assert that nothing changed, so one instance serves them all; it is
    made again if another test reset the sandbox.
    """
    from prism_core.testing import SandboxFixture
    from prism_sandbox import Timings

    sandbox = SandboxFixture(prism_sandbox_server)  # its readers, on a sandbox kept between tests
    instance_id = _BOX.get("id")
    if not isinstance(instance_id, str) or not _exists(sandbox, instance_id):
        sandbox.timings = Timings.fast()
        sandbox.reset()
        instance_id = sandbox.create_instance("box")
        aws = tmp_path_factory.mktemp("aws-config")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PRISM_"))}
        env.update(sandbox.env())
        env.update(
            PRISM_HOME=str(tmp_path_factory.mktemp("prism-home")),
            PRISM_POLL_DELAY_SECONDS="0.01",
            AWS_CONFIG_FILE=str(aws / "none"),
            AWS_SHARED_CREDENTIALS_FILE=str(aws / "none"),
        )
        _BOX.update(id=instance_id, env=env)
    return sandbox, instance_id, _BOX["env"]


# The wizard's prompts in order, with the keys that answer each one.
WIZARD = [
    ("Which instance", ENTER),
    ("Template name", "seismic-env" + ENTER),
    ("Description", "Seismic ML" + ENTER),
    ("Copy the image", ENTER),
    ("Project", ENTER),
    ("Who may launch", ENTER),
    ("Continue?", "y"),
]


@pytest.mark.parametrize("key", [CTRL_C, CTRL_D], ids=["ctrl-c", "ctrl-d"])
@pytest.mark.parametrize("stop_at", range(len(WIZARD)), ids=[p for p, _ in WIZARD])
def test_cancel_at_each_wizard_prompt_changes_nothing(box, stop_at, key):
    sandbox, instance_id, env = box
    child = spawn("save", env=env)
    for prompt, answer in WIZARD[:stop_at]:
        child.expect_exact(prompt)
        child.send(answer)
    child.expect_exact(WIZARD[stop_at][0])
    child.send(key)
    code, output = finish(child)
    assert code == 2, output
    assert "Traceback" not in output
    assert "nothing was changed" in output
    assert sandbox.instance_state(instance_id) == "running"
    assert sandbox.own_images() == []


@pytest.mark.parametrize("key", ["n", ENTER, CTRL_C, CTRL_D], ids=["no", "default", "c-c", "c-d"])
def test_confirmation_refused_changes_nothing(box, key):
    sandbox, instance_id, env = box
    child = spawn("save", "box", "env1", env=env)
    child.expect_exact("The instance will reboot once")
    child.expect_exact("Continue?")
    child.expect_exact("(y/N)")
    child.send(key)
    code, output = finish(child)
    assert code == 2, output
    assert "cancelled, nothing was changed" in output
    assert "Traceback" not in output
    assert sandbox.instance_state(instance_id) == "running"
    assert sandbox.own_images() == []


def test_a_hidden_plan_is_never_asked_to_be_confirmed(box):
    """`--progress none` prints no plan: on a terminal prism refuses to ask for a
    confirmation of it (one line, exit 2) instead of asking blind."""
    sandbox, instance_id, env = box
    child = spawn("save", "box", "env1", "--progress", "none", env=env)
    code, output = finish(child)
    assert code == 2, output
    assert "--progress none hides the plan" in output and "--dry-run" in output
    assert "Continue?" not in output and "Traceback" not in output
    assert sandbox.instance_state(instance_id) == "running"
    assert sandbox.own_images() == []


def test_public_needs_a_second_yes(box):
    sandbox, instance_id, env = box
    child = spawn("save", "box", "env1", "--public", env=env)
    child.expect_exact("Continue?")
    child.send("y")
    child.expect_exact("PUBLIC")
    child.send("n")
    code, output = finish(child)
    assert code == 2, output
    assert sandbox.instance_state(instance_id) == "running"
    assert sandbox.own_images() == []


def test_full_wizard_run_saves(prism_sandbox):
    instance_id = prism_sandbox.create_instance("earthquake", tags={"prism:template": "python-ml"})
    prism_sandbox.create_instance("old-box", state="stopped")
    prism_sandbox.create_instance("gone", state="terminated")
    child = spawn("save", "--validate")  # flags given with the wizard are kept
    child.expect_exact("Which instance")
    child.expect_exact("python-ml")  # the template tag is listed
    child.expect_exact("old-box")
    child.send(ENTER)  # sorted by name: earthquake first
    child.expect_exact("Template name")
    child.send("bad name")
    child.expect_exact("invalid template name")
    child.send("\x7f" * 5 + "-env" + ENTER)
    child.expect_exact("is a new template")
    child.expect_exact("Description")
    child.send("Seismic ML" + ENTER)
    child.expect_exact("Copy the image")
    child.expect_exact("us-east-2")
    child.send(SPACE + ENTER)  # the first region in the list
    child.expect_exact("Project")
    child.send("quake-2024" + ENTER)
    child.expect_exact("Who may launch")
    child.send(DOWN + ENTER)
    child.expect_exact("Account ids")
    child.send("12345" + ENTER)
    child.expect_exact("not an account id")
    child.send("\x7f" * 5 + "111122223333" + ENTER)
    child.expect_exact("Storage:")
    child.expect_exact("upper bound")
    child.expect_exact("Validation:")
    child.expect_exact("WARNING")
    child.expect_exact("Continue?")
    child.send("y")
    child.expect_exact("Instance saved as AMI successfully", timeout=60)
    code, output = finish(child)
    assert code == 0, output
    assert "prism launch bad-env" in output
    template = Path(os.environ["PRISM_HOME"]) / "templates" / "bad-env.yaml"
    assert template.exists()
    assert "quake-2024" in template.read_text()
    assert prism_sandbox.instance_state(instance_id) == "running"
    [image_id] = [i["ImageId"] for i in prism_sandbox.own_images()]
    permissions = prism_sandbox.client("ec2").describe_image_attribute(
        ImageId=image_id, Attribute="launchPermission"
    )["LaunchPermissions"]
    assert {"UserId": "111122223333"} in permissions


def test_revoke_asks_on_a_terminal(prism_sandbox, run_prism):
    prism_sandbox.create_instance("lab")
    assert run_prism("save", "lab", "env1", "--yes").exit_code == 0
    ssm = prism_sandbox.client("ssm")

    def revoked() -> list[str]:
        found = ssm.get_parameters_by_path(Path="/prism/templates/env1/revoked")["Parameters"]
        return [p["Name"] for p in found]

    child = spawn("templates", "revoke", "env1@1", "--reason", "bad image")
    child.expect_exact("Revoke env1@1: bad image")
    child.expect_exact("Revoke env1@1?")
    child.send("n")
    code, output = finish(child)
    assert code == 2 and "cancelled, nothing was changed" in output
    assert revoked() == []
    child = spawn("templates", "revoke", "env1@1", "--reason", "bad image")
    child.expect_exact("Revoke env1@1?")
    child.send("y")
    code, output = finish(child)
    assert code == 0, output
    assert revoked() == ["/prism/templates/env1/revoked/1"]


@pytest.mark.parametrize("answer", ["n", "y"])
def test_allow_secrets_asks_on_a_terminal_even_with_yes(prism_sandbox, answer):
    """--allow-secrets --yes on a terminal: the question naming the secrets is still asked."""
    instance_id = prism_sandbox.create_instance("genomics-box", tree="genomics-box")
    child = spawn(
        "save",
        "genomics-box",
        "gen-env",
        "--share-with",
        "111122223333",
        "--allow-secrets",
        "--yes",
    )
    child.expect_exact("Share the image with 111122223333 although it holds 4 secret(s)")
    child.expect_exact("huggingface/token")  # the question names them
    child.expect_exact("(y/N)")
    child.send(answer)
    code, output = finish(child)
    if answer == "n":
        assert code == 2, output
        assert prism_sandbox.own_images() == []
    else:
        assert code == 0, output
        assert len(prism_sandbox.own_images()) == 1
    assert prism_sandbox.instance_state(instance_id) == "running"
