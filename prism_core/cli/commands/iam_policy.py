"""``prism iam-policy [--for USE|PLUGIN-COMMAND]``: the least-privilege IAM policy."""

from __future__ import annotations

import json
import re
import sys
from argparse import RawDescriptionHelpFormatter
from pathlib import Path
from typing import Any

from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.output import DEBUG_ARGUMENT
from prism_core.exceptions import InputError

IAM_POLICY_EPILOG = """The policy lists exactly the AWS actions prism may call for that use, scoped
to prism's own resources: changes and deletes of images, snapshots, instances, security
groups and key pairs only where prism's ownership tag is (aws:ResourceTag/prism:...),
tags only on what prism creates, registry parameters under the configured prefix,
launches with IMDSv2 and encrypted volumes only, iam:PassRole only on the roles of
prism.instance_profiles, KMS only on the keys of prism.kms_keys. Every loaded plugin's
statements are included; --for PLUGIN-COMMAND prints a plugin command's own. The
action list lives in prism_core/data/iam_policy.yaml.

--split DIR writes the policy as the fewest documents that each fit one IAM managed
policy (6,144 characters, whitespace not counted) and together grant exactly the
same: DIR/prism-USE-1.json, DIR/prism-USE-2.json, ... (USE is --for's value), and
prints their paths, one a line. Create one managed policy from each and attach them
all (an IAM user, group or role takes 10 managed policies unless the quota is raised).
Without --split the policy is one document, with a warning when it is too large.

examples:
  prism iam-policy --for save > prism-save.json   # one use: one policy
  aws iam create-policy --policy-name prism-save \\
      --policy-document file://prism-save.json
  aws iam attach-user-policy --user-name alice \\
      --policy-arn arn:aws:iam::111122223333:policy/prism-save
  prism iam-policy --split policies/   # everything, as several policies
  prism iam-policy --for launch        # for people who only launch templates"""

#: Attached managed policies per IAM user, group or role (the default quota).
ATTACHED_POLICIES_QUOTA = 10
_FILE_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class IamPolicy(Controller):
    """``prism iam-policy``: embedded in the base controller."""

    class Meta:
        label = "iam_policy_command"
        stacked_on = "base"
        stacked_type = "embedded"

    @ex(
        label="iam-policy",
        help="print the least-privilege IAM policy (JSON) prism needs",
        description="Print an IAM policy document, valid for `aws iam create-policy`, "
        "that grants exactly what prism needs for one use (or all).",
        epilog=IAM_POLICY_EPILOG,
        formatter_class=RawDescriptionHelpFormatter,
        arguments=[
            (
                ["--for"],
                {
                    "dest": "use",
                    "default": "all",
                    "metavar": "USE",
                    "help": "what the policy is for: save, launch, instances, templates, "
                    "cloud, all (default) or a plugin's command",
                },
            ),
            (
                ["--partition"],
                {
                    "choices": ("aws", "aws-cn", "aws-us-gov"),
                    "default": "aws",
                    "help": "AWS partition of the ARNs (default: aws)",
                },
            ),
            (
                ["--split"],
                {
                    "metavar": "DIR",
                    "help": "write the policy as DIR/prism-USE-N.json, each fitting one "
                    "IAM managed policy, and print their paths",
                },
            ),
            DEBUG_ARGUMENT,
        ],
    )
    def iam_policy(self) -> None:
        """``prism iam-policy [--for USE] [--partition P]``."""
        from prism_core.aws.iam_policy import (
            MANAGED_POLICY_LIMIT,
            PolicyOptions,
            policy,
            policy_size,
        )

        pargs = self.app.pargs
        settings = self.app.settings
        plugins = self.app.plugin_manager.iam_statements(settings.plugin_config)
        options = PolicyOptions.from_settings(settings, pargs.partition)
        try:
            document = policy(pargs.use, options, plugins)
        except ValueError as exc:
            raise InputError(
                f"iam-policy: {exc}",
                "use save, launch, templates, cloud, all or a plugin command (`prism plugins`)",
            ) from None
        if pargs.split is not None:
            _write_split(document, pargs.use, Path(pargs.split).expanduser())
            return
        print(json.dumps(document, indent=2))
        size = policy_size(document)
        if size > MANAGED_POLICY_LIMIT:
            print(
                f"prism: warning: the policy has {size} characters, more than the "
                f"{MANAGED_POLICY_LIMIT} of an IAM managed policy: write it as several "
                "that fit with --split DIR, or create one per use "
                "(--for save, --for launch, --for templates)",
                file=sys.stderr,
            )


def _write_split(document: dict[str, Any], use: str, folder: Path) -> None:
    """``--split DIR``: one file per managed policy, their paths on stdout."""
    from prism_core.aws.iam_policy import split_policy

    if not _FILE_SAFE.fullmatch(use):
        raise InputError(f"iam-policy: {use!r} cannot name a file", "use --for with a plain name")
    if folder.exists() and not folder.is_dir():
        raise InputError(
            f"iam-policy: --split {folder} is a file", "give a directory (created if missing)"
        )
    try:
        parts = split_policy(document)
    except ValueError as exc:
        raise InputError(f"iam-policy: {exc}", "list fewer roles or keys in the config") from None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / f"prism-{use}-{n}.json" for n in range(1, len(parts) + 1)]
        for path, part in zip(paths, parts, strict=True):
            path.write_text(json.dumps(part, indent=2) + "\n")
    except OSError as exc:
        raise InputError(
            f"iam-policy: cannot write to {folder}: {exc.strerror}", "choose another --split DIR"
        ) from None
    for path in paths:
        print(path)
    numbered = re.compile(rf"prism-{re.escape(use)}-[0-9]+\.json")
    stale = sorted(p for p in folder.iterdir() if numbered.fullmatch(p.name) and p not in paths)
    if stale:
        print(
            f"prism: warning: {', '.join(map(str, stale))}: left by an earlier --split, "
            "not part of this policy; remove them",
            file=sys.stderr,
        )
    if len(parts) > ATTACHED_POLICIES_QUOTA:
        print(
            f"prism: warning: {len(parts)} policies are more than the "
            f"{ATTACHED_POLICIES_QUOTA} IAM attaches to a user, group or role by default: "
            "ask AWS to raise the quota, or attach some to a group of the users",
            file=sys.stderr,
        )
