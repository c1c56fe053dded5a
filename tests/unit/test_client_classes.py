"""Client classes are built once per session and go away with it."""

from __future__ import annotations

import gc
import weakref

import boto3

from prism_core.aws.clients import share_client_classes


def _session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


def test_one_class_per_service_and_session() -> None:
    share_client_classes()
    session = _session()
    east, west = session.client("ec2"), session.client("ec2", region_name="us-west-2")
    assert type(east) is type(west)
    assert east.meta.region_name == "us-east-1" and west.meta.region_name == "us-west-2"
    assert type(session.client("ssm")) is not type(east)
    assert type(_session().client("ec2")) is not type(east)  # another session: its own


def test_a_sessions_classes_are_freed_with_it() -> None:
    """A process that makes many sessions (a batch, the tests) must not keep them all."""
    share_client_classes()
    session = _session()
    client_class = weakref.ref(type(session.client("ec2")))
    emitter = weakref.ref(session._session.get_component("event_emitter"))
    del session
    gc.collect()
    assert emitter() is None
    assert client_class() is None


def test_prewarmed_clients_are_built_once_in_the_background(monkeypatch) -> None:
    """``AwsClients.prewarm`` builds clients in a thread; ``client()`` hands out those (or
    waits for them), never a second one, and builds one itself if the thread failed."""
    import threading

    from prism_core.aws.clients import AwsClients

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws = AwsClients("us-east-1")
    aws._session = _session()
    built: list[tuple[str, str, str]] = []
    real = aws._session.client

    def counting(service, region_name=None, **kwargs):  # type: ignore[no-untyped-def]
        built.append((service, region_name, threading.current_thread().name))
        if region_name == "eu-north-1":
            raise RuntimeError("no endpoint")
        return real(service, region_name=region_name, **kwargs)

    monkeypatch.setattr(aws._session, "client", counting)
    aws.prewarm(("ssm", "ec2"), ["us-east-1", "eu-west-1", "eu-north-1"])
    east = aws.client("ec2", "us-east-1")
    assert aws.client("ssm", "eu-west-1").meta.region_name == "eu-west-1"
    assert aws.client("ec2", "us-east-1") is east
    try:
        aws.client("ssm", "eu-north-1")
    except RuntimeError:
        pass
    keys = [(service, region) for service, region, _ in built]
    assert keys.count(("ec2", "us-east-1")) == 1 and keys.count(("ssm", "eu-west-1")) == 1
    assert keys.count(("ssm", "eu-north-1")) == 2  # failed in the thread, tried again here
    assert any(thread == "prism-clients" for _, _, thread in built)


def test_sessions_of_the_shared_data_build_the_methods_once() -> None:
    """Sessions reading the process-wide botocore data get their own classes, made from
    one set of methods (the costly part), and those methods still call their own client."""
    from prism_core.aws.clients import new_session

    share_client_classes()

    def client(region: str) -> object:
        return new_session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
        ).client("ec2")

    east, west = client("us-east-1"), client("us-west-2")
    assert type(east) is not type(west)
    assert type(east).describe_instances is type(west).describe_instances
    assert east.meta.service_model is west.meta.service_model  # type: ignore[attr-defined]
    assert east.meta.region_name == "us-east-1" and west.meta.region_name == "us-west-2"
    assert east.describe_instances.__self__ is east  # type: ignore[attr-defined]


def test_event_names_are_aliased_as_botocore_does() -> None:
    """The process-wide alias cache gives botocore's own answer; another alias table is
    not served from it."""
    from botocore.hooks import EventAliaser, HierarchicalEmitter
    from botocore.utils import EVENT_ALIASES

    from prism_core.aws.clients import share_event_aliases

    share_event_aliases()
    botocores = EventAliaser._alias_event_name.__wrapped__  # type: ignore[attr-defined]
    names = [
        "before-parameter-build.api.sagemaker.CreateModel",
        "creating-client-class.ec2",
        "before-call.s3.PutObject",
    ]
    for _ in range(2):  # the second time from the cache
        for name in names:
            fresh = EventAliaser(HierarchicalEmitter(), dict(EVENT_ALIASES))
            assert fresh._alias_event_name(name) == botocores(fresh, name)
    other = EventAliaser(HierarchicalEmitter(), {"ec2": "elastic-compute"})
    assert other._alias_event_name("creating-client-class.ec2") == (
        "creating-client-class.elastic-compute"
    )
