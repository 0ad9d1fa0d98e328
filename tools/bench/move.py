"""C-MOVE of a stored study to a modality listening on 127.0.0.1, the bench's move destination.

Orthanc opens its own association to the destination the stack's modalities name (plain DICOM,
straight from the replica): through Envoy or nginx pass only the C-MOVE request and its pending
responses, while the instances go from the replica to this listener. The listener counts what it
receives without decoding it (a Python storage SCP is the slowest part of the path).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.dimse_primitives import C_STORE

from orthweb.clients.dicom import PENDING, SUCCESS, TIMEOUT
from tools.bench.dicom import MR_IMAGE_STORAGE
from tools.bench.targets import Target
from tools.harness.dicom import CALLING_AE, move_study
from tools.harness.processes import LOOPBACK


def with_move_destination(rendered: Mapping[str, str], port: int, aet: str = CALLING_AE) -> dict[str, str]:
    """The files with orthanc.json's modality `aet` at 127.0.0.1:`port` (the stack config refuses a
    loopback address, which only this machine's listener has)."""
    files = dict(rendered)
    orthanc = json.loads(files["orthanc.json"])
    orthanc["DicomModalities"][aet].update({"Host": LOOPBACK, "Port": port})
    files["orthanc.json"] = json.dumps(orthanc, indent=2) + "\n"
    return files


@dataclass
class MoveReceiver:
    """A storage SCP for MR images on 127.0.0.1:`port`: instances and bytes received."""

    port: int
    instances: int = 0
    size: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _on_store(self, event: evt.Event) -> int:
        request = event.request
        encoded = request.DataSet if isinstance(request, C_STORE) else None
        with self._lock:
            self.instances += 1
            self.size += len(encoded.getvalue()) if encoded is not None else 0
        return SUCCESS

    @contextmanager
    def running(self) -> Iterator[MoveReceiver]:
        ae = AE(ae_title=CALLING_AE)
        ae.network_timeout = ae.dimse_timeout = TIMEOUT
        ae.maximum_pdu_size = 0  # no limit: the replica sends PDUs as large as it likes
        ae.add_supported_context(MR_IMAGE_STORAGE, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        server = ae.start_server((LOOPBACK, self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self._on_store)])
        assert server is not None  # block=False always returns the server
        try:
            yield self
        finally:
            server.shutdown()

    def move(self, target: Target, study_uid: str, expected: int) -> tuple[int, int, float | None]:
        """C-MOVE the study through `target` to this listener -> (bytes, instances, None)."""
        with self._lock:
            self.instances, self.size = 0, 0
        statuses = move_study(target.dicom, study_uid, CALLING_AE)
        if not statuses or statuses[-1] != SUCCESS or not set(statuses[:-1]) <= set(PENDING):
            raise RuntimeError(f"{target.name}: C-MOVE answered {statuses[-3:]}")
        if self.instances != expected:
            raise RuntimeError(f"{target.name}: C-MOVE delivered {self.instances} of {expected} instances")
        return self.size, self.instances, None
