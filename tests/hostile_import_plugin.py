"""A plugin module that raises while being imported; what it raises comes from the
variable HOSTILE_IMPORT (set by the test that installs it as an entry point)."""

import os


class _Custom(BaseException):
    pass


_RAISES = {
    "exit-0": lambda: SystemExit(0),
    "exit-none": lambda: SystemExit(),
    "exit-text": lambda: SystemExit("bye"),
    "exit-2": lambda: SystemExit(2),
    "generator-exit": GeneratorExit,
    "base-exception": lambda: _Custom("custom"),
}

raise _RAISES[os.environ.get("HOSTILE_IMPORT", "exit-0")]()
