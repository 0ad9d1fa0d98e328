"""IAM, bucket and key policy documents, as pure functions of ARNs.

Kept free of Pulumi so the graph tests can lint every document with parliament and unit tests
can read them directly. Components call these inside `Output.apply`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from orthweb.shared import telemetry
from orthweb.shared.constants import (
    ACCESS_LOGS_PREFIX,
    AUDIT_LINES_PREFIX,
    BUNDLE_PREFIX,
    FLOW_LOGS_PREFIX,
    LOAD_BALANCER_LOGS_PREFIX,
    aws_name,
)

Document = dict[str, Any]

VERSION = "2012-10-17"


def to_json(document: Document) -> str:
    return json.dumps(document, sort_keys=True)


def ec2_assume_role() -> Document:
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def rds_monitoring_assume_role() -> Document:
    """RDS enhanced monitoring publishes OS metrics to CloudWatch Logs under this role."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "monitoring.rds.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def host_permissions(
    *,
    secret_arns: list[str],
    dicom_bucket_arn: str,
    key_arn: str,
    db_arn: str,
    region: str,
    log_group_arns: list[str],
    metric_namespace: str,
    secrets_endpoint_id: str | None = None,
    data_key_arn: str | None = None,
) -> Document:
    """Exactly what a host needs: its secrets, the DICOM bucket, the key, to find the DB, and to
    report: its log groups and its stack's metric namespace.

    With `secrets_endpoint_id`, the secrets are readable only through that VPC endpoint: a host's
    credential taken elsewhere cannot read them. A restored stack's DICOM objects are encrypted with
    the source stack's key (`data_key_arn`), which the hosts may use through S3 alone.
    """
    return {
        "Version": VERSION,
        "Statement": [
            _read_own_secrets(secret_arns, secrets_endpoint_id),
            {
                "Sid": "FindDatabaseEndpoint",
                "Effect": "Allow",
                "Action": "rds:DescribeDBInstances",
                "Resource": db_arn,
            },
            *_dicom_bucket_access(dicom_bucket_arn),
            _key_through_services(key_arn, region),
            *([_data_key_through_s3(data_key_arn, region)] if data_key_arn and data_key_arn != key_arn else []),
            *_log_and_metric_reporting(log_group_arns, metric_namespace),
        ],
    }


SECRET_READ_ACTIONS = ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue")


def _read_own_secrets(secret_arns: list[str], secrets_endpoint_id: str | None) -> Document:
    statement: Document = {
        "Sid": "ReadOwnSecrets",
        "Effect": "Allow",
        "Action": list(SECRET_READ_ACTIONS),
        "Resource": sorted(secret_arns),
    }
    if secrets_endpoint_id:
        # aws:SourceVpce is in the request only when it came through an interface endpoint.
        statement["Condition"] = {"StringEquals": {"aws:SourceVpce": secrets_endpoint_id}}
    return statement


def secrets_endpoint_policy(*, secret_arns: list[str], account_id: str) -> Document:
    """What the Secrets Manager endpoint lets through: reading this stack's secrets, by this
    account's principals. Any other secret, and every other action, is refused on the endpoint
    (with private DNS, every Secrets Manager call from the VPC takes it); calls from outside the
    VPC, such as `pulumi up`'s, never pass through it."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "ReadThisStacksSecrets",
                "Effect": "Allow",
                "Principal": "*",
                "Action": list(SECRET_READ_ACTIONS),
                "Resource": sorted(set(secret_arns)),
                "Condition": {"StringEquals": {"aws:PrincipalAccount": account_id}},
            }
        ],
    }


def host_bundle_read(*, bucket_arn: str, key_arn: str, region: str) -> Document:
    """What a host needs at first boot: read the bundles (nothing else in that bucket, no listing),
    and the key only as S3 uses it for that bucket (with an S3 Bucket Key, the encryption context
    names the bucket, not the object: Amazon S3 User Guide, "Reducing the cost of SSE-KMS with
    Amazon S3 Bucket Keys")."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "ReadHostBundles",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"{bucket_arn}/{BUNDLE_PREFIX}*",
            },
            {
                "Sid": "DecryptHostBundles",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": key_arn,
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": f"s3.{region}.amazonaws.com",
                        "kms:EncryptionContext:aws:s3:arn": bucket_arn,
                    }
                },
            },
        ],
    }


