"""The least-privilege IAM policy for prism, rendered from ``data/iam_policy.yaml``.

That file is the one list of the AWS actions prism may call, by use (``save``,
``launch``, ``templates``, ``cloud``), with the resources and conditions that keep each
action on prism's own resources; loaded plugins add theirs (``prism_iam_statements``).
``prism iam-policy`` prints the policy for one use, one plugin command, or all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

import yaml

if TYPE_CHECKING:
    from prism_core.settings import Settings

USES = ("save", "launch", "templates", "instances", "cloud")
POLICY_VERSION = "2012-10-17"
#: IAM's size limit of one managed policy, in characters (IAM does not count whitespace).
MANAGED_POLICY_LIMIT = 6144
#: Config values a statement may be gated on (``when:`` / ``unless:``).
GATES = ("instance_profiles", "kms_keys", "imds_v1", "sbom_bucket")


class PluginStatement(Protocol):
    """What this module reads of a plugin's statement: the plugin API's
    :class:`~prism_core.plugin_api.IamStatement`, which the AWS layer does not import."""

    @property
    def sid(self) -> str: ...
    @property
    def actions(self) -> tuple[str, ...]: ...
    @property
    def resources(self) -> tuple[str, ...]: ...
    @property
    def uses(self) -> tuple[str, ...]: ...
    @property
    def condition(self) -> Mapping[str, Mapping[str, Any]] | None: ...
    @property
    def kind(self) -> str: ...


@dataclass(frozen=True)
class PolicyOptions:
    """What the rendered policy depends on besides the use: the partition and config."""

    partition: str = "aws"
    #: The registry prefix (``prism.registry_prefix``), e.g. ``/prism/``.
    prefix: str = "/prism/"
    #: Roles ``iam:PassRole`` may pass (``prism.instance_profiles``): names or ``/paths/``.
    roles: tuple[str, ...] = ()
    #: ``prism.kms_keys``: region -> key id, alias or ARN.
    kms_keys: Mapping[str, str] = field(default_factory=dict)
    #: ``prism.imds_v1``: launches may leave IMDSv1 on.
    imds_v1: bool = False
    #: The S3 bucket of the SBOM store (inspection, planned).
    sbom_bucket: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, partition: str = "aws") -> PolicyOptions:
        """The options of the loaded configuration."""
        return cls(
            partition=partition,
            prefix=settings.registry_prefix,
            roles=tuple(settings.instance_profiles),
            kms_keys=dict(settings.kms_keys),
            imds_v1=settings.imds_v1,
            sbom_bucket=getattr(settings, "sbom_bucket", None),
        )

    def gate(self, name: str) -> bool:
        """Whether config value ``name`` (one of :data:`GATES`) is set."""
        value = {
            "instance_profiles": self.roles,
            "kms_keys": self.kms_keys,
            "imds_v1": self.imds_v1,
            "sbom_bucket": self.sbom_bucket,
        }[name]
        return bool(value)

    def role_arns(self) -> list[str]:
        """The role ARNs of :attr:`roles` (a name, or a path such as ``/research/``)."""
        arns = []
        for role in self.roles:
            tail = f"{role.strip('/')}/*" if role.endswith("/") else role
            arns.append(f"arn:{self.partition}:iam::*:role/{tail}")
        return arns

    def kms_key_arns(self) -> tuple[list[str], list[str]]:
        """(key ARNs, alias names) of :attr:`kms_keys`; a bare key id gets its region's
        ARN, an alias is matched through ``kms:ResourceAliases``."""
        keys: list[str] = []
        aliases: list[str] = []
        for region, key in sorted(self.kms_keys.items()):
            if ":alias/" in key or key.startswith("alias/"):
                aliases.append("alias/" + key.split("alias/", 1)[1])
            elif key.startswith("arn:"):
                keys.append(key)
            else:
                keys.append(f"arn:{self.partition}:kms:{region}:*:key/{key}")
        return sorted(set(keys)), sorted(set(aliases))


@lru_cache(maxsize=1)
def statements() -> list[dict[str, Any]]:
    """The statements of ``data/iam_policy.yaml`` as written."""
    text = resources.files("prism_core").joinpath("data/iam_policy.yaml").read_text()
    return list(yaml.safe_load(text)["statements"])


def action_uses(spec: Any) -> tuple[list[str], str | None]:
    """(uses, planned reason) of one action entry: ``[uses]`` or ``{uses, planned}``."""
    if isinstance(spec, Mapping):
        return list(spec.get("uses") or []), spec.get("planned")
    return list(spec), None


def plugin_statement(plugin: str, statement: PluginStatement) -> dict[str, Any]:
    """A plugin's :class:`~prism_core.plugin_api.IamStatement` in the file's form."""
    entry: dict[str, Any] = {
        "sid": statement.sid,
        "resources": list(statement.resources),
        "actions": {action: list(statement.uses) for action in statement.actions},
        "kind": statement.kind,
        "plugin": plugin,
    }
    if statement.condition:
        entry["condition"] = dict(statement.condition)
    return entry


def all_statements(
    plugins: Sequence[tuple[str, PluginStatement]] = (),
) -> list[dict[str, Any]]:
    """prism's statements followed by the plugins' (a Sid used twice is an error)."""
    found = list(statements()) + [plugin_statement(p, s) for p, s in plugins]
    seen: dict[str, str] = {}
    for statement in found:
        owner = statement.get("plugin", "prism")
        if statement["sid"] in seen:
            raise ValueError(
                f"IAM statement {statement['sid']} is declared by both "
                f"{seen[statement['sid']]} and {owner}"
            )
        seen[statement["sid"]] = owner
    return found


def known_uses(found: Iterable[dict[str, Any]]) -> set[str]:
    """Every use the statements name: prism's and the plugins' commands."""
    uses = set(USES)
    for statement in found:
        if "plugin" in statement:
            for spec in statement["actions"].values():
                uses.update(action_uses(spec)[0])
    return uses


def _shown(statement: dict[str, Any], options: PolicyOptions) -> bool:
    when, unless = statement.get("when"), statement.get("unless")
    return (when is None or options.gate(when)) and (unless is None or not options.gate(unless))


def _wanted(uses: list[str], use: str, known: set[str]) -> bool:
    unknown = set(uses) - known
    if unknown:
        raise ValueError(f"IAM statements name unknown use(s) {sorted(unknown)}")
    return use == "all" or use in uses


def _fill(text: str, options: PolicyOptions) -> str:
    return (
        text.replace("{partition}", options.partition)
        .replace("{prefix}", options.prefix.lstrip("/"))
        .replace("{sbom_bucket}", options.sbom_bucket or "")
    )


def _resources(statement: dict[str, Any], options: PolicyOptions) -> list[tuple[list[str], dict]]:
    """The statement's resource lists, each with extra conditions (a KMS alias needs one)."""
    patterns = [_fill(r, options) for r in statement["resources"]]
    if any("{kms_key}" in p for p in patterns):
        keys, aliases = options.kms_key_arns()
        variants: list[tuple[list[str], dict]] = []
        if keys:
            variants.append((keys, {}))
        if aliases:
            any_key = f"arn:{options.partition}:kms:*:*:key/*"
            extra = {"ForAnyValue:StringEquals": {"kms:ResourceAliases": aliases}}
            variants.append(([any_key], extra))
        return variants
    if any("{role}" in p for p in patterns):
        return [(options.role_arns(), {})]
    return [(patterns, {})]


