"""`dicomweb.roundtrip` and `dicomweb.cleanup` against a scripted site: what passes, what fails and why."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import pytest

from orthweb.clients.dicomweb import multipart_related, split_multipart
from orthweb.host.credentials import Credential
from orthweb.ops.verify.dicomweb_checks import DicomWebChecks
from orthweb.ops.verify.model import CheckFailed, Deployment
from orthweb.ops.verify.settings import Endpoint, Options
from orthweb.ops.verify.site import Response, SiteClient
from orthweb.ops.verify.target import Target

ADDRESS = "pacs.example.org"
SITE = f"https://{ADDRESS}/dicom-web/"

Handler = Callable[[str, str, bytes | None, Mapping[str, str]], Response]


class ScriptedSite(SiteClient):
    """A SiteClient whose requests go to `handler` instead of the network."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[tuple[str, str]] = []

    def request(self, method, path, *, credential=None, body=None, headers=None) -> Response:  # type: ignore[override]
        self.requests.append((method, path))
        return self.handler(method, path, body, headers or {})


class FakeOrthanc:
    """Just enough of Orthanc with the DICOMweb plugin: keeps what STOW-RS sends, answers with `base` URLs."""

    def __init__(self, base: str = SITE, plugins: tuple[str, ...] = ("dicom-web", "postgresql-index")) -> None:
        self.base = base
        self.plugins = plugins
        self.stored: list[bytes] = []
        self.deleted: list[str] = []
        self.corrupt = False

    def __call__(self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]) -> Response:
        if path == "/plugins":
            return Response(200, json.dumps(list(self.plugins)).encode())
        if method == "POST" and path == "/dicom-web/studies":
            assert body is not None
            self.stored += split_multipart(headers["Content-Type"], body)
            return self._json({"00081190": {"vr": "UR", "Value": [f"{self.base}studies/1.2.3"]}})
        if path.startswith("/dicom-web/studies?StudyInstanceUID="):
            return self._json([{"00081190": {"vr": "UR", "Value": [f"{self.base}studies/1.2.3"]}}])
        if method == "GET" and "/instances/" in path:
            payload, content_type = multipart_related([b"other" if self.corrupt else self.stored[0]])
            return Response(200, payload, {"Content-Type": content_type})
        if path == "/tools/lookup":
            return self._json([{"Type": "Study", "ID": "orthanc-study-id"}])
        if method == "DELETE":
            self.deleted.append(path)
            return Response(200, b"{}")
        return Response(404, b"not scripted: " + path.encode())

    @staticmethod
    def _json(document: object) -> Response:
        return Response(200, json.dumps(document).encode(), {"Content-Type": "application/dicom+json"})


def checks(orthanc: FakeOrthanc, *, keep: bool = False, https_port: int = 443) -> DicomWebChecks:
    target = Target(Endpoint(address=ADDRESS, https_port=https_port), Options(keep=keep))
    target.address = ADDRESS
    target._deployment = Deployment(  # what stack.find would have located
        stack="dev",
        region="eu-west-1",
        site_address=ADDRESS,
        serving_instance="i-0123456789abcdef0",
        serving_role="primary",
        certificate_pem="",
        admin=Credential("admin", "secret"),
        credentials_secret="orthweb/dev/orthanc-credentials",
        site_tls_secret="orthweb/dev/site-tls",
        dicom_bucket="orthweb-dev-dicom",
        key_arn="arn:aws:kms:eu-west-1:123456789012:key/1",
        key_alias="alias/orthweb-dev",
    )
    target._client = ScriptedSite(orthanc)
    return DicomWebChecks(target)


def test_a_round_trip_with_site_urls_passes_and_cleanup_deletes_the_study() -> None:
    orthanc = FakeOrthanc()
    dicomweb = checks(orthanc)
    detail = dicomweb.roundtrip()
    assert "same" in detail and SITE in detail
    assert len(orthanc.stored) == 1 and orthanc.stored[0][128:132] == b"DICM"
    assert dicomweb.cleanup() == "study orthanc-study-id deleted"
    assert orthanc.deleted == ["/studies/orthanc-study-id"]


def test_urls_naming_a_replica_fail_with_where_to_look() -> None:
    dicomweb = checks(FakeOrthanc(base="http://orthanc-2:8042/dicom-web/"))
    with pytest.raises(CheckFailed) as failed:
        dicomweb.roundtrip()
    assert "http://orthanc-2:8042/dicom-web/" in failed.value.detail and SITE in failed.value.detail
    assert "X-Forwarded-Host" in failed.value.hint
    assert dicomweb.study_uid  # stored before the failure: cleanup still removes it


def test_a_non_default_port_is_part_of_the_expected_urls() -> None:
    dicomweb = checks(FakeOrthanc(base=f"https://{ADDRESS}:8443/dicom-web/"), https_port=8443)
    assert f"https://{ADDRESS}:8443/dicom-web/" in dicomweb.roundtrip()


def test_other_bytes_back_fail() -> None:
    orthanc = FakeOrthanc()
    orthanc.corrupt = True
    with pytest.raises(CheckFailed, match="other bytes"):
        checks(orthanc).roundtrip()


def test_without_the_plugin_both_checks_say_why_they_skipped() -> None:
    orthanc = FakeOrthanc(plugins=("postgresql-index",))
    dicomweb = checks(orthanc)
    assert dicomweb.roundtrip().startswith("skipped: the DICOMweb plugin is not loaded")
    assert dicomweb.cleanup().startswith("skipped:")
    assert orthanc.stored == []


def test_keep_leaves_the_study() -> None:
    orthanc = FakeOrthanc()
    dicomweb = checks(orthanc, keep=True)
    dicomweb.roundtrip()
    assert "--keep" in dicomweb.cleanup()
    assert orthanc.deleted == []
