"""Copies the audit lines CloudWatch Logs hands over into the stack's audit log group, unchanged,
and keeps each batch as a file in the Object Lock audit bucket.

Runs in AWS Lambda (Python runtime; the standard library and boto3 only: this file is the whole
package). Two subscription filters, one on the Envoy group and one on the Orthanc group, select the
audit lines and invoke it with a batch: `{"awslogs": {"data": base64(gzip(json))}}` whose JSON names
the source log group and stream and lists the events (CloudWatch Logs User Guide, "Subscription
filters"). The batch is first written to the audit bucket as gzipped JSON, under
`audit-lines/<yyyy>/<mm>/<dd>/<component>/<sha256 of the file>.json.gz`, with the Content-MD5 that
S3 requires of an upload to a bucket whose objects get a default retention (S3 API Reference,
PutObject); the bucket's Object Lock then keeps it. Then each line goes, with its text and its time,
into the audit group, in a stream named `<component>/<source stream>`, so the group answers the same
Logs Insights queries the source groups would.

`settings.json`, packaged beside this file, names the audit group, the bucket and its prefix, and the
groups lines may come from; a batch from anywhere else is refused. Any failure raises: Lambda
retries the batch twice (the same batch makes the same file name: a retry adds a version, not
another file), then puts it in the dead-letter queue, whose alarm tells the administrator.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

SETTINGS_FILE = Path(__file__).with_name("settings.json")
# PutLogEvents' limits (CloudWatch Logs API Reference): a batch of at most 10,000 events and
# 1,048,576 bytes, counting each message's UTF-8 bytes plus 26.
MAX_EVENTS = 10_000
MAX_BYTES = 1_048_576
EVENT_OVERHEAD = 26
# Events in one PutLogEvents call may span at most 24 hours.
MAX_SPAN_MS = 24 * 3600 * 1000

_clients: dict[str, Any] = {}


class CopyError(Exception):
    """A batch that could not be copied whole; raised so that Lambda retries it."""


def decode(event: Mapping[str, Any]) -> dict[str, Any]:
    """The batch a subscription filter delivered."""
    data = base64.b64decode(event["awslogs"]["data"])
    return json.loads(gzip.decompress(data))


def component(source_group: str) -> str:
    """The last part of a source group's name: `envoy` of `/orthweb/<stack>/envoy`."""
    return source_group.rstrip("/").rsplit("/", 1)[-1]


def destination_stream(source_group: str, source_stream: str) -> str:
    """`<component>/<source stream>`."""
    # Stream names may not hold ':' or '*' and are at most 512 characters.
    return f"{component(source_group)}/{source_stream}".replace(":", "_").replace("*", "_")[:512]


def chunks(events: Sequence[Mapping[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """The events in time order, cut into batches PutLogEvents accepts."""
    batch: list[dict[str, Any]] = []
    size = 0
    for event in sorted(events, key=lambda e: int(e["timestamp"])):
        item = {"timestamp": int(event["timestamp"]), "message": str(event["message"])}
        item_size = len(item["message"].encode()) + EVENT_OVERHEAD
        too_long = bool(batch) and item["timestamp"] - batch[0]["timestamp"] > MAX_SPAN_MS
        if batch and (len(batch) == MAX_EVENTS or size + item_size > MAX_BYTES or too_long):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch


def archive_file(batch: Mapping[str, Any], prefix: str) -> tuple[str, bytes]:
    """(object key, gzipped JSON) of a batch: the same batch always makes the same bytes and key."""
    body = gzip.compress(json.dumps(batch, sort_keys=True, separators=(",", ":")).encode(), mtime=0)
    first = min((int(e["timestamp"]) for e in batch.get("logEvents", [])), default=0)
    day = time.strftime("%Y/%m/%d", time.gmtime(first / 1000))
    source = component(str(batch.get("logGroup", "")))
    return f"{prefix}{day}/{source}/{hashlib.sha256(body).hexdigest()}.json.gz", body


def keep(batch: Mapping[str, Any], s3: Any, settings: Mapping[str, Any]) -> str:
    """Writes the batch into the audit bucket; returns the object's key."""
    key, body = archive_file(batch, settings["prefix"])
    # S3 refuses an upload to a bucket with a default retention unless it carries a checksum.
    md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    s3.put_object(
        Bucket=settings["bucket"],
        Key=key,
        Body=body,
        ContentMD5=md5,
        ContentType="application/json",
        ContentEncoding="gzip",
    )
    return key


def copy(batch: Mapping[str, Any], logs: Any, s3: Any, settings: Mapping[str, Any]) -> int:
    """Keeps the batch in the audit bucket, then writes its events into the audit group; returns how
    many lines were copied."""
    if batch.get("messageType") == "CONTROL_MESSAGE":
        return 0  # CloudWatch Logs checking that the destination answers
    source = str(batch.get("logGroup", ""))
    if source not in settings["sources"]:
        raise CopyError(f"lines from {source!r} are not copied: only from {', '.join(settings['sources'])}")
    keep(batch, s3, settings)
    group, stream = settings["log_group"], destination_stream(source, str(batch["logStream"]))
    written = 0
    for events in chunks(batch.get("logEvents", [])):
        _put(logs, group, stream, events)
        written += len(events)
    return written


def _put(logs: Any, group: str, stream: str, events: list[dict[str, Any]]) -> None:
    try:
        answer = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    except logs.exceptions.ResourceNotFoundException:
        # The stream's first lines: create it, then write.
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_stream(logGroupName=group, logStreamName=stream)
        answer = logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    rejected = answer.get("rejectedLogEventsInfo")
    if rejected:
        raise CopyError(f"CloudWatch Logs refused some of {len(events)} lines for {stream}: {rejected}")


def _client(service: str) -> Any:
    if service not in _clients:
        import boto3  # Lambda's runtime provides it; imported here so the tests need no AWS.

        _clients[service] = boto3.client(service)
    return _clients[service]


def handler(event: Mapping[str, Any], context: Any) -> dict[str, int]:
    """Lambda's entry point."""
    settings = json.loads(SETTINGS_FILE.read_text())
    return {"copied": copy(decode(event), _client("logs"), _client("s3"), settings)}


def settings_document(log_group: str, sources: Sequence[str], bucket: str, prefix: str) -> str:
    """What `settings.json` holds (the stack renders it when it packages this file)."""
    settings = {"log_group": log_group, "sources": list(sources), "bucket": bucket, "prefix": prefix}
    return json.dumps(settings, indent=2, sort_keys=True) + "\n"
