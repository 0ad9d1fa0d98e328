"""S3: the DICOM bucket (SSE-KMS), the host bundle bucket (SSE-KMS) and the log bucket (SSE-S3)
for access and flow logs.

Uses the current pulumi-aws 7 resources (Bucket + one resource per bucket feature), never the
deprecated `*V2` names or inline bucket arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.infra import policies
from orthweb.infra.durability import Durability
from orthweb.infra.tags import with_role
from orthweb.shared.constants import (
    ACCESS_LOGS_PREFIX,
    DICOM_BUCKET_ROLE,
    HOST_BUNDLE_BUCKET_ROLE,
    LOG_BUCKET_ROLE,
    bucket_prefix,
)

# Older versions of host bundles are kept this long after being replaced.
NONCURRENT_VERSION_DAYS = 30
ABORT_MULTIPART_DAYS = 7


@dataclass(frozen=True)
class StorageArgs:
    stack: str
    key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    # May read and write DICOM objects, and read host bundles: the hosts' role and the admins.
    allowed_principal_arns: pulumi.Input[list[str]]
    # May write host bundles: the admins (whoever runs `pulumi up` among them).
    admin_principal_arns: pulumi.Input[list[str]]
    log_retention_days: int
    # A stack that keeps its data keeps its buckets and every setting of theirs on destroy (and a
    # bucket refuses to go while not empty); the others are destroyed with their data.
    durability: Durability
    # Days an overwritten or deleted DICOM object's old version is kept (past the backup window).
    noncurrent_version_days: int
    # DICOM objects move to `storage_class` after `transition_days` (0: never).
    transition_days: int
    storage_class: str
    # The scale-out topology's load balancer writes its access logs to the log bucket too.
    load_balancer_logs: bool = False
    # A restored stack's DICOM bucket: the one `orthweb restore` filled, adopted (imported) rather
    # than made, kept with all its settings when the stack is destroyed, and encrypted with the key
    # its objects already are (`data_key_arn`: the source stack's).
    adopted_dicom_bucket: str | None = None
    data_key_arn: pulumi.Input[str] | None = None


class Storage(pulumi.ComponentResource):
    dicom_bucket: aws.s3.Bucket
    log_bucket: aws.s3.Bucket
    # Each host's application files, one object per content digest (orthweb.infra.user_data).
    host_bundle_bucket: aws.s3.Bucket
    # Log writers that check their permission when configured wait for it.
    log_bucket_policy: aws.s3.BucketPolicy

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:Storage", name, None, opts)
        self._child = pulumi.ResourceOptions(parent=self, retain_on_delete=args.durability.keep_data)
        # What `pulumi up` makes again from the templates goes with the stack, in production too.
        self._disposable = pulumi.ResourceOptions(parent=self)
        self._args = args
        # An adopted bucket keeps every setting of its own on destroy, like its restored objects.
        self._dicom = pulumi.ResourceOptions(
            parent=self, retain_on_delete=args.durability.keep_data or args.adopted_dicom_bucket is not None
        )

        self.log_bucket = self._bucket(f"{name}-{LOG_BUCKET_ROLE}", LOG_BUCKET_ROLE)
        self._harden(f"{name}-logs", self.log_bucket, kms_key_arn=None)
        # Logs expire; their old versions (a log object is never rewritten) go the next day.
        self._lifecycle(f"{name}-logs", self.log_bucket, expire_days=args.log_retention_days, noncurrent_days=1)

        self.dicom_bucket = self._create_dicom_bucket(name)
        self.host_bundle_bucket = self._create_host_bundle_bucket(name)
        aws.s3.BucketPolicy(
            f"{name}-dicom-policy",
            bucket=self.dicom_bucket.id,
            policy=pulumi.Output.all(
                bucket_arn=self.dicom_bucket.arn, allowed_principal_arns=args.allowed_principal_arns
            ).apply(lambda arns: policies.to_json(policies.dicom_bucket_policy(**arns))),
            opts=self._dicom,
        )
        self.log_bucket_policy = aws.s3.BucketPolicy(
            f"{name}-logs-policy",
            bucket=self.log_bucket.id,
            policy=pulumi.Output.all(
                bucket_arn=self.log_bucket.arn,
                account_id=args.account_id,
                dicom_bucket_arn=self.dicom_bucket.arn,
                bundle_bucket_arn=self.host_bundle_bucket.arn,
            ).apply(
                lambda v: policies.to_json(
                    policies.log_bucket_policy(
                        bucket_arn=v["bucket_arn"],
                        account_id=v["account_id"],
                        source_bucket_arns=[v["dicom_bucket_arn"], v["bundle_bucket_arn"]],
                        load_balancer_logs=args.load_balancer_logs,
                    )
                )
            ),
            opts=self._child,
        )
        self.register_outputs(
            {
                "dicom_bucket": self.dicom_bucket.bucket,
                "log_bucket": self.log_bucket.bucket,
                "host_bundle_bucket": self.host_bundle_bucket.bucket,
            }
        )

    def _bucket(self, resource_name: str, role: str, *, disposable: bool = False) -> aws.s3.Bucket:
        """A disposable bucket is emptied and deleted with the stack, whatever the environment."""
        args = self._args
        return aws.s3.Bucket(
            resource_name,
            bucket_prefix=bucket_prefix(args.stack, role),
            force_destroy=disposable or not args.durability.keep_data,
            tags=with_role(args.stack, role),
            opts=self._disposable if disposable else self._child,
        )

    def _create_dicom_bucket(self, name: str) -> aws.s3.Bucket:
        args = self._args
        resource_name = f"{name}-{DICOM_BUCKET_ROLE}"
        if args.adopted_dicom_bucket is None:
            bucket = self._bucket(resource_name, DICOM_BUCKET_ROLE)
        else:
            # Import requires these inputs to equal the bucket's: `restore` created it with these tags.
            bucket = aws.s3.Bucket(
                resource_name,
                bucket=args.adopted_dicom_bucket,
                force_destroy=False,
                tags=with_role(args.stack, DICOM_BUCKET_ROLE),
                opts=pulumi.ResourceOptions.merge(
                    self._dicom, pulumi.ResourceOptions(import_=args.adopted_dicom_bucket)
                ),
            )
        self._harden(f"{name}-dicom", bucket, kms_key_arn=args.data_key_arn or args.key_arn, opts=self._dicom)
        self._lifecycle(
            f"{name}-dicom",
            bucket,
            expire_days=None,
            noncurrent_days=args.noncurrent_version_days,
            transition=(args.transition_days, args.storage_class) if args.transition_days else None,
            opts=self._dicom,
        )
        self._access_logs(f"{name}-dicom", bucket, DICOM_BUCKET_ROLE, self._dicom)
        return bucket

    def _access_logs(self, resource_name: str, bucket: aws.s3.Bucket, role: str, opts: pulumi.ResourceOptions) -> None:
        aws.s3.BucketLogging(
            f"{resource_name}-access-logs",
            bucket=bucket.id,
            target_bucket=self.log_bucket.id,
            target_prefix=f"{ACCESS_LOGS_PREFIX}{role}/",
            opts=opts,
        )

    def _create_host_bundle_bucket(self, name: str) -> aws.s3.Bucket:
        """Everything in it is made again by `pulumi up` from the templates: it goes with the stack,
        its objects and their old versions with it, in production too."""
        args, opts = self._args, self._disposable
        bucket = self._bucket(f"{name}-{HOST_BUNDLE_BUCKET_ROLE}", HOST_BUNDLE_BUCKET_ROLE, disposable=True)
        self._harden(f"{name}-bundles", bucket, kms_key_arn=args.key_arn, opts=opts)
        self._lifecycle(f"{name}-bundles", bucket, expire_days=None, noncurrent_days=NONCURRENT_VERSION_DAYS, opts=opts)
        self._access_logs(f"{name}-bundles", bucket, HOST_BUNDLE_BUCKET_ROLE, opts)
        aws.s3.BucketPolicy(
            f"{name}-bundles-policy",
            bucket=bucket.id,
            policy=pulumi.Output.all(
                bucket_arn=bucket.arn, reader_arns=args.allowed_principal_arns, writer_arns=args.admin_principal_arns
            ).apply(lambda v: policies.to_json(policies.host_bundle_bucket_policy(**v))),
            opts=opts,
        )
        return bucket

    def _lifecycle(
        self,
        resource_name: str,
        bucket: aws.s3.Bucket,
        *,
        expire_days: int | None,
        noncurrent_days: int,
        transition: tuple[int, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Expire current objects after `expire_days` (None: never), old versions after `noncurrent_days`;
        `transition` (days, storage class) moves current objects to a cheaper class."""
        aws.s3.BucketLifecycleConfiguration(
            f"{resource_name}-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-logs" if expire_days is not None else "expire-old-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=expire_days)
                    if expire_days is not None
                    else None,
                    transitions=[
                        aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                            days=transition[0], storage_class=transition[1]
                        )
                    ]
                    if transition is not None
                    else None,
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=noncurrent_days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=ABORT_MULTIPART_DAYS
                    ),
                )
            ],
            opts=opts or self._child,
        )

    def _harden(
        self,
        resource_name: str,
        bucket: aws.s3.Bucket,
        kms_key_arn: pulumi.Input[str] | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Ownership enforced (no ACLs), public access blocked, encryption and versioning on,
        object events published to EventBridge."""
        aws.s3.BucketOwnershipControls(
            f"{resource_name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=opts or self._child,
        )
        aws.s3.BucketPublicAccessBlock(
            f"{resource_name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=opts or self._child,
        )
        # S3 server access logs can only be delivered to SSE-S3 buckets, hence no KMS for logs.
        default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="aws:kms" if kms_key_arn is not None else "AES256",
            kms_master_key_id=kms_key_arn,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{resource_name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default,
                    bucket_key_enabled=kms_key_arn is not None,
                )
            ],
            opts=opts or self._child,
        )
        aws.s3.BucketVersioning(
            f"{resource_name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=opts or self._child,
        )
        # Free to publish; lets an EventBridge rule alert on object deletions without touching the stack.
        aws.s3.BucketNotification(
            f"{resource_name}-events", bucket=bucket.id, eventbridge=True, opts=opts or self._child
        )
