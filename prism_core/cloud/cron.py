"""Schedule expressions of EventBridge Scheduler: ``rate(...)`` and six-field ``cron(...)``.

:func:`parse` checks an expression before anything is created (a one-line
``InputError``); :meth:`Expression.next_after` gives its next fire time in its time zone
(``prism schedule show`` and the sandbox's clock use it). The cron fields are minutes,
hours, day of month, month, day of week (1 = SUN, as AWS counts) and year; each takes
``*``, ``?`` (day fields), numbers, names (``JAN``, ``MON``), ranges, lists and
``/step``. AWS's ``L``, ``W`` and ``#`` are refused (prism does not compute them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prism_core.exceptions import InputError

RATE = re.compile(r"^([0-9]{1,3})\s*(d|h|day|days|hour|hours)$")
MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
DAYS = "SUN MON TUE WED THU FRI SAT".split()
#: (name, lowest, highest, names)
FIELDS = (
    ("minutes", 0, 59, None),
    ("hours", 0, 23, None),
    ("day-of-month", 1, 31, None),
    ("month", 1, 12, MONTHS),
    ("day-of-week", 1, 7, DAYS),
    ("year", 1970, 2199, None),
)
CRON_HINT = "write six fields, e.g. --cron '0 3 ? * SUN *' (03:00 every Sunday)"


@dataclass(frozen=True)
class Expression:
    """A parsed schedule expression."""

    text: str  # as EventBridge Scheduler takes it: rate(1 day), cron(0 3 * * ? *)
    period: timedelta | None = None  # rate
    fields: tuple[frozenset[int], ...] = ()  # cron
    any_day_of_month: bool = True
    any_day_of_week: bool = True

    def next_after(self, when: datetime, zone: str = "UTC", start: datetime | None = None
                   ) -> datetime:
        """The first fire time strictly after ``when`` (aware datetimes). A rate fires
        every ``period`` from ``start`` (its schedule's creation)."""
        if self.period is not None:
            origin = start or when
            steps = max(1, int((when - origin) // self.period) + 1)
            return origin + steps * self.period
        local = when.astimezone(ZoneInfo(zone)).replace(second=0, microsecond=0)
        local += timedelta(minutes=1)
        minutes, hours, mdays, months, wdays, years = self.fields
        for _ in range(400 * 24 * 60):  # bounded: no year ahead matches otherwise
            if local.year > max(years):
                break
            if local.month not in months or local.year not in years or not self._day(local):
                local = (local + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if local.hour not in hours:
                local = (local + timedelta(hours=1)).replace(minute=0)
                continue
            if local.minute not in minutes:
                local += timedelta(minutes=1)
                continue
            return local
        raise InputError(f"{self.text} never fires again", CRON_HINT)

    def _day(self, local: datetime) -> bool:
        _, _, mdays, _, wdays, _ = self.fields
        weekday = (local.isoweekday() % 7) + 1  # SUN=1 .. SAT=7
        if self.any_day_of_month:
            return weekday in wdays
        if self.any_day_of_week:
            return local.day in mdays
        return local.day in mdays and weekday in wdays


def rate(text: str) -> Expression:
    """``1d``, ``7d``, ``6h`` (1..365 days, 1..720 hours) -> ``rate(1 day)``."""
    match = RATE.fullmatch(str(text).strip().lower())
    number = int(match.group(1)) if match else 0
    days = bool(match) and match.group(2).startswith("d")
    if not match or not (1 <= number <= (365 if days else 720)):
        raise InputError(f"--rate {str(text)[:20]!r} is not a rate",
                         "write a number of days or hours, e.g. --rate 1d or --rate 7d")
    unit = "day" if days else "hour"
    return Expression(f"rate({number} {unit}{'s' if number > 1 else ''})",
                      period=timedelta(days=number) if days else timedelta(hours=number))


def _value(token: str, low: int, high: int, names: list[str] | None, what: str) -> int:
    if names and token.upper() in names:
        return names.index(token.upper()) + low
    if not token.isdigit() or not low <= int(token) <= high:
        raise InputError(f"cron {what}: {token[:12]!r} is not from {low} to {high}", CRON_HINT)
    return int(token)


def _field(text: str, low: int, high: int, names: list[str] | None, what: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = _value(step_text, 1, high, None, what) if step_text else 1
        if base in ("*", "?"):
            first, last = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = _value(a, low, high, names, what), _value(b, low, high, names, what)
            if first > last:
                raise InputError(f"cron {what}: range {base!r} runs backwards", CRON_HINT)
        else:
            first = _value(base, low, high, names, what)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


def cron(text: str) -> Expression:
    """Six fields (``0 3 ? * SUN *``), with or without ``cron(...)`` around them."""
    body = str(text).strip()
    if body.startswith("cron(") and body.endswith(")"):
        body = body[5:-1].strip()
    parts = body.split()
    if len(parts) != 6:
        raise InputError(f"--cron {str(text)[:40]!r} has {len(parts)} fields, not 6", CRON_HINT)
    if any(c in body.upper() for c in "LW#") and not all(
        p.upper() in MONTHS + DAYS or not any(c in p.upper() for c in "LW#")
        for p in re.split(r"[,\-/ ]", body)
    ):
        raise InputError("--cron: L, W and # are not supported by prism", CRON_HINT)
    if (parts[2] == "?") == (parts[4] == "?"):
        raise InputError("--cron: exactly one of day-of-month and day-of-week must be '?'",
                         CRON_HINT)
    fields = tuple(_field(p, low, high, names, name)
                   for p, (name, low, high, names) in zip(parts, FIELDS, strict=True))
    return Expression(f"cron({' '.join(parts)})", fields=fields,
                      any_day_of_month=parts[2] == "?", any_day_of_week=parts[4] == "?")


def parse(text: str) -> Expression:
    """A stored expression (``rate(...)`` or ``cron(...)``)."""
    if text.startswith("rate(") and text.endswith(")"):
        number, _, unit = text[5:-1].partition(" ")
        return rate(f"{number}{unit[:1]}")
    return cron(text)


def time_zone(text: str | None) -> str:
    """An IANA time zone name (``Europe/Berlin``); ``UTC`` when not given."""
    if not text:
        return "UTC"
    try:
        ZoneInfo(str(text))
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"--time-zone {str(text)[:40]!r} is not a time zone",
                         "use an IANA name such as Europe/Berlin or America/New_York") from None
    return str(text)
