"""What EC2 does and moto does not: ``resolve:ssm:NAME`` as an image id.

EC2 resolves ``ImageId: resolve:ssm:<parameter>[:<version>]`` (in RunInstances and in a
launch template's data) to the parameter's value when it launches; moto takes the text
as it is. :func:`resolving_run_instances` patches the in-process moto backend the
sandbox serves, for one test (``monkeypatch``), so RunInstances resolves it as EC2 does.
"""

from __future__ import annotations

from typing import Any

PREFIX = "resolve:ssm:"


def resolve(account: str, region: str, reference: str) -> str:
    """The value of the parameter a ``resolve:ssm:`` reference names (EC2's answer for a
    missing one: InvalidParameterValue)."""
    from moto.ec2.exceptions import EC2ClientError
    from moto.ssm.models import ssm_backends

    name, _, version = reference[len(PREFIX) :].partition(":")
    backend = ssm_backends[account][region]
    history = backend._parameters.get(name) or []
    if version:
        history = [p for p in history if str(p.version) == version]
    if not history:
        raise EC2ClientError("InvalidParameterValue", f"Parameter {name} not found for resolve:ssm")
    return str(history[-1].value)


def resolving_run_instances(monkeypatch: Any) -> None:
    """RunInstances resolves ``resolve:ssm:`` in ImageId and in a launch template's
    ``ImageId`` for the rest of the test."""
    from moto.ec2.models.instances import InstanceBackend

    original = InstanceBackend.run_instances

    def run_instances(self: Any, image_id: str | None, *args: Any, **kwargs: Any) -> Any:
        if not image_id and kwargs.get("launch_template"):
            version = self._get_template_from_args(kwargs["launch_template"])
            image_id = version.data.get("ImageId")
        if image_id and image_id.startswith(PREFIX):
            image_id = resolve(self.account_id, self.region_name, image_id)
        return original(self, image_id, *args, **kwargs)

    monkeypatch.setattr(InstanceBackend, "run_instances", run_instances)
