"""``prism sandbox start | stop | status | env``: a sandbox cloud in the background."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.layout import ListingHelpFormatter
from prism_core.cli.output import DEBUG_ARGUMENT, OUTPUT_ARGUMENT, emit
from prism_core.exceptions import InputError

SANDBOX_EPILOG = """examples:
  prism sandbox start           # EC2/SSM on 127.0.0.1, two demo workstations
  eval "$(prism sandbox env)"   # this shell now talks to the sandbox, not AWS
  prism save my-analysis my-env --copy-to-regions us-east-2 --yes
  prism launch my-env new-box --yes
  prism sandbox add-file my-analysis /home/ubuntu/.netrc \\
      --text "machine x password y"
  prism sandbox stop

Templates saved while the sandbox environment is active go to a PRISM_HOME of the
sandbox's own, never among your real templates."""


def _info_document(info: Any) -> dict[str, Any]:
    document = asdict(info)
    document["endpoint"] = info.endpoint
    return document


def _not_running(folder: Any) -> InputError:
    return InputError(
        f"no sandbox is running (state in {folder})", "start one with `prism sandbox start`"
    )


class SandboxController(Controller):
    """``prism sandbox ...``."""

    class Meta:
        label = "sandbox"
        stacked_on = "base"
        stacked_type = "nested"
        help = "run an emulated cloud in the background to try prism by hand (no AWS account)"
        description = (
            "A sandbox cloud (moto plus EC2 behaviours: timed transitions, AMI name "
            "checks, block public access) serving on 127.0.0.1 until stopped."
        )
        epilog = SANDBOX_EPILOG
        argument_formatter = ListingHelpFormatter

    def _default(self) -> None:
        self.app.args.print_help()

    @ex(
        help="start the sandbox server in the background",
        arguments=[
            (["--port"], {"type": int, "default": 0, "help": "port on 127.0.0.1 (default: free)"}),
            (
                ["--timings"],
                {
                    "choices": ["demo", "fast"],
                    "default": "demo",
                    "help": "demo: transitions take seconds (default); fast: instant",
                },
            ),
            (
                ["--with-instances"],
                {
                    "dest": "with_instances",
                    "action": "store_true",
                    "default": True,
                    "help": "create two demo workstations (default)",
                },
            ),
            (
                ["--no-instances"],
                {
                    "dest": "with_instances",
                    "action": "store_false",
                    "help": "start with no workstations",
                },
            ),
            OUTPUT_ARGUMENT,
            DEBUG_ARGUMENT,
        ],
    )
    def start(self) -> None:
        """``prism sandbox start [--port N] [--timings demo|fast] [--no-instances]``."""
        from prism_sandbox import daemon, require_sandbox

        pargs = self.app.pargs
        if not 0 <= pargs.port <= 65535:
            raise InputError(f"invalid port {pargs.port}", "use 1-65535, or 0 for any free port")
        require_sandbox()
        from prism_core.cli.sandbox_seed import prism_seed
        from prism_core.files import ensure_private_dir

        folder = ensure_private_dir(sandbox_folder())
        seed = prism_seed(with_workstations=pargs.with_instances)
        info = daemon.start(folder, seed, pargs.port, pargs.timings)
        lines = [
            f"Sandbox cloud running at {info.endpoint} (pid {info.pid}, {info.timings} timings)"
        ]
        if info.instances:
            lines.append(f"   Workstations: {', '.join(info.instances)} (us-east-1)")
        lines += [
            '   Use it in this shell:  eval "$(prism sandbox env)"',
            "   Then try:              prism save my-analysis my-env --yes",
            "   Stop it with:          prism sandbox stop",
        ]
        emit(_info_document(info), pargs.output, "\n".join(lines))

    @ex(
        help="stop the sandbox server and remove its files",
        arguments=[OUTPUT_ARGUMENT, DEBUG_ARGUMENT],
    )
    def stop(self) -> None:
        """``prism sandbox stop``."""
        from prism_sandbox import daemon

        folder = sandbox_folder()
        info = daemon.stop(folder)
        if info is None:
            raise _not_running(folder)
        emit(
            {"stopped": True, "pid": info.pid},
            self.app.pargs.output,
            f"Sandbox stopped (pid {info.pid}); its files are removed",
        )

    @ex(
        help="say whether the sandbox server is running, and where",
        arguments=[OUTPUT_ARGUMENT, DEBUG_ARGUMENT],
    )
    def status(self) -> None:
        """``prism sandbox status``."""
        from prism_sandbox import daemon

        info = daemon.running(sandbox_folder())
        if info is None:
            emit(
                {"running": False},
                self.app.pargs.output,
                "Sandbox: not running (start it with `prism sandbox start`)",
            )
            return
        emit(
            {"running": True, **_info_document(info)},
            self.app.pargs.output,
            f"Sandbox: running at {info.endpoint} (pid {info.pid}, {info.timings} timings, "
            f"since {info.started})",
        )

    @ex(
        help="print shell lines that point AWS tools and prism at the sandbox",
        description='Use as: eval "$(prism sandbox env)"  (fish: prism sandbox env --shell '
        "fish | source). Unsets your other AWS_* variables; open a new shell "
        "to go back to real AWS.",
        arguments=[
            (
                ["--shell"],
                {
                    "choices": ["sh", "fish"],
                    "default": "sh",
                    "help": "sh (bash, zsh; default) or fish",
                },
            ),
            DEBUG_ARGUMENT,
        ],
    )
    def env(self) -> None:
        """``prism sandbox env [--shell sh|fish]``."""
        from prism_sandbox import daemon
        from prism_sandbox.environment import changes, sandbox_variables, shell_lines

        folder = sandbox_folder()
        info = daemon.running(folder)
        if info is None:
            raise _not_running(folder)
        wanted = sandbox_variables(info.endpoint, folder)
        wanted["PRISM_HOME"] = str(folder / "home")
        wanted["PRISM_SANDBOX_DIR"] = str(folder)
        # the sandbox's transitions take seconds, not AWS's minutes: poll accordingly
        wanted["PRISM_POLL_DELAY_SECONDS"] = "0.5"
        lines = [f"# prism sandbox at {info.endpoint}; open a new shell to go back to real AWS"]
        lines += shell_lines(changes(wanted, os.environ), self.app.pargs.shell)
        print("\n".join(lines))

    @ex(
        label="add-file",
        help="put a file on a sandbox instance's disk (to try what the inspection finds)",
        description="Writes a file into the directory tree that stands for the instance's "
        "disk; Run Command (prism's inspection) reads that tree. Use --text or --from.",
        arguments=[
            (["instance"], {"help": "instance Name tag or id"}),
            (["path"], {"help": "absolute path on the instance, e.g. /home/ubuntu/.netrc"}),
            (["--text"], {"help": "the file's content"}),
            (["--from"], {"dest": "source", "help": "copy this local file (at most 10 MiB)"}),
            OUTPUT_ARGUMENT,
            DEBUG_ARGUMENT,
        ],
    )
    def add_file(self) -> None:
        """``prism sandbox add-file INSTANCE PATH --text TEXT | --from FILE``."""
        from prism_sandbox import daemon
        from prism_sandbox.trees import add_file

        pargs = self.app.pargs
        folder = sandbox_folder()
        info = daemon.running(folder)
        if info is None:
            raise _not_running(folder)
        if (pargs.text is None) == (pargs.source is None):
            raise InputError("give the file's content", "use exactly one of --text or --from")
        if pargs.source is not None:
            from prism_core.safe_yaml import read_text_bounded

            content = read_text_bounded(pargs.source, max_bytes=_MAX_FILE, hint="give a text file")
        else:
            content = pargs.text
        instance_id = _sandbox_instance(info.endpoint, pargs.instance)
        try:
            target = add_file(folder / daemon.TREES / instance_id, pargs.path, content)
        except ValueError as exc:
            raise InputError(
                str(exc), "give an absolute path such as /home/ubuntu/.netrc"
            ) from None
        emit(
            {"instance_id": instance_id, "path": pargs.path, "file": str(target)},
            pargs.output,
            f"Added {pargs.path} to {pargs.instance} ({instance_id})",
        )

    @ex(
        help="move the sandbox's clock forward; due schedules fire, in order",
        description="Each schedule (`prism schedule`) that becomes due fires as "
        "EventBridge Scheduler would, and its save engine execution runs to completion "
        "before the next fires.",
        arguments=[
            (["duration"], {"metavar": "DURATION", "help": "e.g. 4d, 6h, 30m, 90s"}),
            OUTPUT_ARGUMENT,
            DEBUG_ARGUMENT,
        ],
    )
    def advance(self) -> None:
        """``prism sandbox advance DURATION``."""
        import urllib.request

        seconds = duration_seconds(self.app.pargs.duration)
        endpoint = sandbox_endpoint()
        request = urllib.request.Request(
            f"{endpoint}/prism-sandbox/advance", method="POST",
            data=json.dumps({"seconds": seconds}).encode("utf-8"),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=3600) as answer:  # noqa: S310 - loopback
            document = json.loads(answer.read().decode("utf-8"))
        lines = [f"Sandbox clock now {document['now']}; {len(document['fired'])} "
                 "schedule firing(s):"]
        lines += [f"  {f['time']}  {f['schedule']}: {f['status'].lower()}"
                  for f in document["fired"]]
        emit(document, self.app.pargs.output, "\n".join(lines))


