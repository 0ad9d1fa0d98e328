"""A DICOM client's view over DICOM-TLS: who is refused, C-ECHO, C-STORE of a test instance, the
instance back over REST, and deleting it at the end.

Orthanc accepts only the configured modalities, so the checks call as one of them (`--modality`,
else the first Orthanc lists), with its client certificate when the stack issues them: verify opens
no way in of its own. With no modality configured DICOM refuses every caller; the test instance
then goes in over REST so that the storage checks still run.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import secrets
import ssl
import tempfile
from pathlib import Path
from typing import Any

from orthweb.ops.aws import OpsError
from orthweb.ops.client_certificates import ClientCertificate, pick
from orthweb.ops.verify.model import CheckFailed, StackBackend
from orthweb.ops.verify.target import Target

TEST_PATIENT_ID = "ORTHWEB-VERIFY"
NO_MODALITY = "no DICOM modality is configured (dicomModalities), so Orthanc refuses every DICOM caller"


class DicomChecks:
    def __init__(self, target: Target, backend: StackBackend) -> None:
        self.target = target
        self.backend = backend
        self.sent: Any = None  # the pydicom Dataset sent
        self.orthanc_id = ""  # Orthanc's id of the test instance, once found over REST
        self._caller: tuple[str, ClientCertificate | None] | None = None

    # -- who verify calls as ----------------------------------------------------------------------
    def _configured_aets(self) -> list[str]:
        """The AE titles of Orthanc's modalities (GET /modalities?expand, admin credential)."""
        try:
            response = self.target.admin_request("GET", "/modalities?expand")
        except (OSError, http.client.HTTPException) as error:
            raise CheckFailed(f"GET /modalities failed: {error}", "pass --modality AET") from None
        if response.status != 200:
            failure = self.target.status_failure("GET /modalities", response.status, response.body)
            raise CheckFailed(failure.detail, f"{failure.hint}; or pass --modality AET")
        return [str(entry["AET"]) for _, entry in sorted(json.loads(response.body).items())]

    def caller(self) -> tuple[str, ClientCertificate | None] | None:
        """(AE title, its client certificate or None) of the modality verify calls as; None when no
        modality is configured."""
        if self._caller is None:
            chosen = self.target.options.dicom_modality
            if chosen is None:
                configured = self._configured_aets()
                if not configured:
                    return None
                chosen = configured[0]
            certificates = self.backend.client_certificates()
            certificate = None
            if certificates is not None:
                try:
                    certificate = pick(certificates, chosen)
                except OpsError as error:
                    raise CheckFailed(str(error), "--modality names one of dicomModalities") from None
            self._caller = (chosen, certificate)
        return self._caller

    def _endpoint(self, calling_ae: str, certificate: ClientCertificate | None, **change: str) -> Any:
        from orthweb.clients.dicom import DicomEndpoint
        from orthweb.ops.verify.site import site_context

        tls = site_context(self.target.deployment.trusted_pem)
        if certificate is not None:
            _load_client_certificate(tls, certificate)
        return DicomEndpoint(
            port=self.target.endpoint.dicom_port,
            tls=tls,
            server_hostname=self.target.address,
            host=self.target.endpoint.connect_host or self.target.address,
            calling_ae=calling_ae,
            **change,
        )

    def _hint(self) -> str:
        return self.target.reach_hint(self.target.endpoint.dicom_port, "dicomAllowedCidrs")

    def _as(self, calling_ae: str, certificate: ClientCertificate | None) -> str:
        return f"{calling_ae}" + (" with its client certificate" if certificate else "")

    # -- the checks -------------------------------------------------------------------------------
    def refuse(self) -> str:
        """`dicom.refuse`: an AE title that is not configured, and a wrong called AE title, are
        refused at association (and, with client certificates, a caller without one at TLS)."""
        from orthweb.clients.dicom import CALLED_AE_NOT_RECOGNIZED, CALLING_AE_NOT_RECOGNIZED

        caller = self.caller()
        certificate = caller[1] if caller else None
        stranger = "VERIFY-" + secrets.token_hex(4).upper()  # configured nowhere
        tried = [
            ("an unknown AE title", self._endpoint(stranger, certificate), CALLING_AE_NOT_RECOGNIZED),
        ]
        if caller is not None:
            wrong = self._endpoint(caller[0], certificate, called_ae="NOT-ORTHANC")
            tried.append(("a wrong called AE title", wrong, CALLED_AE_NOT_RECOGNIZED))
        refused = [_expect_refusal(what, endpoint, reason, self._hint()) for what, endpoint, reason in tried]
        if certificate is not None:
            refused.append(_expect_handshake_refusal(self._endpoint(caller[0] if caller else stranger, None)))
        return "refused: " + "; ".join(refused)

    def echo(self) -> str:
        """`dicom.echo`, as a configured modality."""
        from orthweb.clients.dicom import SUCCESS, echo

        caller = self.caller()
        if caller is None:
            return f"skipped: {NO_MODALITY}"
        try:
            status = echo(self._endpoint(*caller))
        except (ConnectionError, OSError) as error:
            raise CheckFailed(f"no DICOM-TLS association: {error}", self._hint()) from None
        if status != SUCCESS:
            raise CheckFailed(f"C-ECHO status {_hex(status)}", "see host.envoy; Orthanc's log on the host")
        where = f"ORTHANC@{self.target.address}:{self.target.endpoint.dicom_port}"
        return f"C-ECHO to {where} as {self._as(*caller)} status 0x0000"

    def store(self) -> str:
        """`dicom.store`: one generated instance of the test patient."""
        from orthweb.clients.dicom import SUCCESS, make_study, store

        dataset = make_study(1, patient_id=TEST_PATIENT_ID)[0]
        dataset.PatientName = "Orthweb^Verify"
        self.sent = dataset
        caller = self.caller()
        if caller is None:
            return self._upload_over_rest(dataset)
        try:
            statuses = store(self._endpoint(*caller), [dataset])
        except (ConnectionError, OSError) as error:
            raise CheckFailed(f"no DICOM-TLS association: {error}", self._hint()) from None
        if statuses != [SUCCESS]:
            raise CheckFailed(
                f"C-STORE status {_hex(statuses[0] if statuses else None)}",
                "Orthanc refused the instance: its log on the host; database.* and storage.* below",
            )
        return f"C-STORE of SOP instance {dataset.SOPInstanceUID} as {self._as(*caller)} status 0x0000"

    def _upload_over_rest(self, dataset: Any) -> str:
        from orthweb.clients.dicom import to_bytes

        try:
            response = self.target.admin_request("POST", "/instances", body=to_bytes(dataset))
        except (OSError, http.client.HTTPException) as error:
            raise CheckFailed(f"POST /instances failed: {error}") from None
        if response.status != 200:
            raise self.target.status_failure("POST /instances", response.status, response.body)
        return f"{NO_MODALITY}; SOP instance {dataset.SOPInstanceUID} went in over REST instead"

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


