"""The seed's workflow, done the straightforward way with boto3 (the benchmark's baseline).

It follows SEED-instance-to-ami.md step by step: validate, stop, create the AMI, wait
until it is *available*, register it, copy it to each region *one after another*
(waiting for each copy), write the template, and only then start the instance again.
Waits poll at a fixed interval, like the AWS SDK waiters the original tool used.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class BaselineResult:
    """What one baseline save took."""

    downtime: float
    total: float
    amis: dict[str, str] = field(default_factory=dict)


def _poll(check: Callable[[], bool], delay: float, timeout: float = 3600.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("baseline wait timed out")
        time.sleep(delay)


def _instance_state(ec2: Any, instance_id: str) -> str:
    data = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return str(data["State"]["Name"])


def _image_available(ec2: Any, image_id: str) -> bool:
    images = ec2.describe_images(ImageIds=[image_id])["Images"]
    if images and images[0]["State"] == "failed":
        raise RuntimeError(f"image {image_id} failed")
    return bool(images) and images[0]["State"] == "available"


def seed_save(
    client: Callable[[str, str], Any],
    instance_id: str,
    template: str,
    region: str,
    copy_regions: list[str],
    poll: float,
    out_dir: Path,
) -> BaselineResult:
    """Save ``instance_id`` as the seed describes; return downtime and total time."""
    started = time.monotonic()
    ec2 = client("ec2", region)
    # 1. instance validation
    if _instance_state(ec2, instance_id) != "running":
        raise RuntimeError(f"{instance_id} is not running")
    # 2. safe stop
    down_since = time.monotonic()
    ec2.stop_instances(InstanceIds=[instance_id])
    _poll(lambda: _instance_state(ec2, instance_id) == "stopped", poll)
    # 3. AMI creation, waiting until available
    name = f"seed-{template}-{int(time.time() * 1000)}"
    image_id = ec2.create_image(InstanceId=instance_id, Name=name, NoReboot=True)["ImageId"]
    _poll(lambda: _image_available(ec2, image_id), poll)
    amis = {region: image_id}
    # 4. registry registration (the seed lists it before the copies)
    value = json.dumps({"ami": image_id, "region": region})
    client("ssm", region).put_parameter(
        Name=f"/seed/templates/{template}", Value=value, Type="String", Overwrite=True
    )
    # 5. multi-region copy, one region after another
    for dest in copy_regions:
        dest_ec2 = client("ec2", dest)
        copy_id = dest_ec2.copy_image(SourceImageId=image_id, SourceRegion=region, Name=name)[
            "ImageId"
        ]
        _poll(lambda dest_ec2=dest_ec2, copy_id=copy_id: _image_available(dest_ec2, copy_id), poll)
        amis[dest] = copy_id
        client("ssm", dest).put_parameter(
            Name=f"/seed/templates/{template}",
            Value=json.dumps({"ami": copy_id, "region": dest}),
            Type="String",
            Overwrite=True,
        )
    # 6. template definition
    document = {
        "name": template,
        "ami_config": {"amis": {r: {"x86_64": i} for r, i in amis.items()}},
    }
    (out_dir / f"{template}.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    # 7. instance restart, at the very end
    ec2.start_instances(InstanceIds=[instance_id])
    _poll(lambda: _instance_state(ec2, instance_id) == "running", poll)
    ended = time.monotonic()
    return BaselineResult(downtime=ended - down_since, total=ended - started, amis=amis)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.baseline NAME TEMPLATE [--copy-to-regions R1,R2] [--poll S]``."""
    import argparse
    import os

    import boto3

    parser = argparse.ArgumentParser(description="the seed's save workflow (baseline)")
    parser.add_argument("instance")
    parser.add_argument("template")
    parser.add_argument("--copy-to-regions", default="")
    parser.add_argument("--poll", type=float, default=15.0)
    args = parser.parse_args(argv)
    session = boto3.session.Session()
    region = session.region_name or "us-east-1"
    clients: dict[tuple[str, str], Any] = {}

    def client(service: str, where: str) -> Any:
        if (service, where) not in clients:
            clients[service, where] = session.client(service, region_name=where)
        return clients[service, where]

    found = client("ec2", region).describe_instances(
        Filters=[{"Name": "tag:Name", "Values": [args.instance]}]
    )["Reservations"][0]["Instances"][0]["InstanceId"]
    out_dir = Path(os.environ.get("PRISM_HOME", ".")) / "templates"
    out_dir.mkdir(parents=True, exist_ok=True)
    regions = [r for r in args.copy_to_regions.split(",") if r]
    result = seed_save(client, found, args.template, region, regions, args.poll, out_dir)
    print(json.dumps({"instance": {"downtime_seconds": result.downtime}, "amis": result.amis}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
