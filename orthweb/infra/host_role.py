"""The hosts' IAM role and instance profile.

The role exists before the buckets so the DICOM bucket policy can name it; its permissions
(which name the buckets, secrets and database) are attached later with `grant`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.constants import PROJECT
from orthweb.infra import policies
from orthweb.infra.tags import stack_tags


@dataclass(frozen=True)
class HostRoleArgs:
    stack: str
    partition: pulumi.Input[str]


class HostRole(pulumi.ComponentResource):
    role: aws.iam.Role
    instance_profile: aws.iam.InstanceProfile
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: HostRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:HostRole", name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            f"{name}-role",
            description=f"{PROJECT} {args.stack} hosts: SSM access, own secrets, DICOM bucket",
            assume_role_policy=policies.to_json(policies.ec2_assume_role()),
            tags=stack_tags(args.stack),
            opts=child,
        )
        # Session Manager replaces SSH: no port 22 is open anywhere.
        aws.iam.RolePolicyAttachment(
            f"{name}-ssm-core",
            role=self.role.name,
            policy_arn=pulumi.Output.concat("arn:", args.partition, ":iam::aws:policy/AmazonSSMManagedInstanceCore"),
            opts=child,
        )
        self.instance_profile = aws.iam.InstanceProfile(
            f"{name}-profile", role=self.role.name, tags=stack_tags(args.stack), opts=child
        )
        self.arn = self.role.arn
        self.register_outputs({"arn": self.arn, "instance_profile": self.instance_profile.name})

    def grant(self, document: pulumi.Input[str], *, purpose: str = "permissions") -> aws.iam.RolePolicy:
        """Attach the hosts' own permissions (an inline policy owned by this component)."""
        return aws.iam.RolePolicy(
            f"{self._name}-{purpose}",
            role=self.role.id,
            policy=document,
            opts=pulumi.ResourceOptions(parent=self),
        )
