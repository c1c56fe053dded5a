"""The one root exception and the exit codes it maps to.

Exit codes (every command's ``--help`` says what they mean for it, from
:mod:`prism_core.cli.exit_codes`; also in the README):

====  =========================================================================
0     success
1     failure: the save (or command) did not complete; what it created is
      reported, and ``prism save --resume`` can finish it
2     refused: bad input, a failed check, or a cancelled prompt; nothing changed
3     partial success: the template was saved but some steps (e.g. a region's
      copy) failed; what succeeded is kept and listed
====  =========================================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_REFUSED = 2
EXIT_PARTIAL = 3

#: Exit codes from least to most severe, for combining several outcomes.
SEVERITY = {EXIT_OK: 0, EXIT_PARTIAL: 1, EXIT_FAILURE: 2, EXIT_REFUSED: 3}

class PrismError(Exception):
    """Root of every error prism reports to the user as one line.

    ``hint`` says what to do about it; ``exit_code`` is what ``main()`` returns.
    """

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message}: {self.hint}" if self.hint else message


class InputError(PrismError):
    """The input or a pre-flight check refused the operation; nothing changed."""

    exit_code = EXIT_REFUSED


class Cancelled(InputError):
    """The user answered no, or pressed Ctrl-C / Ctrl-D at a prompt."""


class PluginRefusal(InputError):
    """A ``prism_pre_stop`` plugin refused the save."""


class OperationFailed(PrismError):
    """A cloud operation failed after changes began."""


class ValidationFailed(OperationFailed):
    """A check of the new image failed (e.g. ``--validate``'s boot check).

    Raised from ``prism_post_image``, it stops the save before the image is copied,
    registered or written as a template; the image itself is kept, unregistered.
    """


class WaitTimeout(OperationFailed):
    """A wait ran out of time; the message says what was awaited and what to do."""


class Interrupted(OperationFailed):
    """Ctrl-C or SIGTERM stopped a save; the instance was brought back first."""


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt for Ctrl-C, so that no
    library's ``except Exception`` (botocore wraps and retries those) can swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum
