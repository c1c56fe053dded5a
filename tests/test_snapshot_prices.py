"""``prism_snapshot_prices``: a plugin prices prism's one storage estimate; a bad answer
is reported and prism's default price used."""

from __future__ import annotations

import math

import pytest

from prism_core import hookimpl


class Prices:
    def __init__(self, answer):
        self.answer = answer

    @hookimpl
    def prism_snapshot_prices(self, ctx):
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer(ctx) if callable(self.answer) else self.answer


def _plan(run_prism, *extra: str) -> dict:
    result = run_prism(
        "save", "box", "env1", "--copy-to-regions", "eu-west-1", *extra, "--dry-run", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    return result.json()


def test_a_plugin_prices_each_region(prism_sandbox, run_prism, prism_plugin):
    prism_sandbox.create_instance("box", volume_size_gb=40)
    seen = []

    def answer(ctx):
        seen.append((ctx.source_region, list(ctx.request.copy_to_regions)))
        return {"eu-west-1": 0.06, "default": 0.02}

    prism_plugin(Prices(answer), "prices")
    document = _plan(run_prism)
    estimate = document["storage_estimate"]
    assert seen == [("us-east-1", ["eu-west-1"])]
    assert estimate["price_per_gb_month_usd_by_region"] == {"us-east-1": 0.02, "eu-west-1": 0.06}
    assert estimate["price_per_gb_month_usd"] is None  # the regions' prices differ
    assert estimate["monthly_usd_upper_bound"] == 3.2  # 40 x 0.02 + 40 x 0.06
    lines = [line for line in document["plan"] if "/month" in line]
    assert len(lines) == 1 and "prices from plugin prices" in lines[0], lines


def test_none_leaves_prisms_default(prism_sandbox, run_prism, prism_plugin):
    prism_sandbox.create_instance("box", volume_size_gb=40)
    prism_plugin(Prices(None), "prices")
    estimate = _plan(run_prism)["storage_estimate"]
    assert estimate["prices_from"] == "prism's default"
    assert estimate["price_per_gb_month_usd"] == 0.05 and estimate["monthly_usd_upper_bound"] == 4.0


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (RuntimeError("price service down"), "raised RuntimeError: price service down"),
        (SystemExit(3), "raised SystemExit: 3"),
        ({"us-east-1": math.inf}, "not a price from 0 to 100"),
        ({"us-east-1": -1}, "not a price from 0 to 100"),
        ({"us-east-1": True}, "not a price from 0 to 100"),
        ({"us-east-1": "cheap"}, "not a price from 0 to 100"),
        ([0.05], "not a mapping of region to price"),
        ({str(n): 0.01 for n in range(2000)}, "at most 1000"),
    ],
)
def test_a_bad_answer_is_reported_and_the_default_used(
    prism_sandbox, run_prism, prism_plugin, answer, why
):
    prism_sandbox.create_instance("box", volume_size_gb=40)
    prism_plugin(Prices(answer), "prices")
    document = _plan(run_prism)
    estimate = document["storage_estimate"]
    assert estimate["monthly_usd_upper_bound"] == 4.0  # 40 GB x 0.05 x 2 regions
    assert estimate["prices_from"] == "prism's default"
    assert estimate["price_problem"].startswith("plugin prices ") and why in estimate[
        "price_problem"
    ], estimate
    text = "\n".join(document["plan"])
    assert why in text and "prism's default price used" in text
