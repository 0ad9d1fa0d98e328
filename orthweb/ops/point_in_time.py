"""The DICOM bucket as it was at a moment: the object versions current then, and their copy into a
new bucket (what `restore` does for storage within the noncurrent-version window).

A copy is one CopyObject per object up to CopyObject's limit (5 GB, Amazon S3 API Reference,
CopyObject) and a multipart copy (UploadPartCopy, at most 10,000 parts of 5 MiB to 5 GiB each)
above it, several objects at a time.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

GIB = 1024**3
COPY_OBJECT_LIMIT = 5 * GIB
# UploadPartCopy's part sizes and count (Amazon S3 User Guide, "Amazon S3 multipart upload limits").
PART_SIZE = 512 * 1024**2
MAX_PARTS = 10_000
# Objects copied at once: S3 answers each copy in tens of milliseconds to seconds, server side.
COPY_WORKERS = 8


def current_versions(s3: Any, bucket: str, moment: datetime.datetime) -> dict[str, tuple[str, int]]:
    """Key -> (version id, size) of every object that existed at `moment` (its newest version or
    delete marker written at or before then was not a delete marker). S3 reports write times to the
    second, so `moment` counts as the end of its second's fraction already past."""
    # S3 lists each key's versions newest first; within one second a delete marker is the later write.
    newest: dict[str, tuple[tuple[datetime.datetime, int, int], tuple[str, int] | None]] = {}
    position = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        entries = [(v, (v["VersionId"], int(v.get("Size", 0))), 0) for v in page.get("Versions", [])]
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


def versions_at(s3: Any, bucket: str, moment: datetime.datetime) -> dict[str, str]:
    """Key -> version id of every object that existed at `moment` (see `current_versions`)."""
    return {key: version for key, (version, _) in current_versions(s3, bucket, moment).items()}


@dataclass(frozen=True)
class Copier:
    """Copies object versions into another bucket as its current objects."""

    s3: Any
    # Objects larger than this are copied in parts (tests lower it to see the parts on small objects).
    multipart_above: int = COPY_OBJECT_LIMIT
    part_size: int = PART_SIZE
    workers: int = COPY_WORKERS

    def copy(self, *, source: str, versions: Mapping[str, tuple[str, int]], target: str) -> int:
        """Copy each (version, size) of `versions` into `target`; returns how many were copied."""

        def one(item: tuple[str, tuple[str, int]]) -> None:
            key, (version, size) = item
            origin = {"Bucket": source, "Key": key, "VersionId": version}
            if size > self.multipart_above:
                self._copy_in_parts(origin, size, target)
            else:
                self.s3.copy_object(Bucket=target, Key=key, CopySource=origin)

        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            # list() re-raises the first copy that failed.
            list(pool.map(one, versions.items()))
        return len(versions)

    def _copy_in_parts(self, origin: dict[str, str], size: int, target: str) -> None:
        key = origin["Key"]
        part = max(self.part_size, math.ceil(size / MAX_PARTS))
        upload = self.s3.create_multipart_upload(Bucket=target, Key=key)["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, size, part), start=1):
                copied = self.s3.upload_part_copy(
                    Bucket=target,
                    Key=key,
                    UploadId=upload,
                    PartNumber=number,
                    CopySource=origin,
                    CopySourceRange=f"bytes={start}-{min(start + part, size) - 1}",
                )
                parts.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
            self.s3.complete_multipart_upload(Bucket=target, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
        except BaseException:
            # No half-copied object left behind: the parts are discarded with the upload.
            self.s3.abort_multipart_upload(Bucket=target, Key=key, UploadId=upload)
            raise
