"""`orthweb restore` and `orthweb drill` against moto's RDS and S3 (every call they make is one moto
implements; botocore checks each request against the service's model before sending it): bad input
is refused in one line with nothing changed, a restore makes new resources of the same moment and
leaves the live ones alone, a drill compares and removes its scratch resources."""

from __future__ import annotations

import argparse
import datetime
import io
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orthweb.commands import drill as drill_command
from orthweb.commands import restore as restore_command

STACK = "dev"
LIVE_DB = "orthweb-dev-abc123"
LIVE_BUCKET = "orthweb-dev-dicom-1a2b3c4d"


def _next_second() -> datetime.datetime:
    """Now, once the clock has left the second of the last write (S3 times writes to the second)."""
    start = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    while datetime.datetime.now(datetime.UTC) < start + datetime.timedelta(seconds=1):
        time.sleep(0.02)
    return datetime.datetime.now(datetime.UTC)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        rds, s3 = boto3.client("rds", region_name="us-east-1"), boto3.client("s3", region_name="us-east-1")
        kms = boto3.client("kms", region_name="us-east-1")
        key = kms.create_key()["KeyMetadata"]["Arn"]
        rds.create_db_instance(
            DBInstanceIdentifier=LIVE_DB,
            Engine="postgres",
            DBInstanceClass="db.t4g.micro",
            AllocatedStorage=20,
            MasterUsername="orthanc",
            MasterUserPassword="not-a-real-one",
            BackupRetentionPeriod=7,
            Tags=[{"Key": "orthweb:stack", "Value": STACK}],
        )
        s3.create_bucket(Bucket=LIVE_BUCKET)
        s3.put_bucket_versioning(Bucket=LIVE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_tagging(
            Bucket=LIVE_BUCKET,
            Tagging={"TagSet": [{"Key": "orthweb:stack", "Value": STACK}, {"Key": "orthweb:role", "Value": "dicom"}]},
        )
        rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}
        s3.put_bucket_encryption(Bucket=LIVE_BUCKET, ServerSideEncryptionConfiguration={"Rules": [rule]})
        for name in ("a", "b"):
            s3.put_object(Bucket=LIVE_BUCKET, Key=f"{name}.dcm", Body=f"instance {name}".encode())
        yield {"rds": rds, "s3": s3, "key": key}


def state(aws: dict[str, Any]) -> tuple[list[str], list[str]]:
    databases = [d["DBInstanceIdentifier"] for d in aws["rds"].describe_db_instances()["DBInstances"]]
    buckets = [b["Name"] for b in aws["s3"].list_buckets()["Buckets"]]
    return sorted(databases), sorted(buckets)


def restore(aws: dict[str, Any], capsys: pytest.CaptureFixture[str], **given: Any) -> tuple[int, str, str]:
    args = argparse.Namespace(**{"stack": STACK, "region": None, "yes": True, **given})
    out = io.StringIO()
    code = restore_command.run(args, clients=aws, out=out)
    return code, out.getvalue(), capsys.readouterr().err


@pytest.mark.parametrize(
    ("to_time", "says"),
    [
        ("yesterday", "is not a time with its zone"),
        ("2026-12-06T12:30:00", "is not a time with its zone"),
        ("2000-01-01T00:00:00Z", "is outside the recovery window"),
        ("2999-01-01T00:00:00+02:00", "is outside the recovery window"),
    ],
)
def test_a_time_it_cannot_restore_to_is_refused_in_one_line(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], to_time: str, says: str
) -> None:
    before = state(aws)
    code, out, err = restore(aws, capsys, to_time=to_time)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("orthweb restore: ") and says in err
    assert err.rstrip().endswith("nothing was changed")
    assert state(aws) == before


