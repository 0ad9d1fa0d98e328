"""The audit log group: every audit line of the stack in one group nobody else writes to, kept
`auditRetentionDays`, which `orthweb audit` asks; and the same lines, as they arrive, in files the
audit bucket's Object Lock keeps.

The hosts write their lines where they always do (Docker's awslogs driver, into the Envoy and
Orthanc groups, kept `logRetentionDays` for operations). A subscription filter on each of those
groups selects the audit lines (telemetry.audit_line_patterns: Orthanc's only with the stack's
seal) and hands them to a small Lambda function (orthweb/infra/functions/audit_copy.py), which keeps
each batch as a file in the audit bucket, then writes its lines unchanged into the audit group. A
group cannot subscribe to another group directly: subscription filters deliver only to Kinesis,
Firehose, Lambda or OpenSearch. The function writes the files itself, with the Content-MD5 S3
requires of uploads to a bucket with a default retention, rather than through Firehose, for which no
statement was found that its uploads carry one. A batch the function cannot copy is retried twice
by Lambda, then kept 14 days in a dead-letter queue that an alarm watches (alarm_plan.audit_rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from orthweb.infra import policies
from orthweb.infra.durability import Durability
from orthweb.infra.functions import audit_copy
from orthweb.infra.tags import describe, stack_tags
from orthweb.shared import telemetry
from orthweb.shared.constants import AUDIT_LINES_PREFIX, aws_name

HANDLER_FILE = Path(audit_copy.__file__)
RUNTIME = "python3.12"
# Lambda's retention of a failed batch's message in the dead-letter queue: SQS's longest.
FAILED_BATCH_SECONDS = 14 * 24 * 3600
# A batch is at most a few hundred kilobytes: a few PutLogEvents calls.
TIMEOUT_SECONDS = 60
MEMORY_MB = 128


@dataclass(frozen=True)
class AuditLogGroupArgs:
    stack: str
    key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    region: pulumi.Input[str]
    # The Object Lock audit bucket: each batch becomes a file under AUDIT_LINES_PREFIX.
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    # Component (telemetry.ENVOY_LOGS, ORTHANC_LOGS) -> the group whose audit lines are copied.
    sources: Mapping[str, aws.cloudwatch.LogGroup]
    # What seals Orthanc's audit lines: only sealed ones are copied (telemetry.audit_line_patterns).
    audit_seal: pulumi.Input[str]
    # The days the lines are kept, and whether `pulumi destroy` leaves the group.
    durability: Durability
    # The function's own log (what it copied, what failed), kept like the hosts' logs.
    log_retention_days: int


class AuditLogGroup(pulumi.ComponentResource):
    group: aws.cloudwatch.LogGroup
    function: aws.lambda_.Function
    failed_batches: aws.sqs.Queue

    def __init__(self, name: str, args: AuditLogGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:AuditLogGroup", name, None, opts)
        self._name, self._args = name, args
        self.group = aws.cloudwatch.LogGroup(
            f"{name}-group",
            name=telemetry.log_group_name(args.stack, telemetry.AUDIT_LOGS),
            retention_in_days=telemetry.audit_log_retention_days(
                args.durability.audit_retention_days, args.log_retention_days
            ),
            kms_key_id=args.key_arn,
            # Where AWS refuses to delete the database, it refuses to delete who saw its studies.
            deletion_protection_enabled=args.durability.deletion_protection,
            tags=stack_tags(args.stack),
            # Like the audit bucket: a stack that keeps its data keeps who saw it.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=args.durability.keep_data),
        )
        self.failed_batches = aws.sqs.Queue(
            f"{name}-failed-batches",
            name=telemetry.audit_copy_failed_queue_name(args.stack),
            kms_master_key_id=args.key_arn,
            message_retention_seconds=FAILED_BATCH_SECONDS,
            tags=stack_tags(args.stack),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.function = self._create_function()
        self._subscribe()
        self.register_outputs({"group": self.group.name, "function": self.function.name})

    def _create_function(self) -> aws.lambda_.Function:
        args = self._args
        function_name = telemetry.audit_copy_function_name(args.stack)
        own_log = aws.cloudwatch.LogGroup(
            f"{self._name}-function-log",
            name=telemetry.lambda_log_group_name(function_name),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.key_arn,
            tags=stack_tags(args.stack),
            opts=pulumi.ResourceOptions(parent=self),
        )
        role, policy = self._create_role(own_log)
        return aws.lambda_.Function(
            f"{self._name}-function",
            name=function_name,
            description=describe(args.stack, "copies the audit lines of Envoy and Orthanc into the audit group"),
            role=role.arn,
            runtime=RUNTIME,
            handler=f"{HANDLER_FILE.stem}.handler",
            architectures=["arm64"],
            code=self._package(),
            timeout=TIMEOUT_SECONDS,
            memory_size=MEMORY_MB,
            dead_letter_config=aws.lambda_.FunctionDeadLetterConfigArgs(target_arn=self.failed_batches.arn),
            # Warnings and errors only: Lambda's START, END and REPORT lines for every batch would
            # bill ingestion and say nothing the dead-letter queue does not.
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="JSON", application_log_level="WARN", system_log_level="WARN", log_group=own_log.name
            ),
            tags=stack_tags(args.stack),
            # The role must be able to write its log and the queue before the first batch arrives.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, own_log]),
        )

    def _create_role(self, own_log: aws.cloudwatch.LogGroup) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        """The function's identity: what audit_copy_permissions allows, and nothing else."""
        args = self._args
        child = pulumi.ResourceOptions(parent=self)
        trust = pulumi.Output.from_input(args.account_id).apply(
            lambda account: policies.to_json(policies.lambda_assume_role(account))
        )
        role = aws.iam.Role(
            f"{self._name}-role",
            description=describe(args.stack, "the function that copies audit lines into the audit group"),
            assume_role_policy=trust,
            tags=stack_tags(args.stack),
            opts=child,
        )
        permissions = pulumi.Output.all(
            audit_group_arn=self.group.arn,
            own_group_arn=own_log.arn,
            queue_arn=self.failed_batches.arn,
            bucket_arn=args.bucket_arn,
            key_arn=args.key_arn,
            region=args.region,
        ).apply(lambda v: policies.to_json(policies.audit_copy_permissions(**v)))
        return role, aws.iam.RolePolicy(f"{self._name}-policy", role=role.id, policy=permissions, opts=child)

    def _package(self) -> pulumi.Output[pulumi.Archive]:
        """The handler file and the settings it reads beside it."""
        sources = [telemetry.log_group_name(self._args.stack, component) for component in sorted(self._args.sources)]
        return pulumi.Output.from_input(self._args.bucket_name).apply(
            lambda bucket: pulumi.AssetArchive(
                {
                    HANDLER_FILE.name: pulumi.FileAsset(str(HANDLER_FILE)),
                    audit_copy.SETTINGS_FILE.name: pulumi.StringAsset(
                        audit_copy.settings_document(self.group_name, sources, bucket, AUDIT_LINES_PREFIX)
                    ),
                }
            )
        )

    @property
    def group_name(self) -> str:
        return telemetry.log_group_name(self._args.stack, telemetry.AUDIT_LOGS)

    def _subscribe(self) -> None:
        """Each source group may invoke the function, with its own pattern, and nothing else may."""
        args = self._args
        for component, source in sorted(args.sources.items()):
            allowed = aws.lambda_.Permission(
                f"{self._name}-invoke-{component}",
                action="lambda:InvokeFunction",
                function=self.function.name,
                principal="logs.amazonaws.com",
                # Its streams: the ARN CloudWatch Logs invokes with (aws:SourceArn).
                source_arn=source.arn.apply(lambda arn: f"{arn}:*"),
                source_account=args.account_id,
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.cloudwatch.LogSubscriptionFilter(
                f"{self._name}-{component}",
                name=aws_name(args.stack, "audit-copy", component),
                log_group=source.name,
                filter_pattern=pulumi.Output.from_input(args.audit_seal).apply(
                    lambda seal, component=component: telemetry.audit_line_patterns(seal)[component]
                ),
                destination_arn=self.function.arn,
                # CloudWatch Logs tries the function when the filter is created.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[allowed]),
            )
