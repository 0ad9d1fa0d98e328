"""A restored stack (`restoreFrom`, which `orthweb restore` writes): its database is RDS's
point-in-time restore of the source instance at the given moment, under the key RDS keeps for a
restore; its DICOM bucket is the one `restore` filled, adopted (imported) and kept on destroy with
its settings; the hosts and AWS Backup may use that key, and only as they use the stack's own.
Bad `restoreFrom` values are refused in one line each.

pulumi-aws `aws.rds.Instance`: `restore_to_point_in_time` needs `identifier`; RDS's
RestoreDBInstanceToPointInTime takes no KmsKeyId (botocore's RDS model), so the restored instance
keeps the source's key, and `kms_key_id` must name it or the next `up` would replace the database.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orthweb.config.problems import ConfigError
from orthweb.evaluate import Evaluation, evaluate
from orthweb.evaluate.mocks import MOCK_ACCOUNT, source_key_id

SOURCE_DB = "orthweb-dev-abc123"
MOMENT = "2026-12-06T12:30:00Z"
RESTORED_BUCKET = "orthweb-dev-r12061230-dicom-0a1b2c3d"
RESTORE_FROM = {"database": SOURCE_DB, "time": MOMENT, "bucket": RESTORED_BUCKET}
DATABASE = "aws:rds/instance:Instance"
BUCKET = "aws:s3/bucket:Bucket"


@pytest.fixture(scope="module")
def restored(empty_home: Path) -> Evaluation:
    return evaluate("dev", {"restoreFrom": RESTORE_FROM}, home=empty_home)


def source_key_arn(stack: Evaluation) -> str:
    """The key the mock engine says the source instance is encrypted with."""
    return f"arn:aws:kms:us-east-1:{MOCK_ACCOUNT}:key/{source_key_id(SOURCE_DB)}"


def dicom_bucket(stack: Evaluation) -> Any:
    return next(b for b in stack.of_type(BUCKET) if b.inputs["tags"]["orthweb:role"] == "dicom")


def dicom_children(stack: Evaluation) -> list[Any]:
    """The resources that configure the DICOM bucket (encryption, versioning, policy, lifecycle, ...)."""
    bucket = dicom_bucket(stack)
    return [r for r in stack.resources if r.custom and r.inputs.get("bucket") == bucket.state["bucket"]]


def host_policy(stack: Evaluation) -> list[dict[str, Any]]:
    return json.loads(stack.named("orthweb-host-identity-permissions").inputs["policy"])["Statement"]


def test_the_database_restores_the_source_at_the_moment(restored: Evaluation) -> None:
    database = restored.one(DATABASE)
    assert database.inputs["restoreToPointInTime"] == {"sourceDbInstanceIdentifier": SOURCE_DB, "restoreTime": MOMENT}
    # Its own identifier (RDS requires one for a restore), never the source's.
    assert database.inputs["identifier"].startswith("orthweb-dev-") and database.inputs["identifier"] != SOURCE_DB
    assert database.inputs["kmsKeyId"] == source_key_arn(restored)
    # Everything else stays as any stack's: private, TLS-only parameters, encrypted, managed password.
    assert database.inputs["publiclyAccessible"] is False and database.inputs["storageEncrypted"] is True
    assert database.inputs["manageMasterUserPassword"] is True


def test_a_stack_of_its_own_data_restores_nothing(dev: Evaluation) -> None:
    database = dev.one(DATABASE)
    assert database.inputs.get("restoreToPointInTime") is None
    assert database.inputs["kmsKeyId"] == dev.named("orthweb-encryption-key").state["arn"]
    assert all(not bucket.import_id for bucket in dev.of_type(BUCKET))


def test_the_bucket_is_the_restored_one_adopted_and_kept(restored: Evaluation) -> None:
    bucket = dicom_bucket(restored)
    assert bucket.import_id == RESTORED_BUCKET and bucket.inputs["bucket"] == RESTORED_BUCKET
    # An import fails unless the inputs equal the bucket's: these are the tags `restore` gives it.
    assert bucket.inputs["tags"] == {"orthweb:project": "orthweb", "orthweb:stack": "dev", "orthweb:role": "dicom"}
    assert bucket.inputs["forceDestroy"] is False and bucket.retain_on_delete
    children = dicom_children(restored)
    assert len(children) >= 7 and all(child.retain_on_delete for child in children)
    # The only other bucket imported: none.
    assert [b.name for b in restored.of_type(BUCKET) if b.import_id] == [bucket.name]


def test_the_adopted_bucket_encrypts_with_the_key_its_objects_have(restored: Evaluation) -> None:
    encryption = next(r for r in dicom_children(restored) if "ServerSideEncryption" in r.type)
    default = encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": source_key_arn(restored)}
    versioning = next(r for r in dicom_children(restored) if r.type.endswith("BucketVersioning"))
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"


def test_the_hosts_use_the_source_key_through_s3_alone(restored: Evaluation, dev: Evaluation) -> None:
    statements = {s["Sid"]: s for s in host_policy(restored)}
    data_key = statements["UseRestoredDataKeyThroughS3"]
    assert data_key["Resource"] == source_key_arn(restored)
    assert data_key["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    assert sorted(data_key["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    # A stack of its own data names no other key.
    assert "UseRestoredDataKeyThroughS3" not in {s["Sid"] for s in host_policy(dev)}


def test_aws_backup_may_use_the_source_key(restored: Evaluation) -> None:
    statements = json.loads(restored.named("orthweb-backup-role-policy").inputs["policy"])["Statement"]
    key_resources = {
        resource
        for statement in statements
        if any(str(action).startswith("kms:") for action in statement["Action"])
        for resource in ([statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"])
    }
    assert source_key_arn(restored) in key_resources
    assert restored.named("orthweb-encryption-key").state["arn"] in key_resources


@pytest.mark.parametrize(
    ("given", "key", "says"),
    [
        ({**RESTORE_FROM, "time": "2026-12-06 12:30"}, "restoreFrom.time", "ISO 8601 with its zone"),
        ({**RESTORE_FROM, "time": "2026-12-06T12:30:00"}, "restoreFrom.time", "ISO 8601 with its zone"),
        ({**RESTORE_FROM, "time": "2999-01-01T00:00:00Z"}, "restoreFrom.time", "a moment in the past"),
        ({**RESTORE_FROM, "database": "1-not-rds"}, "restoreFrom.database", "identifier of the RDS instance"),
        ({**RESTORE_FROM, "database": "two--hyphens"}, "restoreFrom.database", "identifier of the RDS instance"),
        ({**RESTORE_FROM, "bucket": "Upper_Case"}, "restoreFrom.bucket", "the name of the bucket"),
        ({"database": SOURCE_DB, "time": MOMENT}, "restoreFrom.bucket", "the name of the bucket"),
        ({**RESTORE_FROM, "databse": SOURCE_DB}, "restoreFrom.databse", "did you mean 'database'"),
        ("not an object", "restoreFrom", "an object with exactly the keys database, time, bucket"),
    ],
)
def test_a_bad_restore_from_is_refused_in_one_line(empty_home: Path, given: Any, key: str, says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        evaluate("dev", {"restoreFrom": given}, home=empty_home)
    (line,) = str(refused.value).splitlines()
    assert key in line and says in line


def test_verify_finds_the_data_key_by_the_stacks_alias(restored: Evaluation, dev: Evaluation) -> None:
    aliases = {a.inputs["name"]: a.inputs["targetKeyId"] for a in restored.of_type("aws:kms/alias:Alias")}
    assert aliases["alias/orthweb-dev-data"] == source_key_arn(restored)
    assert "alias/orthweb-dev-data" not in {a.inputs["name"] for a in dev.of_type("aws:kms/alias:Alias")}


def test_a_restored_database_is_never_deleted_first(restored: Evaluation, dev: Evaluation) -> None:
    """Set on a deployed dev stack, restoreFrom replaces the database: create-before-delete makes RDS
    refuse the twin identifier before the live database is touched (dev's own is deleted first)."""
    assert restored.one(DATABASE).delete_before_replace is False
    assert dev.one(DATABASE).delete_before_replace is True
    assert any("restoreFrom is for a new stack" in warning for warning in restored.config.warnings)