def _dicom_bucket_access(dicom_bucket_arn: str) -> list[Document]:
    return [
        {
            "Sid": "ListDicomBucket",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": dicom_bucket_arn,
        },
        {
            "Sid": "ReadWriteDicomObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": f"{dicom_bucket_arn}/*",
        },
    ]


def _key_through_services(key_arn: str, region: str) -> Document:
    # Only through S3 and Secrets Manager: the role cannot use the key directly.
    return {
        "Sid": "UseKeyThroughServices",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": key_arn,
        "Condition": {
            "StringEquals": {
                "kms:ViaService": [
                    f"s3.{region}.amazonaws.com",
                    f"secretsmanager.{region}.amazonaws.com",
                ]
            }
        },
    }


def _data_key_through_s3(key_arn: str, region: str) -> Document:
    return {
        "Sid": "UseRestoredDataKeyThroughS3",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": key_arn,
        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
    }


def _log_and_metric_reporting(log_group_arns: list[str], metric_namespace: str) -> list[Document]:
    return [
        {
            # Docker's awslogs driver and the CloudWatch agent write streams into the stack's
            # groups; they never create or delete a group.
            "Sid": "WriteOwnLogStreams",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": sorted(f"{arn}:log-stream:*" for arn in log_group_arns),
        },
        {
            # PutMetricData names no resource; the namespace condition is what confines it.
            "Sid": "PublishOwnMetrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": metric_namespace}},
        },
    ]


def _deny_insecure_transport(bucket_arn: str) -> Document:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def dicom_bucket_policy(*, bucket_arn: str, allowed_principal_arns: list[str]) -> Document:
    """TLS only; object data readable and writable only by the hosts' role and the deployer.

    Bucket administration is not denied to others, so an account administrator can never be
    locked out of the bucket by its own policy.
    """
    return {
        "Version": VERSION,
        "Statement": [
            _deny_insecure_transport(bucket_arn),
            {
                "Sid": "DenyObjectAccessToOthers",
                "Effect": "Deny",
                "Principal": "*",
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:GetObjectVersion",
                    "s3:DeleteObjectVersion",
                ],
                "Resource": f"{bucket_arn}/*",
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": sorted(set(allowed_principal_arns))}},
            },
        ],
    }


def host_bundle_bucket_policy(*, bucket_arn: str, reader_arns: list[str], writer_arns: list[str]) -> Document:
    """TLS only; the bundles readable by the hosts' role and the admins, written and deleted by the
    admins only (`pulumi up` runs as one of them). Bucket administration stays with the account."""
    objects = f"{bucket_arn}/*"
    return {
        "Version": VERSION,
        "Statement": [
            _deny_insecure_transport(bucket_arn),
            {
                "Sid": "DenyBundleReadsToOthers",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": objects,
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": sorted(set(reader_arns))}},
            },
            {
                "Sid": "DenyBundleWritesToOthers",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectTagging"],
                "Resource": objects,
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": sorted(set(writer_arns))}},
            },
        ],
    }


