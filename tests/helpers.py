"""Helpers of prism's own tests that are not about the sandbox: the refusal check and
the real ``prism`` command in memory-limited child processes (fork server, small disks).

Readers of the sandbox and of the test's ``PRISM_HOME`` (``own_images``,
``instance_state``, ``journals``, ...) are methods of the ``prism_sandbox`` fixture
(:class:`prism_core.testing.SandboxFixture`), shared with the contrib plugins' tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any


def refused(result: Any, *expected: str) -> None:
    """Exit 2 with one line on stderr that holds every ``expected`` text."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]


#: Address-space limit of every prism child process in the tests: far above what prism
#: needs, far below what an unbounded read (an alias bomb, /dev/zero) takes.
MEMORY_LIMIT_BYTES = 1024 * 1024 * 1024

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

#: A plugin to register in the child: (name, "module:factory", factory args). The module
#: is imported from tests/ in the child, the factory called there with the args.
PluginSpec = tuple[str, str, tuple[Any, ...]]


def limit_memory() -> None:
    """``preexec_fn`` of prism children: cap the address space (``RLIMIT_AS``)."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


def child_code(system_config: str | None = None, plugins: Sequence[PluginSpec] = ()) -> str:
    """The program of a child running the real ``prism`` command
    (``prism_core.cli.app.main`` on ``sys.argv[1:]``), with ``/etc/prism/prism.yml``
    replaced by ``system_config``, and ``plugins`` passed to ``main(plugins=...)`` with the
    test's choice of installed plugins (``prism_only_plugins``), as the fixtures pass them
    in-process."""
    from prism_core.testing import ONLY_ENTRY_POINTS

    chosen = ONLY_ENTRY_POINTS[0]
    code = ["import sys", "import prism_core.cli.app as app", "extra = []"]
    if system_config is not None:  # settings.system_config_path() reads it
        code += ["import prism_core.settings as settings",
                 f"settings.SYSTEM_CONFIG = {system_config!r}"]
    if plugins:
        code += [
            f"sys.path.insert(0, {TESTS_DIR!r})",
            "import importlib",
            f"for name, spec, args in {[(n, s, tuple(a)) for n, s, a in plugins]!r}:",
            "    module, factory = spec.split(':')",
            "    extra.append((name, getattr(importlib.import_module(module), factory)(*args)))",
        ]
    selected = None if chosen is None else sorted(chosen)
    code.append(f"sys.exit(app.main(sys.argv[1:], plugins=extra, entry_points={selected!r}))")
    return "\n".join(code)


def child_argv(*args: str, system_config: str | None = None,
               plugins: Sequence[PluginSpec] = ()) -> list[str]:
    """The argv of a fresh interpreter running :func:`child_code` on ``args``."""
    return [sys.executable, "-c", child_code(system_config, plugins), *args]


def child_env(**extra: str) -> dict[str, str]:
    """The test's environment (sandbox, PRISM_HOME) for a prism child."""
    return dict(os.environ, MALLOC_ARENA_MAX="2", PYTHONUNBUFFERED="1", **extra)


