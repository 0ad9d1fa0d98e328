"""The audit trail's keeping: a CloudTrail trail of every read and write of DICOM objects, into an
audit bucket whose Object Lock (compliance mode in prod, governance in dev) keeps each log file for
`auditRetentionDays`, under the stack key, TLS only, with CloudTrail allowed for this trail alone.

External rules encoded here: S3 User Guide "Using S3 Object Lock" (Object Lock is set when the
bucket is created and needs versioning; COMPLIANCE cannot be bypassed, GOVERNANCE can with
s3:BypassGovernanceRetention); CloudTrail User Guide "Amazon S3 bucket policy for CloudTrail" and
"Configure AWS KMS key policies for CloudTrail" (aws:SourceArn, the aws:cloudtrail:arn encryption
context); "Filtering data events by using advanced event selectors" (field names)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from parliament import analyze_policy_string

from orthweb.config.problems import ConfigError
from orthweb.evaluate import Evaluation, evaluate
from orthweb.infra import policies

TRAIL = "aws:cloudtrail/trail:Trail"
BUCKET = "aws:s3/bucket:Bucket"


def audit_bucket(stack: Evaluation) -> Any:
    return stack.named("orthweb-audit-audit")


def dicom_bucket(stack: Evaluation) -> Any:
    return next(b for b in stack.of_type(BUCKET) if b.inputs["tags"]["orthweb:role"] == "dicom")


def lock(stack: Evaluation) -> dict[str, Any]:
    return stack.named("orthweb-audit-object-lock").inputs["rule"]["defaultRetention"]


def bucket_policy(stack: Evaluation) -> dict[str, Any]:
    return json.loads(stack.named("orthweb-audit-policy").inputs["policy"])


def trail_arn(stack: Evaluation) -> str:
    """The ARN CloudTrail gives the trail (the mock engine's differs in form, so it is built here)."""
    key_arn = stack.named("orthweb-encryption-key").state["arn"]
    _, partition, _, region, account, _ = key_arn.split(":", 5)
    return policies.audit_trail_arn(account_id=account, partition=partition, region=region, stack=stack.stack)


def test_prod_locks_log_files_in_compliance_mode_for_six_years(prod: Evaluation) -> None:
    assert audit_bucket(prod).inputs["objectLockEnabled"] is True
    assert lock(prod) == {"mode": "COMPLIANCE", "days": 2190}


def test_dev_locks_in_governance_mode_for_a_week(dev: Evaluation) -> None:
    assert audit_bucket(dev).inputs["objectLockEnabled"] is True
    assert lock(dev) == {"mode": "GOVERNANCE", "days": 7}


def test_the_retention_is_the_users_choice(empty_home: Path) -> None:
    stack = evaluate("prod", {"deploymentOptions": {"auditRetentionDays": 3650}}, home=empty_home)
    assert lock(stack) == {"mode": "COMPLIANCE", "days": 3650}


@pytest.mark.parametrize("days", [0, -1, 36501, "six years"])
def test_a_retention_out_of_range_is_refused_in_one_line(empty_home: Path, days: object) -> None:
    with pytest.raises(ConfigError) as refused:
        evaluate("dev", {"deploymentOptions": {"auditRetentionDays": days}}, home=empty_home)
    (problem,) = refused.value.problems
    assert problem.key == "deploymentOptions.auditRetentionDays"
    assert "from 1 to 36500" in problem.allowed


def test_prod_keeps_the_audit_bucket_on_destroy_and_dev_empties_it(prod: Evaluation, dev: Evaluation) -> None:
    """force_destroy deletes locked objects too (the Terraform provider sends BypassGovernanceRetention
    on Object Lock buckets), which governance mode allows and compliance mode does not."""
    assert audit_bucket(prod).retain_on_delete and audit_bucket(prod).inputs["forceDestroy"] is False
    assert not audit_bucket(dev).retain_on_delete and audit_bucket(dev).inputs["forceDestroy"] is True


def test_the_bucket_is_versioned_private_and_under_the_stack_key(stack: Evaluation) -> None:
    key_arn = stack.named("orthweb-encryption-key").state["arn"]
    (rule,) = stack.named("orthweb-audit-encryption").inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn}
    assert stack.named("orthweb-audit-versioning").inputs["versioningConfiguration"]["status"] == "Enabled"
    block = stack.named("orthweb-audit-public-access").inputs
    assert all(block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))


