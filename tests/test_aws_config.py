"""AWS configuration and credentials as a new user meets them, each case in a real
``prism`` process with a controlled environment (``env -i`` style: no inherited
``AWS_*`` variable, temporary ``AWS_CONFIG_FILE``/``AWS_SHARED_CREDENTIALS_FILE`` and HOME).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from prism_core.testing import prism_argv


class Env:
    """A clean environment for one prism process, with its own AWS files and HOME."""

    def __init__(self, root: Path, endpoint: str | None) -> None:
        self.root = root
        self.config = root / "aws-config"
        self.credentials = root / "aws-credentials"
        (root / "home").mkdir()
        self.vars = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(root / "home"),
            "PRISM_HOME": str(root / "prism-home"),
            "PRISM_POLL_DELAY_SECONDS": "0.01",
            "AWS_CONFIG_FILE": str(self.config),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.credentials),
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        if endpoint:
            self.vars["AWS_ENDPOINT_URL"] = endpoint

    def keys(self, profile: str = "default") -> Env:
        """Static (sandbox) keys for ``profile`` in the credentials file."""
        with open(self.credentials, "a") as handle:
            handle.write(
                f"[{profile}]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
            )
        return self

    def profile(self, name: str, **settings: str) -> Env:
        section = "default" if name == "default" else f"profile {name}"
        with open(self.config, "a") as handle:
            handle.write(f"[{section}]\n")
            for key, value in settings.items():
                handle.write(f"{key} = {value}\n")
        return self

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            prism_argv(*args),  # the test's choice of plugins
            env={**self.vars, **extra},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture
def env(prism_sandbox, tmp_path) -> Env:
    return Env(tmp_path, prism_sandbox.endpoint)


def refused(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, one line on stderr, no traceback, no "unexpected"; returns the line."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1, line
    assert "Traceback" not in line and "unexpected" not in line, line
    for needle in needles:
        assert needle in line, line
    return line


def listed_region(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["region"])


def test_region_order_is_the_aws_cli_s(env):
    env.keys().keys("lab").profile("default").profile("lab", region="eu-west-1")
    both = {"AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "us-west-2"}
    assert listed_region(env.run("list", "-o", "json", "--region", "ca-central-1", **both)) == (
        "ca-central-1"
    )
    assert listed_region(env.run("list", "-o", "json", **both)) == "us-east-2"
    assert listed_region(env.run("list", "-o", "json", AWS_REGION="us-east-2")) == "us-east-2"
    assert listed_region(env.run("list", "-o", "json", AWS_DEFAULT_REGION="us-west-2")) == (
        "us-west-2"
    )
    # the profile's region, by --profile or AWS_PROFILE
    assert listed_region(env.run("list", "-o", "json", "--profile", "lab")) == "eu-west-1"
    assert listed_region(env.run("list", "-o", "json", AWS_PROFILE="lab")) == "eu-west-1"
    refused(env.run("list"), "no AWS region configured", "AWS_REGION", "aws configure set region")


def test_misspelt_regions_are_refused_offline_with_a_suggestion(env, prism_sandbox):
    env.keys()
    prism_sandbox.faults.clear_calls()
    refused(env.run("list", "--region", "us-eats-1"), "--region", "did you mean us-east-1?")
    refused(env.run("launch", "python-ml", "box", "--region", "eu-wset-1", "--yes"), "eu-west-1")
    refused(env.run("list", AWS_REGION="ap-southeest-2"), "AWS_REGION", "ap-southeast-2")
    save = env.run(
        "save", "box", "tpl", "--copy-to-regions", "us-wst-2", "--yes", AWS_REGION="us-east-1"
    )
    refused(save, "--copy-to-regions", "did you mean us-west-2?")
    env.profile("default", region="us-esat-1")
    refused(env.run("list"), "profile default", "did you mean us-east-1?")
    assert prism_sandbox.faults.calls() == []  # nothing reached the cloud


def test_missing_credentials(env, prism_sandbox):
    done = env.run("list", AWS_REGION="us-east-1")
    refused(done, "no AWS credentials found", "aws configure")
    refused(
        env.run("launch", "python-ml", "box", "--yes", "--profile", "lab", AWS_REGION="us-east-1"),
        "profile 'lab'",
        "aws configure --profile lab",
    )


def test_unknown_profile(env):
    env.keys()
    for done in (
        env.run("list", "--profile", "nope", AWS_REGION="us-east-1"),
        env.run("list", AWS_PROFILE="nope", AWS_REGION="us-east-1"),
        env.run("templates", "list", "--profile", "nope", AWS_REGION="us-east-1"),
    ):
        refused(done, "'nope'", "aws configure --profile nope")


def test_expired_credentials(env, prism_sandbox):
    env.keys()
    prism_sandbox.faults.inject(
        "DescribeInstances",
        times=-1,
        code="ExpiredToken",
        message="The security token included in the request is expired",
        status=400,
    )
    refused(env.run("list", AWS_REGION="us-east-1"), "expired", "aws sso login")
    prism_sandbox.faults.clear()
    prism_sandbox.faults.inject(
        "DescribeInstances",
        times=-1,
        code="InvalidClientTokenId",
        message="The security token included in the request is invalid.",
        status=403,
    )
    refused(
        env.run("list", AWS_REGION="us-east-1"),
        "rejected the credentials",
        "aws sts get-caller-identity",
    )


def _sso_session_profile(env: Env) -> None:
    """Profile ``corp`` signing in through the ``[sso-session corp]`` section."""
    env.profile(
        "corp",
        sso_session="corp",
        sso_account_id="111122223333",
        sso_role_name="Researcher",
        region="us-east-1",
    )
    with open(env.config, "a") as handle:
        handle.write(
            "[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\n"
            "sso_region = us-east-1\nsso_registration_scopes = sso:account:access\n"
        )


def test_sso_session_not_logged_in(env):
    _sso_session_profile(env)
    refused(env.run("list", "--profile", "corp"), "SSO", "aws sso login --profile corp")


def _cached_sso_token(env: Env, cache_key: str, **fields: str) -> None:
    """A token in the AWS CLI's SSO cache (``~/.aws/sso/cache/<sha1>.json``) as it leaves it."""
    cache = Path(env.vars["HOME"]) / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    token = {
        "startUrl": "https://example.awsapps.com/start",
        "region": "us-east-1",
        "accessToken": "token-from-yesterday",
        "expiresAt": "2026-01-01T08:00:00Z",
        **fields,
    }
    name = hashlib.sha1(cache_key.encode()).hexdigest()
    (cache / f"{name}.json").write_text(json.dumps(token))