def run_prism_child(
    *args: str,
    input: str | None = None,  # noqa: A002
    system_config: str | None = None,
    plugins: Sequence[PluginSpec] = (),
    cwd: str | os.PathLike[str] | None = None,
    preexec: Callable[[], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    timeout: float = 120.0,
) -> Any:
    """Run the real ``prism`` command in a child process under a memory limit
    (``resource.setrlimit``), with the test's environment (sandbox, PRISM_HOME).

    The hostile-input tests run every prism command through this (or
    :class:`PrismProcess`, equally limited): an unbounded read fails the test (a
    MemoryError, a kill or the timeout), never the machine. ``preexec`` adds more limits
    (it runs after the memory limit); ``on_start`` is given the child's pid once it
    runs. Returns a :class:`prism_core.testing.PrismResult`.
    """
    from prism_core.testing import PrismResult

    if preexec is None:  # the common case: forked from a server that imported prism once
        code, out, err = _forkserver().run(
            list(args), child_code(system_config, plugins), input or "", cwd, on_start, timeout
        )
        return PrismResult(code, out, err)

    def limits() -> None:
        limit_memory()
        preexec()

    with subprocess.Popen(
        child_argv(*args, system_config=system_config, plugins=plugins),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=child_env(),
        preexec_fn=limits,
    ) as child:
        if on_start is not None:
            on_start(child.pid)
        try:
            out, err = child.communicate(input or "", timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
            raise AssertionError(f"prism ran past {timeout}s: {err[-2000:]}") from None
    return PrismResult(child.returncode, out, err)


class _ForkServer:
    """tests/prism_forkserver.py, started once per pytest process."""

    def __init__(self) -> None:
        import tempfile

        self.lock = threading.Lock()
        self.folder = tempfile.mkdtemp(prefix="prism-children-")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(TESTS_DIR, "prism_forkserver.py"),
             str(MEMORY_LIMIT_BYTES)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
        )

    def _answer(self) -> dict[str, Any]:
        import json

        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the prism fork server ended ({self.proc.poll()})")
        return dict(json.loads(line))

    def run(
        self,
        argv: list[str],
        code: str,
        stdin: str,
        cwd: str | os.PathLike[str] | None,
        on_start: Callable[[int], None] | None,
        timeout: float,
    ) -> tuple[int, str, str]:
        """Run one child; (exit code, stdout, stderr)."""
        import json
        import signal

        with self.lock:
            paths = {name: os.path.join(self.folder, name) for name in ("in", "out", "err")}
            with open(paths["in"], "w", encoding="utf-8") as handle:
                handle.write(stdin)
            request = {
                "argv": argv,
                "code": code,
                "env": child_env(),
                "cwd": os.fspath(cwd) if cwd is not None else os.getcwd(),
                "stdin": paths["in"],
                "stdout": paths["out"],
                "stderr": paths["err"],
            }
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            pid = int(self._answer()["pid"])
            if on_start is not None:
                on_start(pid)
            expired = threading.Event()

            def kill() -> None:
                expired.set()
                os.kill(pid, signal.SIGKILL)

            timer = threading.Timer(timeout, kill)
            timer.start()
            try:
                code_ = int(self._answer()["code"])
            finally:
                timer.cancel()
            with open(paths["out"], encoding="utf-8", errors="replace") as handle:
                out = handle.read()
            with open(paths["err"], encoding="utf-8", errors="replace") as handle:
                err = handle.read()
            if expired.is_set():
                raise AssertionError(f"prism ran past {timeout}s: {err[-2000:]}")
            return code_, out, err

    def close(self) -> None:
        """End the server (its stdin closes) and remove its files."""
        import shutil

        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


_SERVER: list[_ForkServer] = []


def _forkserver() -> _ForkServer:
    import atexit

    if not _SERVER or _SERVER[0].proc.poll() is not None:
        _SERVER[:] = [_ForkServer()]
        atexit.register(_SERVER[0].close)
    return _SERVER[0]


def start_prism(*args: str) -> subprocess.Popen[str]:
    """Start ``prism ARGS`` (with the test's choice of plugins) in the test's environment,
    under the memory limit, pipes for stdout and stderr, no stdin."""
    from prism_core.testing import prism_argv

    return subprocess.Popen(
        prism_argv(*args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        preexec_fn=limit_memory,
    )


class PrismProcess:
    """`prism ...` in a new process (:func:`start_prism`) with its stderr collected line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = start_prism(*args)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"never saw {text!r}; stderr so far:\n{''.join(self.lines)}")

    def finish(self, timeout: float = 60.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    @property
    def stderr(self) -> str:
        return "".join(self.lines)


_HOLDER = """
import json, resource, subprocess, sys

def limit():
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))

for line in sys.stdin:
    argv = json.loads(line)
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          preexec_fn=limit, timeout=300)
    print(json.dumps([done.returncode, done.stdout, done.stderr]), flush=True)