_MAX_FILE = 10 * 1024 * 1024
DURATION = re.compile(r"^([0-9]{1,6})([dhms])$")
UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def duration_seconds(text: str) -> int:
    """``4d``, ``6h``, ``30m``, ``90s`` -> seconds (at most ten years)."""
    match = DURATION.fullmatch(str(text).strip().lower())
    seconds = int(match.group(1)) * UNIT_SECONDS[match.group(2)] if match else -1
    if not 0 < seconds <= 10 * 365 * 86400:
        raise InputError(f"{str(text)[:20]!r} is not a duration",
                         "write a number and a unit, e.g. 4d, 6h, 30m or 90s")
    return seconds


def sandbox_folder() -> Path:
    """The background sandbox's files: ``$PRISM_SANDBOX_DIR``, else ``$PRISM_HOME/sandbox``."""
    from prism_core.settings import prism_home

    override = os.environ.get("PRISM_SANDBOX_DIR")
    return Path(override).expanduser() if override else prism_home() / "sandbox"


def sandbox_endpoint() -> str:
    """The sandbox this shell talks to (``AWS_ENDPOINT_URL`` on loopback), else the one
    ``prism sandbox start`` runs."""
    from urllib.parse import urlparse

    from prism_sandbox import daemon

    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if urlparse(endpoint).hostname in ("127.0.0.1", "localhost", "::1"):
        return endpoint.rstrip("/")
    folder = sandbox_folder()
    info = daemon.running(folder)
    if info is None:
        raise _not_running(folder)
    return str(info.endpoint)


def _sandbox_instance(endpoint: str, name: str) -> str:
    """The id of the running sandbox instance called ``name`` (Name tag or id)."""
    import boto3

    ec2 = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
    )
    found = [
        instance["InstanceId"]
        for reservation in ec2.describe_instances()["Reservations"]
        for instance in reservation["Instances"]
        if instance["State"]["Name"] not in ("terminated", "shutting-down")
        and (
            instance["InstanceId"] == name
            or {"Key": "Name", "Value": name} in instance.get("Tags", [])
        )
    ]
    if len(found) != 1:
        what = "no sandbox instance" if not found else f"{len(found)} sandbox instances"
        raise InputError(f"{what} called {name!r} in us-east-1", "see `aws ec2 describe-instances`")
    return found[0]
