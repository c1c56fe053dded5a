"""`prism save --scrub`: the team image stays complete and private, the shared image is
a scrubbed derivative made by a short-lived helper (sandbox: its user data runs for real
against a copy of the image's tree); every step journaled, kill -9 at each step then
`--resume` or `--abort` leaves nothing running and nothing unrecorded."""

from __future__ import annotations

import time

import pytest
import yaml
from helpers import PrismProcess

from prism_sandbox import Timings

SECRETS = (
    "home/ubuntu/.aws/credentials",
    "home/ubuntu/.ssh/id_ed25519",
    "home/ubuntu/.cache/huggingface/token",
)


def helpers_of(sb, region: str = "us-east-1") -> list[dict]:
    """Every scrub helper EC2 knows (any state), by its prism:helper tag."""
    found = sb.ec2(region).describe_instances(
        Filters=[{"Name": "tag:prism:helper", "Values": ["scrub"]}]
    )["Reservations"]
    return [i for r in found for i in r["Instances"]]


def live_helpers(sb, region: str = "us-east-1") -> list[str]:
    return [
        i["InstanceId"]
        for i in helpers_of(sb, region)
        if i["State"]["Name"] not in ("terminated", "shutting-down")
    ]


def helper_groups(sb, region: str = "us-east-1") -> list[str]:
    groups = sb.ec2(region).describe_security_groups(
        Filters=[{"Name": "tag:prism:helper", "Values": ["scrub"]}]
    )["SecurityGroups"]
    return [g["GroupId"] for g in groups]


def launch_permissions(sb, image_id: str, region: str = "us-east-1") -> list[dict]:
    return sb.ec2(region).describe_image_attribute(
        ImageId=image_id, Attribute="launchPermission"
    )["LaunchPermissions"]


def by_kind(sb, region: str = "us-east-1") -> tuple[list[dict], list[dict]]:
    """(team images, scrubbed derivatives) prism made in ``region``."""
    images = sb.own_images(region)
    shared = [i for i in images if any(t["Key"] == "prism:scrubbed-from" for t in i["Tags"])]
    team = [i for i in images if i not in shared]
    return team, shared


