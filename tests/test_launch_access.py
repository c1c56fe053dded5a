"""Launches a researcher can reach and nobody else can: key pairs, ingress, subnet, Spot,
instance profiles, and images that must exist before RunInstances (all read back from
the sandbox)."""

from __future__ import annotations

import getpass
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def group_rules(sandbox, group_id: str) -> dict[int, set[str]]:
    ec2 = sandbox.client("ec2")
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    rules: dict[int, set[str]] = {}
    for rule in group["IpPermissions"]:
        cidrs = {r["CidrIp"] for r in rule.get("IpRanges", [])}
        cidrs |= {r["CidrIpv6"] for r in rule.get("Ipv6Ranges", [])}
        rules.setdefault(rule["FromPort"], set()).update(cidrs)
    return rules


def ssh_key(home: Path, name: str = "id_ed25519") -> Path:
    """A real OpenSSH key pair in ``home/.ssh``; returns the public key's path."""
    key = Ed25519PrivateKey.generate()
    ssh = home / ".ssh"
    ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
    (ssh / name).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    public = ssh / f"{name}.pub"
    line = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    public.write_bytes(line + b" researcher@laptop\n")
    return public


def launch(run_prism, *args: str):
    return run_prism("launch", "env1", *args, "--yes", "-o", "json")


def test_key_pair_imported_once_from_home(saved_template, prism_sandbox, run_prism):
    home = Path(os.environ["HOME"])
    public = ssh_key(home)
    prism_sandbox.faults.clear_calls()
    first = launch(run_prism, "box-1")
    assert first.exit_code == 0, first.stderr
    doc = first.json()
    name = f"prism-{getpass.getuser()}"
    assert doc["key_name"] == name
    assert doc["ssh"].startswith(f"ssh -i {home / '.ssh' / 'id_ed25519'} ec2-user@")
    assert f"Key pair {name}: imported once from {public}" in first.stderr
    assert prism_sandbox.instance(doc["id"])["KeyName"] == name
    pairs = prism_sandbox.client("ec2").describe_key_pairs(KeyNames=[name], IncludePublicKey=True)
    stored = pairs["KeyPairs"][0]["PublicKey"].split()[:2]
    assert stored == public.read_text().split()[:2]
    assert doc["tunnels"] == [
        f"ssh -i {home / '.ssh' / 'id_ed25519'} -N -L 8888:localhost:8888 "
        f"ec2-user@{doc['public_ip']}"
    ]
    second = launch(run_prism, "box-2")
    assert second.exit_code == 0, second.stderr
    assert second.json()["key_name"] == name and "imported once" not in second.stderr
    imports = [c for c in prism_sandbox.faults.calls() if c[1] == "ImportKeyPair"]
    assert len(imports) == 1


def test_rsa_key_and_a_key_pair_holding_another_key(saved_template, prism_sandbox, run_prism):
    from cryptography.hazmat.primitives.asymmetric import rsa

    home = Path(os.environ["HOME"])
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (home / ".ssh").mkdir(mode=0o700)
    (home / ".ssh" / "id_rsa.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
    )
    # prism-<user> already exists with someone else's key: prism does not reuse it
    other = ssh_key(home / "elsewhere")
    name = f"prism-{getpass.getuser()}"
    prism_sandbox.client("ec2").import_key_pair(KeyName=name, PublicKeyMaterial=other.read_bytes())
    result = launch(run_prism, "rsa-box")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["key_name"].startswith(name + "-") and doc["key_name"] != name
    assert f"-i {home / '.ssh' / 'id_rsa'} " in doc["ssh"]


