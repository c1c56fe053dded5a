"""The ``prism`` console script: answers ``--version`` before importing anything else.

Everything else goes to :func:`prism_core.cli.app.console` (Cement, plugins).
"""

from __future__ import annotations

import sys


def console() -> None:
    """Console-script entry point."""
    if sys.argv[1:] in (["--version"], ["-v"]):
        from prism_core import __version__

        sys.stdout.write(f"prism {__version__}\n")
        sys.exit(0)
    from prism_core.cli.app import console as run

    run()
