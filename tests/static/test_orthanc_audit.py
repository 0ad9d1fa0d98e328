"""Orthanc's side of the audit trail, in the real Orthanc (Debian's, SQLite index) loading the
rendered orthweb-filter.lua: each request that names a resource leaves one line with the request
id Envoy gave it and the DICOM UIDs the Orthanc id stands for, an upload leaves the UIDs it stored,
and no line carries a patient's name or id.

Orthanc's Lua API (orthanc-server/orthanc 1.12, OrthancServer/Sources/main.cpp
MyIncomingHttpRequestFilter, LuaScripting.cpp OnStoredInstanceEvent, DicomInstanceOrigin.cpp
Format; OrthancFramework/Sources/Lua/LuaContext.cpp PrintToLog, DumpJson).
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orthweb.clients.dicom import make_study, to_bytes
from orthweb.shared import telemetry
from tests.static.conftest import AUDIT_SEAL
from tests.static.test_orthanc_filter import ACCOUNTS, running_orthanc

# With pytest-xdist the module's tests run on one worker, so the module starts one Orthanc; each
# test makes the requests whose lines it reads.
pytestmark = pytest.mark.xdist_group("orthanc-audit")

PATIENT_ID = "AUDIT-PATIENT-7"
PATIENT_NAME = "Test^Orthweb"  # what make_instance writes


class Orthanc:
    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log = log

    def call(self, method: str, path: str, request_id: str | None, body: bytes | None = None) -> tuple[int, Any]:
        token = base64.b64encode(f"admin:{ACCOUNTS['admin']}".encode()).decode()
        headers = {"Authorization": f"Basic {token}", **({"X-Request-Id": request_id} if request_id else {})}
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", method=method, data=body, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                payload = response.read()
                is_json = response.headers.get_content_type() == "application/json"
                return response.status, json.loads(payload) if is_json else payload
        except urllib.error.HTTPError as error:
            return error.code, None

    def events(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(errors="replace").splitlines()
        # Sealed with the rendered context's seal: what the Orthanc group's filter copies.
        found = (telemetry.orthanc_audit_event(line, AUDIT_SEAL) for line in lines)
        return [event for event in found if event is not None]

    def wait_for(self, what: Callable[[dict[str, Any]], bool], count: int = 1) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 10
        while True:
            found = [event for event in self.events() if what(event)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


@pytest.fixture(scope="module")
def orthanc(rendered: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    workdir = tmp_path_factory.mktemp("orthanc-audit")
    with running_orthanc(rendered["orthweb-filter.lua"], workdir, workdir / "never-draining") as port:
        yield Orthanc(port, workdir / "orthanc.log")


@pytest.fixture(scope="module")
def stored(orthanc: Orthanc) -> dict[str, Any]:
    """Two studies of one patient, uploaded over REST; the first instance's Orthanc ids and UIDs."""
    first = make_study(2, patient_id=PATIENT_ID)
    second = make_study(1, patient_id=PATIENT_ID)
    answers = [orthanc.call("POST", "/instances", f"upload-{n}", to_bytes(ds)) for n, ds in enumerate(first + second)]
    assert {status for status, _ in answers} == {200}
    ids = answers[0][1]
    return {
        "ids": ids,
        "study": first[0].StudyInstanceUID,
        "series": first[0].SeriesInstanceUID,
        "instance": first[0].SOPInstanceUID,
        "other_study": second[0].StudyInstanceUID,
        "instances": [ds.SOPInstanceUID for ds in first + second],
    }