"""


def small_disks_available() -> str | None:
    """``None`` when ``unshare -Urm`` can mount a tmpfs here, else why not."""
    import shutil

    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "unshare or mount is not installed"
    probe = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"unshare -Urm cannot mount a tmpfs here: {probe.stderr.strip()[:200]}"
    return None


class SmallDisk:
    """A real small filesystem for prism: a tmpfs of ``size`` mounted over ``path`` in a
    private user and mount namespace (``unshare -Urm``); the network is shared, so the
    sandbox stays reachable on loopback.

    :meth:`run` runs the real prism command inside the namespace (memory-limited, the
    test's environment), so it sees the tmpfs at ``path``; the test reaches the same
    files through :attr:`view` (``/proc/PID/root/...`` of the namespace's process), e.g.
    to fill the disk while a save runs (:meth:`fill`) or free it again (:meth:`free`).
    """

    def __init__(self, path: str | os.PathLike[str], size: str = "1m") -> None:
        self.path = os.path.abspath(path)
        os.makedirs(self.path, exist_ok=True)
        script = (
            'mount -t tmpfs -o "size=$1" tmpfs "$2" || exit 97; exec "$3" -c "$4"'
        )
        self.proc = subprocess.Popen(
            ["unshare", "-Urm", "sh", "-c", script, "sh", size, self.path, sys.executable,
             _HOLDER.format(limit=MEMORY_LIMIT_BYTES)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        #: The tmpfs as the test sees it.
        self.view = f"/proc/{self.proc.pid}/root{self.path}"
        deadline = time.monotonic() + 30
        while not os.path.ismount(self.view):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no tmpfs at {self.path}: {self.proc.communicate()}")
            time.sleep(0.01)

    def run(self, *args: str) -> Any:
        """Run ``prism ARGS`` on the small disk; a :class:`PrismResult`."""
        import json

        from prism_core.testing import PrismResult

        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(child_argv(*args)) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the namespace ended: {self.proc.communicate()}")
        code, out, err = json.loads(line)
        return PrismResult(code, out, err)

    def fill(self, keep: int = 0) -> None:
        """Fill the disk (a file ``.filler``) until ``keep`` bytes or fewer are left."""
        stat = os.statvfs(self.view)
        room = stat.f_bavail * stat.f_frsize - keep
        with open(os.path.join(self.view, ".filler"), "ab") as handle:
            chunk = b"\0" * 65536
            try:
                while room > 0:
                    room -= handle.write(chunk[: max(1, min(room, len(chunk)))])
                    handle.flush()
            except OSError:
                pass  # full

    def free(self) -> None:
        """Remove what :meth:`fill` wrote."""
        os.unlink(os.path.join(self.view, ".filler"))

    def close(self) -> None:
        """End the namespace (the tmpfs goes with it)."""
        if self.proc.poll() is None:
            self.proc.communicate(timeout=30)


def spawn_prism_in_pty(
    columns: int, *args: str, timeout: float = 60, drop: tuple[str, ...] = ()
) -> Any:
    """``prism ARGS`` in a pseudo-terminal ``columns`` wide (40 rows), as from an xterm:
    no ``COLUMNS`` (the terminal's size decides), nor the variables in ``drop``."""
    import pexpect

    from prism_core.testing import prism_argv

    env = dict(os.environ, TERM="xterm", LANG="C.UTF-8", PYTHONUTF8="1")
    for name in ("COLUMNS", *drop):
        env.pop(name, None)
    command = prism_argv(*args)
    return pexpect.spawn(
        command[0],
        command[1:],
        env=env,
        dimensions=(40, columns),
        encoding="utf-8",
        timeout=timeout,
    )


def help_subcommands(text: str) -> list[str]:
    """The subcommands a ``--help`` text lists: the usage's ``{a,b}`` choices, else the
    rows of its ``sub-commands:`` section (a group whose choices are shown as COMMAND)."""
    import re

    choices = re.search(r"\{([a-z,-]+)\}", text)
    if choices:
        return choices.group(1).split(",")
    section = text.split("sub-commands:\n", 1)[-1] if "sub-commands:\n" in text else ""
    return re.findall(r"^    ([a-z][a-z-]*)(?:  |$)", section.split("\n\n")[0], flags=re.M)