def test_no_public_key_launches_without_key_pair_and_says_how_to_connect(
    saved_template, prism_sandbox, run_prism
):
    result = run_prism("launch", "env1", "keyless", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "No key pair" in result.stderr and "aws ssm start-session" in result.stderr
    assert "aws ssm start-session --target i-" in result.stdout
    assert "ssh-keygen -t ed25519" in result.stdout and "--key-name" in result.stdout
    doc = launch(run_prism, "keyless-2").json()
    assert doc["key_name"] is None and "KeyName" not in prism_sandbox.instance(doc["id"])
    assert doc["ssm"] == f"aws ssm start-session --target {doc['id']} --region us-east-1"


def test_key_name_must_exist(saved_template, prism_sandbox, run_prism):
    prism_sandbox.faults.clear_calls()
    missing = launch(run_prism, "box", "--key-name", "laptop")
    assert missing.exit_code == 2
    assert "key pair 'laptop' does not exist in us-east-1" in missing.stderr
    assert "aws ec2 import-key-pair" in missing.stderr
    assert not [c for c in prism_sandbox.faults.calls() if c[1] == "RunInstances"]
    other = ssh_key(Path(os.environ["HOME"]) / "other")
    prism_sandbox.client("ec2").import_key_pair(
        KeyName="laptop", PublicKeyMaterial=other.read_bytes()
    )
    doc = launch(run_prism, "box", "--key-name", "laptop").json()
    assert doc["key_name"] == "laptop" and " -i " in doc["ssh"] and "laptop.pem" in doc["ssh"]
    assert prism_sandbox.instance(doc["id"])["KeyName"] == "laptop"


def test_ports_open_only_to_the_sandbox_caller(saved_template, prism_sandbox, run_prism):
    result = launch(run_prism, "box")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["allowed_from"] == ["127.0.0.1/32"]
    assert group_rules(prism_sandbox, doc["security_group"]) == {
        22: {"127.0.0.1/32"},
        8888: {"127.0.0.1/32"},
    }
    assert "port 22 (ssh): 127.0.0.1/32; port 8888 (web): 127.0.0.1/32" in result.stderr
    assert "Port 8888 open to: 127.0.0.1/32" in run_prism("launch", "env1", "box-2", "--yes").stdout


def test_allow_from_opens_ssh_and_web_ports_stay_with_the_caller(
    saved_template, prism_sandbox, run_prism
):
    first = launch(run_prism, "a", "--allow-from", "10.1.0.0/16", "--allow-from", "203.0.113.7")
    assert first.exit_code == 0, first.stderr
    doc = first.json()
    assert group_rules(prism_sandbox, doc["security_group"]) == {
        22: {"10.1.0.0/16", "203.0.113.7/32"},
        8888: {"127.0.0.1/32"},  # Jupyter: the caller only, whatever --allow-from says
    }
    # no key pair here: the web port is reached through an SSM port forward
    assert doc["tunnels"] == [
        f"aws ssm start-session --target {doc['id']} --region us-east-1 --document-name "
        "AWS-StartPortForwardingSession --parameters portNumber=8888,localPortNumber=8888"
    ]
    assert "whole internet" not in first.stderr
    # the world only when asked, and the plan warns
    world = launch(run_prism, "c", "--allow-from", "0.0.0.0/0")
    assert world.exit_code == 0, world.stderr
    assert "open to the whole internet (0.0.0.0/0)" in world.stderr
    assert group_rules(prism_sandbox, world.json()["security_group"]) == {
        22: {"0.0.0.0/0"},
        8888: {"127.0.0.1/32"},
    }
    bad = launch(run_prism, "d", "--allow-from", "10.0.0.300/8")
    assert bad.exit_code == 2 and "is not an address or CIDR" in bad.stderr


class _CheckIp(http.server.BaseHTTPRequestHandler):
    answer = b"198.51.100.23\n"

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.answer)))
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def checkip(monkeypatch) -> Iterator[type[_CheckIp]]:
    handler = type("Handler", (_CheckIp,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("PRISM_CHECKIP_URL", f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def test_caller_address_from_checkip(saved_template, prism_sandbox, run_prism, checkip):
    doc = launch(run_prism, "box").json()
    assert doc["allowed_from"] == ["198.51.100.23/32"]
    assert group_rules(prism_sandbox, doc["security_group"])[22] == {"198.51.100.23/32"}


@pytest.mark.parametrize("answer", [b"1" * 4096])  # every kind: tests/unit/test_checkip_answers.py
def test_unusable_checkip_answer_refuses_before_anything_changes(
    saved_template, prism_sandbox, run_prism, checkip, answer
):
    checkip.answer = answer
    prism_sandbox.faults.clear_calls()
    result = launch(run_prism, "box")
    assert result.exit_code == 2
    assert "did not answer an IP address" in result.stderr and "--allow-from" in result.stderr
    changes = {"CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "RunInstances"}
    assert not [c for c in prism_sandbox.faults.calls() if c[1] in changes]


def test_unreachable_checkip_refuses(saved_template, prism_sandbox, run_prism, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("PRISM_CHECKIP_URL", f"http://127.0.0.1:{port}/")
    result = launch(run_prism, "box")
    assert result.exit_code == 2
    assert "could not find your public IP address" in result.stderr
    assert "--allow-from" in result.stderr


def test_subnet_spot_and_instance_profile(saved_template, prism_sandbox, run_prism):
    ec2 = prism_sandbox.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    iam = prism_sandbox.client("iam")
    iam.create_instance_profile(InstanceProfileName="research-ssm")
    result = launch(
        run_prism, "box", "--subnet", subnet, "--spot", "--instance-profile", "research-ssm"
    )
    assert result.exit_code == 0, result.stderr
    assert "cannot be stopped" in result.stderr and "prism save --stop" in result.stderr
    doc = result.json()
    assert doc["spot"] and doc["subnet"] == subnet
    data = prism_sandbox.instance(doc["id"])
    assert data["SubnetId"] == subnet and data["VpcId"] == vpc
    assert data.get("InstanceLifecycle") == "spot"
    assert data["IamInstanceProfile"]["Arn"].endswith("instance-profile/research-ssm")
    group = ec2.describe_security_groups(GroupIds=[doc["security_group"]])["SecurityGroups"][0]
    assert group["VpcId"] == vpc
    unknown = launch(run_prism, "box2", "--subnet", "subnet-0123456789abcdef0")
    assert unknown.exit_code == 2
    assert "subnet subnet-0123456789abcdef0 does not exist in us-east-1" in unknown.stderr


def test_missing_image_is_refused_before_run_instances(saved_template, prism_sandbox, run_prism):
    ami = saved_template["amis"]["us-east-1"]
    prism_sandbox.client("ec2").deregister_image(ImageId=ami)
    prism_sandbox.faults.clear_calls()
    result = launch(run_prism, "box")
    assert result.exit_code == 2
    line = result.stderr.strip().splitlines()[-1]
    assert f"template env1 v1: its image {ami} in us-east-1 does not exist" in line
    boot = run_prism("templates", "validate", "env1", "--boot")
    assert boot.exit_code == 2 and ami in boot.stderr and "does not exist" in boot.stderr
    calls = [c[1] for c in prism_sandbox.faults.calls()]
    assert "RunInstances" not in calls and "CreateSecurityGroup" not in calls
    # and the sandbox itself refuses RunInstances with that image, as EC2 does
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as refused:
        prism_sandbox.client("ec2").run_instances(
            ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1
        )
    assert refused.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"
