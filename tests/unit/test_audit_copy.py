"""The audit copy function (orthweb/infra/functions/audit_copy.py) against moto's CloudWatch Logs: batches
as CloudWatch Logs delivers them to a subscribed function (CloudWatch Logs User Guide, "Subscription
filters": base64 of gzipped JSON with logGroup, logStream, messageType and logEvents), written into
the audit group unchanged, in time order, within PutLogEvents' limits."""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orthweb.infra.functions import audit_copy

AUDIT = "/orthweb/day/audit"
ENVOY = "/orthweb/day/envoy"
ORTHANC = "/orthweb/day/orthanc"
SETTINGS = {"log_group": AUDIT, "sources": [ENVOY, ORTHANC]}
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
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("logs", region_name="us-east-1")
        client.create_log_group(logGroupName=AUDIT)
        yield client


def lines(logs: Any, stream: str) -> list[tuple[int, str]]:
    events = logs.get_log_events(logGroupName=AUDIT, logStreamName=stream, startFromHead=True)["events"]
    return [(e["timestamp"], e["message"]) for e in events]


def test_lines_arrive_unchanged_in_time_order_in_a_stream_per_source(logs: Any) -> None:
    envoy = [(NOW_MS + 2, '{"method":"GET","path":"/studies/x"}'), (NOW_MS + 1, '{"peer":"10.0.0.9:4242"}')]
    orthanc = [(NOW_MS, 'W1206 10:00:00.000001 LuaContext.cpp:10] Lua says: orthweb-audit {"event":"http"}')]
    copied = audit_copy.copy(audit_copy.decode(delivered(ENVOY, "primary/envoy", envoy)), logs, SETTINGS)
    assert copied == 2
    audit_copy.copy(audit_copy.decode(delivered(ORTHANC, "primary/orthweb-orthanc-1", orthanc)), logs, SETTINGS)
    assert lines(logs, "envoy/primary/envoy") == sorted(envoy)
    assert lines(logs, "orthanc/primary/orthweb-orthanc-1") == orthanc
    # A later batch of the same stream goes after the first (the stream exists by then).
    audit_copy.copy(audit_copy.decode(delivered(ENVOY, "primary/envoy", [(NOW_MS + 3, "{}")])), logs, SETTINGS)
    assert [m for _, m in lines(logs, "envoy/primary/envoy")][-1] == "{}"


def test_control_messages_write_nothing(logs: Any) -> None:
    batch = audit_copy.decode(delivered(ENVOY, "CloudwatchLogs", [(NOW_MS, "CWL CONTROL MESSAGE")], "CONTROL_MESSAGE"))
    assert audit_copy.copy(batch, logs, SETTINGS) == 0
    assert logs.describe_log_streams(logGroupName=AUDIT)["logStreams"] == []


def test_lines_from_any_other_group_are_refused_and_nothing_is_written(logs: Any) -> None:
    for group in ("/orthweb/other/envoy", "/orthweb/day/metrics", "/orthweb/day/envoy/../audit", AUDIT):
        with pytest.raises(audit_copy.CopyError, match="not copied"):
            audit_copy.copy(audit_copy.decode(delivered(group, "s", [(NOW_MS, "forged")])), logs, SETTINGS)
    assert logs.describe_log_streams(logGroupName=AUDIT)["logStreams"] == []


def test_lines_cloudwatch_refuses_make_the_batch_fail_so_lambda_retries_it(logs: Any) -> None:
    # PutLogEvents refuses events older than 14 days (rejectedLogEventsInfo), without an error.
    old = int(time.time() * 1000) - 15 * 24 * 3600 * 1000
    with pytest.raises(audit_copy.CopyError, match="refused"):
        audit_copy.copy(audit_copy.decode(delivered(ENVOY, "s", [(old, "too old")])), logs, SETTINGS)


def test_the_entry_point_reads_its_settings_beside_it(
    logs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text(audit_copy.settings_document(AUDIT, [ENVOY, ORTHANC]))
    monkeypatch.setattr(audit_copy, "SETTINGS_FILE", settings)
    monkeypatch.setattr(audit_copy, "_client", logs)
    assert audit_copy.handler(delivered(ENVOY, "i-0abc/envoy", [(NOW_MS, "{}")]), None) == {"copied": 1}
    assert lines(logs, "envoy/i-0abc/envoy") == [(NOW_MS, "{}")]


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
