"""The customer-managed KMS key that encrypts the database, the DICOM bucket, secrets, logs, the
alarm topic and the hosts' root volumes."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.infra import policies
from orthweb.infra.durability import Durability
from orthweb.infra.tags import describe, stack_tags
from orthweb.shared.constants import data_key_alias, key_alias


@dataclass(frozen=True)
class EncryptionKeyArgs:
    stack: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    region: pulumi.Input[str]
    # Its deletion window; kept when the stack keeps data, which stays readable only while its key exists.
    durability: Durability
    # The database's identifier (its log groups are encrypted with the key).
    db_identifier: pulumi.Input[str]
    # The scale-out group's Auto Scaling role, which launches hosts with key-encrypted volumes.
    launch_role_arn: pulumi.Input[str] | None = None
    # A restored stack's data key (its source's), named by an alias of this stack for `verify`.
    data_key_arn: pulumi.Input[str] | None = None


class EncryptionKey(pulumi.ComponentResource):
    key: aws.kms.Key
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: EncryptionKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:EncryptionKey", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        document = pulumi.Output.all(
            account_id=args.account_id,
            partition=args.partition,
            region=args.region,
            db_identifier=args.db_identifier,
            launch_role_arn=args.launch_role_arn,
        ).apply(lambda users: policies.to_json(policies.key_policy(policies.KeyUsers(stack=args.stack, **users))))
        self.key = aws.kms.Key(
            f"{name}-key",
            description=describe(args.stack, "database, DICOM bucket, secrets and logs"),
            enable_key_rotation=True,
            deletion_window_in_days=args.durability.key_deletion_window_days,
            policy=document,
            tags=stack_tags(args.stack),
            # The alias goes (a new stack of the same name can take it); the key stays if asked.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=args.durability.keep_data),
        )
        aws.kms.Alias(f"{name}-alias", name=key_alias(args.stack), target_key_id=self.key.key_id, opts=child)
        if args.data_key_arn is not None:
            aws.kms.Alias(
                f"{name}-data-alias", name=data_key_alias(args.stack), target_key_id=args.data_key_arn, opts=child
            )
        self.arn = self.key.arn
        self.register_outputs({"arn": self.arn})
