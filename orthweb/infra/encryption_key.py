"""The customer-managed KMS key that encrypts the database, the DICOM bucket, secrets and logs."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.constants import key_alias
from orthweb.infra import policies
from orthweb.infra.tags import describe, stack_tags


@dataclass(frozen=True)
class EncryptionKeyArgs:
    stack: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    region: pulumi.Input[str]
    deletion_window_days: int
    # Kept data (production buckets and database) stays readable only while its key exists.
    retain_on_delete: bool = False


class EncryptionKey(pulumi.ComponentResource):
    key: aws.kms.Key
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: EncryptionKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:EncryptionKey", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        document = pulumi.Output.all(account_id=args.account_id, partition=args.partition, region=args.region).apply(
            lambda where: policies.to_json(policies.key_policy(**where, stack=args.stack))
        )
        self.key = aws.kms.Key(
            f"{name}-key",
            description=describe(args.stack, "database, DICOM bucket, secrets and logs"),
            enable_key_rotation=True,
            deletion_window_in_days=args.deletion_window_days,
            policy=document,
            tags=stack_tags(args.stack),
            # The alias goes (a new stack of the same name can take it); the key stays if asked.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=args.retain_on_delete),
        )
        aws.kms.Alias(f"{name}-alias", name=key_alias(args.stack), target_key_id=self.key.key_id, opts=child)
        self.arn = self.key.arn
        self.register_outputs({"arn": self.arn})
