"""Property-based (hypothesis): every generated template name, tag, region and config
value is either accepted and round-trips through a real `prism save` against the sandbox,
or refused with exit 2 and no change in the cloud. Every prism run is a child process
under a memory limit (helpers.run_prism_child)."""

from __future__ import annotations

import os
import tempfile

import pytest
import yaml
from helpers import run_prism_child
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from prism_core.aws.tags import tags_of
from prism_core.templates.document import load_file
from prism_core.validation import copy_regions

EXAMPLES = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# no NUL: a command line cannot carry one (execve ends the argument there)
NASTY = "/\\.:@ -_\x01\x07\x1b\n\u00e9\u202e\ufeffaZ09"
names = st.one_of(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,70}", fullmatch=True),
    st.text(alphabet=st.sampled_from(NASTY), max_size=70),
)
keys = st.one_of(
    st.sampled_from(["prism:template", "PRISM:version", "aws:x", "team", "Name", ""]),
    st.text(alphabet=st.sampled_from(NASTY + "kK"), min_size=0, max_size=130),
)
values = st.text(alphabet=st.sampled_from(NASTY + "v"), max_size=260)


def _fresh(sandbox) -> str:
    """A clean cloud, PRISM_HOME and instance for one example."""
    sandbox.reset()
    os.environ["PRISM_HOME"] = tempfile.mkdtemp(prefix="prism-prop-")
    return sandbox.create_instance("box")


def _refused_cleanly(sandbox, result, instance_id: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    assert sandbox.own_images() == []
    assert sandbox.instance_state(instance_id) == "running"


@pytest.fixture
def prop_sandbox(prism_sandbox, monkeypatch):
    monkeypatch.setenv("PRISM_HOME", os.environ["PRISM_HOME"])  # restored afterwards
    return prism_sandbox


@pytest.mark.long
@EXAMPLES
@given(name=names, key=keys, value=values)
def test_template_names_and_tags(prop_sandbox, name, key, value):
    instance_id = _fresh(prop_sandbox)
    result = run_prism_child("save", "box", name, "--tag", f"{key}={value}", "--yes", "-o", "json")
    if result.exit_code == 2:
        _refused_cleanly(prop_sandbox, result, instance_id)
        return
    assert result.exit_code == 0, result.stderr
    path = prop_sandbox.prism_home / "templates" / f"{name}.yaml"
    assert load_file(path)["name"] == name
    assert path.parent == prop_sandbox.prism_home / "templates"
    (image,) = prop_sandbox.own_images()
    tags = tags_of(image)
    assert tags[key.strip()] == value and tags["prism:template"] == name
    launched = run_prism_child("launch", name, "new-box", "--yes")
    assert launched.exit_code == 0, launched.stderr


regions = st.one_of(
    st.sampled_from(["us-east-2", "eu-west-1", "us-east-1", "eu-north-9", "US-EAST-2"]),
    st.text(alphabet=st.sampled_from("abeustw-129,\n "), max_size=24),
)


@pytest.mark.long
@EXAMPLES
@given(region=regions)
@example(region="us-east-2,us-west-1")
def test_copy_regions(prop_sandbox, region):
    instance_id = _fresh(prop_sandbox)
    result = run_prism_child(
        "save", "box", "env1", "--copy-to-regions", region, "--yes", "-o", "json"
    )
    if result.exit_code == 2:
        _refused_cleanly(prop_sandbox, result, instance_id)
        return
    assert result.exit_code == 0, result.stderr
    # the value is a comma-separated list ("us-east-2,us-west-1" is one draw): the
    # regions it names, as prism reads them, each get one image
    named = copy_regions(region, "us-east-1")
    assert named and set(result.json()["amis"]) == {"us-east-1", *named}
    for each in named:
        assert len(prop_sandbox.own_images(each)) == 1
    path = prop_sandbox.prism_home / "templates" / "env1.yaml"
    assert set(load_file(path)["ami_config"]["amis"]) == {"us-east-1", *named}


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.booleans(),
    st.text(max_size=8),
    st.none(),
)


@EXAMPLES
@given(key=st.sampled_from(["poll_delay_seconds", "copy_concurrency", "timeouts"]), value=numbers)
def test_config_values(prop_sandbox, monkeypatch, key, value):
    instance_id = _fresh(prop_sandbox)
    monkeypatch.delenv("PRISM_POLL_DELAY_SECONDS", raising=False)
    section = {key: {"image": value} if key == "timeouts" else value}
    prop_sandbox.write_config(yaml.safe_dump({"prism": section}))
    result = run_prism_child("save", "box", "env1", "--dry-run", "-o", "json")
    if result.exit_code == 2:
        _refused_cleanly(prop_sandbox, result, instance_id)
        return
    assert result.exit_code == 0, result.stderr
    assert result.json()["dry_run"] is True
    assert prop_sandbox.own_images() == []
