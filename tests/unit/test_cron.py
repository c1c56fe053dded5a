"""Schedule expressions (prism_core.cloud.cron): what `prism schedule add` accepts and
when the sandbox fires it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from prism_core.cloud import cron
from prism_core.exceptions import InputError


def test_cron_keeps_local_time_across_daylight_saving():
    sundays = cron.cron("0 3 ? * SUN *")
    before = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # Berlin moves to CEST on the 29th
    first = sundays.next_after(before, "Europe/Berlin")
    assert first.astimezone(UTC) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    second = sundays.next_after(first, "Europe/Berlin")
    assert (second.hour, second.minute, second.isoweekday()) == (3, 0, 7)
    assert second - first == timedelta(days=7)


def test_cron_fields():
    assert cron.cron("cron(30 2 1 * ? *)").text == "cron(30 2 1 * ? *)"
    monthly = cron.cron("30 2 1 * ? *")
    found = monthly.next_after(datetime(2026, 1, 15, tzinfo=UTC))
    assert found == datetime(2026, 2, 1, 2, 30, tzinfo=UTC)
    weekdays = cron.cron("0 */6 ? * MON-FRI *")
    friday_night = datetime(2026, 12, 11, 19, 0, tzinfo=UTC)  # a Friday
    assert weekdays.next_after(friday_night) == datetime(2026, 12, 14, 0, 0, tzinfo=UTC)


def test_rate_counts_from_its_start():
    daily = cron.rate("1d")
    start = datetime(2026, 1, 1, 9, 30, tzinfo=UTC)
    assert daily.text == "rate(1 day)" and cron.rate("7d").text == "rate(7 days)"
    assert daily.next_after(start, start=start) == start + timedelta(days=1)
    assert daily.next_after(start + timedelta(hours=30), start=start) == start + timedelta(days=2)
    assert cron.parse("rate(12 hours)").period == timedelta(hours=12)


@pytest.mark.parametrize("text", ["", "1 2 3", "0 3 * * * *", "0 3 ? * ? *", "60 3 * * ? *",
                                  "0 3 L * ? *", "0 3 ? * 2#1 *", "0 5-2 * * ? *",
                                  "0 3 * 13 ? *", "0 3 * * ? 1969"])
def test_bad_cron_is_refused(text):
    with pytest.raises(InputError):
        cron.cron(text)


@pytest.mark.parametrize("text", ["0d", "1w", "366d", "721h", "d", "-1d", "1.5d"])
def test_bad_rate_is_refused(text):
    with pytest.raises(InputError):
        cron.rate(text)


def test_time_zone():
    assert cron.time_zone(None) == "UTC"
    assert cron.time_zone("America/New_York") == "America/New_York"
    with pytest.raises(InputError):
        cron.time_zone("Mars/Base")
