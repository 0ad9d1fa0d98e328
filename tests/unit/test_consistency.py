"""The consistency report and the bucket at a moment, on crafted inputs (the runtime suite runs both
on a real restore: tests/runtime/test_runtime_restore.py)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from orthweb.ops.consistency import IndexedFile, compare, indexed_files, stored_keys
from orthweb.ops.point_in_time import Copier, current_versions, versions_at

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
    assert Copier(s3).copy(source="source", versions={"a.dcm": (version, 5)}, target="target") == 1
    assert s3.get_object(Bucket="target", Key="a.dcm")["Body"].read() == b"first"
    assert stored_keys(s3, "target") == ["a.dcm"]


# --- copying: one CopyObject each up to CopyObject's 5 GB, parts above it, several objects at once ----

MIB = 1024 * 1024


def copy_calls(s3: Any) -> list[str]:
    """The S3 operations the client sends from now on, in order (botocore's before-call event)."""
    calls: list[str] = []
    s3.meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
    return calls


def test_an_object_above_the_limit_is_copied_in_parts_byte_for_byte(s3: Any) -> None:
    """UploadPartCopy in parts of `part_size` (the last one shorter) above the threshold, injected
    small here: S3 refuses CopyObject above 5 GB (Amazon S3 API Reference, CopyObject)."""
    body = bytes(range(256)) * (48 * MIB // 256 + 17)  # 48 MiB and a few bytes: 5 parts of 10 MiB
    s3.put_object(Bucket="source", Key="big.dcm", Body=body)
    s3.put_object(Bucket="source", Key="small.dcm", Body=b"small")
    versions = current_versions(s3, "source", datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1))
    assert versions["big.dcm"][1] == len(body) and versions["small.dcm"][1] == 5
    calls = copy_calls(s3)
    copier = Copier(s3, multipart_above=8 * MIB, part_size=10 * MIB, workers=1)
    assert copier.copy(source="source", versions=versions, target="target") == 2
    assert calls.count("UploadPartCopy") == 5 and calls.count("CopyObject") == 1
    assert calls.count("CompleteMultipartUpload") == 1
    assert s3.get_object(Bucket="target", Key="big.dcm")["Body"].read() == body
    assert s3.get_object(Bucket="target", Key="small.dcm")["Body"].read() == b"small"


def test_a_failed_part_leaves_no_object_and_no_upload(s3: Any) -> None:
    s3.put_object(Bucket="source", Key="big.dcm", Body=b"x" * (12 * MIB))
    versions = current_versions(s3, "source", datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1))
    # The second part names a version that does not exist: S3 refuses it.
    broken = {"big.dcm": ("not-a-version", versions["big.dcm"][1])}
    with pytest.raises(ClientError):
        Copier(s3, multipart_above=MIB, part_size=5 * MIB, workers=1).copy(
            source="source", versions=broken, target="target"
        )
    assert "Contents" not in s3.list_objects_v2(Bucket="target")
    assert not s3.list_multipart_uploads(Bucket="target").get("Uploads")


def test_parallel_copies_give_the_same_objects_as_serial_ones(s3: Any) -> None:
    for index in range(24):
        s3.put_object(Bucket="source", Key=f"{index:02d}.dcm", Body=f"instance {index}".encode())
    versions = current_versions(s3, "source", datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1))
    s3.create_bucket(Bucket="serial")
    Copier(s3, workers=1).copy(source="source", versions=versions, target="serial")
    Copier(s3, workers=8).copy(source="source", versions=versions, target="target")
    for key in versions:
        assert (
            s3.get_object(Bucket="target", Key=key)["Body"].read()
            == s3.get_object(Bucket="serial", Key=key)["Body"].read()
        )
    assert stored_keys(s3, "target") == stored_keys(s3, "serial") == sorted(versions)
