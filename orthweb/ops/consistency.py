"""Does a restored index match its restored storage? The index's attachments against the bucket's
objects, each difference named with what to do about it.

An index and a storage restored to different moments disagree (Orthanc book, "Backup"): the index
names files storage lacks (stored after storage's moment, or deleted before the index's), or storage
holds objects no index entry names. `restore` and `drill` run this on every restore. The index is
read through Orthanc's REST API (the database is private to the stack's network), the storage by
listing the bucket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# Orthanc's S3 plugin with "StorageStructure": "flat" names an attachment's object `<uuid><ext>`
# (orthanc-object-storage, Common/BaseStorage.cpp, BaseStorage::GetPath), by its content type.
OBJECT_EXTENSIONS = {"dicom": ".dcm", "dicom-as-json": ".json", "dicom-until-pixel-data": ".dcm.head"}
UNKNOWN_EXTENSION = ".unk"

# GET path -> parsed JSON (the restored Orthanc, with its credentials).
OrthancGet = Callable[[str], Any]


@dataclass(frozen=True)
class IndexedFile:
    """One attachment the index names: the instance it belongs to, its kind and its object's key."""

    instance_id: str
    attachment: str
    uuid: str

    @property
    def key(self) -> str:
        return self.uuid + OBJECT_EXTENSIONS.get(self.attachment, UNKNOWN_EXTENSION)


@dataclass(frozen=True)
class ConsistencyReport:
    indexed: int  # attachments the index names
    stored: int  # objects storage holds
    # The index names them, storage lacks them: Orthanc lists these instances but cannot serve them.
    missing: tuple[IndexedFile, ...]
    # Storage holds them, the index does not name them: invisible to Orthanc.
    orphans: tuple[str, ...]

    @property
    def consistent(self) -> bool:
        return not self.missing and not self.orphans

    def lines(self) -> list[str]:
        """The report as printed: a summary, then each difference and what to do about it."""
        head = (
            f"index and storage agree: {self.indexed} attachments, {self.stored} objects"
            if self.consistent
            else f"index and storage differ: {len(self.missing)} attachments the index names are missing from "
            f"storage, {len(self.orphans)} stored objects the index does not name"
        )
        out = [head]
        out += [
            f"  missing: instance {f.instance_id} ({f.attachment}, object {f.key}): restore storage to a later "
            "moment, or send the instance again, or delete it from Orthanc (DELETE /instances/"
            f"{f.instance_id}) so it is no longer listed"
            for f in self.missing
        ]
        out += [
            f"  orphan: object {key}: stored after the index's moment; import it into Orthanc (POST /instances "
            "with its content) to keep it, or leave it (the lifecycle keeps it until deleted)"
            for key in self.orphans
        ]
        return out


def compare(indexed: Iterable[IndexedFile], stored_keys: Iterable[str]) -> ConsistencyReport:
    files = sorted(indexed, key=lambda f: (f.instance_id, f.attachment))
    keys = set(stored_keys)
    named = {f.key for f in files}
    return ConsistencyReport(
        indexed=len(files),
        stored=len(keys),
        missing=tuple(f for f in files if f.key not in keys),
        orphans=tuple(sorted(keys - named)),
    )


def indexed_files(get: OrthancGet) -> list[IndexedFile]:
    """Every attachment of every instance, as Orthanc's index records it (no file is read)."""
    found = []
    for instance_id in get("/instances"):
        for attachment in get(f"/instances/{instance_id}/attachments"):
            info = get(f"/instances/{instance_id}/attachments/{attachment}/info")
            found.append(IndexedFile(instance_id=instance_id, attachment=attachment, uuid=info["Uuid"]))
    return found


def stored_keys(s3: Any, bucket: str) -> list[str]:
    """Every current object's key in `bucket` (an S3 client's paginated listing)."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys
