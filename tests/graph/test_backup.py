"""AWS Backup: a vault under the stack's key, one continuous rule over the database and the DICOM
bucket, a compliance-mode lock in production, an optional copy region with its own key, and a
backup role that reaches only this stack's data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from parliament import analyze_policy_string

from orthweb.config.problems import ConfigError
from orthweb.evaluate import Evaluation, evaluate

VAULT = "aws:backup/vault:Vault"
PLAN = "aws:backup/plan:Plan"
SELECTION = "aws:backup/selection:Selection"
LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
KEY = "aws:kms/key:Key"
DATABASE = "aws:rds/instance:Instance"
BUCKET = "aws:s3/bucket:Bucket"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"


@pytest.fixture(scope="module")
def copied(empty_home: Path) -> Evaluation:
    return evaluate("prod", {"deploymentOptions": {"backupCopyRegion": "eu-west-1"}}, home=empty_home)


def stack_key(stack: Evaluation) -> Any:
    return stack.named("orthweb-encryption-key")


def dicom_bucket(stack: Evaluation) -> Any:
    return next(b for b in stack.of_type(BUCKET) if b.inputs["tags"]["orthweb:role"] == "dicom")


def backup_policy(stack: Evaluation) -> list[dict[str, Any]]:
    return json.loads(stack.named("orthweb-backup-role-policy").inputs["policy"])["Statement"]


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def resources_of(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        resource = statement["Resource"]
        found |= {resource} if isinstance(resource, str) else set(resource)
    return found


def test_the_vault_is_encrypted_with_the_stack_key(stack: Evaluation) -> None:
    vault = stack.one(VAULT)
    assert vault.inputs["kmsKeyArn"] == stack_key(stack).state["arn"]


def test_one_continuous_rule_keeps_the_configured_days(empty_home: Path) -> None:
    """AWS Backup Developer Guide, "Changing your retention period": a continuous rule keeps
    recovery points 1 to 35 days; its lifecycle's deleteAfter is that retention."""
    for days in (1, 35):
        stack = evaluate("dev", {"deploymentOptions": {"backupRetentionDays": days}}, home=empty_home)
        (rule,) = stack.one(PLAN).inputs["rules"]
        assert rule["enableContinuousBackup"] is True
        assert rule["lifecycle"]["deleteAfter"] == days
        assert rule["targetVaultName"] == stack.one(VAULT).inputs["name"]


@pytest.mark.parametrize("days", [0, 36, -1, "a week"])
def test_retention_outside_what_aws_accepts_is_refused(empty_home: Path, days: object) -> None:
    with pytest.raises(ConfigError) as refused:
        evaluate("dev", {"deploymentOptions": {"backupRetentionDays": days}}, home=empty_home)
    (problem,) = refused.value.problems
    assert problem.key == "deploymentOptions.backupRetentionDays"
    assert "from 1 to 35" in problem.allowed


def test_each_environment_has_its_default_retention(dev: Evaluation, prod: Evaluation) -> None:
    assert dev.one(PLAN).inputs["rules"][0]["lifecycle"]["deleteAfter"] == 7
    assert prod.one(PLAN).inputs["rules"][0]["lifecycle"]["deleteAfter"] == 30


def test_the_selection_is_exactly_the_database_and_the_dicom_bucket(stack: Evaluation) -> None:
    selection = stack.one(SELECTION)
    assert sorted(selection.inputs["resources"]) == sorted(
        [stack.one(DATABASE).state["arn"], dicom_bucket(stack).state["arn"]]
    )
    assert selection.inputs["planId"] == stack.one(PLAN).id
    assert selection.inputs["iamRoleArn"] == stack.named("orthweb-backup-role").state["arn"]


def test_only_production_locks_the_vault_in_compliance_mode(dev: Evaluation, prod: Evaluation) -> None:
    """AWS Backup Vault Lock: with `changeableForDays` set the lock is in compliance mode, which no
    one can remove once that grace (at least 3 days) has passed; `minRetentionDays` refuses any
    recovery point kept shorter. Dev stays destroyable: no lock, and the vault goes with its points."""
    assert dev.of_type(LOCK) == []
    assert dev.one(VAULT).inputs["forceDestroy"] is True
    lock = prod.one(LOCK)
    assert lock.inputs["backupVaultName"] == prod.one(VAULT).inputs["name"]
    assert lock.inputs["changeableForDays"] >= 3
    assert lock.inputs["minRetentionDays"] == prod.one(PLAN).inputs["rules"][0]["lifecycle"]["deleteAfter"]
    assert prod.one(VAULT).inputs["forceDestroy"] is False


