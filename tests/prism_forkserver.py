"""Fork server of the tests' prism children (``helpers.run_prism_child``).

Started once per pytest process, it imports prism and boto3 once and then forks one child
per run: the child caps its address space (``RLIMIT_AS``), takes the run's environment,
working directory and standard streams, and runs ``prism_core.cli.app.main`` as the
``prism`` command does. A fresh interpreter per run would spend most of its time
importing; the fork skips that and nothing else.

Protocol (one JSON document per line): the test writes a request, the server answers
``{"pid": N}`` once the child runs and ``{"code": C}`` once it has exited.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
from typing import Any


def _run_child(request: dict[str, Any], limit: int, protocol: list[int]) -> None:
    """In the forked child: set up the run, call prism, never return."""
    code: Any = 1
    try:
        for fd in protocol:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        streams = [
            os.open(request["stdin"], os.O_RDONLY),
            os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
            os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
        ]
        for target, fd in enumerate(streams):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
        sys.argv = ["prism", *request["argv"]]
        exec(compile(request["code"], "<prism child>", "exec"), {"__name__": "__main__"})  # noqa: S102
        code = 0
    except SystemExit as exc:
        code = exc.code
    except BaseException:  # noqa: BLE001  (reported like the interpreter would)
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        if not isinstance(code, int):
            if code is not None:
                print(code, file=sys.stderr)
            code = 0 if code is None else 1
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001,S110
                pass
        os._exit(code)


def _read_service_models() -> None:
    """Parse the botocore data prism's commands read (service models, endpoint rules)
    once, into the process-wide loader the children inherit: each child would otherwise
    parse EC2's model again. The client classes' methods, service models and event
    aliases prism shares between sessions are built here too. No request is sent."""
    from prism_core.aws.clients import new_session, share_client_classes, share_event_aliases

    share_client_classes()
    share_event_aliases()

    session = new_session(
        region_name="us-east-1", aws_access_key_id="warm-up", aws_secret_access_key="warm-up"
    )
    for service in ("ec2", "sts", "ssm", "s3", "iam"):
        session.client(service)
    from prism_core.validation import known_regions

    known_regions()


def serve(limit: int) -> None:
    """Read requests on stdin until it closes; fork one child per request."""
    import boto3  # noqa: F401  (imported once here, not in every child)
    import botocore.session  # noqa: F401

    import prism_core.cli.app  # noqa: F401
    import prism_core.settings  # noqa: F401
    import prism_core.testing  # noqa: F401

    _read_service_models()
    # what the server holds now is never collected: a child's first full collection
    # would otherwise write to every object's page, copying the whole server
    gc.collect()
    gc.freeze()
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    protocol = [requests.fileno(), answers.fileno()]
    for line in requests:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _run_child(request, limit, protocol)
        answers.write(json.dumps({"pid": pid}) + "\n")
        answers.flush()
        _, status = os.waitpid(pid, 0)
        answers.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
        answers.flush()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
