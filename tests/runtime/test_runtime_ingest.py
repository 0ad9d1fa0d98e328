"""Nothing silently lost: a study of several hundred instances over concurrent associations."""

from __future__ import annotations

import io
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pydicom
import pytest

from orthweb.clients.dicom import DicomEndpoint, make_study
from tools.harness import Stack
from tools.harness.dicom import StoreReport, store_with_retry

pytestmark = pytest.mark.runtime

INSTANCES = 480
ASSOCIATIONS = 6
DOWNLOAD_THREADS = 4


def study_instances(stack: Stack, study_uid: str) -> dict[str, str]:
    """SOP Instance UID -> Orthanc id of every instance the index holds for the study."""
    status, _, body = stack.request("/tools/lookup", method="POST", body=study_uid.encode(), credential=stack.admin)
    assert status == 200
    (study,) = [hit["ID"] for hit in json.loads(body) if hit["Type"] == "Study"]
    status, _, body = stack.request(f"/studies/{study}/instances", credential=stack.admin)
    assert status == 200
    return {i["MainDicomTags"]["SOPInstanceUID"]: i["ID"] for i in json.loads(body)}


def test_every_acknowledged_instance_is_stored_and_retrievable(
    stack: Stack, dicom: DicomEndpoint, runtime_report: dict[str, object]
) -> None:
    study = make_study(INSTANCES, patient_id="INGEST")
    by_uid = {str(ds.SOPInstanceUID): ds for ds in study}
    start = time.monotonic()
    with ThreadPoolExecutor(ASSOCIATIONS) as pool:
        reports: list[StoreReport] = list(
            pool.map(
                lambda chunk: store_with_retry(dicom, chunk), [study[i::ASSOCIATIONS] for i in range(ASSOCIATIONS)]
            )
        )
    elapsed = time.monotonic() - start
    acknowledged = set().union(*(r.acknowledged for r in reports))
    first_failures: dict[str, int] = {}
    for report in reports:
        for status, count in report.first_failures.items():
            key = "no answer" if status is None else f"0x{status:04X}"
            first_failures[key] = first_failures.get(key, 0) + count

    stored = study_instances(stack, study[0].StudyInstanceUID)

    def fetch(uid: str) -> bool:
        status, _, body = stack.request(f"/instances/{stored[uid]}/file", credential=stack.admin)
        got = pydicom.dcmread(io.BytesIO(body))
        return status == 200 and got.PixelData == by_uid[uid].PixelData and got.SOPInstanceUID == uid

    with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool:
        retrievable = sum(pool.map(fetch, sorted(acknowledged & set(stored))))

    runtime_report["ingest: replicas x instances sent"] = f"{stack.replica_total} x {INSTANCES}"
    runtime_report["ingest: associations, seconds"] = f"{ASSOCIATIONS}, {elapsed:.1f}"
    runtime_report["ingest: failures reported on first attempt"] = first_failures or "none"
    runtime_report["ingest: acknowledged / stored / retrievable"] = (
        f"{len(acknowledged)} / {len(stored)} / {retrievable}"
    )
    summary = {k: v for k, v in runtime_report.items() if k.startswith("ingest")}
    # Every failure was reported to the sender and a retry then succeeded.
    assert acknowledged == set(by_uid), summary
    # Every acknowledged instance is in the index, nothing else is, and each reads back intact.
    assert set(stored) == acknowledged, summary
    assert retrievable == len(acknowledged), summary
