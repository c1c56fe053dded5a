"""Requests AWS refuses because this computer's clock is wrong (clock skew).

AWS accepts a signed request only within about five minutes of its own time; outside
that, EC2 answers ``RequestExpired`` and other services ``RequestTimeTooSkewed`` or
``SignatureDoesNotMatch: Signature expired``. That is not expired credentials.
"""

from __future__ import annotations

import time
from typing import Any

from prism_core.exceptions import InputError

SKEW_CODES = frozenset({"RequestExpired", "RequestTimeTooSkewed", "RequestInTheFuture"})
#: Skews smaller than this are not worth naming (the error may have another cause).
NOTABLE_SKEW_SECONDS = 60


def now() -> float:
    """This computer's clock (seconds since the epoch; a seam for the tests)."""
    return time.time()


def is_skew(code: str, message: str) -> bool:
    """Whether an AWS error (code, message) means the request's time was refused."""
    return code in SKEW_CODES or (
        code in ("SignatureDoesNotMatch", "InvalidSignatureException")
        and "signature expired" in message.lower()
    )


def skew_seconds(response: dict[str, Any]) -> float | None:
    """How far this computer's clock is ahead of AWS's (negative: behind), from the
    response's ``Date`` header; ``None`` if the header is missing or unreadable."""
    headers = (response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
    try:
        from email.utils import parsedate_to_datetime  # not at start-up: it imports socket

        aws_time = parsedate_to_datetime(str(headers["date"])).timestamp()
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return now() - aws_time


def _amount(seconds: float) -> str:
    minutes = abs(seconds) / 60
    return f"{minutes:.0f} minutes" if minutes >= 2 else f"{abs(seconds):.0f} seconds"


def skew_error(code: str, response: dict[str, Any]) -> InputError:
    """The one-line error: the clock is off (by how much, when AWS said its time)."""
    skew = skew_seconds(response)
    by = ""
    if skew is not None and abs(skew) >= NOTABLE_SKEW_SECONDS:
        by = f": it is {_amount(skew)} {'ahead of' if skew > 0 else 'behind'} AWS's"
    return InputError(
        f"AWS refused the request as sent at the wrong time ({code}); this computer's clock "
        f"is off{by}",
        "set the clock automatically (Linux: `sudo timedatectl set-ntp true`; macOS/Windows: "
        "date and time settings), then run the command again",
    )