def administrators_only_secret_policy(*, secret_arn: str, reader_arns: list[str]) -> Document:
    """A secret only the stack's administrators may read, whatever IAM grants anyone else (the
    hosts' role included). Its administration is not denied, so nobody is ever locked out of it."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "DenyReadingToOthers",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": secret_arn,
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": sorted(set(reader_arns))}},
            }
        ],
    }


def log_bucket_policy(
    *, bucket_arn: str, account_id: str, source_bucket_arns: list[str], load_balancer_logs: bool = False
) -> Document:
    """TLS only; S3 server access logs and VPC flow logs (and the load balancer's access logs, in
    the scale-out topology) delivered by their service principals."""
    return {
        "Version": VERSION,
        "Statement": [
            *([_load_balancer_logs_write(bucket_arn, account_id)] if load_balancer_logs else []),
            _deny_insecure_transport(bucket_arn),
            {
                "Sid": "S3ServerAccessLogs",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/{ACCESS_LOGS_PREFIX}*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": sorted(source_bucket_arns)},
                },
            },
            {
                "Sid": "FlowLogsWrite",
                "Effect": "Allow",
                "Principal": {"Service": "delivery.logs.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/{FLOW_LOGS_PREFIX}*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            },
            {
                "Sid": "FlowLogsCheckBucket",
                "Effect": "Allow",
                "Principal": {"Service": "delivery.logs.amazonaws.com"},
                "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
                "Resource": bucket_arn,
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            },
        ],
    }


def stack_alarm_arns(*, account_id: str, partition: str, region: str, stack: str) -> str:
    """The ARN pattern of this stack's CloudWatch alarms (all named `orthweb-<stack>-...`)."""
    return f"arn:{partition}:cloudwatch:{region}:{account_id}:alarm:{aws_name(stack)}-*"


def _from_stack_alarms(*, account_id: str, partition: str, region: str, stack: str) -> Document:
    # aws:SourceArn/SourceAccount keep CloudWatch from acting for anyone else's alarms (confused deputy).
    return {
        "StringEquals": {"aws:SourceAccount": account_id},
        "ArnLike": {
            "aws:SourceArn": stack_alarm_arns(account_id=account_id, partition=partition, region=region, stack=stack)
        },
    }


