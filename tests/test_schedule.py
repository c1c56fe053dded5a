"""`prism schedule ...` and `prism sandbox advance`: scheduled saves run by the save engine
(EventBridge Scheduler's firings emulated on the sandbox's clock, everything else by
moto's Step Functions interpreter and the region function's handler)."""

from __future__ import annotations

import json

import pytest
from helpers import refused

from prism_core.aws.tags import TEMPLATE_VERSION_TAG, VERSION_TAG, tags_of
from prism_core.cloud.scheduled import SCHEDULE_TAG
from prism_core.cloud.schedules import STOP_TAG
from prism_sandbox.iam_evaluator import denied


@pytest.fixture
def engine(prism_sandbox, run_prism):
    result = run_prism("cloud", "setup", "--yes")
    assert result.exit_code == 0, result.stderr
    return prism_sandbox


def _add(run_prism, *extra):
    result = run_prism("schedule", "add", "box", "env", "--yes", "-o", "json", *extra)
    assert result.exit_code == 0, result.stderr
    return result.json()


def _advance(run_prism, duration):
    result = run_prism("sandbox", "advance", duration, "-o", "json")
    assert result.exit_code == 0, result.stderr
    return result.json()["fired"]


def _versions(sandbox, region="us-east-1"):
    """Template version -> image id of every image of template env in ``region``."""
    found = {}
    for image in sandbox.own_images(region):
        tags = tags_of(image)
        number = tags.get(VERSION_TAG) or tags.get(TEMPLATE_VERSION_TAG)
        if number:
            found[int(number)] = image["ImageId"]
    return found


def _registry_versions(sandbox, region="us-east-1"):
    params = sandbox.client("ssm", region).get_parameters_by_path(
        Path="/prism/templates/env/versions", Recursive=True)["Parameters"]
    return sorted(int(p["Name"].rsplit("/", 1)[-1]) for p in params
                  if p["Name"].rsplit("/", 1)[-1].isdigit())


def _sboms(sandbox, region="us-east-1"):
    """The keys of the SBOMs stored in the account's inventory bucket of ``region``."""
    s3 = sandbox.client("s3", region)
    bucket = f"prism-inventory-123456789012-{region}"
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def _function_role():
    from prism_core.cloud.deploy import FUNCTION_ROLE, Engine

    return Engine("us-east-1", "123456789012").policies()[FUNCTION_ROLE]


def _function_grants():
    from prism_core.cloud.deploy import FUNCTION_ROLE, Engine

    statements = Engine("us-east-1", "123456789012").policies()[FUNCTION_ROLE]["Statement"]
    return {a for s in statements
            for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}


@pytest.mark.long
def test_rate_schedule_keeps_two_versions_and_moves_the_channel(engine, run_prism):
    from prism_sandbox import engine as sandbox_engine

    sandbox_engine.ENGINE_ACTIONS.clear()
    sandbox_engine.ENGINE_AUTHORIZATIONS.clear()
    engine.create_instance("box")
    added = _add(run_prism, "--rate", "1d", "--keep", "2", "--channel", "nightly")
    assert added["name"] == "env-box" and added["expression"] == "rate(1 day)"
    assert added["state"] == "ENABLED" and added["next_run"]

    fired = _advance(run_prism, "4d")
    assert [f["status"] for f in fired] == ["SUCCEEDED"] * 4, fired
    saves = run_prism("saves", "list", "-o", "json").json()["saves"]
    assert len(saves) == 4 and {s["status"] for s in saves} == {"done"}
    assert {s["schedule"] for s in saves} == {"env-box"}
    assert sorted(_versions(engine)) == [3, 4]
    for image in engine.own_images():
        assert tags_of(image)[SCHEDULE_TAG] == "env-box"
    channel = json.loads(engine.client("ssm").get_parameter(
        Name="/prism/templates/env/channels/nightly")["Parameter"]["Value"])
    assert int(channel["version"]) == 4
    # the pruned versions' SBOMs went with them (proven by their tags), the kept ones' stay
    assert _sboms(engine) == ["inventory/env/3.cdx.json", "inventory/env/4.cdx.json"]

    # a version an instance runs from is kept beyond --keep; the others go
    engine.ec2().run_instances(ImageId=_versions(engine)[4], MinCount=1, MaxCount=1,
                               InstanceType="t3.micro")
    fired = _advance(run_prism, "2d")
    assert [f["status"] for f in fired] == ["SUCCEEDED"] * 2, fired
    assert sorted(_versions(engine)) == [4, 5, 6]
    assert _registry_versions(engine) == [4, 5, 6]
    assert _sboms(engine) == [f"inventory/env/{v}.cdx.json" for v in (4, 5, 6)]
    show = run_prism("saves", "show", "-o", "json").json()  # the newest
    assert show["status"] == "done" and "Retain" in {p["state"] for p in show["phases"]}
    # the function's role grants every call the scheduled saves made in the account, as
    # IAM checks it (its action, resource and conditions: S3's HeadBucket needs
    # s3:ListBucket); the SBOM is stored by Prepare, once the image is requested
    assert {"ec2:CreateImage", "ec2:DeregisterImage", "ssm:PutParameter",
            "s3:PutObject", "s3:DeleteObject"} <= set(sandbox_engine.ENGINE_ACTIONS)
    assert denied(_function_role(), list(sandbox_engine.ENGINE_AUTHORIZATIONS)) == []


