"""DICOM over TLS with pynetdicom, plus small synthetic instances made with pydicom."""

from __future__ import annotations

import io
import random
import socket
import ssl
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)
from pynetdicom import AE, evt
from pynetdicom.association import Association

from orthweb.harness.processes import LOOPBACK, HarnessError

CALLED_AE = "ORTHANC"
CALLING_AE = "ORTHWEBTEST"
SUCCESS = 0x0000
PENDING = (0xFF00, 0xFF01)
TIMEOUT = 30


# Debian's DCMTK. pynetdicom installs console scripts with the same names (echoscu, storescu,
# findscu, ...) in a virtualenv's bin, which shadow these once that bin is first on PATH.
DCMTK_DIR = Path("/usr/bin")


def dcmtk_tool(name: str) -> str:
    """Absolute path of a DCMTK tool, never whatever `name` resolves to on PATH."""
    path = DCMTK_DIR / name
    if not path.is_file():
        raise HarnessError(f"{path} is missing: apt-get install dcmtk")
    return str(path)


# pynetdicom builds its sop_class names at import time, which type checkers cannot see.
VERIFICATION = UID("1.2.840.10008.1.1")
FIND_MODEL = UID("1.2.840.10008.5.1.4.1.2.2.1")  # Study Root Query/Retrieve - FIND
MOVE_MODEL = UID("1.2.840.10008.5.1.4.1.2.2.2")  # Study Root Query/Retrieve - MOVE


def new_instance(sop_class_uid: str) -> Dataset:
    """An empty Part 10 dataset of `sop_class_uid` with a fresh SOP Instance UID (explicit VR LE)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    return ds


def make_instance(study_uid: str, series_uid: str, number: int, patient_id: str = "ORTHWEB-TEST") -> Dataset:
    """A tiny (8x8, 8-bit) Secondary Capture image with fresh SOP Instance UID."""
    ds = new_instance(SecondaryCaptureImageStorage)
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientID = patient_id
    ds.PatientName = "Test^Orthweb"
    ds.StudyID = "1"
    ds.Modality = "OT"
    ds.SeriesNumber = 1
    ds.InstanceNumber = number
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = bytes((number + i) % 256 for i in range(64))
    return ds


def make_study(count: int, patient_id: str = "ORTHWEB-TEST") -> list[Dataset]:
    study_uid, series_uid = generate_uid(), generate_uid()
    return [make_instance(study_uid, series_uid, n, patient_id) for n in range(1, count + 1)]


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


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _nodelay(event: evt.Event) -> None:
    # pynetdicom leaves Nagle on, which costs ~40 ms per C-STORE round trip.
    sock = event.assoc.dul.socket.socket if event.assoc.dul.socket else None
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def tls_context(
    cafile: str, minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2, maximum: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = minimum
    if maximum is not None:
        context.maximum_version = maximum
    return context


@dataclass(frozen=True)
class DicomEndpoint:
    port: int
    tls: ssl.SSLContext | None = None
    server_hostname: str = LOOPBACK
    host: str = LOOPBACK
    called_ae: str = CALLED_AE
    calling_ae: str = CALLING_AE


# A-ASSOCIATE-RJ reasons from the service user (DICOM PS3.8 Table 9-21).
CALLING_AE_NOT_RECOGNIZED = 3
CALLED_AE_NOT_RECOGNIZED = 7


class AssociationRejected(ConnectionError):
    """The peer answered the association request with A-ASSOCIATE-RJ; `diagnostic` says why."""

    def __init__(self, message: str, diagnostic: int | None) -> None:
        super().__init__(message)
        self.diagnostic = diagnostic


@contextmanager
def association(
    endpoint: DicomEndpoint,
    *,
    store: bool = False,
    find: bool = False,
    move: bool = False,
    echo: bool = True,
    store_classes: Sequence[str] = (SecondaryCaptureImageStorage,),
) -> Iterator[Association]:
    """An established association (raises ConnectionError if rejected, aborted or refused).

    With `store`, one presentation context per SOP class in `store_classes` (explicit VR LE).
    """
    ae = AE(ae_title=endpoint.calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT
    ae.connection_timeout = 10
    if echo:
        ae.add_requested_context(VERIFICATION)
    if store:
        for sop_class in store_classes:
            ae.add_requested_context(sop_class, ExplicitVRLittleEndian)
    if find:
        ae.add_requested_context(FIND_MODEL)
    if move:
        ae.add_requested_context(MOVE_MODEL)
    tls_args = (endpoint.tls, endpoint.server_hostname) if endpoint.tls is not None else None
    assoc = ae.associate(
        endpoint.host,
        endpoint.port,
        ae_title=endpoint.called_ae,
        tls_args=tls_args,
        evt_handlers=[(evt.EVT_CONN_OPEN, _nodelay)],
    )
    if not assoc.is_established:
        ae.shutdown()
        where = f"association of {endpoint.calling_ae} to {endpoint.called_ae}@{endpoint.host}:{endpoint.port}"
        if assoc.is_rejected:
            diagnostic = getattr(assoc.acceptor.primitive, "diagnostic", None)
            raise AssociationRejected(f"{where} rejected (reason {diagnostic})", diagnostic)
        raise ConnectionError(f"{where} not established (aborted={assoc.is_aborted})")
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()


def status_of(response: Dataset | None) -> int | None:
    """The DIMSE status, or None when no response came (timeout, abort)."""
    if response is None or "Status" not in response:
        return None
    return int(response.Status)


def echo(endpoint: DicomEndpoint) -> int | None:
    with association(endpoint) as assoc:
        return status_of(assoc.send_c_echo())


def store(endpoint: DicomEndpoint, datasets: Sequence[Dataset]) -> list[int | None]:
    """C-STORE each dataset on one association; the status of each, in order.

    None means the sender got no answer (association aborted or lost): not acknowledged.
    """
    statuses: list[int | None] = []
    classes = sorted({str(ds.SOPClassUID) for ds in datasets}) or [SecondaryCaptureImageStorage]
    with association(endpoint, store=True, echo=False, store_classes=classes) as assoc:
        for ds in datasets:
            statuses.append(status_of(assoc.send_c_store(ds)) if assoc.is_established else None)
    return statuses


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