def test_scrub_public_shares_a_derivative_without_the_findings(prism_sandbox, run_prism):
    sb = prism_sandbox
    instance_id = sb.create_instance("genomics-box", tree="genomics-box")
    before = {p: (sb.tree(instance_id) / p).read_bytes() for p in SECRETS}
    result = run_prism(
        "save", "genomics-box", "course-env", "--public", "--scrub",
        "--copy-to-regions", "us-east-2", "--yes", "-o", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "Scrub (--scrub)" in result.stderr  # the plan shows the steps
    document = result.json()
    for region in ("us-east-1", "us-east-2"):
        (team,), (shared,) = by_kind(sb, region)
        assert launch_permissions(sb, team["ImageId"], region) == []  # the team's: private
        assert launch_permissions(sb, shared["ImageId"], region) == [{"Group": "all"}]
        assert document["shared_images"][region]["image_id"] == shared["ImageId"]
        assert document["amis"][region] == team["ImageId"]
        team_tree, shared_tree = sb.tree(team["ImageId"]), sb.tree(shared["ImageId"])
        for path in SECRETS:
            assert (team_tree / path).exists(), path  # the team image keeps everything
            assert not (shared_tree / path).exists(), path
        assert (team_tree / "home/ubuntu/.bash_history").read_text() != ""
        assert (shared_tree / "home/ubuntu/.bash_history").read_text() == ""
        assert (shared_tree / "home/ubuntu/.ssh/authorized_keys").exists()  # not a finding
        assert (shared_tree / "opt/conda/envs/genomics").is_dir()  # the environment stays
        tags = {t["Key"]: t["Value"] for t in shared["Tags"]}
        assert tags["prism:scrubbed-from"] == document["amis"]["us-east-1"]  # the lineage
    # the workstation is never modified, and runs as it did
    assert {p: (sb.tree(instance_id) / p).read_bytes() for p in SECRETS} == before
    assert sb.instance_state(instance_id) == "running"
    # the helper is gone, and so is its security group; nothing is left to resume
    (helper,) = helpers_of(sb)
    assert helper["State"]["Name"] == "terminated"
    assert not helper.get("PublicIpAddress")
    assert helper["MetadataOptions"]["HttpTokens"] == "required"
    assert helper_groups(sb) == []
    assert sb.journals() == []
    # the template records both images per region, and the lineage
    template = yaml.safe_load((sb.prism_home / "templates" / "course-env.yaml").read_text())
    shared = template["shared_image"]
    assert shared["scrubbed"] is True
    for region in ("us-east-1", "us-east-2"):
        team_id = template["ami_config"]["amis"][region]["x86_64"]
        shared_id = shared["amis"][region]["x86_64"]
        assert shared_id == document["shared_images"][region]["image_id"] != team_id
        assert shared["scrubbed_from"][region] == team_id


def test_a_workstation_launched_from_the_derivative_saves_public_without_findings(
    prism_sandbox, run_prism
):
    sb = prism_sandbox
    sb.create_instance("genomics-box", tree="genomics-box")
    result = run_prism("save", "genomics-box", "course-env", "--public", "--scrub", "--yes")
    assert result.exit_code == 0, result.stderr
    (_, (shared,)) = by_kind(sb)
    student = sb.ec2().run_instances(
        ImageId=shared["ImageId"],
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.medium",
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "student-box"}]}
        ],
    )["Instances"][0]["InstanceId"]
    assert sb.wait_running(student) == "running"
    again = run_prism("save", "student-box", "student-env", "--public", "--yes", "-o", "json")
    assert again.exit_code == 0, again.stderr
    assert again.json()["inspection"]["secrets"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--scrub",), "shares nothing (nothing to scrub for)"),
        (("--scrub", "--public", "--allow-secrets"), "--allow-secrets and --scrub exclude"),
        (("--scrub", "--public", "--no-inspect"), "--no-inspect and --scrub exclude"),
        (("--scrub", "--public", "--detach"), "--detach does not work with --scrub"),
        (("--scrub", "--copy-to-accounts", "111122223333"), "--copy-to-accounts copies"),
    ],
    ids=["no-share", "allow-secrets", "no-inspect", "detach", "copy-to-accounts"],
)
def test_scrub_refusals_change_nothing(prism_sandbox, run_prism, args, message):
    sb = prism_sandbox
    sb.create_instance("genomics-box", tree="genomics-box")
    result = run_prism("save", "genomics-box", "course-env", *args, "--yes")
    assert result.exit_code == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("prism: error:") and message in last, last
    assert "Traceback" not in result.stderr
    assert sb.own_images() == [] and sb.journals() == [] and helpers_of(sb) == []


def test_refusal_of_a_share_with_findings_names_scrub(prism_sandbox, run_prism):
    prism_sandbox.create_instance("genomics-box", tree="genomics-box")
    result = run_prism("save", "genomics-box", "course-env", "--public", "--yes")
    assert result.exit_code == 2
    assert "--scrub" in result.stderr.strip().splitlines()[-1]


