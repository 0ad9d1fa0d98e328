"""The consistency report and the bucket at a moment, on crafted inputs (the runtime suite runs both
on a real restore: tests/runtime/test_runtime_restore.py)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from orthweb.ops.consistency import IndexedFile, compare, indexed_files, stored_keys
from orthweb.ops.point_in_time import copy_versions, versions_at

UUID_A = "0b3c7d1e-0000-4000-8000-00000000000a"
UUID_B = "0b3c7d1e-0000-4000-8000-00000000000b"


def test_object_keys_follow_the_s3_plugins_flat_layout() -> None:
    """orthanc-object-storage, BaseStorage::GetPath: `<uuid>.dcm`, `.json`, `.dcm.head`, else `.unk`."""
    assert IndexedFile("i", "dicom", UUID_A).key == f"{UUID_A}.dcm"
    assert IndexedFile("i", "dicom-until-pixel-data", UUID_A).key == f"{UUID_A}.dcm.head"
    assert IndexedFile("i", "dicom-as-json", UUID_A).key == f"{UUID_A}.json"
    assert IndexedFile("i", "1024", UUID_A).key == f"{UUID_A}.unk"


def test_agreeing_index_and_storage_report_nothing_to_do() -> None:
    report = compare([IndexedFile("i1", "dicom", UUID_A)], [f"{UUID_A}.dcm"])
    assert report.consistent
    assert report.lines() == ["index and storage agree: 1 attachments, 1 objects"]


def test_each_difference_is_named_with_what_to_do() -> None:
    report = compare([IndexedFile("i1", "dicom", UUID_A)], [f"{UUID_B}.dcm"])
    assert not report.consistent
    assert [f.instance_id for f in report.missing] == ["i1"]
    assert report.orphans == (f"{UUID_B}.dcm",)
    head, missing, orphan = report.lines()
    assert head.startswith("index and storage differ: 1 attachments")
    assert "instance i1" in missing and f"{UUID_A}.dcm" in missing and "DELETE /instances/i1" in missing
    assert f"object {UUID_B}.dcm" in orphan and "POST /instances" in orphan


def test_the_index_is_read_through_orthancs_rest_api() -> None:
    answers: dict[str, Any] = {
        "/instances": ["i1"],
        "/instances/i1/attachments": ["dicom"],
        "/instances/i1/attachments/dicom/info": {"Uuid": UUID_A, "ContentType": 1},
    }
    assert indexed_files(answers.__getitem__) == [IndexedFile("i1", "dicom", UUID_A)]


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in ("source", "target"):
            client.create_bucket(Bucket=bucket)
            client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        yield client


class _Listing:
    """An S3 client whose version listing is given (newest first per key, as S3 lists them)."""

    def __init__(self, versions: list[tuple[str, str, int]], markers: list[tuple[str, int]]) -> None:
        base = datetime.datetime(2026, 12, 6, 12, 0, 0, tzinfo=datetime.UTC)
        self.page = {
            "Versions": [
                {"Key": k, "VersionId": v, "LastModified": base + datetime.timedelta(seconds=t)} for k, v, t in versions
            ],
            "DeleteMarkers": [
                {"Key": k, "VersionId": f"marker-{t}", "LastModified": base + datetime.timedelta(seconds=t)}
                for k, t in markers
            ],
        }
        self.base = base

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_object_versions"
        page = self.page

        class Paginator:
            def paginate(self, **_: Any) -> list[dict[str, Any]]:
                return [page]

        return Paginator()


def test_versions_at_a_moment_skip_later_writes_and_honour_deletes() -> None:
    listing = _Listing(
        versions=[("kept.dcm", "k2", 20), ("kept.dcm", "k1", 0), ("gone.dcm", "g1", 0), ("new.dcm", "n1", 20)],
        markers=[("gone.dcm", 10)],
    )

    def at(seconds: int) -> datetime.datetime:
        return listing.base + datetime.timedelta(seconds=seconds)

    assert versions_at(listing, "b", at(seconds=5)) == {"gone.dcm": "g1", "kept.dcm": "k1"}
    assert versions_at(listing, "b", at(seconds=10)) == {"kept.dcm": "k1"}
    assert versions_at(listing, "b", at(seconds=25)) == {"kept.dcm": "k2", "new.dcm": "n1"}
    assert versions_at(listing, "b", at(seconds=-1)) == {}


def test_within_one_second_the_newest_write_wins() -> None:
    """S3 times writes to the second: two versions of that second rank by the listing (newest
    first); a delete marker of that second is the later write."""
    listing = _Listing(
        versions=[("a.dcm", "newer", 3), ("a.dcm", "older", 3), ("b.dcm", "b1", 3)], markers=[("b.dcm", 3)]
    )
    assert versions_at(listing, "b", listing.base + datetime.timedelta(seconds=3)) == {"a.dcm": "newer"}


def test_copied_versions_become_the_current_objects(s3: Any) -> None:
    s3.put_object(Bucket="source", Key="a.dcm", Body=b"first")
    version = s3.list_object_versions(Bucket="source")["Versions"][0]["VersionId"]
    s3.put_object(Bucket="source", Key="a.dcm", Body=b"second")
    assert copy_versions(s3, source="source", versions={"a.dcm": version}, target="target") == 1
    assert s3.get_object(Bucket="target", Key="a.dcm")["Body"].read() == b"first"
    assert stored_keys(s3, "target") == ["a.dcm"]