def _expect_refusal(what: str, endpoint: Any, reason: int, hint: str) -> str:
    from orthweb.clients.dicom import AssociationRejected, echo

    try:
        echo(endpoint)
    except AssociationRejected as rejected:
        if rejected.diagnostic != reason:
            raise CheckFailed(f"{what}: rejected for reason {rejected.diagnostic}, expected {reason}") from None
        return f"{what} ({endpoint.calling_ae} calling {endpoint.called_ae}, reason {reason})"
    except (ConnectionError, OSError) as error:
        raise CheckFailed(f"{what}: no DICOM-TLS association to be refused: {error}", hint) from None
    raise CheckFailed(
        f"{what}: Orthanc accepted an association from {endpoint.calling_ae} calling {endpoint.called_ae}",
        "Orthanc must refuse callers other than dicomModalities: check orthanc.json on the host",
    )


def _expect_handshake_refusal(endpoint: Any) -> str:
    from orthweb.clients.dicom import AssociationRejected, echo

    try:
        echo(endpoint)
    except AssociationRejected:
        raise CheckFailed(
            "a caller without a client certificate reached Orthanc (which rejected its association)",
            "Envoy must require client certificates on DICOM-TLS: check envoy.yaml on the host",
        ) from None
    except (ConnectionError, OSError):
        return "a caller without a client certificate (TLS handshake)"
    raise CheckFailed(
        "a caller without a client certificate got an association",
        "Envoy must require client certificates on DICOM-TLS: check envoy.yaml on the host",
    )


def _load_client_certificate(context: ssl.SSLContext, certificate: ClientCertificate) -> None:
    """Python's ssl loads a key from a file only: one readable by this user alone, deleted at once."""
    with tempfile.TemporaryDirectory(prefix="orthweb-verify-") as directory:
        path = Path(directory) / "client.pem"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(certificate.file_content())
        with contextlib.suppress(ssl.SSLError):
            context.load_cert_chain(path)
            return
    raise CheckFailed(f"the client certificate of {certificate.aet} does not load", "run pulumi up to issue it again")


def _hex(status: int | None) -> str:
    return "none (no answer)" if status is None else f"0x{status:04X}"