def policy(
    use: str = "all",
    options: PolicyOptions | None = None,
    plugins: Sequence[tuple[str, PluginStatement]] = (),
) -> dict[str, Any]:
    """The IAM policy document (for ``aws iam create-policy``) that ``use`` needs."""
    options = options or PolicyOptions()
    found = all_statements(plugins)
    known = known_uses(found)
    if use != "all" and use not in known:
        raise ValueError(f"no IAM statements for {use!r}")
    rendered = []
    for statement in found:
        if not _shown(statement, options):
            continue
        actions = sorted(
            a
            for a, spec in statement["actions"].items()
            if _wanted(action_uses(spec)[0], use, known)
        )
        if not actions:
            continue
        variants = _resources(statement, options)
        for number, (resource, extra) in enumerate(variants):
            entry: dict[str, Any] = {
                "Sid": statement["sid"] + ("ByAlias" if number else ""),
                "Effect": "Allow",
                "Action": actions,
                "Resource": resource[0] if len(resource) == 1 else resource,
            }
            condition = {**(statement.get("condition") or {}), **extra}
            if condition:
                entry["Condition"] = condition
            rendered.append(entry)
    return {"Version": POLICY_VERSION, "Statement": rendered}


def actions(
    use: str = "all",
    kind: str | None = "call",
    *,
    planned: bool = True,
    options: PolicyOptions | None = None,
    plugins: Sequence[tuple[str, PluginStatement]] = (),
) -> set[str]:
    """The actions granted for ``use``; ``kind`` "call" (sent by prism), "authorization"
    (IAM-only permissions) or ``None`` for both; ``planned=False`` leaves out the calls
    other branches are still adding."""
    options = options or PolicyOptions()
    found_statements = all_statements(plugins)
    known = known_uses(found_statements)
    found = set()
    for statement in found_statements:
        if kind is not None and statement.get("kind", "call") != kind:
            continue
        if not _shown(statement, options):
            continue
        for action, spec in statement["actions"].items():
            uses, reason = action_uses(spec)
            if _wanted(uses, use, known) and (planned or reason is None):
                found.add(action)
    return found


