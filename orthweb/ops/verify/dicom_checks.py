"""A DICOM client's view over DICOM-TLS: C-ECHO, C-STORE of a test instance, the instance back
over REST, and deleting it at the end."""

from __future__ import annotations

import http.client
import io
import json
from typing import Any

from orthweb.ops.verify.model import CheckFailed
from orthweb.ops.verify.target import Target

TEST_PATIENT_ID = "ORTHWEB-VERIFY"


class DicomChecks:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.sent: Any = None  # the pydicom Dataset sent
        self.orthanc_id = ""  # Orthanc's id of the test instance, once found over REST

    def _endpoint(self) -> Any:
        from orthweb.harness.dicom import DicomEndpoint
        from orthweb.ops.verify.site import site_context

        return DicomEndpoint(
            port=self.target.endpoint.dicom_port,
            tls=site_context(self.target.deployment.trusted_pem),
            server_hostname=self.target.address,
            host=self.target.endpoint.connect_host or self.target.address,
        )

    def _hint(self) -> str:
        return self.target.reach_hint(self.target.endpoint.dicom_port, "dicomAllowedCidrs")

    def echo(self) -> str:
        """`dicom.echo`."""
        from orthweb.harness.dicom import SUCCESS, echo

        try:
            status = echo(self._endpoint())
        except (ConnectionError, OSError) as error:
            raise CheckFailed(f"no DICOM-TLS association: {error}", self._hint()) from None
        if status != SUCCESS:
            raise CheckFailed(f"C-ECHO status {_hex(status)}", "see host.envoy; Orthanc's log on the host")
        return f"C-ECHO to ORTHANC@{self.target.address}:{self.target.endpoint.dicom_port} status 0x0000"

    def store(self) -> str:
        """`dicom.store`: one generated instance of the test patient."""
        from orthweb.harness.dicom import SUCCESS, make_study, store

        dataset = make_study(1, patient_id=TEST_PATIENT_ID)[0]
        dataset.PatientName = "Orthweb^Verify"
        self.sent = dataset
        try:
            statuses = store(self._endpoint(), [dataset])
        except (ConnectionError, OSError) as error:
            raise CheckFailed(f"no DICOM-TLS association: {error}", self._hint()) from None
        if statuses != [SUCCESS]:
            raise CheckFailed(
                f"C-STORE status {_hex(statuses[0] if statuses else None)}",
                "Orthanc refused the instance: its log on the host; database.* and storage.* below",
            )
        return f"C-STORE of SOP instance {dataset.SOPInstanceUID} status 0x0000"

    def _lookup(self) -> str:
        uid = str(self.sent.SOPInstanceUID)
        try:
            response = self.target.admin_request("POST", "/tools/lookup", body=uid.encode())
        except (OSError, http.client.HTTPException) as error:
            raise CheckFailed(f"POST /tools/lookup failed: {error}") from None
        if response.status != 200:
            raise self.target.status_failure("POST /tools/lookup", response.status, response.body)
        found = [item["ID"] for item in json.loads(response.body) if item.get("Type") == "Instance"]
        if not found:
            raise CheckFailed(
                f"SOP instance {uid} acknowledged by C-STORE but unknown to REST",
                "replicas must share the PostgreSQL index: see database.*",
            )
        return str(found[0])

    def rest(self) -> str:
        """`dicom.rest`: the stored instance comes back over REST, same UID and pixel data."""
        import pydicom

        self.orthanc_id = self._lookup()
        status, body = self.target.get(f"/instances/{self.orthanc_id}/file")
        if status != 200:
            raise self.target.status_failure("GET /instances/<id>/file", status, body)
        returned = pydicom.dcmread(io.BytesIO(body))
        sent = self.sent
        if returned.SOPInstanceUID != sent.SOPInstanceUID or returned.PixelData != sent.PixelData:
            raise CheckFailed(
                "the file Orthanc returned differs from the instance sent",
                "storage.object below; Orthanc's log on the host",
            )
        return f"instance {self.orthanc_id}: {len(body)} bytes back, same UID and pixel data"

    def cleanup(self) -> str:
        """`dicom.cleanup`: delete the test instance (the study and patient go with it)."""
        if not self.orthanc_id:
            self.orthanc_id = self._lookup()
        if self.target.options.keep:
            return f"skipped: --keep: instance {self.orthanc_id} (patient {TEST_PATIENT_ID}) left in Orthanc"
        try:
            response = self.target.admin_request("DELETE", f"/instances/{self.orthanc_id}")
        except (OSError, http.client.HTTPException) as error:
            raise CheckFailed(f"DELETE failed: {error}", f"delete patient {TEST_PATIENT_ID} in the web UI") from None
        if response.status != 200:
            raise self.target.status_failure("DELETE /instances/<id>", response.status, response.body)
        return f"instance {self.orthanc_id} deleted"


def _hex(status: int | None) -> str:
    return "none (no answer)" if status is None else f"0x{status:04X}"
