"""The scale-out group's own Auto Scaling service-linked role, which the stack key admits.

EC2 Auto Scaling launches the group's hosts with a service-linked role; their root volumes are
encrypted with the stack key, which that role may use only if the key policy names it. The account's
default role (AWSServiceRoleForAutoScaling) may or may not exist yet, and KMS refuses a key policy
naming a principal that does not exist; so the stack creates a role with its own suffix, as AWS
advises for access to one customer managed key, before the key, and the group launches with it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from orthweb.infra.tags import describe
from orthweb.shared.constants import aws_name

AUTOSCALING_SERVICE: Final = "autoscaling.amazonaws.com"
# IAM role names hold 64 characters; AWS puts "AWSServiceRoleForAutoScaling_" before the suffix.
SUFFIX_MAX_LENGTH: Final = 64 - len("AWSServiceRoleForAutoScaling_")
_NOT_ALLOWED: Final = re.compile(r"[^\w+=,.@-]")
_DIGEST_LENGTH: Final = 6


def role_suffix(stack: str) -> str:
    """`orthweb-<stack>` when IAM accepts it, else a shortened form ending in a digest of it."""
    wanted = aws_name(stack)
    cleaned = _NOT_ALLOWED.sub("-", wanted)
    if cleaned == wanted and len(cleaned) <= SUFFIX_MAX_LENGTH:
        return cleaned
    digest = hashlib.sha256(wanted.encode()).hexdigest()[:_DIGEST_LENGTH]
    return f"{cleaned[: SUFFIX_MAX_LENGTH - _DIGEST_LENGTH - 1]}-{digest}"


@dataclass(frozen=True)
class AutoScalingRoleArgs:
    stack: str


class AutoScalingRole(pulumi.ComponentResource):
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: AutoScalingRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:AutoScalingRole", name, None, opts)
        role = aws.iam.ServiceLinkedRole(
            f"{name}-role",
            aws_service_name=AUTOSCALING_SERVICE,
            custom_suffix=role_suffix(args.stack),
            description=describe(args.stack, "launches the scale-out group's hosts (the stack key admits it)"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = role.arn
        self.register_outputs({"arn": self.arn})