def test_a_stop_schedule_stops_images_and_starts_the_instance(engine, run_prism):
    from prism_core.aws.tags import LOCK_TAG
    from prism_sandbox import engine as sandbox_engine

    sandbox_engine.ENGINE_AUTHORIZATIONS.clear()
    instance_id = engine.create_instance("box")
    added = _add(run_prism, "--rate", "1d", "--stop")
    assert added["request"]["image_mode"] == "stop"
    # the mark that lets the engine's role stop this instance (and no other)
    assert tags_of(engine.instance(instance_id))[STOP_TAG] == "env-box"
    engine.create_instance("other")
    refused(run_prism("schedule", "add", "box", "env2", "--rate", "1d", "--stop", "--yes"),
            "stopped by schedule 'env-box' already")

    fired = _advance(run_prism, "1d")
    assert [f["status"] for f in fired] == ["SUCCEEDED"], fired
    assert engine.instance_state(instance_id) == "running"
    shown = run_prism("saves", "show", "-o", "json").json()
    assert shown["status"] == "done"
    assert shown["instance"]["restart"] is True and shown["instance"]["started"] is True
    assert LOCK_TAG not in tags_of(engine.instance(instance_id))
    sent = list(sandbox_engine.ENGINE_AUTHORIZATIONS)
    assert {"ec2:StopInstances", "ec2:StartInstances"} <= {a.action for a in sent}
    assert denied(_function_role(), sent) == []

    # a failure after the stop: the instance runs again, the save is failed
    engine.faults.inject("CreateImage", region="us-east-1", code="UnauthorizedOperation",
                         message="images refused here", status=403)
    fired = _advance(run_prism, "1d")
    assert [f["status"] for f in fired] == ["FAILED"], fired
    assert engine.instance_state(instance_id) == "running"
    assert LOCK_TAG not in tags_of(engine.instance(instance_id))

    # without the mark (taken off by hand) the engine does not stop it
    engine.ec2().delete_tags(Resources=[instance_id], Tags=[{"Key": STOP_TAG}])
    fired = _advance(run_prism, "1d")
    assert [f["status"] for f in fired] == ["FAILED"], fired
    failed = run_prism("saves", "show", "-o", "json").json()
    assert f"does not carry {STOP_TAG}=env-box" in failed["error"]
    assert engine.instance_state(instance_id) == "running"

    engine.ec2().create_tags(Resources=[instance_id], Tags=[{"Key": STOP_TAG,
                                                             "Value": "env-box"}])
    removed = run_prism("schedule", "remove", "env-box", "--yes", "-o", "json")
    assert removed.exit_code == 0, removed.stderr
    assert f"tag {STOP_TAG} of {instance_id}" in removed.json()["removed"]
    assert STOP_TAG not in tags_of(engine.instance(instance_id))


def test_a_stop_schedule_whose_prepare_could_not_restart_is_recovered(engine, run_prism):
    """The function's own failure path could not start the instance (its starts were
    refused): the state machine's ``UnprepareStep`` does, proven by this save's lock."""
    from prism_core.aws.tags import LOCK_TAG

    instance_id = engine.create_instance("box")
    _add(run_prism, "--rate", "1d", "--stop")
    engine.faults.inject("CreateImage", region="us-east-1", code="UnauthorizedOperation",
                         message="images refused here", status=403)
    # both starts of the function's own failure path (the image phase's, then the
    # hand-over's) are refused
    engine.faults.inject("StartInstances", times=2, code="UnauthorizedOperation",
                         message="starts refused", status=400)
    fired = _advance(run_prism, "1d")
    assert [f["status"] for f in fired] == ["FAILED"], fired
    assert engine.instance_state(instance_id) == "running"
    shown = run_prism("saves", "show", "-o", "json").json()
    assert shown["instance"]["started"] is True, shown["instance"]
    assert LOCK_TAG not in tags_of(engine.instance(instance_id))