def test_the_backup_role_is_assumed_by_aws_backup_only(stack: Evaluation) -> None:
    trust = json.loads(stack.named("orthweb-backup-role").inputs["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "backup.amazonaws.com"}]


def test_the_backup_role_reaches_only_this_stack(stack: Evaluation) -> None:
    """Every resource it names is the stack's database (or the snapshots AWS Backup names
    `awsbackup:`), the DICOM bucket, the stack key, the vault, or a name AWS Backup owns; the only
    "*" actions are listings that have no resource."""
    statements = backup_policy(stack)
    db = stack.one(DATABASE).state["arn"]
    bucket = dicom_bucket(stack).state["arn"]
    rds = db.rsplit(":", 2)[0]
    allowed = {
        db,
        bucket,
        f"{bucket}/*",
        stack_key(stack).state["arn"],
        stack.one(VAULT).state["arn"],
        f"{rds}:snapshot:awsbackup:*",
        f"{rds}:auto-backup:*",
        "arn:aws:events:us-east-1:123456789012:rule/AwsBackupManagedRule*",
        "arn:aws:backup:us-east-1:123456789012:recovery-point:*",
        "*",
    }
    assert resources_of(statements) <= allowed
    unscoped = {a for s in statements if s["Resource"] == "*" for a in actions(s)}
    assert unscoped == {"events:ListRules", "s3:ListAllMyBuckets", "cloudwatch:GetMetricData", "tag:GetResources"}
    assert not any(a.endswith(":*") or a == "*" for s in statements for a in actions(s))
    # No other bucket: the log and bundle buckets are never backed up or read.
    others = {b.state["arn"] for b in stack.of_type(BUCKET)} - {bucket}
    assert not others & {r.removesuffix("/*") for r in resources_of(statements)}


def test_the_backup_role_may_use_the_key_only_for_aws_resources(stack: Evaluation) -> None:
    (grants,) = [s for s in backup_policy(stack) if s["Action"] == "kms:CreateGrant"]
    assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}
    assert grants["Resource"] == [stack_key(stack).state["arn"]]


def test_the_backup_role_policy_passes_parliament(stack: Evaluation, copied: Evaluation) -> None:
    for evaluation in (stack, copied):
        document = evaluation.named("orthweb-backup-role-policy").inputs["policy"]
        assert analyze_policy_string(document).findings == []


def test_a_copy_region_gets_its_own_key_and_vault(copied: Evaluation) -> None:
    """A KMS key never leaves its region, so the copy vault is encrypted with a key made there; the
    rule copies into it and the role may use both keys and both vaults, nothing more."""
    copy_vault = copied.named("orthweb-backup-copy-vault")
    copy_key = copied.named("orthweb-backup-copy-key")
    assert ":eu-west-1:" in copy_vault.state["arn"]
    assert copy_vault.inputs["kmsKeyArn"] == copy_key.state["arn"]
    assert ":eu-west-1:" in copy_key.state["arn"]
    assert copy_key.inputs["enableKeyRotation"] is True
    (rule,) = copied.one(PLAN).inputs["rules"]
    (copy,) = rule["copyActions"]
    assert copy["destinationVaultArn"] == copy_vault.state["arn"]
    assert copy["lifecycle"]["deleteAfter"] == rule["lifecycle"]["deleteAfter"]
    named = resources_of(backup_policy(copied))
    assert {copy_vault.state["arn"], copy_key.state["arn"]} <= named


def test_without_a_copy_region_there_is_one_vault_and_one_key(stack: Evaluation) -> None:
    assert len(stack.of_type(VAULT)) == 1
    assert len(stack.of_type(KEY)) == 1
    assert not stack.one(PLAN).inputs["rules"][0].get("copyActions")


@pytest.mark.parametrize(
    ("region", "allowed"),
    [("us-east-1", "other than the stack's"), ("mars-east-1", "an AWS region"), ("us-east-7", "an AWS region")],
)
def test_a_bad_copy_region_is_refused(empty_home: Path, region: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as refused:
        evaluate("dev", {"deploymentOptions": {"backupCopyRegion": region}}, home=empty_home)
    (problem,) = refused.value.problems
    assert problem.key == "deploymentOptions.backupCopyRegion"
    assert allowed in problem.allowed


def test_old_dicom_versions_outlive_the_backup_window(empty_home: Path) -> None:
    for days in (1, 20, 35):
        stack = evaluate("dev", {"deploymentOptions": {"backupRetentionDays": days}}, home=empty_home)
        (rule,) = dicom_lifecycle(stack)["rules"]
        assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == days + 1


def dicom_lifecycle(stack: Evaluation) -> dict[str, Any]:
    bucket = dicom_bucket(stack).id
    (lifecycle,) = [r for r in stack.of_type(LIFECYCLE) if r.inputs["bucket"] == bucket]
    return lifecycle.inputs


def test_the_database_keeps_its_own_backups_as_long(empty_home: Path) -> None:
    """AWS Backup manages an RDS instance's point-in-time recovery through the instance's backup
    retention: the program sets the same number, so `pulumi up` and AWS Backup never undo each other."""
    stack = evaluate("prod", {"deploymentOptions": {"backupRetentionDays": 14}}, home=empty_home)
    assert stack.one(DATABASE).inputs["backupRetentionPeriod"] == 14
    assert stack.one(LOCK).inputs["minRetentionDays"] == 14
