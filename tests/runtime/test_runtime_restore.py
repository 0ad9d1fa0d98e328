"""Point-in-time restore of the index and the storage together, for real: PostgreSQL's own recovery
(base backup, WAL archive, recovery_target_time) for the index, the object versions current at the
same moment in moto's versioned bucket for the storage, then Orthanc on the restored pair.

Studies A are stored, the moment T noted, studies B stored and one A study deleted. Restored to T,
Orthanc has exactly the A studies, byte for byte, and none of B; the consistency report (the code
`restore` runs) finds nothing to say. Restored a few seconds apart (index at T, storage after B),
the report names exactly the deleted study's file and B's objects."""

from __future__ import annotations

import datetime
import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orthweb.clients.dicom import make_study, to_bytes
from orthweb.ops.consistency import ConsistencyReport, IndexedFile, compare, indexed_files
from orthweb.ops.point_in_time import versions_at
from tools.harness.aws import FetchSecrets
from tools.harness.pitr import ArchivingPostgres, IndexedOrthanc, mirror_to_bucket, next_second, restore_storage
from tools.harness.processes import free_port

pytestmark = pytest.mark.runtime

BUCKET = "orthweb-restore-proof"
REGION = "us-east-1"
# Three studies before the moment, two after (and one of the three deleted after): enough for every
# case the report distinguishes, each study one small instance.
BEFORE, AFTER = 3, 2


@dataclass
class Timeline:
    moment: datetime.datetime  # T: after A, before B
    later: datetime.datetime  # after B and the deletion
    before: dict[str, bytes]  # instance id -> its bytes, the A studies
    after: dict[str, bytes]  # the B studies
    deleted: str  # the A instance deleted after T
    files_at_later: list[IndexedFile]
    restored: IndexedOrthanc
    restore_seconds: float
    s3: object


def _store(orthanc: IndexedOrthanc, count: int, patient: str) -> dict[str, bytes]:
    stored = {}
    for number in range(count):
        (instance,) = make_study(1, patient_id=f"{patient}-{number}")
        content = to_bytes(instance)
        answer = orthanc.request("POST", "/instances", content)
        stored[json.loads(answer)["ID"]] = content
    return stored


def _mirror(orthanc: IndexedOrthanc, s3: object) -> list[IndexedFile]:
    """The S3 plugin's writes and deletes, after the fact: the bucket holds what the index names."""
    files = indexed_files(orthanc.get)
    mirror_to_bucket(orthanc, {f.key: f.uuid for f in files}, s3, BUCKET)
    return files


@pytest.fixture(scope="module")
def timeline(secrets_source: FetchSecrets, runtime_report: dict[str, object]) -> Iterator[Timeline]:
    work = Path(tempfile.mkdtemp(prefix="orthweb-restore-"))
    work.chmod(0o711)  # the postgres and orthanc users must traverse it
    s3 = secrets_source.aws.client("s3", REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    live_db = ArchivingPostgres(work / "pg", free_port(), "orthanc", "orthanc", "restore-proof", archive=work / "wal")
    live = IndexedOrthanc(work / "live", live_db, work / "live-storage")
    # Listed before they start: whatever fails, every server started is stopped.
    servers: list = [live_db, live]
    try:
        live_db.start()
        base = live_db.base_backup(work / "base")
        live.start()
        before = _store(live, BEFORE, "BEFORE")
        _mirror(live, s3)
        moment = datetime.datetime.now(datetime.UTC)
        next_second(moment)
        after = _store(live, AFTER, "AFTER")
        deleted = sorted(before)[0]
        live.request("DELETE", f"/instances/{deleted}")
        files_at_later = _mirror(live, s3)
        later = datetime.datetime.now(datetime.UTC)
        live_db.archive_current_wal()
        live.stop()

        started = time.monotonic()
        restored_db = live_db.recover(base, work / "pg-restored", moment)
        servers.append(restored_db)
        restore_storage(s3, BUCKET, versions_at(s3, BUCKET, moment), work / "restored-storage")
        restored = IndexedOrthanc(work / "restored", restored_db, work / "restored-storage")
        servers.append(restored)
        restored.start()
        seconds = time.monotonic() - started
        runtime_report["point-in-time restore"] = (
            f"{seconds:.1f} s for {BEFORE} instances (PostgreSQL recovery from base backup + WAL, "
            f"{BEFORE} object versions from moto, Orthanc start)"
        )
        yield Timeline(moment, later, before, after, deleted, files_at_later, restored, seconds, s3)
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def test_the_restore_has_exactly_the_studies_of_that_moment(timeline: Timeline) -> None:
    restored = timeline.restored
    assert set(restored.get("/instances")) == set(timeline.before)
    assert timeline.deleted in restored.get("/instances"), "deleted after the moment: it is back"
    assert not set(restored.get("/instances")) & set(timeline.after)
    assert restored.get("/statistics")["CountInstances"] == BEFORE


def test_every_restored_instance_is_byte_identical(timeline: Timeline) -> None:
    for instance, content in timeline.before.items():
        assert timeline.restored.request("GET", f"/instances/{instance}/file") == content


def test_index_and_storage_of_the_same_moment_agree(timeline: Timeline) -> None:
    report = compare(indexed_files(timeline.restored.get), versions_at(timeline.s3, BUCKET, timeline.moment))
    assert report.consistent, report.lines()
    assert report.indexed == report.stored == BEFORE
    assert report.lines() == [f"index and storage agree: {BEFORE} attachments, {BEFORE} objects"]


def test_storage_restored_later_than_the_index_is_reported_exactly(timeline: Timeline) -> None:
    """The index at T, the storage after B and the deletion: the report names the deleted
    instance's file as missing and B's files as orphans, nothing else."""
    indexed = indexed_files(timeline.restored.get)
    report: ConsistencyReport = compare(indexed, versions_at(timeline.s3, BUCKET, timeline.later))
    assert [f.instance_id for f in report.missing] == [timeline.deleted]
    assert set(report.orphans) == {f.key for f in timeline.files_at_later if f.instance_id in timeline.after}
    assert len(report.orphans) == AFTER
    text = "\n".join(report.lines())
    assert f"instance {timeline.deleted}" in text and "DELETE /instances/" in text
    assert all(f"object {key}" in text for key in report.orphans)


def test_a_moment_before_anything_was_stored_restores_an_empty_storage(timeline: Timeline) -> None:
    assert versions_at(timeline.s3, BUCKET, timeline.moment - datetime.timedelta(days=1)) == {}