def test_the_bucket_refuses_plain_http(stack: Evaluation) -> None:
    arn = audit_bucket(stack).state["arn"]
    (deny,) = [s for s in bucket_policy(stack)["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Action"] == "s3:*" and deny["Resource"] == [arn, f"{arn}/*"] and deny["Principal"] == "*"


def test_cloudtrail_may_write_only_for_this_trail_and_only_log_files(stack: Evaluation) -> None:
    arn, trail = audit_bucket(stack).state["arn"], trail_arn(stack)
    allows = [s for s in bucket_policy(stack)["Statement"] if s["Effect"] == "Allow"]
    assert {s["Principal"]["Service"] for s in allows} == {"cloudtrail.amazonaws.com"}
    assert all(s["Condition"]["StringEquals"]["aws:SourceArn"] == trail for s in allows)
    assert {(s["Action"], s["Resource"]) for s in allows} == {
        ("s3:GetBucketAcl", arn),
        ("s3:PutObject", f"{arn}/AWSLogs/123456789012/*"),
    }


def test_the_trail_records_every_dicom_object_access_and_the_audit_files_reads(stack: Evaluation) -> None:
    trail = stack.one(TRAIL).inputs
    dicom, audit = dicom_bucket(stack).state["arn"], audit_bucket(stack).state["arn"]
    selectors = {s["name"]: {f["field"]: f for f in s["fieldSelectors"]} for s in trail["advancedEventSelectors"]}
    assert len(selectors) == 2
    named = sorted(f["startsWiths"] for fields in selectors.values() for f in [fields["resources.ARN"]])
    assert named == sorted([[f"{dicom}/"], [f"{audit}/"]])
    for fields in selectors.values():
        assert fields["eventCategory"]["equals"] == ["Data"]
        assert fields["resources.type"]["equals"] == ["AWS::S3::Object"]
        # No readOnly field: reads and writes alike.
        assert "readOnly" not in fields
    on_dicom = next(f for f in selectors.values() if f["resources.ARN"]["startsWiths"] == [f"{dicom}/"])
    assert set(on_dicom) == {"eventCategory", "resources.type", "resources.ARN"}
    on_audit = next(f for f in selectors.values() if f["resources.ARN"]["startsWiths"] == [f"{audit}/"])
    assert on_audit["eventName"] == {"field": "eventName", "notEquals": ["PutObject"]}


def test_the_trail_is_encrypted_validated_and_delivered_to_the_audit_bucket(stack: Evaluation) -> None:
    trail = stack.one(TRAIL)
    assert trail.inputs["name"] == policies.audit_trail_name(stack.stack)
    assert trail.inputs["s3BucketName"] == audit_bucket(stack).state["bucket"]
    assert trail.inputs["kmsKeyId"] == stack.named("orthweb-encryption-key").state["arn"]
    assert trail.inputs["enableLogFileValidation"] is True
    assert stack.named("orthweb-audit-policy").urn in trail.dependencies


def test_the_key_lets_cloudtrail_encrypt_for_this_trail_only(stack: Evaluation) -> None:
    trail = trail_arn(stack)
    document = json.loads(stack.named("orthweb-encryption-key").inputs["policy"])
    granted = [s for s in document["Statement"] if s.get("Principal") == {"Service": "cloudtrail.amazonaws.com"}]
    assert {s["Action"] for s in granted} == {"kms:GenerateDataKey*", "kms:DescribeKey"}
    for statement in granted:
        assert statement["Condition"]["StringEquals"] == {"aws:SourceArn": trail}
    (encrypts,) = [s for s in granted if s["Action"] == "kms:GenerateDataKey*"]
    assert encrypts["Condition"]["StringLike"] == {"kms:EncryptionContext:aws:cloudtrail:arn": trail}


def test_the_audit_bucket_policy_passes_parliament(stack: Evaluation) -> None:
    assert analyze_policy_string(json.dumps(bucket_policy(stack))).findings == []


def test_the_plan_prices_the_data_events_at_a_stated_volume(stack: Evaluation) -> None:
    from orthweb.ops.cost import estimate

    (line,) = [i for i in estimate(stack.resources, "us-east-1").items if i.item.startswith("CloudTrail data events")]
    assert line.usage_based and line.note is not None
    assert "$0.10 per 100,000 data events ($1.00 a month for 1,000,000" in line.note
    assert "$0.023 per GB-month" in line.note
