"""Unit layer: ``--param`` values the launch plan refuses for the original tool's
parameterised templates (type, choices, bounds, pattern, unknown or repeated names,
placeholders in a value), before anything is asked of the cloud. The CLI wiring (exit 2,
one line, no RunInstances) is proven end to end for two of them in
``tests/test_original_parameters.py``."""

from __future__ import annotations

import pytest
from test_launch_plan import FIXTURES, Reads, plan

from prism_core.exceptions import InputError
from prism_core.templates import store
from prism_core.templates.base_images import known_base
from prism_core.templates.document import load_file


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (["gpu_support=maybe"], "gpu_support: maybe is not true or false"),
        (["python_version=2.7"], "is not one of 3.10, 3.11, 3.12"),
        (["workers=0"], "0 is below 1"),
        (["workers=lots"], "is not a whole number"),
        (["user_name=Root"], "does not match"),
        (["nope=1"], "has no parameter nope (parameters: extra_packages,"),
        (["user_name=a", "user_name=b"], "--param user_name is given twice"),
        (["noequals"], "invalid --param noequals"),
        (["extra_packages={{.user_name}}"], "holds {{"),
    ],
)
def test_bad_values_are_refused_by_the_plan(params: list[str], message: str) -> None:
    doc = load_file(FIXTURES / "parameterised" / "ml-configurable.yml")
    found = store.FoundTemplate("ml-configurable", 1, "local", "ml-configurable.yml", doc)
    reads = Reads({"x86_64": "ami-0eee5555"}, release=known_base("ubuntu-22.04"))
    with pytest.raises(InputError) as refused:
        plan(found, reads, params=tuple(params))
    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert reads.owners_asked == []