def by_request(request_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event.get("request_id") == request_id


def test_an_upload_is_recorded_with_the_uids_it_stored(orthanc: Orthanc, stored: dict[str, Any]) -> None:
    # Other tests upload too: the lines of the three uploads `stored` made, each once.
    uploaded = set(stored["instances"])
    events = orthanc.wait_for(lambda e: e["event"] == telemetry.AUDIT_EVENT_STORED and e["instance"] in uploaded, 3)
    assert sorted(e["instance"] for e in events) == sorted(stored["instances"])
    first = next(e for e in events if e["instance"] == stored["instance"])
    assert first["orthanc_id"] == stored["ids"]["ID"]
    assert (first["study"], first["series"]) == (stored["study"], stored["series"])
    assert first["origin"] == "RestApi"


@pytest.mark.parametrize(
    ("level", "path", "expected"),
    [
        ("studies", "/studies/{ParentStudy}", ("study",)),
        ("series", "/series/{ParentSeries}/archive", ("study", "series")),
        ("instances", "/instances/{ID}/file", ("study", "series", "instance")),
        ("instances", "/instances/{ID}/tags", ("study", "series", "instance")),
    ],
)
def test_a_request_by_orthanc_id_is_recorded_by_dicom_uids(
    orthanc: Orthanc, stored: dict[str, Any], level: str, path: str, expected: tuple[str, ...]
) -> None:
    request_id = f"req-{level}-{path.count('/')}-{time.monotonic_ns()}"
    status, _ = orthanc.call("GET", path.format(**stored["ids"]), request_id)
    assert status == 200
    (event,) = orthanc.wait_for(by_request(request_id))
    assert event["event"] == telemetry.AUDIT_EVENT_HTTP and event["level"] == level
    assert {field: event.get(field) for field in telemetry.AUDIT_UID_FIELDS} == {
        field: stored[field] if field in expected else None for field in telemetry.AUDIT_UID_FIELDS
    }


def test_a_patient_request_is_recorded_once_per_study(orthanc: Orthanc, stored: dict[str, Any]) -> None:
    status, _ = orthanc.call("GET", f"/patients/{stored['ids']['ParentPatient']}", "req-patient")
    assert status == 200
    events = orthanc.wait_for(by_request("req-patient"), count=2)
    assert sorted(e["study"] for e in events) == sorted((stored["study"], stored["other_study"]))
    assert {e["level"] for e in events} == {"patient"}


def test_a_dicomweb_request_is_recorded_by_the_uids_in_its_path(orthanc: Orthanc) -> None:
    orthanc.call("GET", "/dicom-web/studies/1.2.3/series/4.5/instances/6.7/frames/1", "req-wado-rs")
    (event,) = orthanc.wait_for(by_request("req-wado-rs"))
    assert (event["level"], event["study"], event["series"], event["instance"]) == ("dicomweb", "1.2.3", "4.5", "6.7")


def test_a_deletion_is_recorded_before_the_study_is_gone(orthanc: Orthanc) -> None:
    ds = make_study(1, patient_id=PATIENT_ID)[0]
    status, ids = orthanc.call("POST", "/instances", "upload-doomed", to_bytes(ds))
    assert status == 200
    assert orthanc.call("DELETE", f"/studies/{ids['ParentStudy']}", "req-delete")[0] == 200
    (event,) = orthanc.wait_for(by_request("req-delete"))
    assert event["study"] == ds.StudyInstanceUID
    # An id names the same study for ever: asking for it after the deletion is an attempt on it.
    assert orthanc.call("GET", f"/studies/{ids['ParentStudy']}", "req-gone")[0] == 404
    (event,) = orthanc.wait_for(by_request("req-gone"))
    assert event["study"] == ds.StudyInstanceUID


def test_requests_naming_no_resource_leave_no_line(orthanc: Orthanc, stored: dict[str, Any]) -> None:
    for n, (method, path) in enumerate(
        [("GET", "/system"), ("GET", "/studies"), ("POST", "/tools/find"), ("GET", "/studies/not-an-id")]
    ):
        orthanc.call(method, path, f"req-none-{n}", b'{"Level":"Study","Query":{}}' if method == "POST" else None)
    # A later request's line proves the earlier ones were read (one log, written in order).
    orthanc.call("GET", f"/studies/{stored['ids']['ParentStudy']}", "req-after")
    assert orthanc.wait_for(by_request("req-after"))
    assert [e for e in orthanc.events() if str(e.get("request_id")).startswith("req-none-")] == []


def test_no_audit_line_names_the_patient(orthanc: Orthanc, stored: dict[str, Any]) -> None:
    # Lines that could name the patient: the uploads', and a request for the patient (one per study).
    orthanc.call("GET", f"/patients/{stored['ids']['ParentPatient']}", "req-patient-named")
    assert len(orthanc.wait_for(by_request("req-patient-named"), count=2)) == 2
    assert len(orthanc.wait_for(lambda e: e["event"] == telemetry.AUDIT_EVENT_STORED, count=3)) >= 3
    lines = [line for line in orthanc.log.read_text(errors="replace").splitlines() if telemetry.AUDIT_MARK in line]
    assert len(lines) >= 5
    for line in lines:
        assert PATIENT_ID not in line and PATIENT_NAME not in line and "Orthweb" not in line
    for event in orthanc.events():
        assert set(event) <= set(telemetry.AUDIT_LINE_FIELDS), event
