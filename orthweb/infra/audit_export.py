"""The audit lines kept where nobody can change them: a CloudWatch Logs subscription filter hands
every line of the audit log group (orthweb.infra.audit_log_group) to a Firehose stream as it
arrives, which writes them into the audit bucket under `audit-lines/`, where Object Lock keeps each
file for `auditRetentionDays` (compliance mode in production).

The files hold what CloudWatch Logs delivers to a subscription: gzipped JSON batches (the log
group, the log stream, and each line with its time), one batch after another; `zcat` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.infra import policies
from orthweb.infra.tags import describe, stack_tags
from orthweb.shared import telemetry
from orthweb.shared.constants import AUDIT_LINES_ERRORS_PREFIX, AUDIT_LINES_PREFIX, aws_name

# How long Firehose gathers lines before it writes a file: what a deleted log group could still
# take with it before the lines are locked.
BUFFER_SECONDS = 60
BUFFER_MB = 5
# A filter pattern that matches every line (CloudWatch Logs User Guide, "Filter pattern syntax").
EVERY_LINE = ""


@dataclass(frozen=True)
class AuditExportArgs:
    stack: str
    key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    region: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    # The audit log group: each of its lines goes into the bucket.
    audit_group: aws.cloudwatch.LogGroup


class AuditExport(pulumi.ComponentResource):
    stream: aws.kinesis.FirehoseDeliveryStream

    def __init__(self, name: str, args: AuditExportArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:AuditExport", name, None, opts)
        self._name, self._args = name, args
        self.stream = self._create_stream()
        self._subscribe()
        self.register_outputs({"stream": self.stream.name})

    def _role(
        self, suffix: str, what: str, trust: pulumi.Input[str], policy: pulumi.Input[str]
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{self._name}-{suffix}-role",
            description=describe(self._args.stack, what),
            assume_role_policy=trust,
            tags=stack_tags(self._args.stack),
            opts=child,
        )
        return role, aws.iam.RolePolicy(f"{self._name}-{suffix}-policy", role=role.id, policy=policy, opts=child)

    def _create_stream(self) -> aws.kinesis.FirehoseDeliveryStream:
        args = self._args
        trust = pulumi.Output.from_input(args.account_id).apply(
            lambda account: policies.to_json(policies.firehose_assume_role(account))
        )
        permissions = pulumi.Output.all(bucket=args.bucket_arn, key=args.key_arn, region=args.region).apply(
            lambda v: policies.to_json(
                policies.audit_delivery_permissions(bucket_arn=v["bucket"], key_arn=v["key"], region=v["region"])
            )
        )
        what = "Firehose writes the audit lines into the audit bucket"
        role, policy = self._role("delivery", what, trust, permissions)
        return aws.kinesis.FirehoseDeliveryStream(
            f"{self._name}-stream",
            name=policies.audit_stream_name(args.stack),
            destination="extended_s3",
            extended_s3_configuration=aws.kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationArgs(
                role_arn=role.arn,
                bucket_arn=args.bucket_arn,
                prefix=AUDIT_LINES_PREFIX,
                error_output_prefix=AUDIT_LINES_ERRORS_PREFIX,
                buffering_interval=BUFFER_SECONDS,
                buffering_size=BUFFER_MB,
                # CloudWatch Logs delivers gzipped batches already; the bucket encrypts with the stack key.
                compression_format="UNCOMPRESSED",
            ),
            server_side_encryption=aws.kinesis.FirehoseDeliveryStreamServerSideEncryptionArgs(
                enabled=True, key_type="CUSTOMER_MANAGED_CMK", key_arn=args.key_arn
            ),
            tags=stack_tags(args.stack),
            # Firehose checks it may write to the bucket when the stream is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )

    def _subscribe(self) -> None:
        """One filter on the audit group, passing every line (it holds only audit lines)."""
        args = self._args
        trust = pulumi.Output.all(partition=args.partition, region=args.region, account=args.account_id).apply(
            lambda v: policies.to_json(
                policies.logs_assume_role(partition=v["partition"], region=v["region"], account_id=v["account"])
            )
        )
        permissions = self.stream.arn.apply(lambda arn: policies.to_json(policies.audit_subscription_permissions(arn)))
        what = "CloudWatch Logs hands the audit lines to Firehose"
        role, policy = self._role("subscription", what, trust, permissions)
        aws.cloudwatch.LogSubscriptionFilter(
            f"{self._name}-{telemetry.AUDIT_LOGS}",
            name=aws_name(args.stack, "audit", "export"),
            log_group=args.audit_group.name,
            filter_pattern=EVERY_LINE,
            destination_arn=self.stream.arn,
            role_arn=role.arn,
            # CloudWatch Logs tries the role when the filter is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
