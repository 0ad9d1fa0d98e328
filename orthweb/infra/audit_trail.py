"""The audit trail kept where nobody can change it: a CloudTrail trail of every read and write of
DICOM objects (S3 data events), delivered to an audit bucket that locks each log file with S3
Object Lock (compliance mode in production, governance mode in dev) under the stack's key."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.infra import policies
from orthweb.infra.durability import Durability
from orthweb.infra.storage import ABORT_MULTIPART_DAYS
from orthweb.infra.tags import stack_tags, with_role
from orthweb.shared.constants import AUDIT_BUCKET_ROLE, bucket_prefix

# CloudTrail's resource type for S3 object-level (data) events.
S3_OBJECT = "AWS::S3::Object"


@dataclass(frozen=True)
class AuditTrailArgs:
    stack: str
    key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    region: pulumi.Input[str]
    # Every read and write of its objects is recorded.
    dicom_bucket_arn: pulumi.Input[str]
    # The lock's mode and days; a stack that keeps its data keeps the bucket on destroy, the others
    # empty and delete it (governance mode lets `pulumi destroy` bypass the lock).
    durability: Durability


class AuditTrail(pulumi.ComponentResource):
    bucket: aws.s3.Bucket
    trail: aws.cloudtrail.Trail

    def __init__(self, name: str, args: AuditTrailArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:AuditTrail", name, None, opts)
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=args.durability.keep_data)
        self.bucket = aws.s3.Bucket(
            f"{name}-{AUDIT_BUCKET_ROLE}",
            bucket_prefix=bucket_prefix(args.stack, AUDIT_BUCKET_ROLE),
            # Object Lock can only be turned on when the bucket is created.
            object_lock_enabled=True,
            force_destroy=not args.durability.keep_data,
            tags=with_role(args.stack, AUDIT_BUCKET_ROLE),
            opts=kept,
        )
        self._harden(name, args, kept)
        policy = self._policy(name, args, kept)
        trail_name = policies.audit_trail_name(args.stack)
        self.trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=trail_name,
            s3_bucket_name=self.bucket.id,
            kms_key_id=args.key_arn,
            enable_log_file_validation=True,
            is_multi_region_trail=True,
            advanced_event_selectors=self._selectors(args),
            tags=stack_tags(args.stack),
            # CloudTrail checks it may write to the bucket when the trail is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.register_outputs({"bucket": self.bucket.bucket, "trail": self.trail.arn})

    def _harden(self, name: str, args: AuditTrailArgs, opts: pulumi.ResourceOptions) -> None:
        """Ownership enforced, public access blocked, the stack key, versioning (Object Lock needs
        it) and the default lock every new log file gets."""
        bucket = self.bucket.id
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=opts,
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=opts,
        )
        default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="aws:kms", kms_master_key_id=args.key_arn
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default, bucket_key_enabled=True
                )
            ],
            opts=opts,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=opts,
        )
        # Free to publish; lets an EventBridge rule alert on deletion attempts without touching the stack.
        aws.s3.BucketNotification(f"{name}-events", bucket=bucket, eventbridge=True, opts=opts)
        self._expire(name, args, opts)
        retention = aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
            mode=args.durability.audit_lock_mode, days=args.durability.audit_retention_days
        )
        aws.s3.BucketObjectLockConfiguration(
            f"{name}-object-lock",
            bucket=bucket,
            rule=aws.s3.BucketObjectLockConfigurationRuleArgs(default_retention=retention),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[versioning])),
        )

    def _expire(self, name: str, args: AuditTrailArgs, opts: pulumi.ResourceOptions) -> None:
        """A log file goes once its lock ends: hidden that day, its version deleted the next (S3
        lifecycle never deletes a locked version, so the lock always wins)."""
        days = args.durability.audit_retention_days
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-after-retention",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=1
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=ABORT_MULTIPART_DAYS
                    ),
                )
            ],
            opts=opts,
        )

    def _policy(self, name: str, args: AuditTrailArgs, opts: pulumi.ResourceOptions) -> aws.s3.BucketPolicy:
        document = pulumi.Output.all(
            bucket_arn=self.bucket.arn,
            account_id=args.account_id,
            partition=args.partition,
            region=args.region,
        ).apply(
            lambda v: policies.to_json(
                policies.audit_bucket_policy(
                    bucket_arn=v["bucket_arn"],
                    account_id=v["account_id"],
                    trail_arn=policies.audit_trail_arn(
                        account_id=v["account_id"], partition=v["partition"], region=v["region"], stack=args.stack
                    ),
                )
            )
        )
        return aws.s3.BucketPolicy(f"{name}-policy", bucket=self.bucket.id, policy=document, opts=opts)

    def _selectors(self, args: AuditTrailArgs) -> list[aws.cloudtrail.TrailAdvancedEventSelectorArgs]:
        """Every data event (reads and writes) on the DICOM bucket's objects; on the audit bucket's,
        every one but the PutObject of CloudTrail's own deliveries (each would be recorded in a file
        whose delivery is recorded in turn)."""
        field = aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs

        def objects_of(
            bucket_arn: pulumi.Input[str],
        ) -> list[aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs]:
            return [
                field(field="eventCategory", equals=["Data"]),
                field(field="resources.type", equals=[S3_OBJECT]),
                field(field="resources.ARN", starts_withs=[pulumi.Output.concat(bucket_arn, "/")]),
            ]

        return [
            aws.cloudtrail.TrailAdvancedEventSelectorArgs(
                name="DICOM objects: every read and write", field_selectors=objects_of(args.dicom_bucket_arn)
            ),
            aws.cloudtrail.TrailAdvancedEventSelectorArgs(
                name="Audit log files: reads and deletions",
                field_selectors=[*objects_of(self.bucket.arn), field(field="eventName", not_equals=["PutObject"])],
            ),
        ]