def test_unprepare_starts_only_an_instance_that_was_running(engine):
    """The Catch of a cut-off Prepare: an instance stopped with this save's lock tag is
    started only if ObserveInstance saw it running when the execution began."""
    from prism_core.aws.tags import LOCK_TAG
    from prism_core.cloud.scheduled import unprepare

    instance_id = engine.create_instance("box")
    ec2 = engine.ec2()
    ec2.stop_instances(InstanceIds=[instance_id])
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": LOCK_TAG, "Value": "run-1@host"}])
    schedule = {"name": "env-box", "region": "us-east-1", "request": {
        "image_mode": "stop", "stop_instance_id": instance_id, "stop_region": "us-east-1"}}

    def step(execution, state):
        return unprepare({"schedule": schedule, "execution": execution,
                          "at_start": {"instance_id": instance_id, "state": state}},
                         engine.client)

    assert "not running when the save began" in step("run-1", "stopped")["note"]
    assert "not locked by this save" in step("run-2", "running")["note"]
    assert engine.instance_state(instance_id) == "stopped"
    assert step("run-1", "running")["note"] == "start requested"
    assert engine.wait_running(instance_id) == "running"
    done = step("run-1", "running")
    assert done["duty"] == "done" and done["started"] is True
    assert LOCK_TAG not in tags_of(engine.instance(instance_id))


def _queue_on(sandbox, topic_arn):
    """An SQS queue subscribed to ``topic_arn`` (to read what is published)."""
    sqs = sandbox.client("sqs")
    url = sqs.create_queue(QueueName="failures")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sandbox.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return sqs, url


def test_a_failing_scheduled_save_is_listed_and_notified(engine, run_prism):
    engine.create_instance("box")
    topic = engine.client("sns").create_topic(Name="ops")["TopicArn"]
    sqs, url = _queue_on(engine, topic)
    _add(run_prism, "--rate", "1d", "--notify", topic)
    engine.faults.inject("CreateImage", region="us-east-1", code="UnauthorizedOperation",
                         message="images refused here", status=403)
    fired = _advance(run_prism, "1d")
    assert [f["status"] for f in fired] == ["FAILED"], fired

    saves = run_prism("saves", "list", "-o", "json").json()["saves"]
    assert [(s["status"], s["schedule"], s["template"]) for s in saves] == [
        ("failed", "env-box", "env")]
    assert "images refused here" in saves[0]["error"]
    listed = run_prism("saves", "list").stdout
    assert "failed" in listed and "env-box" in listed
    shown = run_prism("saves", "show", saves[0]["save_id"])
    assert shown.exit_code == 1 and "images refused here" in shown.stdout
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(messages[0]["Body"])
    assert body["Subject"] == "prism: scheduled save env-box failed"
    assert "images refused here" in body["Message"]
    assert saves[0]["save_id"] in body["Message"]
    assert "sns:Publish" in _function_grants()
    # nothing left held: no lock, no version claim, no image
    assert not engine.client("ssm").get_parameters_by_path(
        Path="/prism/", Recursive=True)["Parameters"]
    assert not engine.own_images()

    fired = _advance(run_prism, "1d")  # the next firing saves again
    assert [f["status"] for f in fired] == ["SUCCEEDED"], fired
    # and `saves abort` undoes a scheduled save as any other (what Prepare made included)
    save_id = fired[0]["execution"].rsplit(":", 1)[-1]
    assert len(engine.own_images()) == 1
    aborted = run_prism("saves", "abort", save_id, "--yes")
    assert aborted.exit_code == 0, aborted.stderr
    assert not engine.own_images()
    assert _registry_versions(engine) == []