def alarm_topic_policy(*, topic_arn: str, account_id: str, partition: str, region: str, stack: str) -> Document:
    """Only this stack's alarms may publish to its alarm topic, and nothing arrives without TLS.

    The account keeps managing the topic through IAM (a same-account principal needs no grant here).
    """
    where = {"account_id": account_id, "partition": partition, "region": region, "stack": stack}
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "StackAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": _from_stack_alarms(**where),
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def _load_balancer_logs_write(bucket_arn: str, account_id: str) -> Document:
    # Network Load Balancer access logs arrive through the log delivery service, under
    # <prefix>/AWSLogs/<account>/; its bucket check is FlowLogsCheckBucket's.
    return {
        "Sid": "LoadBalancerLogsWrite",
        "Effect": "Allow",
        "Principal": {"Service": "delivery.logs.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"{bucket_arn}/{LOAD_BALANCER_LOGS_PREFIX}/AWSLogs/{account_id}/*",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
    }


def alarm_topic_name(stack: str) -> str:
    """The SNS topic every alarm of the stack notifies."""
    return aws_name(stack, "alarms")


def audit_trail_name(stack: str) -> str:
    """The CloudTrail trail recording every read and write of the stack's DICOM objects."""
    return aws_name(stack, "audit")


def audit_trail_arn(*, account_id: str, partition: str, region: str, stack: str) -> str:
    return f"arn:{partition}:cloudtrail:{region}:{account_id}:trail/{audit_trail_name(stack)}"


def audit_bucket_policy(*, bucket_arn: str, trail_arn: str, account_id: str) -> Document:
    """TLS only; CloudTrail, for this stack's trail alone (aws:SourceArn), may check the bucket and
    write log files under AWSLogs/<account>/ (the statements of the CloudTrail User Guide's
    "Amazon S3 bucket policy for CloudTrail")."""
    from_trail = {"StringEquals": {"aws:SourceArn": trail_arn}}
    return {
        "Version": VERSION,
        "Statement": [
            _deny_insecure_transport(bucket_arn),
            {
                "Sid": "CloudTrailChecksBucket",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": bucket_arn,
                "Condition": from_trail,
            },
            {
                "Sid": "CloudTrailWritesLogFiles",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/AWSLogs/{account_id}/*",
                "Condition": {
                    "StringEquals": {"aws:SourceArn": trail_arn, "s3:x-amz-acl": "bucket-owner-full-control"}
                },
            },
        ],
    }


def lambda_assume_role(account_id: str) -> Document:
    """AWS Lambda, for this account's functions only."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }


def audit_copy_permissions(
    *, audit_group_arn: str, own_group_arn: str, queue_arn: str, bucket_arn: str, key_arn: str, region: str
) -> Document:
    """The copy function keeps each batch as a new file under the audit bucket's `audit-lines/`
    (encrypted with the stack key, used only through S3 for that bucket), writes the lines into the
    audit group's streams and its own log, and a batch it could not copy into its dead-letter queue
    (the stack key, used only through SQS). It reads nothing and deletes nothing."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "KeepAuditFiles",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/{AUDIT_LINES_PREFIX}*",
            },
            {
                "Sid": "EncryptAuditFilesThroughS3",
                "Effect": "Allow",
                "Action": "kms:GenerateDataKey",
                "Resource": key_arn,
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
                    # With an S3 Bucket Key the context is the bucket's ARN, without one the object's.
                    "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket_arn, f"{bucket_arn}/*"]},
                },
            },
            {
                "Sid": "WriteAuditLines",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [f"{audit_group_arn}:log-stream:*", f"{own_group_arn}:log-stream:*"],
            },
            {
                "Sid": "KeepFailedBatches",
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
            },
            {
                "Sid": "EncryptFailedBatchesThroughSqs",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com"}},
            },
        ],
    }


@dataclass(frozen=True)
class KeyUsers:
    """Where the stack key is used on the stack's behalf, beyond the account's own principals."""

    account_id: str
    partition: str
    region: str
    stack: str
    # The database's identifier: RDS exports its logs into groups named after it.
    db_identifier: str
    # The scale-out group's Auto Scaling service-linked role (None: no group).
    launch_role_arn: str | None = None


def key_policy(users: KeyUsers) -> Document:
    """The account administers the key through IAM; CloudWatch Logs may use it for the stack's log
    groups, CloudWatch for this stack's alarms' notifications to the topic encrypted with it,
    the group's Auto Scaling role for the hosts' encrypted root volumes, and the stack's audit
    trail for its log files.

    The other users need no statement of their own: they use the key with a principal of the
    account, allowed by IAM through the first statement (RDS storage, Performance Insights and its
    managed secret, and the failover hosts' volumes, with the deployer's; Secrets Manager and S3
    with the hosts' role, through kms:ViaService; a stopped standby with the operator's).

    In a key policy `"Resource": "*"` means "this key" (AWS requires that form).
    """
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "AccountAdministersThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{users.partition}:iam::{users.account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            *_cloudwatch_logs(users),
            _alarm_notifications(users),
            *_audit_trail(users),
            *(_autoscaling_launches(users.launch_role_arn) if users.launch_role_arn else []),
        ],
    }


def _cloudwatch_logs(users: KeyUsers) -> list[Document]:
    # The encryption context CloudWatch Logs sends is the log group's ARN.
    groups = [telemetry.log_group_name(users.stack, component) for component in telemetry.STACK_LOG_GROUPS]
    groups.append(telemetry.lambda_log_group_name(telemetry.audit_copy_function_name(users.stack)))
    groups.append(telemetry.rds_log_group_name(users.db_identifier, "*"))
    logs = f"logs.{users.region}.amazonaws.com"
    return [
        {
            "Sid": "CloudWatchLogsEncryption",
            "Effect": "Allow",
            "Principal": {"Service": logs},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
            "Resource": "*",
            # StringLike, not ArnLike: the context key is typed String (parliament checks that),
            # and the only wildcard is in the log group's name.
            "Condition": {
                "StringLike": {
                    "kms:EncryptionContext:aws:logs:arn": [
                        f"arn:{users.partition}:logs:{users.region}:{users.account_id}:log-group:{group}"
                        for group in groups
                    ]
                }
            },
        },
        {
            "Sid": "CloudWatchLogsDescribeKey",
            "Effect": "Allow",
            "Principal": {"Service": logs},
            "Action": "kms:DescribeKey",
            "Resource": "*",
        },
    ]


def _alarm_notifications(users: KeyUsers) -> Document:
    # Without it CloudWatch cannot publish to the encrypted alarm topic, and every notification is
    # dropped without an error anywhere.
    where = {"account_id": users.account_id, "partition": users.partition, "region": users.region}
    condition = _from_stack_alarms(**where, stack=users.stack)
    topic = f"arn:{users.partition}:sns:{users.region}:{users.account_id}:{alarm_topic_name(users.stack)}"
    condition["StringEquals"]["kms:EncryptionContext:aws:sns:topicArn"] = topic
    return {
        "Sid": "CloudWatchAlarmsNotifyEncryptedTopic",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": condition,
    }


def _audit_trail(users: KeyUsers) -> list[Document]:
    """What the CloudTrail User Guide's "Configure AWS KMS key policies for CloudTrail" lists: the
    trail encrypts its log files (the encryption context names the trail), and may describe the key.
    Reading them needs no statement: account principals decrypt through IAM (the first statement)."""
    where = {"account_id": users.account_id, "partition": users.partition, "region": users.region}
    trail = audit_trail_arn(**where, stack=users.stack)
    return [
        {
            "Sid": "CloudTrailEncryptsAuditLogs",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceArn": trail},
                "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trail},
            },
        },
        {
            "Sid": "CloudTrailDescribesKey",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceArn": trail}},
        },
    ]


def _autoscaling_launches(role_arn: str) -> list[Document]:
    """What EC2 Auto Scaling's guide lists for launching instances with volumes encrypted by a
    customer managed key: use of the key, and grants for the volumes it attaches."""
    return [
        {
            "Sid": "AutoScalingUsesKeyForHostVolumes",
            "Effect": "Allow",
            "Principal": {"AWS": role_arn},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
            "Resource": "*",
        },
        {
            "Sid": "AutoScalingAttachesHostVolumes",
            "Effect": "Allow",
            "Principal": {"AWS": role_arn},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}},
        },
    ]


# --- AWS Backup ------------------------------------------------------------------------------------


def backup_assume_role() -> Document:
    return {
        "Version": VERSION,
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }


def account_key_policy(*, partition: str, account_id: str) -> Document:
    """A key the account's principals use as their IAM policies allow (KMS's default key policy)."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "AccountAdministersThroughIam",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


def backup_permissions(*, db_arn: str, bucket_arn: str, key_arns: list[str], vault_arns: list[str]) -> Document:
    """What AWS Backup's managed policies for backup and S3 backup give it, narrowed to this stack's
    database, DICOM bucket, key(s) and vault(s) (AWSBackupServiceRolePolicyForBackup and
    AWSBackupServiceRolePolicyForS3Backup in the IAM console)."""
    # arn:<partition>:rds:<region>:<account>:db:<identifier> -> arn:<partition>:rds:<region>:<account>
    rds = db_arn.rsplit(":", 2)[0]
    partition, region, account = rds.split(":")[1], rds.split(":")[3], rds.split(":")[4]
    recovery_points = f"arn:{partition}:backup:{region}:{account}:recovery-point:*"
    return {
        "Version": VERSION,
        "Statement": [
            *_backup_database(db_arn, rds),
            *_backup_bucket(bucket_arn, f"arn:{partition}:events:{region}:{account}:rule/AwsBackupManagedRule*"),
            {
                "Sid": "KeyOfTheDataAndTheVaults",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey", "kms:Encrypt", "kms:ReEncrypt*"],
                "Resource": key_arns,
            },
            {
                "Sid": "GrantsForAwsResourcesOnly",
                "Effect": "Allow",
                "Action": "kms:CreateGrant",
                "Resource": key_arns,
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
            {
                "Sid": "OwnVaults",
                "Effect": "Allow",
                "Action": ["backup:DescribeBackupVault", "backup:CopyIntoBackupVault", "backup:CopyFromBackupVault"],
                "Resource": vault_arns,
            },
            {
                "Sid": "TagRecoveryPoints",
                "Effect": "Allow",
                "Action": "backup:TagResource",
                "Resource": recovery_points,
                "Condition": {"StringEquals": {"aws:PrincipalAccount": account}},
            },
            {"Sid": "FindSelectedResources", "Effect": "Allow", "Action": "tag:GetResources", "Resource": "*"},
        ],
    }


def _backup_database(db_arn: str, rds: str) -> list[Document]:
    """The instance (continuous backup sets its retention), and the snapshots AWS Backup names."""
    snapshots = f"{rds}:snapshot:awsbackup:*"
    return [
        {
            "Sid": "Database",
            "Effect": "Allow",
            "Action": [
                "rds:DescribeDBInstances",
                "rds:ListTagsForResource",
                "rds:AddTagsToResource",
                "rds:ModifyDBInstance",
                "rds:CreateDBSnapshot",
            ],
            "Resource": [db_arn, snapshots],
        },
        {
            "Sid": "DatabaseSnapshots",
            "Effect": "Allow",
            "Action": [
                "rds:DescribeDBSnapshots",
                "rds:CopyDBSnapshot",
                "rds:DeleteDBSnapshot",
                "rds:ModifyDBSnapshotAttribute",
            ],
            "Resource": snapshots,
        },
        {
            "Sid": "DatabaseAutomatedBackups",
            "Effect": "Allow",
            "Action": "rds:DeleteDBInstanceAutomatedBackup",
            "Resource": f"{rds}:auto-backup:*",
        },
    ]


def _backup_bucket(bucket_arn: str, managed_rules: str) -> list[Document]:
    """The bucket's versions and settings, and the EventBridge rule continuous S3 backup keeps."""
    return [
        {
            "Sid": "DicomBucket",
            "Effect": "Allow",
            "Action": [
                "s3:GetBucketTagging",
                "s3:GetInventoryConfiguration",
                "s3:PutInventoryConfiguration",
                "s3:ListBucketVersions",
                "s3:ListBucket",
                "s3:GetBucketVersioning",
                "s3:GetBucketLocation",
                "s3:GetBucketAcl",
                "s3:GetBucketNotification",
                "s3:PutBucketNotification",
            ],
            "Resource": bucket_arn,
        },
        {
            "Sid": "DicomObjects",
            "Effect": "Allow",
            "Action": [
                "s3:GetObject",
                "s3:GetObjectAcl",
                "s3:GetObjectTagging",
                "s3:GetObjectVersion",
                "s3:GetObjectVersionAcl",
                "s3:GetObjectVersionTagging",
            ],
            "Resource": f"{bucket_arn}/*",
        },
        {
            "Sid": "ContinuousBackupEvents",
            "Effect": "Allow",
            "Action": [
                "events:DescribeRule",
                "events:EnableRule",
                "events:DisableRule",
                "events:PutRule",
                "events:DeleteRule",
                "events:PutTargets",
                "events:RemoveTargets",
                "events:ListTargetsByRule",
            ],
            "Resource": managed_rules,
        },
        {
            "Sid": "ListOnly",
            "Effect": "Allow",
            "Action": ["events:ListRules", "s3:ListAllMyBuckets", "cloudwatch:GetMetricData"],
            "Resource": "*",
        },
    ]
