"""The hosts' IAM role and instance profile, and the permissions it grants them.

The role exists before the buckets so the DICOM bucket policy can name it; its permissions
(which name the buckets, secrets and database) are attached later: `allow_bundle_reads` once the
bundle bucket exists, `allow` once everything a host uses does. The role writes the policy
documents itself (orthweb.infra.policies); the composer says only what the hosts use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from orthweb.infra import policies
from orthweb.infra.tags import stack_tags
from orthweb.shared import telemetry
from orthweb.shared.constants import PROJECT


@dataclass(frozen=True)
class HostRoleArgs:
    stack: str
    partition: pulumi.Input[str]


@dataclass(frozen=True)
class HostAccess:
    """What the hosts use: the secrets they read, the DICOM bucket and its key, the database they
    look up, where they log."""

    # "" for a secret the stack does not have (sign-in's, the modalities' trust).
    secret_arns: Sequence[pulumi.Input[str]]
    dicom_bucket_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    db_arn: pulumi.Input[str]
    region: pulumi.Input[str]
    log_group_arns: Sequence[pulumi.Input[str]]
    # With the Secrets Manager endpoint, the secrets are readable through it only.
    secrets_endpoint_id: pulumi.Input[str] | None = None
    # A restored stack's data key (the source stack's), which its DICOM objects are encrypted with.
    data_key_arn: pulumi.Input[str] | None = None


class HostRole(pulumi.ComponentResource):
    role: aws.iam.Role
    instance_profile: aws.iam.InstanceProfile
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: HostRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:HostRole", name, None, opts)
        self._name = name
        self._stack = args.stack
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

    def allow_bundle_reads(
        self, *, bucket_arn: pulumi.Input[str], key_arn: pulumi.Input[str], region: pulumi.Input[str]
    ) -> aws.iam.RolePolicy:
        """Reading the host bundles: its own policy, as the hosts' main one names the database,
        which exists much later, and a host must not boot before it may read its bundle."""
        document = pulumi.Output.all(bucket_arn=bucket_arn, key_arn=key_arn, region=region).apply(
            lambda v: policies.to_json(policies.host_bundle_read(**v))
        )
        return self._policy("bundle-read", document)

    def allow(self, access: HostAccess) -> aws.iam.RolePolicy:
        """Exactly what the hosts use (policies.host_permissions), and their stack's metrics."""
        document = pulumi.Output.all(
            secret_arns=list(access.secret_arns),
            dicom_bucket_arn=access.dicom_bucket_arn,
            key_arn=access.key_arn,
            db_arn=access.db_arn,
            region=access.region,
            log_group_arns=list(access.log_group_arns),
            secrets_endpoint_id=access.secrets_endpoint_id or "",
            data_key_arn=access.data_key_arn or "",
        ).apply(self._permissions)
        return self._policy("permissions", document)

    def _permissions(self, used: dict[str, Any]) -> str:
        return policies.to_json(
            policies.host_permissions(
                secret_arns=[arn for arn in used["secret_arns"] if arn],
                dicom_bucket_arn=used["dicom_bucket_arn"],
                key_arn=used["key_arn"],
                db_arn=used["db_arn"],
                region=used["region"],
                log_group_arns=used["log_group_arns"],
                metric_namespace=telemetry.metric_namespace(self._stack),
                secrets_endpoint_id=used["secrets_endpoint_id"] or None,
                data_key_arn=used["data_key_arn"] or None,
            )
        )

    def _policy(self, purpose: str, document: pulumi.Input[str]) -> aws.iam.RolePolicy:
        return aws.iam.RolePolicy(
            f"{self._name}-{purpose}", role=self.role.id, policy=document, opts=pulumi.ResourceOptions(parent=self)
        )
