"""Restore a stack's database and DICOM bucket to one moment, into new resources beside the live ones.

The database: RDS point-in-time restore into a new instance with the live one's network, parameters
and encryption. The storage: the bucket's object versions current at that moment, copied into a new
bucket encrypted with the stack's key (the bucket keeps old versions one day longer than the backup
window, so every moment of the window has them). Nothing of the live stack is changed.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from orthweb.ops.aws import OpsError, call_aws, tags_of
from orthweb.ops.point_in_time import Copier, current_versions
from orthweb.shared import restore_point
from orthweb.shared.constants import DICOM_BUCKET_ROLE, ROLE_TAG, STACK_TAG, bucket_prefix

RESTORED_ROLE = "restored"
# RDS identifiers are at most 63 characters; ours end with the moment restored to.
DB_IDENTIFIER_MAX = 63


@dataclass(frozen=True)
class RecoveryWindow:
    earliest: datetime.datetime
    latest: datetime.datetime

    def admit(self, moment: datetime.datetime) -> None:
        """OpsError (nothing changed) unless the window holds `moment`."""
        refusal = self.refusal(moment)
        if refusal is not None:
            raise OpsError(refusal)

    def refusal(self, moment: datetime.datetime) -> str | None:
        """Why `moment` cannot be restored to, or None."""
        if self.earliest <= moment <= self.latest:
            return None
        return (
            f"--to-time {_text(moment)} is outside the recovery window: a moment from {_text(self.earliest)} "
            f"to {_text(self.latest)}"
        )


@dataclass(frozen=True)
class LiveData:
    """The stack's database and DICOM bucket as AWS describes them, and the moments both can return to."""

    stack: str
    database: dict[str, Any]
    bucket: str
    window: RecoveryWindow


@dataclass(frozen=True)
class RestoredData:
    moment: datetime.datetime
    db_identifier: str
    bucket: str
    objects: int


def parse_moment(text: str) -> datetime.datetime:
    """An ISO 8601 time with its zone (`2026-12-06T12:30:00Z`) in UTC, to the whole second (what both
    RDS and the bucket's versions are restored to), or OpsError naming what is allowed."""
    moment = restore_point.parse_moment(text)
    if moment is None:
        raise OpsError(f"--to-time {text!r} is not a time with its zone: give ISO 8601, e.g. 2026-12-06T12:30:00Z")
    return moment.replace(microsecond=0)


def find_live_data(rds: Any, s3: Any, stack: str, now: datetime.datetime) -> LiveData:
    """The stack's database and DICOM bucket (by their orthweb tags), or OpsError naming what is missing."""
    database = _stack_database(rds, stack)
    bucket, created = _stack_bucket(s3, stack)
    retention = datetime.timedelta(days=int(database["BackupRetentionPeriod"]))
    if retention <= datetime.timedelta(0):
        raise OpsError(f"the database of stack {stack!r} keeps no backups (BackupRetentionPeriod 0)")
    earliest = max(database["InstanceCreateTime"], created, now - retention)
    window = _database_window(rds, database)
    if window is not None:
        earliest = max(earliest, window)
    latest = min(database.get("LatestRestorableTime") or now, now)
    return LiveData(stack=stack, database=database, bucket=bucket, window=RecoveryWindow(earliest, latest))


def _stack_database(rds: Any, stack: str) -> dict[str, Any]:
    pages = rds.get_paginator("describe_db_instances").paginate()
    for page in pages:
        for database in page["DBInstances"]:
            if tags_of(database.get("TagList")).get(STACK_TAG) == stack and not _restored(database):
                return database
    raise OpsError(f"no database of stack {stack!r} here (none tagged {STACK_TAG}={stack}): check --stack and --region")


def _restored(database: dict[str, Any]) -> bool:
    return tags_of(database.get("TagList")).get(ROLE_TAG) == RESTORED_ROLE


def _database_window(rds: Any, database: dict[str, Any]) -> datetime.datetime | None:
    """The earliest restorable time RDS reports for the instance's automated backups, if it does."""
    answer = call_aws(
        rds, "describe_db_instance_automated_backups", DBInstanceIdentifier=database["DBInstanceIdentifier"]
    )
    earliest = [
        backup["RestoreWindow"]["EarliestTime"]
        for backup in answer.get("DBInstanceAutomatedBackups", [])
        if backup.get("RestoreWindow", {}).get("EarliestTime")
    ]
    return min(earliest) if earliest else None


def _stack_bucket(s3: Any, stack: str) -> tuple[str, datetime.datetime]:
    prefix = bucket_prefix(stack, DICOM_BUCKET_ROLE)
    for bucket in call_aws(s3, "list_buckets").get("Buckets", []):
        if not bucket["Name"].startswith(prefix):
            continue
        tags = tags_of(call_aws(s3, "get_bucket_tagging", Bucket=bucket["Name"]).get("TagSet"))
        if tags.get(STACK_TAG) == stack and tags.get(ROLE_TAG) == DICOM_BUCKET_ROLE:
            return bucket["Name"], bucket["CreationDate"]
    raise OpsError(f"no DICOM bucket of stack {stack!r} here (none named {prefix}…): check --stack and --region")


