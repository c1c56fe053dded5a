"""``prism connect``: the SSH command (with the right key and user) or, without a public
address or a key pair, the Session Manager command; ``--port`` forwards a web port."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prism_core.exceptions import InputError
from prism_core.instances.lookup import Instance

#: Used when the template that launched the instance cannot say (``--user`` overrides).
DEFAULT_USER = "ec2-user"


@dataclass
class Connection:
    """How to reach one instance: the command and what to tell the user about it."""

    how: str  # "ssh" or "ssm"
    argv: list[str]
    notes: list[str]

    @property
    def command(self) -> str:
        """The command as one line to copy."""
        import shlex

        return shlex.join(self.argv)


def private_key(key_name: str, home: Path | None = None) -> Path | None:
    """The private key of key pair ``key_name`` on this machine, if found: the key prism
    imported (``prism-<user>``: ``~/.ssh/id_ed25519`` or ``id_rsa``), else
    ``~/.ssh/<key_name>.pem`` or ``~/.ssh/<key_name>``."""
    from prism_core.instances.key_pairs import default_key_name, local_public_key

    home = home or Path.home()
    if key_name == default_key_name() or key_name.startswith(default_key_name() + "-"):
        public = local_public_key(home)
        if public is not None and public.with_suffix("").is_file():
            return public.with_suffix("")
    for candidate in (home / ".ssh" / f"{key_name}.pem", home / ".ssh" / key_name):
        if candidate.is_file():
            return candidate
    return None


def port_number(value: int | str | None) -> int | None:
    """``--port``: 1-65535."""
    if value is None:
        return None
    text = str(value)
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 65535):
        raise InputError(f"--port {text[:20]!r} is not a port number", "use 1-65535, e.g. 8888")
    return int(text)


def connection(instance: Instance, user: str, port: int | None,
               home: Path | None = None) -> Connection:
    """How to connect to ``instance`` (which must be running)."""
    if instance.state != "running":
        raise InputError(
            f"instance {instance.label} is not running",
            f"start it with `prism start {instance.name or instance.instance_id}`",
        )
    notes: list[str] = []
    if instance.public_ip and instance.key_name:
        key = private_key(instance.key_name, home)
        argv = ["ssh", "-o", "StrictHostKeyChecking=accept-new"]
        if key is not None:
            argv += ["-i", str(key)]
        else:
            notes.append(
                f"the private key of key pair {instance.key_name} is not in ~/.ssh; "
                "ssh tries your agent and default keys"
            )
        if port is not None:
            argv += ["-N", "-L", f"{port}:localhost:{port}"]
            notes.append(f"forwarding port {port}: open http://localhost:{port} (Ctrl-C ends it)")
        return Connection("ssh", [*argv, f"{user}@{instance.public_ip}"], notes)
    why = "no public IP" if not instance.public_ip else "no key pair"
    notes.append(
        f"{why}: Session Manager (needs the AWS CLI with its session-manager-plugin, and "
        "the SSM agent and an instance profile that allows it on the instance)"
    )
    argv = ["aws", "ssm", "start-session", "--target", instance.instance_id,
            "--region", instance.region]
    if port is not None:
        argv += ["--document-name", "AWS-StartPortForwardingSession",
                 "--parameters", f"portNumber={port},localPortNumber={port}"]
        notes.append(f"forwarding port {port}: open http://localhost:{port} (Ctrl-C ends it)")
    return Connection("ssm", argv, notes)
