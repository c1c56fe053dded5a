"""Unit layer: a forged ``versions/<N>`` entry, whatever its number (the next one, far
ahead, the last one prism allows), is not counted by ``templates prune`` in place of a
real version (no cloud: the proof is a canned answer). Each kind of forgery is driven
against the sandbox's EC2 proof in ``tests/test_hostile_versions.py``."""

from __future__ import annotations

import pytest
from test_removal_plans import REGION, Cloud, inventory, prune

from prism_core.templates.registry import MAX_VERSION


@pytest.mark.parametrize("number", [2, 3, 999_999, MAX_VERSION])
def test_prune_never_keeps_a_forged_version_in_place_of_the_real_one(number: int) -> None:
    found = inventory(1)
    forged = found.version(number)
    forged.registry[REGION] = [f"/prism/templates/lab/versions/{number}"]
    forged.images[REGION] = {"ami-0badc0ffee0000000"}
    forged.document = {"name": "lab", "version": str(number), "save_id": "save-1"}
    plan = prune(found, 1, Cloud(strangers=frozenset({"ami-0badc0ffee0000000"})))
    assert plan.kept == (1,)
    assert plan.removed == (number,)
    assert any(n.startswith(f"v{number} is not proven") for n in plan.notes), plan.notes
