"""The DICOM bucket as it was at a moment: the object versions current then, and their copy into a
new bucket (what `restore` does for storage within the noncurrent-version window)."""

from __future__ import annotations

import datetime
from typing import Any


def versions_at(s3: Any, bucket: str, moment: datetime.datetime) -> dict[str, str]:
    """Key -> version id of every object that existed at `moment` (its newest version or delete
    marker written at or before then was not a delete marker). S3 reports write times to the second,
    so `moment` counts as the end of its second's fraction already past."""
    # S3 lists each key's versions newest first; within one second a delete marker is the later write.
    newest: dict[str, tuple[tuple[datetime.datetime, int, int], str | None]] = {}
    position = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        entries = [(v, v["VersionId"], 0) for v in page.get("Versions", [])]
        entries += [(m, None, 1) for m in page.get("DeleteMarkers", [])]
        for entry, version, is_marker in entries:
            position += 1
            if entry["LastModified"] > moment:
                continue
            rank = (entry["LastModified"], is_marker, -position)
            known = newest.get(entry["Key"])
            if known is None or rank > known[0]:
                newest[entry["Key"]] = (rank, version)
    return {key: version for key, (_, version) in sorted(newest.items()) if version is not None}


def copy_versions(s3: Any, *, source: str, versions: dict[str, str], target: str) -> int:
    """Copy each version into `target` as its current object; returns how many were copied."""
    for key, version in versions.items():
        s3.copy_object(Bucket=target, Key=key, CopySource={"Bucket": source, "Key": key, "VersionId": version})
    return len(versions)