def test_pause_resume_remove(engine, run_prism):
    engine.create_instance("box")
    added = _add(run_prism, "--cron", "0 3 * * ? *", "--time-zone", "Europe/Berlin",
                 "--notify", "ops@example.org", "--name", "nightly",
                 "--copy-to-regions", "us-east-2")
    assert added["time_zone"] == "Europe/Berlin" and "T03:00:00+01:00" in added["next_run"]
    topic = added["notify_topic"]
    sns = engine.client("sns")
    assert {"Key": SCHEDULE_TAG, "Value": "nightly"} in sns.list_tags_for_resource(
        ResourceArn=topic)["Tags"]
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [
        ("email", "ops@example.org")]

    listed = run_prism("schedule", "list", "-o", "json").json()["schedules"]
    assert [(s["name"], s["state"]) for s in listed] == [("nightly", "ENABLED")]
    shown = run_prism("schedule", "show", "nightly")
    assert shown.exit_code == 0 and "cron(0 3 * * ? *) (Europe/Berlin)" in shown.stdout

    paused = run_prism("schedule", "pause", "nightly", "-o", "json")
    assert paused.exit_code == 0 and paused.json()["state"] == "DISABLED"
    assert _advance(run_prism, "2d") == []
    resumed = run_prism("schedule", "resume", "nightly", "-o", "json")
    assert resumed.exit_code == 0 and resumed.json()["state"] == "ENABLED"
    fired = _advance(run_prism, "1d")
    assert [f["status"] for f in fired] == ["SUCCEEDED"], fired
    (copy,) = engine.own_images("us-east-2")  # the copy carries the schedule's tag too
    assert tags_of(copy)[SCHEDULE_TAG] == "nightly"
    assert _registry_versions(engine, "us-east-2") == [1]

    removed = run_prism("schedule", "remove", "nightly", "--yes", "-o", "json")
    assert removed.exit_code == 0, removed.stderr
    assert not engine.client("scheduler").list_schedules()["Schedules"]
    assert topic not in [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    assert _advance(run_prism, "2d") == []
    assert sorted(_versions(engine)) == [1]  # the versions it made stay
    refused(run_prism("schedule", "show", "nightly"), "no schedule 'nightly'")


def _nothing_scheduled(sandbox):
    assert not sandbox.client("scheduler").list_schedules()["Schedules"]
    assert not sandbox.client("sns").list_topics()["Topics"]


def test_bad_input_is_refused_before_anything_changes(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box")
    refused(run_prism("schedule", "add", "box", "env", "--rate", "1d", "--yes"),
            "save engine", "prism cloud setup")
    assert run_prism("cloud", "setup", "--yes").exit_code == 0
    cases = [
        (["--cron", "0 3 * *"], "has 4 fields, not 6"),
        (["--cron", "0 25 * * ? *"], "cron hours: '25'"),
        (["--cron", "0 3 * * MON *"], "exactly one of day-of-month and day-of-week"),
        (["--rate", "0d"], "--rate '0d' is not a rate"),
        (["--rate", "2w"], "--rate '2w' is not a rate"),
        (["--rate", "1d", "--cron", "0 3 * * ? *"], "exactly one of --cron"),
        ([], "exactly one of --cron"),
        (["--rate", "1d", "--keep", "0"], "--keep must be from 1"),
        (["--rate", "1d", "--stop", "--no-reboot"], "--reboot, --stop, --no-reboot exclude"),
        (["--rate", "1d", "--notify", "ops"], "neither an email address"),
        (["--cron", "0 3 * * ? *", "--time-zone", "Mars/Base"], "not a time zone"),
        (["--rate", "1d", "--channel", "Bad Channel"], "invalid channel name"),
    ]
    for extra, expected in cases:
        refused(run_prism("schedule", "add", "box", "env", "--yes", *extra), expected)
    refused(run_prism("schedule", "add", "nope", "env", "--rate", "1d", "--yes"),
            "no instance named 'nope'")
    _nothing_scheduled(prism_sandbox)
    _add(run_prism, "--rate", "1d")
    refused(run_prism("schedule", "add", "box", "env", "--rate", "7d", "--yes"),
            "a schedule 'env-box' exists already")
    refused(run_prism("sandbox", "advance", "4 days"), "is not a duration")

    # teardown takes the engine's schedules (and the topics prism made) with it
    _add(run_prism, "--rate", "7d", "--name", "weekly", "--notify", "ops@example.org",
         "--stop")
    (instance,) = [i for r in prism_sandbox.ec2().describe_instances()["Reservations"]
                   for i in r["Instances"]]
    assert {"Key": STOP_TAG, "Value": "weekly"} in instance["Tags"]
    down = run_prism("cloud", "teardown", "--yes", "-o", "json")
    assert down.exit_code == 0, down.stderr
    # and the mark of its --stop schedule
    assert STOP_TAG not in tags_of(prism_sandbox.instance(instance["InstanceId"]))
    assert {("schedule", "prism-save-env-box"), ("schedule", "prism-save-weekly")} <= {
        (r["kind"], r["name"]) for r in down.json()["deleted"]}
    _nothing_scheduled(prism_sandbox)