def restore(rds: Any, s3: Any, live: LiveData, moment: datetime.datetime) -> RestoredData:
    """Restore both to `moment` into scratch resources beside the live ones (what `drill` compares)."""
    live.window.admit(moment)
    stamp = moment.strftime("%Y%m%d%H%M%S")
    bucket = f"{live.bucket[: 63 - len(stamp) - 2]}-r{stamp}"
    identifier = _restore_database(rds, live, moment, stamp)
    scratch = [{"Key": STACK_TAG, "Value": live.stack}, {"Key": ROLE_TAG, "Value": RESTORED_ROLE}]
    objects = fill_bucket(s3, live, moment, bucket=bucket, tags={t["Key"]: t["Value"] for t in scratch})
    waiter = rds.get_waiter("db_instance_available")
    waiter.wait(DBInstanceIdentifier=identifier, WaiterConfig={"Delay": 30, "MaxAttempts": 120})
    return RestoredData(moment=moment, db_identifier=identifier, bucket=bucket, objects=objects)


def fill_bucket(s3: Any, live: LiveData, moment: datetime.datetime, *, bucket: str, tags: dict[str, str]) -> int:
    """Create `bucket` (private, versioned, under the live bucket's key, with `tags`) and copy into it
    the live bucket's objects as they were at `moment`; the window must admit it (checked again here).
    Returns how many objects were copied."""
    live.window.admit(moment)
    key_arn = _bucket_key(s3, live.bucket)
    _create_restored_bucket(s3, bucket, tags, key_arn)
    return Copier(s3).copy(source=live.bucket, versions=current_versions(s3, live.bucket, moment), target=bucket)


def _bucket_key(s3: Any, bucket: str) -> str:
    """The KMS key the live bucket encrypts with: the restored one uses the same."""
    rules = call_aws(s3, "get_bucket_encryption", Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    key = rules[0]["ApplyServerSideEncryptionByDefault"].get("KMSMasterKeyID")
    if not key:
        raise OpsError(f"the DICOM bucket {bucket} has no KMS key of its own: it is not one orthweb made")
    return key


def _restore_database(rds: Any, live: LiveData, moment: datetime.datetime, stamp: str) -> str:
    source = live.database
    identifier = f"{source['DBInstanceIdentifier'][: DB_IDENTIFIER_MAX - len(stamp) - 2]}-r{stamp}"
    call_aws(
        rds,
        "restore_db_instance_to_point_in_time",
        changed=False,
        SourceDBInstanceIdentifier=source["DBInstanceIdentifier"],
        TargetDBInstanceIdentifier=identifier,
        RestoreTime=moment,
        DBInstanceClass=source["DBInstanceClass"],
        **_same_network_and_parameters(source),
        PubliclyAccessible=False,
        EnableIAMDatabaseAuthentication=True,
        CopyTagsToSnapshot=True,
        DeletionProtection=False,
        Tags=[{"Key": STACK_TAG, "Value": live.stack}, {"Key": ROLE_TAG, "Value": RESTORED_ROLE}],
    )
    return identifier


def _same_network_and_parameters(source: dict[str, Any]) -> dict[str, Any]:
    """The live instance's subnets, security groups and parameter group, where it has them."""
    same: dict[str, Any] = {}
    if source.get("DBSubnetGroup"):
        same["DBSubnetGroupName"] = source["DBSubnetGroup"]["DBSubnetGroupName"]
    if source.get("VpcSecurityGroups"):
        same["VpcSecurityGroupIds"] = [group["VpcSecurityGroupId"] for group in source["VpcSecurityGroups"]]
    if source.get("DBParameterGroups"):
        same["DBParameterGroupName"] = source["DBParameterGroups"][0]["DBParameterGroupName"]
    return same


def _create_restored_bucket(s3: Any, bucket: str, tags: dict[str, str], key_arn: str) -> None:
    """Private, versioned, encrypted with the stack's key, like the live one."""
    call_aws(s3, "create_bucket", changed=True, Bucket=bucket, **_location(s3))
    call_aws(
        s3,
        "put_public_access_block",
        changed=True,
        Bucket=bucket,
        PublicAccessBlockConfiguration=dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
        ),
    )
    encryption = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    call_aws(
        s3,
        "put_bucket_encryption",
        changed=True,
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": encryption, "BucketKeyEnabled": True}]
        },
    )
    call_aws(s3, "put_bucket_versioning", changed=True, Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    tag_set = [{"Key": key, "Value": value} for key, value in tags.items()]
    call_aws(s3, "put_bucket_tagging", changed=True, Bucket=bucket, Tagging={"TagSet": tag_set})


def _location(s3: Any) -> dict[str, Any]:
    region = s3.meta.region_name
    return {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}


def _text(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
