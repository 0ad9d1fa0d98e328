"""The runtime tests' DICOM side: the test calling AE title on 127.0.0.1, DCMTK's tools, large
instances, resending stores, C-FIND and C-MOVE, and a storage SCP standing in for a modality.

The client itself (associations, C-ECHO, C-STORE, instances) is the product's `orthweb.clients.dicom`.
"""

from __future__ import annotations

import random
import ssl
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid
from pynetdicom import AE, evt

from orthweb.clients.dicom import (
    FIND_MODEL,
    MOVE_MODEL,
    PENDING,
    SUCCESS,
    TIMEOUT,
    DicomEndpoint,
    association,
    new_instance,
    status_of,
    store,
)
from tools.harness.processes import LOOPBACK, HarnessError

CALLING_AE = "ORTHWEBTEST"


def local_endpoint(port: int, tls: ssl.SSLContext | None = None, **change: Any) -> DicomEndpoint:
    """An endpoint on 127.0.0.1, calling as the test AE title unless `change` says otherwise."""
    return DicomEndpoint(**{"host": LOOPBACK, "port": port, "calling_ae": CALLING_AE, "tls": tls, **change})


# Debian's DCMTK. pynetdicom installs console scripts with the same names (echoscu, storescu,
# findscu, ...) in a virtualenv's bin, which shadow these once that bin is first on PATH.
DCMTK_DIR = Path("/usr/bin")


def dcmtk_tool(name: str) -> str:
    """Absolute path of a DCMTK tool, never whatever `name` resolves to on PATH."""
    path = DCMTK_DIR / name
    if not path.is_file():
        raise HarnessError(f"{path} is missing: apt-get install dcmtk")
    return str(path)


# Multi-frame Grayscale Word Secondary Capture Image Storage.
MULTIFRAME_WORD_SC = UID("1.2.840.10008.5.1.4.1.1.7.3")


def make_multiframe_instance(megabytes: int, patient_id: str = "ORTHWEB-LARGE") -> Dataset:
    """A 16-bit multi-frame image with at least `megabytes` MB of pixel data, in its own study.

    The pixels are pseudo-random (seeded, so repeatable): nothing on the way can shrink them.
    """
    ds = new_instance(MULTIFRAME_WORD_SC)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName = patient_id, "Large^Multiframe"
    ds.StudyID, ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "1", "OT", 1, 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = 512
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation = 15, 0
    frame_bytes = ds.Rows * ds.Columns * 2
    frames = -(-megabytes * 1_000_000 // frame_bytes)
    ds.NumberOfFrames = frames
    ds.PixelData = random.Random(frames).randbytes(frames * frame_bytes)
    return ds


def tls_context(
    cafile: str, minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2, maximum: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = minimum
    if maximum is not None:
        context.maximum_version = maximum
    return context


@dataclass
class StoreReport:
    """What a sender saw: first-attempt failures, retries, and the final status per instance."""

    sent: int = 0
    first_failures: dict[int | None, int] = field(default_factory=dict)
    attempts: int = 0
    final: dict[str, int | None] = field(default_factory=dict)

    @property
    def acknowledged(self) -> set[str]:
        return {uid for uid, status in self.final.items() if status == SUCCESS}


def store_with_retry(
    endpoint: DicomEndpoint, datasets: Sequence[Dataset], *, max_attempts: int = 5, pause: float = 0.2
) -> StoreReport:
    """Send on one association; resend what failed on a new one, up to `max_attempts` rounds."""
    report = StoreReport(sent=len(datasets))
    pending = list(datasets)
    for attempt in range(1, max_attempts + 1):
        if not pending:
            break
        report.attempts = attempt
        try:
            statuses = store(endpoint, pending)
        except ConnectionError:
            statuses = [None] * len(pending)
        failed = []
        for ds, status in zip(pending, statuses, strict=True):
            report.final[str(ds.SOPInstanceUID)] = status
            if status != SUCCESS:
                failed.append(ds)
                if attempt == 1:
                    report.first_failures[status] = report.first_failures.get(status, 0) + 1
        pending = failed
        if pending:
            time.sleep(pause * attempt)
    return report


def find_instances(endpoint: DicomEndpoint, study_uid: str) -> set[str]:
    """SOP Instance UIDs that C-FIND (study root, IMAGE level) reports for a study."""
    query = Dataset()
    query.QueryRetrieveLevel = "IMAGE"
    query.StudyInstanceUID = study_uid
    query.SeriesInstanceUID = ""
    query.SOPInstanceUID = ""
    found: set[str] = set()
    with association(endpoint, find=True, echo=False) as assoc:
        # IMAGE level in study root needs the series: walk series first.
        series_query = Dataset()
        series_query.QueryRetrieveLevel = "SERIES"
        series_query.StudyInstanceUID = study_uid
        series_query.SeriesInstanceUID = ""
        series = {
            str(identifier.SeriesInstanceUID)
            for status, identifier in assoc.send_c_find(series_query, FIND_MODEL)
            if status_of(status) in PENDING and identifier is not None
        }
        for series_uid in sorted(series):
            query.SeriesInstanceUID = series_uid
            for status, identifier in assoc.send_c_find(query, FIND_MODEL):
                if status_of(status) in PENDING and identifier is not None:
                    found.add(str(identifier.SOPInstanceUID))
    return found


def move_study(endpoint: DicomEndpoint, study_uid: str, destination: str) -> list[int | None]:
    """C-MOVE a whole study to the AE title `destination`; every response status, in order."""
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_uid
    with association(endpoint, move=True, echo=False) as assoc:
        return [status_of(status) for status, _ in assoc.send_c_move(query, destination, MOVE_MODEL)]


@dataclass
class StorageListener:
    """A plain DICOM storage SCP on 127.0.0.1 (a modality receiving C-MOVE results)."""

    port: int
    classes: Sequence[str] = (SecondaryCaptureImageStorage,)
    received: list[str] = field(default_factory=list)

    def _on_store(self, event: evt.Event) -> int:
        self.received.append(str(event.dataset.SOPInstanceUID))
        return SUCCESS

    @contextmanager
    def running(self) -> Iterator[StorageListener]:
        ae = AE(ae_title=CALLING_AE)
        ae.network_timeout = ae.dimse_timeout = TIMEOUT
        for sop_class in self.classes:
            ae.add_supported_context(sop_class, ExplicitVRLittleEndian)
        server = ae.start_server((LOOPBACK, self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._on_store)])
        assert server is not None  # block=False always returns the server
        try:
            yield self
        finally:
            server.shutdown()
