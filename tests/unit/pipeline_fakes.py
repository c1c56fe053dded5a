"""In-memory fakes of the save pipeline's collaborators (tests/unit/test_pipeline_seam.py).

``execute`` works through what it is given: the AWS clients, the journal and the progress
reporter (on the context), the plugin manager, the guard, the clock and the wait
schedule. Here each is small and in memory, so a whole save runs in milliseconds:

- :class:`FakeCloud` answers the few EC2 and SSM calls the pipeline itself makes (the
  save lock, the version claims, the lock tag, finding and discarding its own image),
  with AWS's error codes, and records every call;
- :class:`FakeEc2Plugins` is a plugin doing the phases against :class:`FakeCloud` (the
  real plugin manager calls it, so a crash is converted and blamed as in prism);
- :class:`FakeGuard` keeps the instance's state as ``--stop`` does (down between
  ``stop`` and ``restart``), so a test asks whether the instance ended as it began;
- :class:`FakeClock` advances without sleeping; :class:`RecordingProgress` keeps lines;
- :class:`MemoryJournal` is prism's journal writing its JSON to memory instead of a
  file (no fsync per step); :meth:`Save.resumed` reads it back, validated as
  ``prism save --resume`` reads the file.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from prism_core import hookimpl
from prism_core.aws.ec2 import InstanceInfo
from prism_core.aws.tags import SAVE_ID_TAG
from prism_core.plugin_manager import PrismPluginManager
from prism_core.save.context import SaveContext
from prism_core.save.journal import Journal
from prism_core.save.journal_schema import check_journal
from prism_core.save.request import SaveRequest
from prism_core.save.state import AVAILABLE, PENDING, RegionImage, SaveState
from prism_core.settings import Settings

SOURCE = "us-east-1"
INSTANCE = "i-0123456789abcdef0"


def aws_error(code: str, operation: str, message: str = "refused") -> ClientError:
    """The exception botocore raises for an AWS error answer."""
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class FakeCloud:
    """EC2 images and SSM parameters by region; every call in :attr:`calls`."""

    parameters: dict[str, dict[str, str]] = field(default_factory=dict)
    images: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    #: ``{action: exception}``: the next call of ``action`` raises it (once).
    faults: dict[str, BaseException] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    serial: int = 0

    def call(self, region: str, action: str) -> None:
        with self.lock:
            self.calls.append((region, action))
            fault = self.faults.pop(action, None)
        if fault is not None:
            raise fault

    def actions(self) -> list[str]:
        return [action for _, action in self.calls]

    def new_image(self, region: str, name: str, save_id: str, state: str = PENDING) -> str:
        with self.lock:
            self.serial += 1
            image_id = f"ami-{self.serial:017x}"
        self.images.setdefault(region, {})[image_id] = {
            "ImageId": image_id,
            "Name": name,
            "State": state,
            "BlockDeviceMappings": [
                {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": f"snap-{self.serial:017x}"}}
            ],
            "Tags": [{"Key": SAVE_ID_TAG, "Value": save_id}],
        }
        return image_id

    def live_images(self, region: str = SOURCE) -> list[str]:
        return [i for i, d in self.images.get(region, {}).items() if d["State"] != "deregistered"]


class FakeSsm:
    """The SSM calls of the save lock and the version claims."""

    def __init__(self, cloud: FakeCloud, region: str) -> None:
        self.cloud, self.region = cloud, region

    def _store(self) -> dict[str, str]:
        return self.cloud.parameters.setdefault(self.region, {})

    def put_parameter(self, *, Name: str, Value: str, Overwrite: bool = False,  # noqa: N803
                      **_: Any) -> dict[str, Any]:
        self.cloud.call(self.region, "PutParameter")
        with self.cloud.lock:
            if Name in self._store() and not Overwrite:
                raise aws_error("ParameterAlreadyExists", "PutParameter")
            self._store()[Name] = Value
        return {"Version": 1}

    def get_parameter(self, *, Name: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        self.cloud.call(self.region, "GetParameter")
        if Name not in self._store():
            raise aws_error("ParameterNotFound", "GetParameter")
        return {"Parameter": {"Name": Name, "Value": self._store()[Name]}}

    def delete_parameter(self, *, Name: str) -> dict[str, Any]:  # noqa: N803
        self.cloud.call(self.region, "DeleteParameter")
        if self._store().pop(Name, None) is None:
            raise aws_error("ParameterNotFound", "DeleteParameter")
        return {}


class FakeEc2:
    """The EC2 calls the pipeline makes itself (not the phases' plugins)."""

    def __init__(self, cloud: FakeCloud, region: str) -> None:
        self.cloud, self.region = cloud, region

    def create_tags(self, *, Resources: list[str], Tags: list[dict[str, str]],  # noqa: N803
                    **_: Any) -> dict[str, Any]:
        self.cloud.call(self.region, "CreateTags")
        for resource in Resources:
            self.cloud.tags.setdefault(resource, {}).update({t["Key"]: t["Value"] for t in Tags})
        return {}

    def delete_tags(self, *, Resources: list[str], Tags: list[dict[str, str]],  # noqa: N803
                    **_: Any) -> dict[str, Any]:
        self.cloud.call(self.region, "DeleteTags")
        for resource in Resources:
            for tag in Tags:
                self.cloud.tags.get(resource, {}).pop(tag["Key"], None)
        return {}

    def describe_images(self, *, ImageIds: list[str] | None = None,  # noqa: N803
                        Filters: list[dict[str, Any]] | None = None, **_: Any) -> dict[str, Any]:
        self.cloud.call(self.region, "DescribeImages")
        images = list(self.cloud.images.get(self.region, {}).values())
        if ImageIds is not None:
            images = [i for i in images if i["ImageId"] in ImageIds]
        for wanted in Filters or []:
            if wanted["Name"] == "name":
                images = [i for i in images if i["Name"] in wanted["Values"]]
        return {"Images": [dict(i) for i in images]}

    def deregister_image(self, *, ImageId: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        self.cloud.call(self.region, "DeregisterImage")
        self.cloud.images[self.region][ImageId]["State"] = "deregistered"
        return {}

    def describe_snapshots(self, **_: Any) -> dict[str, Any]:
        self.cloud.call(self.region, "DescribeSnapshots")
        return {"Snapshots": []}

    def describe_fast_snapshot_restores(self, **_: Any) -> dict[str, Any]:
        self.cloud.call(self.region, "DescribeFastSnapshotRestores")
        return {"FastSnapshotRestores": []}

    def delete_snapshot(self, *, SnapshotId: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        self.cloud.call(self.region, "DeleteSnapshot")
        return {}


class FakeClients:
    """What the pipeline asks of :class:`prism_core.aws.clients.AwsClients`."""

    def __init__(self, cloud: FakeCloud, region: str = SOURCE) -> None:
        self.cloud, self.region = cloud, region

    def client(self, service: str, region: str | None = None, *, attempts: int = 0) -> Any:
        where = region or self.region
        return FakeSsm(self.cloud, where) if service == "ssm" else FakeEc2(self.cloud, where)

    def ec2(self, region: str | None = None) -> Any:
        return self.client("ec2", region)

    critical_ec2 = ec2


class FakeGuard:
    """The guard of a ``--stop`` save: the instance is down from :meth:`stop` until
    :meth:`restart` (or :meth:`restart_after_failure`), as the journal records it."""

    def __init__(self, ctx: SaveContext, log: list[str]) -> None:
        self.ctx, self.log = ctx, log

    def prepare(self) -> None:
        self.log.append("guard.prepare")

    def stop(self) -> None:
        self.log.append("guard.stop")
        self.ctx.record(stopped_by_prism=True, instance_restarted=False)

    def begin_reboot(self) -> None:
        self.log.append("guard.begin_reboot")

    def restart(self) -> None:
        self.log.append("guard.restart")
        self.ctx.record(instance_restarted=True)

    def confirm_reboot(self) -> None:
        self.log.append("guard.confirm_reboot")

    def restart_after_failure(self) -> None:
        self.log.append("guard.restart_after_failure")
        if self.ctx.state.stopped_by_prism and not self.ctx.state.instance_restarted:
            self.restart()

    def join(self) -> None:
        self.log.append("guard.join")


def instance_down(state: SaveState) -> bool:
    """Whether the save left the instance down (stopped by prism, never started)."""
    return state.stopped_by_prism and not state.instance_restarted


class FakeClock:
    """A monotonic clock that pauses by advancing (a set ``cancel`` ends a pause)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def pause(self, seconds: float, cancel: threading.Event | None = None) -> bool:
        self.pauses.append(seconds)
        self.now += seconds
        return cancel is not None and cancel.is_set()


class RecordingProgress:
    """The progress reporter's interface, keeping ``(kind, text)`` lines."""

    broken = None
    readings: list[Any] = []

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.waits: list[str] = []

    def line(self, kind: str, text: str, **_: Any) -> None:
        self.lines.append((kind, text))

    @contextmanager
    def waiting(self, what: str, **_: Any) -> Iterator[Any]:
        self.waits.append(what)
        yield lambda elapsed: None

    def text(self) -> str:
        return "\n".join(text for _, text in self.lines)


class FakeEc2Plugins:
    """The phases against :class:`FakeCloud`: an image (pending, then available), a copy
    per copy region, a registry location per region, a template document.

    ``raises[hook] = exc`` makes ``hook`` raise ``exc`` (every call); ``log`` gets
    ``hook`` for each call."""

    def __init__(self, cloud: FakeCloud, log: list[str]) -> None:
        self.cloud, self.log = cloud, log
        self.raises: dict[str, BaseException] = {}

    def _enter(self, hook: str) -> None:
        self.log.append(hook)
        if hook in self.raises:
            raise self.raises[hook]

    @hookimpl
    def prism_pre_stop(self, ctx: SaveContext) -> None:
        self._enter("prism_pre_stop")

    @hookimpl
    def prism_image(self, ctx: SaveContext) -> RegionImage:
        self._enter("prism_image")
        image = ctx.source_image()
        if image is not None and image.image_id is not None:
            return image  # requested by an interrupted run (as ec2-image adopts it)
        image = RegionImage(ctx.source_region)
        ctx.record_image(image)  # requested: its id is not known yet
        image_id = self.cloud.new_image(ctx.source_region, ctx.state.image_name,
                                        ctx.state.save_id)
        if "prism_image:answer-lost" in self.raises:  # EC2 made it, the answer never came
            raise self.raises["prism_image:answer-lost"]
        image.image_id = image_id
        image.state = PENDING
        image.snapshot_ids = [f"snap-of-{image.image_id}"]
        ctx.record_image(image)
        return image

    @hookimpl
    def prism_post_image(self, ctx: SaveContext) -> None:
        self._enter("prism_post_image")
        image = ctx.source_image()
        assert image is not None and image.image_id is not None
        self.cloud.images[image.region][image.image_id]["State"] = AVAILABLE
        image.state = AVAILABLE
        ctx.record_image(image)

    @hookimpl
    def prism_copy(self, ctx: SaveContext) -> dict[str, RegionImage]:
        self._enter("prism_copy")
        copies = {}
        for region in ctx.request.copy_to_regions:
            if region in ctx.images():
                continue  # done by an earlier run
            image_id = self.cloud.new_image(region, ctx.state.image_name, ctx.state.save_id,
                                            AVAILABLE)
            copies[region] = RegionImage(region, image_id, AVAILABLE)
            ctx.record_image(copies[region])
        return copies

    @hookimpl
    def prism_register(self, ctx: SaveContext) -> list[str]:
        self._enter("prism_register")
        return [f"{region}:/prism/current/{ctx.request.template_name}" for region in ctx.images()]

    @hookimpl
    def prism_template_render(self, ctx: SaveContext) -> dict[str, Any]:
        self._enter("prism_template_render")
        return {
            "name": ctx.request.template_name,
            "description": ctx.request.description,
            "base": "ami-based",
            "package_manager": "ami",
            "ami_config": {
                "amis": {r: {"x86_64": i.image_id} for r, i in ctx.images().items()}
            },
        }


class MemoryJournal(Journal):
    """:class:`Journal` whose file is an entry of ``store`` (path -> JSON text)."""

    def __init__(self, directory: Path, state: SaveState, store: dict[Path, str]) -> None:
        super().__init__(directory, state)
        self.store = store

    def write(self) -> None:
        with self.lock:
            if not self.finished:
                self.store[self.path] = json.dumps(self.state.to_dict())

    def finish(self) -> None:
        with self.lock:
            self.finished = True
            self.store.pop(self.path, None)

    @property
    def kept(self) -> bool:
        """Whether the journal is there for ``--resume`` (its file would exist)."""
        return self.path in self.store

    def reread(self) -> MemoryJournal:
        """The journal as ``--resume`` reads it: the stored JSON, validated."""
        data = json.loads(self.store[self.path])
        check_journal(data)
        return MemoryJournal(self.path.parent, SaveState.from_dict(data), self.store)


@dataclass
class Save:
    """One save's collaborators, ready for ``pipeline.execute``."""

    ctx: SaveContext
    cloud: FakeCloud
    hooks: PrismPluginManager
    plugin: FakeEc2Plugins
    progress: RecordingProgress
    clock: FakeClock
    log: list[str]

    @property
    def journal(self) -> MemoryJournal:
        return self.ctx.journal  # type: ignore[return-value]

    def guard(self, ctx: SaveContext) -> FakeGuard:
        return FakeGuard(ctx, self.log)

    def resumed(self) -> Save:
        """The same save as ``prism save --resume`` continues it: the journal read back
        from its file, a new context and reporter, the same cloud and plugins."""
        journal = self.journal.reread()
        ctx = _context(self.ctx.settings, self.cloud, journal, RecordingProgress())
        ctx.resuming = True
        return Save(ctx, self.cloud, self.hooks, self.plugin, ctx.progress,  # type: ignore[arg-type]
                    self.clock, self.log)


def _context(settings: Settings, cloud: FakeCloud, journal: Journal,
             progress: RecordingProgress) -> SaveContext:
    request = SaveRequest.from_dict(dict(journal.state.request))
    instance = InstanceInfo(
        instance_id=request.instance_id, name=request.instance_name, state="running",
        region=request.region, instance_type="t3.medium", architecture="x86_64",
        root_device_type="ebs", root_device_name="/dev/xvda", image_id="ami-base",
        lifecycle=None,
    )
    return SaveContext(
        request=request, settings=settings, aws=FakeClients(cloud),  # type: ignore[arg-type]
        progress=progress, journal=journal, instance=instance,  # type: ignore[arg-type]
    )


def new_save(home: Path, *, copies: tuple[str, ...] = (), mode: str = "stop",
             plugins: tuple[tuple[str, Any], ...] = (), without: tuple[str, ...] = ()) -> Save:
    """A planned save of :data:`INSTANCE` to template ``env1`` (version 1), nothing
    done yet; ``plugins``: more ``(name, plugin)`` registered after the fake EC2 one,
    which implements every phase hook but those in ``without``."""
    settings = Settings(home=home, poll_delay=0.01)
    request = SaveRequest(
        instance_id=INSTANCE, instance_name="box", template_name="env1", region=SOURCE,
        description="a unit-test save", copy_to_regions=list(copies), image_mode=mode,
    )
    state = SaveState(
        save_id="env1-20260101T000000Z-abc123", request=request.to_dict(),
        started_at="2026-01-01T00:00:00Z", image_name="prism-env1-v1-20260101T000000Z",
        instance_original_state="running", template_version=1,
    )
    cloud, log, progress = FakeCloud(), [], RecordingProgress()
    ctx = _context(settings, cloud, MemoryJournal(settings.journal_dir, state, {}), progress)
    hooks = PrismPluginManager(disabled=set())
    plugin = FakeEc2Plugins(cloud, log)
    for hook in without:  # not a routine: pluggy does not see it as an implementation
        setattr(plugin, hook, None)
    hooks.add(plugin, "fake-ec2", "tests", "0")
    for name, extra in plugins:
        hooks.add(extra, name, "tests", "0")
    return Save(ctx, cloud, hooks, plugin, progress, FakeClock(), log)
