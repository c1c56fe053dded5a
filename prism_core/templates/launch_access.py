"""Who can reach a launched instance, and whether its image can be launched at all.

Decided before anything changes (all reads): the key pair (``--key-name``, or one named
after the user imported once from ``~/.ssh``), the addresses the ports open to (the
caller's own ``/32``, found as Packer does, or ``--allow-from``), the subnet and its VPC,
Spot and the instance profile, and the check that the template's AMI exists in the
region and is visible to this account. The key pair is chosen here
(:func:`prism_core.instances.key_pairs.choose_key`) and imported by the launch.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prism_core import __version__
from prism_core.aws.clients import error_code, local_endpoint
from prism_core.exceptions import InputError
from prism_core.instances.key_pairs import choose_key
from prism_core.instances.security_groups import SSH_PORT
from prism_core.settings import DEFAULT_CHECKIP_URL, Settings

CHECKIP_TIMEOUT_SECONDS = 5.0
MAX_CHECKIP_BYTES = 128
WORLD = ("0.0.0.0/0", "::/0")
INSTANCE_PROFILE = re.compile(r"^[\w+=,.@-]{1,128}$")
SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")


@dataclass
class LaunchAccess:
    """The access decisions of one launch (see the module docstring)."""

    cidrs: list[str]  # what the SSH port opens to
    cidr_source: str  # "--allow-from", "sandbox" or the checkip URL
    #: What the template's web ports (every port but 22) open to: the caller's own address.
    web_cidrs: list[str] = field(default_factory=list)
    key_name: str | None = None
    private_key: str | None = None  # path for ``ssh -i``
    import_key_from: Path | None = None  # public key to import before RunInstances
    subnet_id: str | None = None
    vpc_id: str | None = None
    spot: bool = False
    instance_profile: str | None = None
    #: Whether the instance gets a public IPv4 address (not with ``--no-public-ip``, nor
    #: in a ``--subnet`` that does not assign one).
    public_ip: bool = True
    #: ``--no-public-ip``: launched through a network interface without one.
    no_public_ip: bool = False
    warnings: list[str] = field(default_factory=list)

    def run_kwargs(self) -> dict[str, Any]:
        """The RunInstances arguments these decisions add."""
        kwargs: dict[str, Any] = {}
        if self.key_name:
            kwargs["KeyName"] = self.key_name
        if self.subnet_id and not self.no_public_ip:  # else in the network interface
            kwargs["SubnetId"] = self.subnet_id
        if self.spot:
            kwargs["InstanceMarketOptions"] = {
                "MarketType": "spot",
                "SpotOptions": {
                    "SpotInstanceType": "one-time",
                    "InstanceInterruptionBehavior": "terminate",
                },
            }
        if self.instance_profile:
            kwargs["IamInstanceProfile"] = {"Name": self.instance_profile}
        return kwargs

    def plan_lines(self, region: str) -> list[str]:
        """What the plan says about reaching the instance (before confirmation); the
        ingress rules are :mod:`prism_core.instances.security_groups`' lines."""
        lines = []
        if self.public_ip is False and not self.no_public_ip:
            lines.append(
                f"No public IP address: subnet {self.subnet_id} does not assign one; reach it "
                "from inside the VPC or with `aws ssm start-session`"
            )
        if self.no_public_ip:
            lines.append(
                "No public IP address (--no-public-ip): reach it with `aws ssm start-session` "
                "(needs the SSM agent, an --instance-profile with AmazonSSMManagedInstanceCore "
                "and a route to SSM from the subnet)"
            )
        if self.key_name and self.import_key_from:
            lines.append(
                f"Key pair {self.key_name}: imported once from {self.import_key_from} "
                f"(ssh -i {self.private_key})"
            )
        elif self.key_name:
            lines.append(f"Key pair {self.key_name} (ssh -i {self.private_key})")
        else:
            lines.append(
                "No key pair: no ~/.ssh/id_ed25519.pub or id_rsa.pub. Reach the instance with "
                f"`aws ssm start-session --target INSTANCE-ID --region {region}` (needs the SSM "
                "agent and an --instance-profile with AmazonSSMManagedInstanceCore); next time "
                "run `ssh-keygen -t ed25519` first, or pass --key-name"
            )
        if self.spot:
            lines.append(
                "Spot: a one-time Spot request; the instance cannot be stopped (EC2 may "
                "reclaim it), and cannot be saved with `prism save --stop`"
            )
        if self.subnet_id:
            lines.append(f"Subnet {self.subnet_id} (VPC {self.vpc_id})")
        if self.instance_profile:
            lines.append(f"Instance profile {self.instance_profile}")
        return lines


