"""``prism iam-policy [--for USE|PLUGIN-COMMAND]``: the least-privilege IAM policy."""

from __future__ import annotations

import json
import sys
from argparse import RawDescriptionHelpFormatter

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

examples:
  prism iam-policy > prism-policy.json
  aws iam create-policy --policy-name prism \\
      --policy-document file://prism-policy.json
  aws iam attach-user-policy --user-name alice \\
      --policy-arn arn:aws:iam::111122223333:policy/prism
  prism iam-policy --for launch        # for people who only launch templates"""


#: IAM's size limit of a managed policy (characters, whitespace not counted).
MANAGED_POLICY_LIMIT = 6144


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
            DEBUG_ARGUMENT,
        ],
    )
    def iam_policy(self) -> None:
        """``prism iam-policy [--for USE] [--partition P]``."""
        from prism_core.aws.iam_policy import PolicyOptions, policy

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
        print(json.dumps(document, indent=2))
        size = len(json.dumps(document, separators=(",", ":")))
        if size > MANAGED_POLICY_LIMIT:
            print(
                f"prism: warning: the policy has {size} characters, more than the "
                f"{MANAGED_POLICY_LIMIT} of an IAM managed policy: create one per use "
                "(--for save, --for launch, --for templates)",
                file=sys.stderr,
            )
