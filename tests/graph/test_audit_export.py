"""The audit lines exported where nobody can change them: a subscription filter on the audit log
group hands every line to a Firehose stream, which writes them into the Object Lock audit bucket
under its own prefix, the stream encrypted with the stack key.

External rules encoded here: CloudWatch Logs User Guide, "Using CloudWatch Logs subscription
filters" / "Example: Subscription filters with Amazon Data Firehose" (the logs.amazonaws.com trust
with an aws:SourceArn condition, firehose:PutRecord(Batch) on the stream); Amazon Data Firehose
Developer Guide, "Grant Firehose access to an Amazon S3 destination" (the role's S3 actions, the
sts:ExternalId of the account, kms:ViaService s3 with the aws:s3:arn encryption context); S3 User
Guide, "Reducing the cost of SSE-KMS with Amazon S3 Bucket Keys" (the context is then the bucket's ARN).
"""

from __future__ import annotations

import json
from typing import Any

from parliament import analyze_policy_string

from orthweb.evaluate import Evaluation
from orthweb.infra import policies
from orthweb.shared import telemetry
from orthweb.shared.constants import AUDIT_LINES_ERRORS_PREFIX, AUDIT_LINES_PREFIX

STREAM = "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"
FILTER = "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def role_documents(stack: Evaluation, role_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trust, permissions) of one of the export's roles, its only policy."""
    role = stack.named(role_name)
    (policy,) = [p for p in stack.of_type(ROLE_POLICY) if p.inputs["role"] == role.id]
    return json.loads(role.inputs["assumeRolePolicy"]), json.loads(policy.inputs["policy"])


def test_every_line_of_the_audit_group_and_nothing_else_goes_to_the_stream(stack: Evaluation) -> None:
    stream = stack.one(STREAM)
    role = stack.named("orthweb-audit-export-subscription-role")
    into_stream = [f for f in stack.of_type(FILTER) if f.inputs["destinationArn"] == stream.state["arn"]]
    (chosen,) = into_stream
    assert chosen.inputs["logGroup"] == telemetry.log_group_name(stack.stack, telemetry.AUDIT_LOGS)
    # The group holds audit lines only: an empty pattern passes each of them.
    assert chosen.inputs["filterPattern"] == ""
    assert chosen.inputs["roleArn"] == role.state["arn"]
    # The group exists first, and the role may deliver before CloudWatch Logs tries it.
    assert stack.named("orthweb-audit-lines-group").urn in chosen.dependencies
    assert stack.named("orthweb-audit-export-subscription-policy").urn in chosen.dependencies


def test_the_stream_writes_into_the_audit_bucket_under_its_prefix_with_the_stack_key(stack: Evaluation) -> None:
    stream = stack.one(STREAM).inputs
    key_arn = stack.named("orthweb-encryption-key").state["arn"]
    s3 = stream["extendedS3Configuration"]
    assert stream["destination"] == "extended_s3" and stream["name"] == policies.audit_stream_name(stack.stack)
    assert s3["bucketArn"] == stack.named("orthweb-audit-audit").state["arn"]
    assert (s3["prefix"], s3["errorOutputPrefix"]) == (AUDIT_LINES_PREFIX, AUDIT_LINES_ERRORS_PREFIX)
    assert s3["roleArn"] == stack.named("orthweb-audit-export-delivery-role").state["arn"]
    # Within a minute of arriving, the lines are in a locked file.
    assert s3["bufferingInterval"] == 60
    assert stream["serverSideEncryption"] == {"enabled": True, "keyType": "CUSTOMER_MANAGED_CMK", "keyArn": key_arn}
    # The bucket's own encryption (the stack key) and Object Lock apply to what Firehose writes.
    assert "encryptionConfiguration" not in s3


def test_firehose_may_only_write_audit_lines_never_delete_or_read_elsewhere(stack: Evaluation) -> None:
    trust, permissions = role_documents(stack, "orthweb-audit-export-delivery-role")
    (assume,) = trust["Statement"]
    assert assume["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert assume["Condition"] == {"StringEquals": {"sts:ExternalId": "123456789012"}}
    bucket = stack.named("orthweb-audit-audit").state["arn"]
    key_arn = stack.named("orthweb-encryption-key").state["arn"]
    by_sid = {s["Sid"]: s for s in permissions["Statement"]}
    assert all(s["Effect"] == "Allow" for s in by_sid.values())
    actions = [a for s in by_sid.values() for a in s["Action"]]
    assert not [a for a in actions if "Delete" in a or "Retention" in a or "LegalHold" in a or a.endswith("*")]
    assert by_sid["FindAuditBucket"]["Resource"] == bucket
    assert by_sid["WriteAuditLines"]["Resource"] == [
        f"{bucket}/{AUDIT_LINES_PREFIX}*",
        f"{bucket}/{AUDIT_LINES_ERRORS_PREFIX}*",
    ]
    kms = by_sid["EncryptAuditLinesThroughS3"]
    assert kms["Resource"] == key_arn and set(kms["Action"]) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert kms["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    assert kms["Condition"]["StringLike"] == {"kms:EncryptionContext:aws:s3:arn": [bucket, f"{bucket}/*"]}


def test_cloudwatch_logs_may_only_put_records_into_this_stream(stack: Evaluation) -> None:
    trust, permissions = role_documents(stack, "orthweb-audit-export-subscription-role")
    (assume,) = trust["Statement"]
    assert assume["Principal"] == {"Service": "logs.amazonaws.com"}
    assert assume["Condition"] == {"StringLike": {"aws:SourceArn": "arn:aws:logs:us-east-1:123456789012:*"}}
    (deliver,) = permissions["Statement"]
    assert deliver["Action"] == ["firehose:PutRecord", "firehose:PutRecordBatch"]
    assert deliver["Resource"] == stack.one(STREAM).state["arn"]
    assert deliver["Resource"].startswith("arn:aws:firehose:us-east-1:123456789012:deliverystream/")


def test_the_export_roles_permissions_pass_parliament(stack: Evaluation) -> None:
    # Parliament reads identity policies; the trust documents are checked statement by statement above.
    for role in ("orthweb-audit-export-delivery-role", "orthweb-audit-export-subscription-role"):
        _, permissions = role_documents(stack, role)
        assert [(f.issue, f.detail) for f in analyze_policy_string(json.dumps(permissions)).findings] == []


def test_the_plan_prices_the_stream_at_a_stated_volume(stack: Evaluation) -> None:
    from orthweb.ops.cost import estimate

    (line,) = [i for i in estimate(stack.resources, "us-east-1").items if i.item.startswith("Firehose")]
    assert line.usage_based and line.note is not None
    assert "$0.029 per GB ingested" in line.note and "($0.29 a month for 10 GB of audit lines)" in line.note
