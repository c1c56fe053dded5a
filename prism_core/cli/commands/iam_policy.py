"""``prism iam-policy [--for save|launch|templates|all]``: the least-privilege IAM policy."""

from __future__ import annotations

import json
from argparse import RawDescriptionHelpFormatter

from prism_core.cli.cement_api import Controller, ex
from prism_core.cli.output import DEBUG_ARGUMENT

IAM_POLICY_EPILOG = """The policy lists exactly the AWS actions prism may call for that use, scoped
where IAM allows it (registry parameters under the configured prefix, tags only on
what prism creates, terminate only boot-check instances). The action list lives in
prism_core/data/iam_policy.yaml.

examples:
  prism iam-policy > prism-policy.json
  aws iam create-policy --policy-name prism \\
      --policy-document file://prism-policy.json
  aws iam attach-user-policy --user-name alice \\
      --policy-arn arn:aws:iam::111122223333:policy/prism
  prism iam-policy --for launch        # for people who only launch templates"""


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
                    "choices": ("save", "launch", "templates", "instances", "cloud", "all"),
                    "default": "all",
                    "help": "what the policy is for (default: all)",
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
        from prism_core.aws.iam_policy import policy

        pargs = self.app.pargs
        document = policy(pargs.use, self.app.settings.registry_prefix, pargs.partition)
        print(json.dumps(document, indent=2))