def test_sso_session_token_past_expiry(env):
    """Logged in once with ``aws sso login``; the cached token (and its client registration,
    so botocore cannot refresh it) has since expired."""
    _sso_session_profile(env)
    _cached_sso_token(
        env,
        "corp",
        refreshToken="refresh",
        clientId="client",
        clientSecret="secret",
        registrationExpiresAt="2026-01-01T08:00:00Z",
    )
    refused(env.run("list", "--profile", "corp"), "expired", "aws sso login --profile corp")
    refused(
        env.run("save", "box", "tpl", "--yes", AWS_PROFILE="corp"),
        "expired",
        "aws sso login --profile corp",
    )


def test_legacy_sso_profile_token_past_expiry(env):
    """The pre-``sso-session`` profile form caches the token under its start URL."""
    start = "https://legacy.awsapps.com/start"
    env.profile(
        "lab",
        sso_start_url=start,
        sso_region="us-east-1",
        sso_account_id="111122223333",
        sso_role_name="Researcher",
        region="us-east-1",
    )
    _cached_sso_token(env, start, startUrl=start)
    refused(env.run("list", "--profile", "lab"), "expired", "aws sso login --profile lab")


def test_unreachable_aws_endpoint(tmp_path):
    """An endpoint that is not a local sandbox and does not answer (``.invalid`` never
    resolves): one line naming it, with what to check, not sandbox advice."""
    env = Env(tmp_path, "https://ec2.prism-test.invalid").keys()
    line = refused(env.run("list", AWS_REGION="us-east-1"), "cannot reach", "prism-test.invalid")
    assert "network" in line and "sandbox" not in line, line


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_stopped_local_sandbox(tmp_path):
    env = Env(tmp_path, f"http://127.0.0.1:{_free_port()}").keys()
    refused(env.run("list", AWS_REGION="us-east-1"), "no sandbox answers", "prism sandbox start")
    refused(env.run("save", "box", "tpl", "--yes", AWS_REGION="us-east-1"), "prism sandbox start")


#: Every command that talks to AWS, each run with a profile that does not exist.
AWS_COMMANDS = [
    ("list",),
    ("save", "box", "tpl", "--yes"),
    ("launch", "python-ml", "box", "--yes"),
    ("templates", "list"),
    ("templates", "delete", "tpl", "--yes"),
    ("templates", "prune", "tpl", "--keep", "1", "--yes"),
    ("templates", "history", "tpl"),
    ("templates", "tree", "tpl"),
    ("templates", "channels", "tpl"),
    ("templates", "promote", "tpl@1", "--channel", "stable", "--yes"),
    ("templates", "demote", "tpl", "--channel", "stable", "--yes"),
    ("templates", "revoke", "tpl@1", "--reason", "broken", "--yes"),
    ("templates", "restore", "tpl@1", "--yes"),
    ("templates", "protect", "tpl@1", "--yes"),
    ("templates", "unprotect", "tpl@1", "--yes"),
    ("templates", "export", "tpl", "--launch-template", "--yes"),
    ("templates", "policy", "tpl", "--keep", "2", "--yes"),
    ("templates", "enforce", "tpl", "--yes"),
    ("project", "costs", "quake", "--regions", "us-east-1"),
    ("marketplace", "show", "tpl"),
    ("marketplace", "install", "tpl"),
]


@pytest.mark.parametrize("command", AWS_COMMANDS, ids=" ".join)
def test_every_aws_command_takes_profile(env, command, prism_only_plugins):
    """``--profile`` on every command that talks to AWS (plugin commands declared with
    ``aws=True`` included): an unknown one is named, with how to create it."""
    if command[0] in ("project", "marketplace"):
        prism_only_plugins("marketplace", "cost-tags")
    home = Path(env.vars["PRISM_HOME"])
    home.mkdir(exist_ok=True)
    (home / "config.yml").write_text("marketplace:\n  bucket: team-catalog\n")
    refused(
        env.run(*command, "--profile", "ghost"),
        "'ghost'",
        "aws configure --profile ghost",
    )