def test_dry_run_shows_the_scrub_steps(prism_sandbox, run_prism):
    prism_sandbox.create_instance("genomics-box", tree="genomics-box")
    result = run_prism(
        "save", "genomics-box", "course-env", "--share-with", "111122223333", "--scrub",
        "--dry-run",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Scrub (--scrub)" in out and "launch a helper from the team image" in out
    assert "removes 3 file(s), empties 1 history file(s)" in out
    assert "share only the derivative, in us-east-1" in out


# -- kill -9 at each scrub step, then --resume or --abort -----------------------------


@pytest.fixture
def slow_scrub(prism_sandbox, monkeypatch):
    """Each scrub step lasts long enough to be killed in (the helper's boot, its run until
    it powers off, the derivative's imaging)."""
    prism_sandbox.timings = Timings(start=1.5, snapshot=0.2, image=1.5, copy=0.5, user_data=1.5)
    monkeypatch.setenv("PRISM_POLL_DELAY_SECONDS", "0.1")
    return prism_sandbox


def _wait(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.02)


def _kill_at(sb, step: str) -> None:
    """Start a --scrub save and kill -9 it at ``step``, seen in the sandbox's state."""
    prism = PrismProcess(
        "save", "genomics-box", "course-env", "--public", "--scrub", "--yes"
    )
    if step == "launching":  # RunInstances answered, the helper still pending
        _wait(lambda: any(i["State"]["Name"] == "pending" for i in helpers_of(sb)), step)
    elif step == "running":  # the helper runs its user data
        _wait(lambda: any(i["State"]["Name"] == "running" for i in helpers_of(sb)), step)
    else:  # the derivative is being imaged
        _wait(lambda: any(i["State"] == "pending" for i in by_kind(sb)[1]), step)
    prism.proc.kill()
    prism.finish()
    assert sb.journals(), prism.stderr


def _nothing_unrecorded(sb) -> None:
    assert live_helpers(sb) == []
    assert helper_groups(sb) == []


@pytest.mark.parametrize("step", ["launching", "running", "imaging"])
def test_kill_9_at_each_scrub_step_then_resume(slow_scrub, run_prism, step):
    sb = slow_scrub
    instance_id = sb.create_instance("genomics-box", tree="genomics-box")
    _kill_at(sb, step)
    result = run_prism("save", "--resume", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    _nothing_unrecorded(sb)
    assert len(helpers_of(sb)) == 1  # the killed run's helper was adopted, not doubled
    (team,), (shared,) = by_kind(sb)
    assert launch_permissions(sb, team["ImageId"]) == []
    assert launch_permissions(sb, shared["ImageId"]) == [{"Group": "all"}]
    for path in SECRETS:
        assert not (sb.tree(shared["ImageId"]) / path).exists()
    assert sb.journals() == []
    assert sb.instance_state(instance_id) == "running"


@pytest.mark.parametrize("step", ["launching", "running", "imaging"])
def test_kill_9_at_each_scrub_step_then_abort(slow_scrub, run_prism, step):
    sb = slow_scrub
    instance_id = sb.create_instance("genomics-box", tree="genomics-box")
    _kill_at(sb, step)
    result = run_prism("save", "--abort", "--yes", "-o", "json")
    assert result.exit_code == 0, result.stderr
    _nothing_unrecorded(sb)
    assert sb.own_images() == []  # team image and derivative, with their snapshots
    snapshots = sb.ec2().describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag-key", "Values": ["prism:save-id"]}]
    )["Snapshots"]
    assert snapshots == []
    assert sb.journals() == []
    assert sb.instance_state(instance_id) == "running"


def test_abort_leaves_a_helper_it_cannot_prove_alone(slow_scrub, run_prism):
    """A helper whose tags were changed (not this save's any more) is not terminated."""
    sb = slow_scrub
    sb.create_instance("genomics-box", tree="genomics-box")
    _kill_at(sb, "running")
    (helper,) = live_helpers(sb)
    sb.ec2().create_tags(Resources=[helper], Tags=[{"Key": "prism:save-id", "Value": "other"}])
    result = run_prism("save", "--abort", "--yes")
    assert sb.instance_state(helper) != "terminated"
    assert result.exit_code != 0 and "not this save's" in result.stdout + result.stderr
    sb.ec2().terminate_instances(InstanceIds=[helper])


def test_a_failed_scrub_keeps_the_team_image_private_and_resume_finishes(
    prism_sandbox, run_prism
):
    """The derivative's CreateImage fails: the save ends partial with the team image
    registered and private, the helper terminated; `--resume` makes the derivative."""
    sb = prism_sandbox
    sb.create_instance("genomics-box", tree="genomics-box")
    sb.faults.inject(
        "CreateImage", code="InternalError", status=500, times=-1, after="RunInstances"
    )
    result = run_prism("save", "genomics-box", "course-env", "--public", "--scrub", "--yes")
    assert result.exit_code == 3, result.stderr
    assert "scrub phase failed" in result.stderr
    (team,), shared = by_kind(sb)
    assert shared == [] and launch_permissions(sb, team["ImageId"]) == []
    assert live_helpers(sb) == [] and helper_groups(sb) == []
    sb.faults.clear()
    resumed = run_prism("save", "--resume", "--yes")
    assert resumed.exit_code == 0, resumed.stderr
    (_, (shared,)) = by_kind(sb)
    assert launch_permissions(sb, shared["ImageId"]) == [{"Group": "all"}]
    assert live_helpers(sb) == [] and len(helpers_of(sb)) == 2  # a new helper the second time
    template = yaml.safe_load((sb.prism_home / "templates" / "course-env.yaml").read_text())
    assert template["shared_image"]["amis"]["us-east-1"]["x86_64"] == shared["ImageId"]


def test_templates_show_lists_the_shared_derivative(prism_sandbox, run_prism):
    prism_sandbox.create_instance("genomics-box", tree="genomics-box")
    saved = run_prism("save", "genomics-box", "course-env", "--public", "--scrub", "--yes",
                      "-o", "json")  # fmt: skip
    assert saved.exit_code == 0, saved.stderr
    shared_id = saved.json()["shared_images"]["us-east-1"]["image_id"]
    shown = run_prism("templates", "show", "course-env")
    assert shown.exit_code == 0, shown.stderr
    text = shown.stdout
    assert "shared (scrubbed derivative" in text and shared_id in text
    assert text.index(saved.json()["amis"]["us-east-1"]) < text.index("shared (scrubbed")


def test_a_batch_with_scrub_shares_each_entrys_derivative(prism_sandbox, run_prism, tmp_path):
    prism_sandbox.create_instance("genomics-box", tree="genomics-box")
    listing = tmp_path / "lab.yaml"
    listing.write_text("- {instance: genomics-box, template: course-env, public: true}\n")
    result = run_prism("save", "--batch", str(listing), "--scrub", "--yes")
    assert result.exit_code == 0, result.stderr
    (team,), (shared,) = by_kind(prism_sandbox)
    assert launch_permissions(prism_sandbox, team["ImageId"]) == []
    assert launch_permissions(prism_sandbox, shared["ImageId"]) == [{"Group": "all"}]
    assert live_helpers(prism_sandbox) == []


@pytest.mark.parametrize("verb", ["--resume", "--abort"])
def test_a_helper_launched_but_not_journaled_is_found_by_its_tags(slow_scrub, run_prism, verb):
    """kill -9 between RunInstances and the journal's record of its answer: the journal
    says only that the launch was asked for; the helper is found by its tags."""
    import json

    sb = slow_scrub
    sb.create_instance("genomics-box", tree="genomics-box")
    _kill_at(sb, "launching")
    (path,) = sb.journals()
    state = json.loads(path.read_text())
    assert state["scrub"]["stage"] in ("launching", "running")  # killed in or after the window
    state["scrub"].update(stage="launching", helper_id=None)
    path.write_text(json.dumps(state))
    result = run_prism("save", verb, "--yes")
    assert result.exit_code == 0, result.stderr
    _nothing_unrecorded(sb)
    assert len(helpers_of(sb)) == 1  # adopted or terminated, never a second one
    assert len(by_kind(sb)[1]) == (1 if verb == "--resume" else 0)


def test_a_resume_refused_by_a_policy_still_terminates_the_helper(slow_scrub, run_prism):
    """The killed save's resume no longer passes its checks (a plugin refuses it): the
    helper a killed run left is terminated all the same; --abort removes the rest."""
    from test_plugins import _raiser

    from prism_core.testing import EXTRA_PLUGINS

    sb = slow_scrub
    sb.create_instance("genomics-box", tree="genomics-box")
    _kill_at(sb, "running")
    assert live_helpers(sb)
    EXTRA_PLUGINS.append(("refuser", _raiser("prism_pre_stop")))
    try:
        refused = run_prism("save", "--resume", "--yes")
    finally:
        EXTRA_PLUGINS.pop()
    assert refused.exit_code != 0 and "no longer passes the checks" in refused.stderr
    _nothing_unrecorded(sb)
    aborted = run_prism("save", "--abort", "--yes")
    assert aborted.exit_code == 0, aborted.stderr
    assert sb.own_images() == [] and sb.journals() == []
