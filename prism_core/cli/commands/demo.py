"""``prism demo``: the whole workflow on an embedded sandbox cloud, no AWS account.

The steps run the real commands in-process (``app.run_nested``: the same ``main`` as
``prism``) with the environment pointing at a sandbox on loopback and a temporary
``PRISM_HOME``; the user's own AWS configuration and templates are never read or written.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.output import DEBUG_ARGUMENT
from prism_core.cli.progress import format_duration, wants_emoji

WORKSTATION, TEMPLATE, NEW_INSTANCE = "my-analysis", "seismic-env", "aftershock-prediction"
DESCRIPTION = "Seismic ML environment (saved by prism demo)"


def demo_steps() -> list[tuple[str, list[str]]]:
    """(framing line, prism arguments) for each step."""
    return [
        (
            f"launching a workstation '{WORKSTATION}' from the built-in template python-ml",
            ["launch", "python-ml", WORKSTATION, "--yes"],
        ),
        (
            f"saving '{WORKSTATION}' (imagine it customised for days) as template '{TEMPLATE}'",
            [
                "save",
                WORKSTATION,
                TEMPLATE,
                "--description",
                DESCRIPTION,
                "--copy-to-regions",
                "us-east-2,us-west-1",
                "--project",
                "quake-study",
                "--tag",
                "team=geophysics",
                "--tag",
                "purpose=demo",
                "--yes",
            ],
        ),
        (
            f"launching a new workstation '{NEW_INSTANCE}' from the saved template",
            ["launch", TEMPLATE, NEW_INSTANCE, "--yes"],
        ),
        (f"the template '{TEMPLATE}': versions, regions and AMIs", ["templates", "show", TEMPLATE]),
        (
            "deploying the save engine (AWS Step Functions) into the account",
            ["cloud", "setup", "--yes"],
        ),
        (
            f"saving '{WORKSTATION}' again, detached: the engine finishes it in the account",
            ["save", WORKSTATION, TEMPLATE, "--copy-to-regions", "us-east-2,us-west-1",
             "--detach", "--yes"],
        ),
        ("following the detached save until it is done", ["saves", "follow"]),
    ]


def _display(args: list[str]) -> str:
    import shlex

    return "prism " + " ".join(shlex.quote(a) for a in args)


class _Narrator:
    """Framing lines between the steps, on stderr with the progress lines."""

    def __init__(self) -> None:
        self.emoji = wants_emoji(sys.stderr)

    def say(self, text: str = "", icon: str = "") -> None:
        sys.stdout.flush()
        prefix = f"{icon} " if icon and self.emoji else ""
        sys.stderr.write(prefix + text + "\n")
        sys.stderr.flush()


def _run_steps(
    main: Callable[[list[str]], int],
    steps: list[tuple[str, list[str]]],
    extra: list[str],
    narrator: _Narrator,
) -> int:
    """Run each step's prism command in-process; stop at the first that fails."""
    for number, (text, args) in enumerate(steps, 1):
        narrator.say()
        narrator.say(f"Step {number}/{len(steps)}: {text}...", "👉")
        narrator.say(f"   $ {_display(args)}")
        narrator.say()
        code = int(main(args + extra) or 0)
        sys.stdout.flush()
        if code != 0:
            narrator.say()
            narrator.say(
                f"prism demo: step {number} failed (exit code {code}); "
                "the sandbox cloud is stopped",
                "❌",
            )
            return code
    return 0


def run_demo(app: Any) -> int:
    """The ``prism demo`` command body; returns the exit code."""
    from prism_sandbox import require_sandbox

    require_sandbox()
    from prism_sandbox.environment import isolated_environ, sandbox_variables

    pargs = app.pargs
    fast = bool(pargs.fast)
    narrator = _Narrator()
    started = time.monotonic()
    extra = ["--debug"] if pargs.debug else []
    with tempfile.TemporaryDirectory(prefix="prism-demo-") as scratch:
        # Isolate first: even the sandbox's own boto3 clients must not see the
        # user's AWS profile, config files or endpoints.
        wanted = sandbox_variables("http://127.0.0.1:0", Path(scratch))
        wanted["PRISM_HOME"] = str(Path(scratch) / "home")
        wanted["PRISM_POLL_DELAY_SECONDS"] = "0.01" if fast else "0.5"
        if not pargs.with_plugins:  # an institution's policy must not refuse the demo
            from prism_core.plugin_manager import installed_plugin_names

            wanted["PRISM_DISABLE_PLUGINS"] = ",".join(installed_plugin_names())
        with isolated_environ(wanted):
            from prism_core.cli.sandbox_seed import publish_public_images
            from prism_sandbox import Sandbox, Timings

            sandbox = Sandbox(Timings.fast() if fast else Timings.demo())
            sandbox.start()
            try:
                os.environ["AWS_ENDPOINT_URL"] = sandbox.endpoint
                narrator.say(f"prism demo: a sandbox cloud is running at {sandbox.endpoint}", "🧪")
                narrator.say(
                    "   (emulated EC2 and SSM on this machine: no AWS account, no "
                    "network; your AWS configuration and templates are not touched)"
                )
                sandbox.reset()
                publish_public_images(sandbox)
                code = _run_steps(app.run_nested, demo_steps(), extra, narrator)
            finally:
                sandbox.stop()
    if code != 0:
        return code
    narrator.say()
    narrator.say(
        f"Demo finished in {format_duration(time.monotonic() - started)}; the sandbox "
        "cloud is stopped and its files are removed.",
        "🎉",
    )
    narrator.say('   Try it by hand:  prism sandbox start && eval "$(prism sandbox env)"')
    narrator.say(f"                    prism save {WORKSTATION} my-env --yes")
    narrator.say("   With your AWS account:  prism save INSTANCE TEMPLATE")
    return 0


class Demo(Controller):
    """``prism demo``: embedded in the base controller."""

    class Meta:
        label = "demo_command"
        stacked_on = "base"
        stacked_type = "embedded"

    @ex(
        label="demo",
        help="the whole workflow on an embedded sandbox cloud (no AWS account, no network)",
        description="Start a sandbox cloud on loopback, launch a workstation from a built-in "
        "template, save it as a template (two copy regions, a project, tags), launch a new "
        "workstation from it, deploy the save engine and detach a second save, then stop the "
        "sandbox. Needs the sandbox extra: "
        "pip install 'prism-cloud[sandbox]'.",
        arguments=[
            (["--fast"], {"action": "store_true", "help": "make every cloud transition instant"}),
            (
                ["--with-plugins"],
                {
                    "action": "store_true",
                    "help": "also run the installed third-party plugins (default: built-ins only)",
                },
            ),
            DEBUG_ARGUMENT,
        ],
    )
    def demo(self) -> None:
        """``prism demo [--fast]``."""
        self.app.exit_code = run_demo(self.app)