def policy_size(document: Mapping[str, Any]) -> int:
    """The characters IAM counts against a managed policy's limit (whitespace is not)."""
    return len(json.dumps(document, separators=(",", ":")))


def _document(statements_: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Statement": statements_}


def _halves(statement: dict[str, Any]) -> list[dict[str, Any]]:
    """``statement`` as two statements granting together exactly what it grants: its
    Resource list (or else its Action list) cut in two."""
    for key in ("Resource", "Action"):
        values = statement[key]
        if isinstance(values, list) and len(values) > 1:
            middle = len(values) // 2
            parts = []
            for part in (values[:middle], values[middle:]):
                parts.append({**statement, key: part[0] if len(part) == 1 else part})
            return parts
    raise ValueError(f"IAM statement {statement['Sid']} alone is larger than an IAM managed policy")


def _fitting(statement: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """``statement``, cut into pieces that each fit a managed policy of their own."""
    if policy_size(_document([statement])) <= limit:
        return [statement]
    return [piece for half in _halves(statement) for piece in _fitting(half, limit)]


def split_policy(
    document: Mapping[str, Any], limit: int = MANAGED_POLICY_LIMIT
) -> list[dict[str, Any]]:
    """``document`` as few policy documents of at most ``limit`` characters each, which
    together grant exactly what it grants: its statements packed first-fit in their
    order; a statement too large for one policy is cut by its resources (then actions),
    the pieces numbered after its Sid (``PrismPassInstanceProfileRole2``, ...)."""
    pieces: list[dict[str, Any]] = []
    for statement in document["Statement"]:
        found = _fitting(statement, limit)
        for number, piece in enumerate(found, start=1):
            pieces.append({**piece, "Sid": piece["Sid"] + (str(number) if number > 1 else "")})
    bins: list[list[dict[str, Any]]] = []
    for piece in pieces:
        for statements_ in bins:
            if policy_size(_document([*statements_, piece])) <= limit:
                statements_.append(piece)
                break
        else:
            bins.append([piece])
    return [_document(statements_) for statements_ in bins]