def test_the_window_is_named_when_a_time_is_outside_it(aws: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = restore(aws, capsys, to_time="2000-01-01T00:00:00Z")
    assert "a moment from 2026-" in err or "a moment from 20" in err
    created = aws["rds"].describe_db_instances(DBInstanceIdentifier=LIVE_DB)["DBInstances"][0]["InstanceCreateTime"]
    assert created.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") <= err.split("a moment from ")[1][:20]


@pytest.mark.parametrize("stack", ["prod", "staging"])
def test_an_unknown_stack_is_refused_in_one_line(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], stack: str
) -> None:
    before = state(aws)
    code, _, err = restore(aws, capsys, stack=stack, to_time="2026-12-06T12:30:00Z")
    assert code == 1 and err.count("\n") == 1
    assert f"no database of stack '{stack}'" in err and "nothing was changed" in err
    assert state(aws) == before


def test_a_bad_stack_name_is_refused_before_any_call(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(stack="Not A Stack", region=None, yes=True, to_time="2026-12-06T12:30:00Z")
    assert restore_command.run(args, clients=None, out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lower-case letters, digits and single hyphens" in err


def test_a_restore_makes_new_resources_of_that_moment(aws: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    moment = _next_second()
    s3 = aws["s3"]
    # After the moment (in a later second: S3 times writes to the second): a new object, and one
    # deleted; the restore must see neither.
    _next_second()
    s3.put_object(Bucket=LIVE_BUCKET, Key="later.dcm", Body=b"later")
    s3.delete_object(Bucket=LIVE_BUCKET, Key="a.dcm")
    code, out, err = restore(aws, capsys, to_time=moment.isoformat())
    assert code == 0, err
    databases, buckets = state(aws)
    (new_db,) = set(databases) - {LIVE_DB}
    (new_bucket,) = set(buckets) - {LIVE_BUCKET}
    assert new_db.startswith(f"{LIVE_DB}-r") and new_bucket.startswith(f"{LIVE_BUCKET}-r")
    restored = {o["Key"] for o in s3.list_objects_v2(Bucket=new_bucket)["Contents"]}
    assert restored == {"a.dcm", "b.dcm"}
    assert s3.get_object(Bucket=new_bucket, Key="a.dcm")["Body"].read() == b"instance a"
    # Private, versioned, encrypted with the stack's key, tagged as restored.
    assert s3.get_bucket_versioning(Bucket=new_bucket)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=new_bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == aws["key"]
    assert all(s3.get_public_access_block(Bucket=new_bucket)["PublicAccessBlockConfiguration"].values())
    tags = aws["rds"].describe_db_instances(DBInstanceIdentifier=new_db)["DBInstances"][0]["TagList"]
    assert {"Key": "orthweb:role", "Value": "restored"} in tags
    # The live data is as it was.
    assert {o["Key"] for o in s3.list_objects_v2(Bucket=LIVE_BUCKET)["Contents"]} == {"b.dcm", "later.dcm"}
    assert f"database {new_db}" in out and "(2 objects)" in out


def test_a_drill_compares_and_removes_its_scratch_resources(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    _next_second()
    before = state(aws)
    out = io.StringIO()
    args = argparse.Namespace(stack=STACK, region=None, yes=True)
    code = drill_command.run(args, clients=aws, out=out)
    assert code == 0, capsys.readouterr().err
    text = out.getvalue()
    assert "drill passed" in text and "objects: live 2, restored 2; 2 compared byte for byte, 0 different" in text
    assert "recovery time" in text and "recovery point" in text
    assert state(aws) == before


def test_a_drill_for_an_unknown_stack_is_refused_in_one_line(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    before = state(aws)
    args = argparse.Namespace(stack="prod", region=None, yes=True)
    assert drill_command.run(args, clients=aws, out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no database of stack 'prod'" in err
    assert state(aws) == before


def test_without_a_terminal_the_question_is_refused_naming_the_flag() -> None:
    """restore and drill ask before changing anything; in a pipe or CI they stop and name --yes."""
    from orthweb.commands.common import confirmed_on_terminal
    from orthweb.ops.aws import OpsError

    with pytest.raises(OpsError, match=r"pass --yes to run the drill non-interactively"):
        confirmed_on_terminal("Run the drill?", non_interactive="run the drill")
