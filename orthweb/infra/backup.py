"""AWS Backup: continuous backups (point-in-time restore) of the database and the DICOM bucket in a
vault encrypted with the stack's key; in production a vault lock, and optionally a copy of each
daily recovery point in a second region."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.infra import policies
from orthweb.infra.durability import Durability
from orthweb.infra.tags import describe, stack_tags, with_role
from orthweb.shared.constants import BACKUP_VAULT_ROLE, aws_name

# The daily moment AWS Backup runs the plan's upkeep (the continuous backup itself never stops).
DAILY_SCHEDULE = "cron(0 5 ? * * *)"
CONTINUOUS_RULE = "continuous"
# Vault Lock in compliance mode: after these days of grace nobody can remove or shorten the lock
# (AWS Backup Developer Guide, "AWS Backup Vault Lock": at least 3 days).
LOCK_GRACE_DAYS = 3


@dataclass(frozen=True)
class BackupArgs:
    stack: str
    key_arn: pulumi.Input[str]
    partition: pulumi.Input[str]
    account_id: pulumi.Input[str]
    db_arn: pulumi.Input[str]
    dicom_bucket_arn: pulumi.Input[str]
    # How long recovery points are kept; a stack protected from deletion locks its vault in
    # compliance mode, and one that keeps its data keeps the vault and its points on destroy.
    durability: Durability
    # A second region receiving a copy of each daily recovery point; None: no copy.
    copy_region: str | None = None
    # A restored stack's data key (the source stack's), which its database and objects are encrypted with.
    data_key_arn: pulumi.Input[str] | None = None


class Backup(pulumi.ComponentResource):
    vault: aws.backup.Vault
    plan: aws.backup.Plan
    role: aws.iam.Role
    # The copy region's vault and its key (None without a copy region).
    copy_vault: aws.backup.Vault | None = None
    copy_key: aws.kms.Key | None = None

    def __init__(self, name: str, args: BackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:Backup", name, None, opts)
        self._name = name
        self._args = args
        self._retention_days = args.durability.backup_retention_days
        # Recovery points outlive a destroyed stack that keeps its data.
        self._kept = pulumi.ResourceOptions(parent=self, retain_on_delete=args.durability.keep_data)
        self.vault = aws.backup.Vault(
            f"{name}-vault",
            name=aws_name(args.stack),
            kms_key_arn=args.key_arn,
            force_destroy=not args.durability.keep_data,
            tags=with_role(args.stack, BACKUP_VAULT_ROLE),
            opts=self._kept,
        )
        if args.durability.deletion_protection:
            self._lock()
        if args.copy_region is not None:
            self._create_copy_vault(args.copy_region)
        self.role = self._create_role()
        self.plan = self._create_plan()
        aws.backup.Selection(
            f"{name}-selection",
            name=aws_name(args.stack, "data"),
            plan_id=self.plan.id,
            iam_role_arn=self.role.arn,
            resources=[args.db_arn, args.dicom_bucket_arn],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"vault": self.vault.name, "plan": self.plan.id})

    def _lock(self) -> None:
        """Compliance mode: once the grace days pass, no one (the root user included) can delete a
        recovery point before its retention ends, shorten that retention, or remove the lock."""
        aws.backup.VaultLockConfiguration(
            f"{self._name}-lock",
            backup_vault_name=self.vault.name,
            min_retention_days=self._retention_days,
            changeable_for_days=LOCK_GRACE_DAYS,
            opts=self._kept,
        )

    def _create_copy_vault(self, region: str) -> None:
        """A vault in `region` under a key of that region (a KMS key never leaves its region)."""
        args = self._args
        provider = aws.Provider(f"{self._name}-copy-region", region=region, opts=pulumi.ResourceOptions(parent=self))
        in_region = pulumi.ResourceOptions(parent=self, provider=provider, retain_on_delete=args.durability.keep_data)
        self.copy_key = aws.kms.Key(
            f"{self._name}-copy-key",
            description=describe(args.stack, f"backup copies in {region}"),
            enable_key_rotation=True,
            deletion_window_in_days=args.durability.key_deletion_window_days,
            policy=pulumi.Output.all(partition=args.partition, account_id=args.account_id).apply(
                lambda v: policies.to_json(policies.account_key_policy(**v))
            ),
            tags=stack_tags(args.stack),
            opts=in_region,
        )
        self.copy_vault = aws.backup.Vault(
            f"{self._name}-copy-vault",
            name=aws_name(args.stack, "copy"),
            kms_key_arn=self.copy_key.arn,
            force_destroy=not args.durability.keep_data,
            tags=with_role(args.stack, BACKUP_VAULT_ROLE),
            opts=in_region,
        )

    def _create_role(self) -> aws.iam.Role:
        args = self._args
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{self._name}-role",
            description=describe(args.stack, "AWS Backup of the database and the DICOM bucket"),
            assume_role_policy=policies.to_json(policies.backup_assume_role()),
            tags=stack_tags(args.stack),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{self._name}-role-policy",
            role=role.id,
            policy=pulumi.Output.all(
                db_arn=args.db_arn,
                bucket_arn=args.dicom_bucket_arn,
                key_arns=pulumi.Output.all(
                    args.key_arn,
                    *([args.data_key_arn] if args.data_key_arn else []),
                    *([self.copy_key.arn] if self.copy_key else []),
                ),
                vault_arns=pulumi.Output.all(self.vault.arn, *([self.copy_vault.arn] if self.copy_vault else [])),
            ).apply(lambda v: policies.to_json(policies.backup_permissions(**v))),
            opts=child,
        )
        return role

    def _create_plan(self) -> aws.backup.Plan:
        args = self._args
        copies = (
            [
                aws.backup.PlanRuleCopyActionArgs(
                    destination_vault_arn=self.copy_vault.arn,
                    lifecycle=aws.backup.PlanRuleCopyActionLifecycleArgs(delete_after=self._retention_days),
                )
            ]
            if self.copy_vault is not None
            else None
        )
        return aws.backup.Plan(
            f"{self._name}-plan",
            name=aws_name(args.stack),
            rules=[
                aws.backup.PlanRuleArgs(
                    rule_name=CONTINUOUS_RULE,
                    target_vault_name=self.vault.name,
                    schedule=DAILY_SCHEDULE,
                    enable_continuous_backup=True,
                    lifecycle=aws.backup.PlanRuleLifecycleArgs(delete_after=self._retention_days),
                    copy_actions=copies,
                    recovery_point_tags=stack_tags(args.stack),
                )
            ],
            tags=stack_tags(args.stack),
            opts=pulumi.ResourceOptions(parent=self),
        )
