"""Hostile plugins for the plugin-failure tests, built inside the prism child process
(``helpers.run_prism_child(plugins=[(name, "hostile_plugins:FACTORY", args)])``)."""

from __future__ import annotations

from typing import Any

from prism_core import hookimpl


class Escape(BaseException):
    """Not an Exception: slips past every ``except Exception``."""


#: The errors a hostile hook raises, by the id the tests name them with.
ERRORS: dict[str, BaseException] = {
    "exit-0": SystemExit(0),
    "exit-none": SystemExit(None),
    "exit-text": SystemExit("bye"),
    "base-exception": Escape(),
    "error": RuntimeError("kaput"),
}


def raising(hook: str, error: str) -> Any:
    """A plugin whose ``hook`` raises ``ERRORS[error]``."""

    class Hostile:
        pass

    def impl(self: Any, **kwargs: Any) -> Any:
        raise ERRORS[error]

    impl.__name__ = hook
    setattr(Hostile, hook, hookimpl(tryfirst=True)(impl))
    return Hostile()


def hog(hook: str) -> Any:
    """A plugin whose ``hook`` asks for 4 GiB: under the tests' memory limit
    (helpers.MEMORY_LIMIT_BYTES) that is a MemoryError, not a machine out of memory."""

    class Hog:
        pass

    def impl(self: Any, **kwargs: Any) -> Any:
        return bytearray(4 * 1024**3)

    impl.__name__ = hook
    setattr(Hog, hook, hookimpl(tryfirst=True)(impl))
    return Hog()