# -- ingress -------------------------------------------------------------------------------
def parse_cidrs(values: list[str]) -> list[str]:
    """Normalise ``--allow-from`` values; one-line error for anything not a CIDR."""
    cidrs: list[str] = []
    for value in values:
        text = value.strip()
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            shown = text.encode("unicode_escape").decode("ascii")[:60]
            raise InputError(
                f"--allow-from {shown!r} is not an address or CIDR",
                "use e.g. --allow-from 203.0.113.7/32 or --allow-from 10.0.0.0/16",
            ) from None
        if "/" not in text:
            network = ipaddress.ip_network(f"{text}/{network.max_prefixlen}")
        if str(network) not in cidrs:
            cidrs.append(str(network))
    return cidrs


def caller_address(url: str, timeout: float = CHECKIP_TIMEOUT_SECONDS) -> str:
    """The caller's public IP address as ``url`` (a checkip service) answers it.

    Bounded in time and size; the answer must be one IP address.
    """
    request = urllib.request.Request(url, headers={"User-Agent": f"prism/{__version__}"})
    hint = "pass --allow-from CIDR with your address (e.g. --allow-from 203.0.113.7/32)"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read(MAX_CHECKIP_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError(
            f"could not find your public IP address from {url} ({reason}); nothing was created",
            hint,
        ) from None
    text = body.decode("ascii", errors="replace").strip()
    try:
        if len(body) > MAX_CHECKIP_BYTES:
            raise ValueError("answer too long")
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InputError(f"{url} did not answer an IP address; nothing was created", hint) from None
    return str(address)


def allowed_cidrs(allow_from: list[str] | None, settings: Settings) -> tuple[list[str], str]:
    """The CIDRs the template's ports open to, and where they came from.

    ``--allow-from`` wins; else a configured ``checkip_url`` is asked; else a loopback
    sandbox endpoint means ``127.0.0.1/32``; else ``https://checkip.amazonaws.com``.
    """
    if allow_from:
        return parse_cidrs(allow_from), "--allow-from"
    if settings.checkip_url == DEFAULT_CHECKIP_URL and local_endpoint():
        return ["127.0.0.1/32"], "sandbox"
    address = caller_address(settings.checkip_url)
    suffix = "/32" if ipaddress.ip_address(address).version == 4 else "/128"
    return [address + suffix], settings.checkip_url


def world_warning(cidrs: list[str], ports: list[int]) -> str | None:
    """The plan's warning when a port opens to the whole internet."""
    open_to = [c for c in cidrs if c in WORLD]
    if not open_to or not ports:
        return None
    return (
        f"ports {', '.join(map(str, ports))} will be open to the whole internet "
        f"({', '.join(open_to)}), as --allow-from asks"
    )


# -- subnet, image ---------------------------------------------------------------------------
def subnet_vpc(ec2: Any, subnet_id: str, region: str) -> str:
    """The VPC of ``--subnet`` (one-line error if it is not in the region)."""
    return str(subnet_record(ec2, subnet_id, region)["VpcId"])


def subnet_record(ec2: Any, subnet_id: str, region: str) -> dict[str, Any]:
    """``--subnet``'s DescribeSubnets record (one-line error if it is not in the region)."""
    if not SUBNET_ID.fullmatch(subnet_id):
        raise InputError(f"--subnet {subnet_id[:40]!r} is not a subnet id", "use subnet-...")
    try:
        subnets = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"]
    except Exception as exc:
        if error_code(exc) != "InvalidSubnetID.NotFound":
            raise
        subnets = []
    if not subnets:
        raise InputError(
            f"subnet {subnet_id} does not exist in {region}",
            f"list them with `aws ec2 describe-subnets --region {region}`",
        )
    return dict(subnets[0])


def default_subnet(ec2: Any, region: str) -> dict[str, Any]:
    """A default subnet of the region's default VPC (one-line error if there is none)."""
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])
    found = sorted(subnets["Subnets"], key=lambda s: s.get("AvailabilityZone", ""))
    if not found:
        raise InputError(
            f"{region} has no default VPC subnet to launch in",
            "pass --subnet ID",
        )
    return dict(found[0])


