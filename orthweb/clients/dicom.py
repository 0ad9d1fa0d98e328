"""DICOM as a client speaks it, over TLS: associations, C-ECHO and C-STORE with pynetdicom, and
small synthetic instances made with pydicom.

What `orthweb verify` sends to a deployed site; the runtime harness and the benchmarks build on it.
Runtime dependencies only (pydicom, pynetdicom).
"""

from __future__ import annotations

import io
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NoReturn

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.pdu import A_ASSOCIATE_RJ

CALLED_AE = "ORTHANC"
SUCCESS = 0x0000
PENDING = (0xFF00, 0xFF01)
TIMEOUT = 30


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


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _nodelay(event: evt.Event) -> None:
    # pynetdicom leaves Nagle on, which costs ~40 ms per C-STORE round trip.
    sock = event.assoc.dul.socket.socket if event.assoc.dul.socket else None
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class ReactorGate:
    """The gate of a pynetdicom association's reactor thread, which takes the peer's requests off
    the message queue. Before each request of its own, pynetdicom closes the gate and waits until
    the thread says it is paused; it opens it again once the answer is in. With the threading.Event
    pynetdicom uses, the thread may still pass a gate opened and closed again before it ran (the
    wake-up counts, not the flag), and says it runs only after passing: on a loaded machine it then
    takes an answer meant for the caller, which pynetdicom drops (a C-FIND short of matches, a
    C-STORE without a status; pydicom/pynetdicom issue 875). Here the thread passes only an open
    gate, and is marked running before the gate can be closed again."""

    def __init__(self, reactor: Association) -> None:
        self._reactor = reactor
        self._open = True
        self._changed = threading.Condition()

    def set(self) -> None:
        with self._changed:
            self._open = True
            self._changed.notify_all()

    def clear(self) -> None:
        with self._changed:
            self._open = False

    def is_set(self) -> bool:
        return self._open

    def wait(self, timeout: float | None = None) -> bool:
        with self._changed:
            passed = self._changed.wait_for(lambda: self._open, timeout)
            if passed:
                self._reactor._is_paused = False
            return passed


def _gate_reactor(event: evt.Event) -> None:
    # The connection opens before the association's reactor thread starts.
    event.assoc._reactor_checkpoint = ReactorGate(event.assoc)  # pyright: ignore[reportAttributeAccessIssue]  # duck-typed Event


@dataclass(frozen=True, kw_only=True)
class DicomEndpoint:
    """Where an association goes and as whom; TLS checks the certificate against `server_hostname`
    (default: `host`)."""

    host: str
    port: int
    calling_ae: str
    tls: ssl.SSLContext | None = None
    server_hostname: str | None = None
    called_ae: str = CALLED_AE


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
    server_hostname = endpoint.server_hostname or endpoint.host
    tls_args = (endpoint.tls, server_hostname) if endpoint.tls is not None else None
    rejections: list[int | None] = []
    assoc = ae.associate(
        endpoint.host,
        endpoint.port,
        ae_title=endpoint.called_ae,
        tls_args=tls_args,
        evt_handlers=[
            (evt.EVT_CONN_OPEN, _nodelay),
            (evt.EVT_CONN_OPEN, _gate_reactor),
            (evt.EVT_PDU_RECV, lambda event: _note_rejection(event, rejections)),
        ],
    )
    if not assoc.is_established:
        ae.shutdown()
        _refused(endpoint, assoc, rejections)
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()


def _note_rejection(event: evt.Event, rejections: list[int | None]) -> None:
    # Read as the PDU arrives: pynetdicom closes the connection on an A-ASSOCIATE-RJ, and a caller
    # it had not yet handed the answer to then aborts, as if the peer had sent nothing.
    pdu = event.pdu
    if isinstance(pdu, A_ASSOCIATE_RJ):
        rejections.append(pdu.reason_diagnostic)


def _refused(endpoint: DicomEndpoint, assoc: Association, rejections: list[int | None]) -> NoReturn:
    """Why the association was not established: the peer's rejection when it sent one."""
    where = f"association of {endpoint.calling_ae} to {endpoint.called_ae}@{endpoint.host}:{endpoint.port}"
    if assoc.is_rejected or rejections:
        diagnostic = rejections[0] if rejections else getattr(assoc.acceptor.primitive, "diagnostic", None)
        raise AssociationRejected(f"{where} rejected (reason {diagnostic})", diagnostic)
    raise ConnectionError(f"{where} not established (aborted={assoc.is_aborted})")


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
