"""The audit copy function (orthweb/infra/functions/audit_copy.py) against moto's CloudWatch Logs and
S3: batches as CloudWatch Logs delivers them to a subscribed function (CloudWatch Logs User Guide,
"Subscription filters": base64 of gzipped JSON with logGroup, logStream, messageType and logEvents),
kept as a file in an Object Lock bucket with the Content-MD5 S3 requires there (S3 API Reference,
PutObject), then written into the audit group unchanged, in time order, within PutLogEvents' limits."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orthweb.infra.functions import audit_copy
from tools.harness.aws import make_locked_bucket

AUDIT = "/orthweb/day/audit"
ENVOY = "/orthweb/day/envoy"
ORTHANC = "/orthweb/day/orthanc"
BUCKET = "orthweb-day-audit-0123"
SETTINGS = {"log_group": AUDIT, "sources": [ENVOY, ORTHANC], "bucket": BUCKET, "prefix": "audit-lines/"}
# A minute ago: PutLogEvents takes events from the last 14 days only.
NOW_MS = int(time.time() * 1000) - 60_000


def delivered(group: str, stream: str, events: Sequence[tuple[int, str]], kind: str = "DATA_MESSAGE") -> dict:
    """What Lambda receives from a subscription filter."""
    batch = {
        "messageType": kind,
        "owner": "123456789012",
        "logGroup": group,
        "logStream": stream,
        "subscriptionFilters": ["orthweb-day-audit-copy"],
        "logEvents": [{"id": str(i), "timestamp": t, "message": m} for i, (t, m) in enumerate(events)],
    }
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(batch).encode())).decode()}}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


@pytest.fixture
def logs(aws: None) -> Any:
    client = boto3.client("logs", region_name="us-east-1")
    client.create_log_group(logGroupName=AUDIT)
    return client


@pytest.fixture
def s3(aws: None) -> Any:
    """The audit bucket as the stack makes it: Object Lock on, a default retention."""
    client = boto3.client("s3", region_name="us-east-1")
    make_locked_bucket(client, BUCKET)
    return client


def files(s3: Any) -> dict[str, dict[str, Any]]:
    """Each file in the bucket: key -> the batch it holds."""
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {
        o["Key"]: json.loads(gzip.decompress(s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read())) for o in listed
    }


def lines(logs: Any, stream: str) -> list[tuple[int, str]]:
    events = logs.get_log_events(logGroupName=AUDIT, logStreamName=stream, startFromHead=True)["events"]
    return [(e["timestamp"], e["message"]) for e in events]


def test_lines_arrive_unchanged_in_time_order_in_a_stream_per_source(logs: Any, s3: Any) -> None:
    envoy = [(NOW_MS + 2, '{"method":"GET","path":"/studies/x"}'), (NOW_MS + 1, '{"peer":"10.0.0.9:4242"}')]
    orthanc = [(NOW_MS, 'W1206 10:00:00.000001 LuaContext.cpp:10] Lua says: orthweb-audit {"event":"http"}')]
    copied = audit_copy.copy(audit_copy.decode(delivered(ENVOY, "primary/envoy", envoy)), logs, s3, SETTINGS)
    assert copied == 2
    audit_copy.copy(audit_copy.decode(delivered(ORTHANC, "primary/orthweb-orthanc-1", orthanc)), logs, s3, SETTINGS)
    assert lines(logs, "envoy/primary/envoy") == sorted(envoy)
    assert lines(logs, "orthanc/primary/orthweb-orthanc-1") == orthanc
    # A later batch of the same stream goes after the first (the stream exists by then).
    audit_copy.copy(audit_copy.decode(delivered(ENVOY, "primary/envoy", [(NOW_MS + 3, "{}")])), logs, s3, SETTINGS)
    assert [m for _, m in lines(logs, "envoy/primary/envoy")][-1] == "{}"
    # Each batch is a file in the locked bucket, as CloudWatch Logs delivered it.
    kept = files(s3)
    assert len(kept) == 3 and all(key.startswith("audit-lines/") and key.endswith(".json.gz") for key in kept)
    assert sorted((e["timestamp"], e["message"]) for b in kept.values() for e in b["logEvents"]) == sorted(
        [*envoy, *orthanc, (NOW_MS + 3, "{}")]
    )
    assert {b["logGroup"] for b in kept.values()} == {ENVOY, ORTHANC}
    assert {key.split("/")[-2] for key in kept} == {"envoy", "orthanc"}


def test_a_retried_batch_makes_the_same_file_again(logs: Any, s3: Any) -> None:
    """Lambda retries a failed batch whole: the file's name is its content's hash, so the retry adds
    a version of the same file (locked too), not a second file."""
    event = delivered(ENVOY, "primary/envoy", [(NOW_MS, "{}")])
    for _ in range(2):
        audit_copy.copy(audit_copy.decode(event), logs, s3, SETTINGS)
    (key,) = files(s3)
    assert len(s3.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"]) == 2


def test_the_upload_carries_the_md5_object_lock_requires() -> None:
    """S3 refuses a PutObject into a bucket with a default retention without Content-MD5 or an
    x-amz-checksum header; moto does not enforce it, so the call itself is checked."""
    batch = audit_copy.decode(delivered(ENVOY, "primary/envoy", [(NOW_MS, "{}")]))
    calls: list[dict[str, Any]] = []

    class RecordingS3:
        def put_object(self, **kwargs: Any) -> None:
            calls.append(kwargs)

    key = audit_copy.keep(batch, RecordingS3(), SETTINGS)
    (call,) = calls
    assert call["Key"] == key and call["Bucket"] == BUCKET
    assert call["ContentMD5"] == base64.b64encode(hashlib.md5(call["Body"]).digest()).decode()
    assert json.loads(gzip.decompress(call["Body"])) == batch


def test_control_messages_write_nothing(logs: Any, s3: Any) -> None:
    batch = audit_copy.decode(delivered(ENVOY, "CloudwatchLogs", [(NOW_MS, "CWL CONTROL MESSAGE")], "CONTROL_MESSAGE"))
    assert audit_copy.copy(batch, logs, s3, SETTINGS) == 0
    assert logs.describe_log_streams(logGroupName=AUDIT)["logStreams"] == [] and files(s3) == {}


def test_lines_from_any_other_group_are_refused_and_nothing_is_written(logs: Any, s3: Any) -> None:
    for group in ("/orthweb/other/envoy", "/orthweb/day/metrics", "/orthweb/day/envoy/../audit", AUDIT):
        with pytest.raises(audit_copy.CopyError, match="not copied"):
            audit_copy.copy(audit_copy.decode(delivered(group, "s", [(NOW_MS, "forged")])), logs, s3, SETTINGS)
    assert logs.describe_log_streams(logGroupName=AUDIT)["logStreams"] == [] and files(s3) == {}


def test_lines_cloudwatch_refuses_make_the_batch_fail_so_lambda_retries_it(logs: Any, s3: Any) -> None:
    # PutLogEvents refuses events older than 14 days (rejectedLogEventsInfo), without an error.
    old = int(time.time() * 1000) - 15 * 24 * 3600 * 1000
    with pytest.raises(audit_copy.CopyError, match="refused"):
        audit_copy.copy(audit_copy.decode(delivered(ENVOY, "s", [(old, "too old")])), logs, s3, SETTINGS)
    # The bucket kept the batch first: the lines are not lost while Lambda retries it.
    assert len(files(s3)) == 1


def test_the_entry_point_reads_its_settings_beside_it(
    logs: Any, s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text(audit_copy.settings_document(AUDIT, [ENVOY, ORTHANC], BUCKET, "audit-lines/"))
    monkeypatch.setattr(audit_copy, "SETTINGS_FILE", settings)
    monkeypatch.setattr(audit_copy, "_clients", {"logs": logs, "s3": s3})
    assert audit_copy.handler(delivered(ENVOY, "i-0abc/envoy", [(NOW_MS, "{}")]), None) == {"copied": 1}
    assert lines(logs, "envoy/i-0abc/envoy") == [(NOW_MS, "{}")]
    assert len(files(s3)) == 1


def test_batches_stay_within_put_log_events_limits() -> None:
    many = [{"timestamp": NOW_MS + i, "message": "x"} for i in range(audit_copy.MAX_EVENTS + 1)]
    assert [len(b) for b in audit_copy.chunks(many)] == [audit_copy.MAX_EVENTS, 1]
    big = "y" * 300_000
    heavy = [{"timestamp": NOW_MS, "message": big} for _ in range(4)]
    sizes = [sum(len(e["message"]) + audit_copy.EVENT_OVERHEAD for e in b) for b in audit_copy.chunks(heavy)]
    assert sizes and all(size <= audit_copy.MAX_BYTES for size in sizes) and len(sizes) == 2
    day = 24 * 3600 * 1000
    spread = [{"timestamp": NOW_MS + t, "message": "z"} for t in (0, day, day + 1)]
    assert [[e["timestamp"] - NOW_MS for e in b] for b in audit_copy.chunks(spread)] == [[0, day], [day + 1]]
    # Out of order in, in order out.
    shuffled = [{"timestamp": NOW_MS + t, "message": str(t)} for t in (3, 1, 2)]
    assert [e["message"] for b in audit_copy.chunks(shuffled) for e in b] == ["1", "2", "3"]


def test_stream_names_keep_the_source_and_avoid_what_cloudwatch_refuses() -> None:
    assert audit_copy.destination_stream(ENVOY, "primary/envoy") == "envoy/primary/envoy"
    assert audit_copy.destination_stream(ORTHANC, "i-0abc/orthweb-orthanc-2") == "orthanc/i-0abc/orthweb-orthanc-2"
    odd = audit_copy.destination_stream(ENVOY, "a:b*c" + "d" * 600)
    assert ":" not in odd and "*" not in odd and len(odd) == 512