def check_image(
    ec2: Any, image_id: str, template: str, version: int | str | None, region: str
) -> dict[str, Any]:
    """The template's AMI record; one-line error unless it is there and ``available``."""
    where = f"template {template} v{version}: its image {image_id} in {region}"
    hint = (
        f"launch another version (see `prism templates history {template}`) or save the "
        "template again"
    )
    try:
        images = ec2.describe_images(ImageIds=[image_id])["Images"]
    except Exception as exc:
        if error_code(exc) not in ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"):
            raise
        images = []
    if not images or images[0].get("State") in ("deregistered", "disabled"):
        raise InputError(
            f"{where} does not exist, was deregistered, or is not shared with this account",
            hint,
        )
    state = images[0].get("State")
    if state != "available":
        raise InputError(f"{where} is {state}", "wait until it is available, then try again")
    return dict(images[0])


def plan_access(
    ec2: Any,
    settings: Settings,
    region: str,
    ports: list[int],
    *,
    allow_from: list[str] | None = None,
    key_name: str | None = None,
    subnet: str | None = None,
    spot: bool = False,
    instance_profile: str | None = None,
    public_ip: bool = True,
) -> LaunchAccess:
    """Every access decision of a launch (reads only; refuses before anything changes).

    Port 22 opens to ``--allow-from`` (else the caller's own address); the template's
    web ports to the caller's own address only, whatever ``--allow-from`` says (when that
    address cannot be found they stay closed: the SSH or SSM port forward reaches them).
    """
    if instance_profile is not None and not INSTANCE_PROFILE.fullmatch(instance_profile):
        raise InputError(
            f"invalid --instance-profile {instance_profile[:40]!r}",
            "give the instance profile's name (1-128 of letters, digits and +=,.@_-)",
        )
    cidrs, source = allowed_cidrs(allow_from, settings)
    access = LaunchAccess(cidrs=cidrs, cidr_source=source, spot=spot, public_ip=public_ip)
    access.no_public_ip = not public_ip
    access.web_cidrs = list(cidrs)
    web_ports = [p for p in ports if p != SSH_PORT]
    if allow_from and web_ports:
        try:
            access.web_cidrs = allowed_cidrs(None, settings)[0]
        except InputError:
            access.web_cidrs = []
            access.warnings.append(
                f"web port(s) {', '.join(map(str, web_ports))} stay closed: your own address "
                "could not be found, and --allow-from opens SSH only; the summary prints the "
                "port-forward command that reaches them"
            )
    access.instance_profile = instance_profile
    if subnet:
        record = subnet_record(ec2, subnet, region)
        access.subnet_id = subnet
        access.vpc_id = str(record["VpcId"])
        access.public_ip = public_ip and bool(record.get("MapPublicIpOnLaunch"))
    elif not public_ip:  # a network interface without a public address needs a subnet
        record = default_subnet(ec2, region)
        access.subnet_id = str(record["SubnetId"])
        access.vpc_id = str(record["VpcId"])
    access.key_name, access.private_key, access.import_key_from = choose_key(ec2, key_name, region)
    warning = world_warning(cidrs, [p for p in ports if p == SSH_PORT])
    if warning:
        access.warnings.append(warning)
    return access
