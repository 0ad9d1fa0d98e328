"""A DICOMweb client's view of the site: STOW-RS of a test instance, then QIDO-RS and WADO-RS of
it, and the URLs the answers hand out, which must lead back to the site; the instance is deleted
at the end."""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping

from orthweb.clients.dicomweb import Answer, DicomWebClient, instance_path, split_multipart, urls_in
from orthweb.host.layout import APP_DIR
from orthweb.ops.verify.model import CheckFailed
from orthweb.ops.verify.target import Target
from orthweb.shared.constants import DICOMWEB_ROOT, HTTPS_PORT

TEST_PATIENT_ID = "ORTHWEB-VERIFY-DICOMWEB"
PLUGIN_ID = "dicom-web"  # what /plugins lists for Orthanc's DICOMweb plugin


class DicomWebChecks:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.study_uid = ""  # the test study, once STOW-RS accepted it

    def _client(self) -> DicomWebClient:
        def send(method: str, path: str, body: bytes | None, headers: Mapping[str, str]) -> Answer:
            try:
                response = self.target.client.request(
                    method, path, credential=self.target.deployment.admin, body=body, headers=headers
                )
            except (OSError, http.client.HTTPException) as error:
                raise CheckFailed(f"{method} {path} failed: {error}", self.target.web_hint()) from None
            return Answer(response.status, response.headers, response.body)

        return DicomWebClient(send)

    def site_prefix(self) -> str:
        """What every URL in a DICOMweb answer must start with: the site as this client reaches it."""
        port = self.target.endpoint.https_port
        return f"https://{self.target.address}{'' if port == HTTPS_PORT else f':{port}'}{DICOMWEB_ROOT}"

    def _plugin_loaded(self) -> bool:
        status, body = self.target.get("/plugins")
        if status != 200:
            raise self.target.status_failure("GET /plugins", status, body)
        return PLUGIN_ID in json.loads(body)

    def roundtrip(self) -> str:
        """`dicomweb.roundtrip`: STOW-RS, QIDO-RS and WADO-RS of one generated instance."""
        from orthweb.clients.dicom import make_study, to_bytes

        if not self._plugin_loaded():
            return "skipped: the DICOMweb plugin is not loaded (deploymentOptions.dicomWeb is false)"
        dataset = make_study(1, patient_id=TEST_PATIENT_ID)[0]
        dataset.PatientName = "Orthweb^Verify^DICOMweb"
        data = to_bytes(dataset)
        client = self._client()
        stored = client.store([data])
        self._expect(stored, "STOW-RS POST /dicom-web/studies")
        self.study_uid = str(dataset.StudyInstanceUID)
        found = client.search("studies", StudyInstanceUID=self.study_uid)
        self._expect(found, "QIDO-RS GET /dicom-web/studies")
        if len(found.json()) != 1:
            raise CheckFailed(
                f"QIDO-RS found {len(found.json())} studies with the UID just stored, not 1",
                "replicas must share the PostgreSQL index: see database.*",
            )
        path = instance_path(self.study_uid, str(dataset.SeriesInstanceUID), str(dataset.SOPInstanceUID))
        retrieved = client.retrieve(path)
        self._expect(retrieved, "WADO-RS GET /dicom-web/studies/.../instances/...")
        if split_multipart(retrieved.header("content-type"), retrieved.body) != [data]:
            raise CheckFailed("WADO-RS returned other bytes than the instance sent", "storage.object below")
        urls = urls_in(stored.json()) + urls_in(found.json())
        self._expect_site_urls(urls)
        return (
            f"STOW-RS, QIDO-RS, WADO-RS of SOP instance {dataset.SOPInstanceUID}: same {len(data)} bytes back; "
            f"{len(urls)} URLs in the answers start with {self.site_prefix()}"
        )

    def _expect(self, answer: Answer, what: str) -> None:
        if answer.status != 200:
            raise self.target.status_failure(what, answer.status, answer.body)

    def _expect_site_urls(self, urls: list[str]) -> None:
        prefix = self.site_prefix()
        elsewhere = [url for url in urls if not url.startswith(prefix)]
        if not urls or elsewhere:
            raise CheckFailed(
                f"DICOMweb answers name {elsewhere[0] if elsewhere else 'no URL'}, not {prefix}...",
                "clients follow these URLs: Envoy must send Forwarded / X-Forwarded-Host / X-Forwarded-Proto "
                f"({APP_DIR}/envoy.yaml) and DicomWeb.Host must be unset in {APP_DIR}/orthanc.json",
            )

    def cleanup(self) -> str:
        """`dicomweb.cleanup`: delete the DICOMweb test study (its patient goes with it)."""
        if not self.study_uid:
            return "skipped: no DICOMweb test study was stored"
        if self.target.options.keep:
            return f"skipped: --keep: study {self.study_uid} (patient {TEST_PATIENT_ID}) left in Orthanc"
        try:
            found = self.target.admin_request("POST", "/tools/lookup", body=self.study_uid.encode())
            studies = [item["ID"] for item in json.loads(found.body) if item.get("Type") == "Study"]
            deleted = [self.target.admin_request("DELETE", f"/studies/{study}").status for study in studies]
        except (OSError, http.client.HTTPException) as error:
            raise CheckFailed(f"deleting the test study failed: {error}", self._manual_cleanup()) from None
        if not studies or deleted != [200] * len(studies):
            raise CheckFailed(
                f"test study {self.study_uid}: found {len(studies)}, DELETE {deleted}", self._manual_cleanup()
            )
        return f"study {studies[0]} deleted"

    @staticmethod
    def _manual_cleanup() -> str:
        return f"delete patient {TEST_PATIENT_ID} in the web UI"
