"""The audit trail with the real Envoy and the real Orthanc: who asked comes from the token Envoy
verified and nothing a client sends, and Orthanc names the study each request touched under the
request id Envoy gave it."""

from __future__ import annotations

import base64
import gzip
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
from pydicom import Dataset

from orthweb.clients.dicom import CALLED_AE, SUCCESS, make_study, store, to_bytes
from orthweb.clients.dicomweb import Answer, DicomWebClient
from orthweb.commands.audit import audit_groups
from orthweb.commands.cli import build_parser
from orthweb.infra.functions import audit_copy
from orthweb.ops import audit
from orthweb.ops.audit import Runner
from orthweb.shared import sso, telemetry
from orthweb.shared.constants import AUDIT_LINES_PREFIX, DICOMWEB_ROOT, WADO_URI_ROOT
from tests.runtime.conftest import AUDIT_SEAL
from tools.harness import Stack, filter_patterns, insights
from tools.harness.aws import LocalAws, make_locked_bucket
from tools.harness.dicom import CALLING_AE, find_instances, local_endpoint, tls_context
from tools.harness.oidc import Browser, CognitoLike
from tools.harness.processes import LOOPBACK, wait_until

pytestmark = pytest.mark.runtime

PATIENT_ID = "AUDIT-DAY-PATIENT"
# The sign-in stack's name (tests/runtime/conftest.py `sso_stack`): its log groups' names.
STACK = "ssoorthanc"
PATIENT_NAME = "Test^Orthweb"  # what make_instance writes

# What a client may send to pass for someone else, or hide where it is.
FORGED = {
    sso.USER_HEADER: "mallory@example.org",
    sso.ROLE_HEADER: sso.ADMIN,
    sso.CLIENT_HEADER: "forged-client",
    "X-Request-Id": "forged-request-id",
    "X-Forwarded-For": "203.0.113.9",
    "X-Real-IP": "203.0.113.9",
    "Forwarded": "for=203.0.113.9",
}


def envoy_lines(stack: Stack) -> list[dict[str, Any]]:
    text = stack.envoy_log.read_text(errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"method"' in line]


def orthanc_events(stack: Stack) -> list[dict[str, Any]]:
    events = []
    for index in range(1, stack.replica_total + 1):
        for line in stack.replica(index).log.read_text(errors="replace").splitlines():
            event = telemetry.orthanc_audit_event(line, AUDIT_SEAL)
            if event is not None:
                events.append(event)
    return events


def lines_for(stack: Stack, path: str, count: int) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]]:
        return [line for line in envoy_lines(stack) if line["path"] == path]

    wait_until(lambda: len(found()) >= count, timeout=15, what=f"{count} access lines for {path}", interval=0.1)
    return found()


@dataclass
class Person:
    """Someone signed in at the provider: each call gives fresh bearer headers of their token."""

    provider: CognitoLike
    name: str
    groups: list[str]
    subject: str = field(default_factory=lambda: f"sub-{uuid.uuid4()}")

    @property
    def user(self) -> str:
        return f"{self.name}@example.org"

    @property
    def label(self) -> str:
        """How `orthweb audit` names them."""
        return f"{self.user} ({','.join(self.groups)})" if self.groups else self.user

    def headers(self, **extra: str) -> dict[str, str]:
        claims: dict[str, Any] = {"sub": self.subject, "username": self.user, "cognito:groups": self.groups}
        return {"Authorization": f"Bearer {self.provider.access_token(**claims)}", **extra}


def test_who_asked_comes_from_the_verified_token_never_from_a_header(
    sso_provider: CognitoLike, sso_stack: Stack
) -> None:
    alice = Person(sso_provider, "alice", [sso.ADMIN])
    bob = Person(sso_provider, "bob", [])
    study = make_study(1, patient_id="AUDIT-FORGERY")[0]
    status, _, body = sso_stack.request("/instances", method="POST", body=to_bytes(study), headers=alice.headers())
    assert status == 200
    path = f"/studies/{json.loads(body)['ParentStudy']}"
    # Alice, pretending to be Mallory from elsewhere; a token signed by someone else; Bob, in no group.
    assert sso_stack.request(path, headers=alice.headers(**FORGED))[0] == 200
    forged_token = sso_provider.forged_token(username="mallory@example.org", **{"cognito:groups": [sso.ADMIN]})
    assert sso_stack.request(path, headers={"Authorization": f"Bearer {forged_token}", **FORGED})[0] == 401
    assert sso_stack.request(path, headers=bob.headers(**FORGED))[0] == 403
    lines = {line["status"]: line for line in lines_for(sso_stack, path, 3)}
    assert set(lines) == {200, 401, 403}

    read = lines[200]
    assert (read["auth"], read["user"], read["subject"]) == (telemetry.AUTH_TOKEN, alice.user, alice.subject)
    assert read["groups"] == [sso.ADMIN] and read["client"] == sso_provider.site_client_id
    # Refused by the roles, still attributed: the token was verified before the refusal.
    assert (lines[403]["user"], lines[403]["subject"]) == (bob.user, bob.subject)
    # A token nobody verified names nobody.
    assert {lines[401][field] for field in telemetry.IDENTITY_FIELDS} == {None}
    for line in lines.values():
        assert line["source"] == LOOPBACK
        assert line["request_id"] != FORGED["X-Request-Id"]
    assert "mallory" not in sso_stack.envoy_log.read_text(errors="replace")

    # Orthanc names the study under the request id Envoy made, and only for what reached it.
    events = {e["request_id"]: e for e in orthanc_events(sso_stack) if e.get("request_id")}
    assert events[read["request_id"]]["study"] == study.StudyInstanceUID
    assert lines[401]["request_id"] not in events and lines[403]["request_id"] not in events
    assert FORGED["X-Request-Id"] not in events


def test_basic_authentication_is_marked_as_nobody_in_particular(stack: Stack) -> None:
    status, _, _ = stack.request("/system", credential=stack.admin, headers=FORGED)
    assert status == 200
    (line, *_) = reversed(lines_for(stack, "/system", 1))
    assert line["auth"] == telemetry.AUTH_SHARED_CREDENTIAL
    assert {line[field] for field in telemetry.IDENTITY_FIELDS if field != "auth"} == {None}
    assert line["source"] == LOOPBACK and line["request_id"] != FORGED["X-Request-Id"]


# --- a scripted day: two signed-in people and one modality, then `orthweb audit` over its lines ----


def recorded_runner(stack: Stack, name: str) -> Runner:
    """Runs `orthweb audit`'s query texts over what this stack logged, as Logs Insights would: the
    hosts' groups hold every line, the audit group the lines each one's subscription filter selects
    (what the copy puts there: test_the_audit_group_holds_every_audit_line_of_the_day_and_answers_alike)."""
    sources = {
        telemetry.ENVOY_LOGS: lambda: [stack.envoy_log],
        telemetry.ORTHANC_LOGS: lambda: [stack.replica(i).log for i in range(1, stack.replica_total + 1)],
    }

    def lines_of(component: str) -> list[str]:
        return [line for path in sources[component]() for line in path.read_text(errors="replace").splitlines()]

    def audit_lines() -> list[str]:
        return [
            line
            for component, pattern in telemetry.audit_line_patterns(AUDIT_SEAL).items()
            for line in lines_of(component)
            if filter_patterns.compile_pattern(pattern)(line)
        ]

    groups: dict[str, Callable[[], list[str]]] = {
        telemetry.log_group_name(name, component): partial(lines_of, component) for component in sources
    }
    groups[telemetry.log_group_name(name, telemetry.AUDIT_LOGS)] = audit_lines

    def run(group: str, query: str) -> list[dict[str, str]]:
        return insights.run(query, insights.records(enumerate(groups[group]())))

    return run


@dataclass
class Day:
    """What was done, study by study: (who, action) for each access, in any order."""

    expected: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def did(self, study: str, who: str, action: str) -> None:
        self.expected.setdefault(study, []).append((who, action))


def _modality_part(day: Day, stack: Stack, study_a: list[Dataset]) -> str:
    endpoint = local_endpoint(port=stack.dicom_port, tls=tls_context(str(stack.site_ca)), server_hostname=LOOPBACK)
    assert store(endpoint, study_a) == [SUCCESS] * len(study_a)
    uid = str(study_a[0].StudyInstanceUID)
    assert find_instances(endpoint, uid) == {str(ds.SOPInstanceUID) for ds in study_a}
    modality = f"AE {CALLING_AE} -> {CALLED_AE}"
    for _ in study_a:
        day.did(uid, modality, "C-STORE")
    day.did(uid, modality, "C-FIND SERIES")
    day.did(uid, modality, "C-FIND IMAGE")
    return uid


def _ana_part(day: Day, stack: Stack, ana: Person, study_a: str) -> tuple[str, str]:
    """Ana (uploader): a REST upload (study B: its Orthanc id and UID returned), a STOW-RS upload,
    a patient search, a look at study A."""
    study_b = make_study(1, patient_id=PATIENT_ID)[0]
    status, _, body = stack.request("/instances", method="POST", body=to_bytes(study_b), headers=ana.headers())
    assert status == 200
    day.did(str(study_b.StudyInstanceUID), ana.label, "POST /instances")
    study_c = make_study(1, patient_id=PATIENT_ID)[0]
    web = DicomWebClient(lambda m, p, b, h: Answer(*stack.request(p, method=m, body=b, headers={**h, **ana.headers()})))
    assert web.store([to_bytes(study_c)]).status == 200
    day.did(str(study_c.StudyInstanceUID), ana.label, f"POST {DICOMWEB_ROOT}studies")
    # A search by name (whatever it matches, the line names no patient), then by patient
    # id: the three studies of the day so far, each named as found by Ana.
    assert web.search("studies", PatientName=PATIENT_NAME, PatientID=PATIENT_ID).status == 200
    found = web.search("studies", PatientID=PATIENT_ID)
    assert found.status == 200 and found.body.count(b"0020000D") == 3
    for uid in (study_a, str(study_b.StudyInstanceUID), str(study_c.StudyInstanceUID)):
        day.did(uid, ana.label, f"GET {DICOMWEB_ROOT}studies")
    assert web.metadata(f"studies/{study_a}").status == 200
    day.did(study_a, ana.label, f"GET {DICOMWEB_ROOT}studies/{study_a}/metadata")
    return json.loads(body)["ParentStudy"], str(study_b.StudyInstanceUID)


def _ben_part(day: Day, stack: Stack, ben: Person, study_a: list[Dataset], orthanc_b: str, uid_b: str) -> None:
    """Ben (admin): study A by Orthanc id, by WADO-URI, as a download; deletes study B."""
    uid_a = str(study_a[0].StudyInstanceUID)
    orthanc_a = json.loads(stack.request("/tools/lookup", method="POST", body=uid_a.encode(), headers=ben.headers())[2])
    path = f"/studies/{orthanc_a[0]['ID']}"
    # Orthanc's own search, as Orthanc Explorer 2 asks it: the studies it expands are named as found.
    query = {"Level": "Study", "Query": {"PatientID": PATIENT_ID}, "Expand": True}
    body = json.dumps(query).encode()
    status, _, body = stack.request("/tools/find", method="POST", body=body, headers=ben.headers())
    assert status == 200 and len(json.loads(body)) == 3  # studies A, B and C
    for found in json.loads(body):
        day.did(found["MainDicomTags"]["StudyInstanceUID"], ben.label, "POST /tools/find")
    for request in (path, f"{path}/archive"):
        assert stack.request(request, headers=ben.headers())[0] == 200
        day.did(uid_a, ben.label, f"GET {request}")
    web = DicomWebClient(lambda m, p, b, h: Answer(*stack.request(p, method=m, body=b, headers={**h, **ben.headers()})))
    ds = study_a[0]
    assert web.wado_uri(uid_a, str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)).status == 200
    day.did(uid_a, ben.label, f"GET {WADO_URI_ROOT}")
    # WADO-URI without the study it is in: refused, as the standard requires the study.
    no_study = f"{WADO_URI_ROOT}?requestType=WADO&objectUID={ds.SOPInstanceUID}&contentType=application/dicom"
    assert stack.request(no_study, headers=ben.headers())[0] == 400
    assert stack.request(f"/studies/{orthanc_b}", method="DELETE", headers=ben.headers())[0] == 200
    day.did(uid_b, ben.label, f"DELETE /studies/{orthanc_b}")


def _cleo_part(day: Day, stack: Stack, provider: CognitoLike, study_a: str) -> None:
    """Cleo (viewer) in a browser: she signs in at the site and reads study A with her session
    cookies, no Authorization header; her lines are attributed as a bearer token's are."""
    cleo = "cleo@example.org"
    provider.set_user(cleo, (sso.VIEWER,))
    browser = Browser(provider.ca_file, stack.site_ca)
    try:
        browser.sign_in(f"{stack.https_base}/system", cleo)
        assert sso.COOKIE_NAMES["bearer_token"] in browser.cookie_names()
        # What a viewer's page asks with the cookies its browser holds (DICOMweb answers DICOM JSON only).
        url = f"{stack.https_base}{DICOMWEB_ROOT}studies/{study_a}/metadata"
        page = browser.request("GET", url, headers={"Accept": "application/dicom+json"})
        assert page.status_code == 200 and "authorization" not in page.request.headers
    finally:
        browser.close()
    path = f"{DICOMWEB_ROOT}studies/{study_a}/metadata"

    def hers() -> list[dict[str, Any]]:
        return [line for line in envoy_lines(stack) if line["path"] == path and line.get("user") == cleo]

    wait_until(lambda: bool(hers()), timeout=15, what="Envoy's line of Cleo's read", interval=0.1)
    (line,) = hers()
    assert (line["auth"], line["subject"], line["groups"]) == (telemetry.AUTH_TOKEN, cleo, [sso.VIEWER])
    assert line["client"] == provider.site_client_id and line["status"] == 200
    day.did(study_a, f"{cleo} ({sso.VIEWER})", f"GET {path}")


@dataclass
class Recorded:
    day: Day
    run: Runner
    groups: dict[str, str]
    study_a: str

    def answered(self, study: str) -> list[audit.Access]:
        return audit.answer(study, self.run, self.groups, user=None, ae=None)

    def wait_for_the_logs(self) -> None:
        """Until the logs answer for every access of the day: Envoy writes its lines every half
        second, so each test that reads them waits here, whichever ran before it."""
        for study, done in self.day.expected.items():
            wait_until(
                lambda s=study, d=done: sorted((a.who, a.action) for a in self.answered(s)) == sorted(d),
                timeout=15,
                what=f"the audit of {study}",
                interval=0.2,
            )


@pytest.fixture(scope="module")
def recorded(sso_provider: CognitoLike, sso_stack: Stack) -> Recorded:
    """The day, done once over HTTPS (tokens and a browser's cookies), DICOMweb and DICOM-TLS; its
    lines stay in the stack's logs."""
    day = Day()
    ana, ben = Person(sso_provider, "ana", [sso.UPLOADER]), Person(sso_provider, "ben", [sso.ADMIN])
    study_a = make_study(2, patient_id=PATIENT_ID)
    uid_a = _modality_part(day, sso_stack, study_a)
    orthanc_b, uid_b = _ana_part(day, sso_stack, ana, uid_a)
    _ben_part(day, sso_stack, ben, study_a, orthanc_b, uid_b)
    _cleo_part(day, sso_stack, sso_provider, uid_a)
    groups = {c: telemetry.log_group_name(STACK, c) for c in (telemetry.ORTHANC_LOGS, telemetry.ENVOY_LOGS)}
    return Recorded(day, recorded_runner(sso_stack, STACK), groups, uid_a)


def test_every_access_of_the_day_is_answered_once_and_attributed(
    recorded: Recorded, runtime_report: dict[str, object]
) -> None:
    recorded.wait_for_the_logs()
    for study in recorded.day.expected:
        found = recorded.answered(study)
        assert all(a.attributed and a.source == LOOPBACK for a in found), found
        assert {a.status for a in found} <= {"200", ""}, found
    total = sum(len(done) for done in recorded.day.expected.values())
    runtime_report["audit: scripted-day accesses answered / attributed"] = f"{total} / {total}"


def test_no_line_of_the_day_names_the_patient_or_carries_a_query(recorded: Recorded, sso_stack: Stack) -> None:
    # The search names no study, so no earlier wait covered its line: wait for Envoy's log flush.
    wait_until(
        lambda: any(
            line["path"] == f"{DICOMWEB_ROOT}studies" and line["method"] == "GET" for line in envoy_lines(sso_stack)
        ),
        timeout=15,
        what="Envoy's line of the search",
        interval=0.2,
    )
    text = sso_stack.envoy_log.read_text(errors="replace") + "".join(
        sso_stack.replica(i).log.read_text(errors="replace") for i in range(1, sso_stack.replica_total + 1)
    )
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    envoy = [line for line in lines if "method" in line]  # HTTPS requests (DICOM associations have none)
    orthanc = [line for line in text.splitlines() if telemetry.AUDIT_MARK in line]
    assert recorded.study_a in "".join(orthanc)
    assert any(line["path"] == f"{DICOMWEB_ROOT}studies" and line["method"] == "GET" for line in envoy)  # the search
    for line in lines:
        assert (
            "?" not in line.get("path", "") and PATIENT_ID not in json.dumps(line) and "Orthweb" not in json.dumps(line)
        )
    for line in orthanc:
        assert PATIENT_ID not in line and "Orthweb" not in line, line


def test_the_audit_command_answers_from_the_recorded_lines(
    recorded: Recorded, runtime_report: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    recorded.wait_for_the_logs()
    args = build_parser().parse_args(["audit", "--stack", STACK, "--study", recorded.study_a, "--json"])
    started = time.monotonic()
    assert args.func(args, runner=recorded.run) == 0
    runtime_report["audit: answer time over the harness lines, ms"] = round((time.monotonic() - started) * 1000, 1)
    rows = json.loads(capsys.readouterr().out)
    runtime_report["audit: study A, who / action / status"] = "".join(
        f"\n  {r['who']} | {r['action']} | {r['status'] or '-'}" for r in rows
    )
    assert sorted((r["who"], r["action"]) for r in rows) == sorted(recorded.day.expected[recorded.study_a])
    for flag, value, kept in (("--user", "ben@example.org", "ben@"), ("--ae", CALLING_AE, f"AE {CALLING_AE}")):
        args = build_parser().parse_args(["audit", "--stack", STACK, "--study", recorded.study_a, flag, value])
        assert args.func(args, runner=recorded.run) == 0
        table = capsys.readouterr().out.splitlines()
        assert table[0].split()[:3] == ["time", "who", "source"] and len(table) > 1
        assert all(kept in row for row in table[1:]), table
    for bad in (["--study", "1.2.x"], ["--study", "1.2", "--since", "3w"], ["--study", "1.2", "--ae", 'A"B']):
        args = build_parser().parse_args(["audit", "--stack", STACK, *bad])
        assert args.func(args, runner=recorded.run) == 1
        assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("asked", ["person", "modality"])
def test_the_audit_command_answers_for_a_person_or_an_ae_title_across_studies(
    recorded: Recorded, asked: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --study: every study Ana (uploader) touched that day, or every store and query the
    modality made, each once, as the per-study answers list them."""
    recorded.wait_for_the_logs()
    flag, value, who = {
        "person": ("--user", "ana@example.org", f"ana@example.org ({sso.UPLOADER})"),
        "modality": ("--ae", CALLING_AE, f"AE {CALLING_AE} -> {CALLED_AE}"),
    }[asked]
    args = build_parser().parse_args(["audit", "--stack", STACK, flag, value, "--json"])
    assert args.func(args, runner=recorded.run) == 0
    rows = json.loads(capsys.readouterr().out)
    expected = [(study, action) for study, done in recorded.day.expected.items() for w, action in done if w == who]
    assert expected and sorted((r["study"], r["action"]) for r in rows) == sorted(expected)
    assert {r["who"] for r in rows} == {who}
    args = build_parser().parse_args(["audit", "--stack", STACK, flag, value])
    assert args.func(args, runner=recorded.run) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split() == ["time", "who", "source", "action", "status", "bytes", "study", "instance"]
    assert len(lines) == len(rows)


@pytest.mark.parametrize(
    ("query", "studies"),
    [
        ("studyUID=1.2.3&objectUID=4.5", "1.2.3"),
        # As Orthanc's web server decodes it: key and value percent-encoded, the study given twice.
        ("%73tudyUID=1.2%2E30&objectUID=4.5", "1.2.30"),
        ("studyUID=1.2.31&studyUID=1.2.32&objectUID=4.5", "1.2.31,1.2.32"),
        ("objectUID=4.5", None),
        ("studyUID=1.2.3x&objectUID=4.5", None),
        ("studyUID=&objectUID=4.5", None),
        ("studyuid=1.2.3&objectUID=4.5", None),
    ],
)
def test_wado_uri_names_its_study_however_the_query_is_spelled(stack: Stack, query: str, studies: str | None) -> None:
    """WADO-URI requires the study (DICOM PS3.18); the plugin reads `studyUID` case-sensitively, each
    value decoded once (orthanc-server/orthanc-dicomweb, Plugin/WadoUri.cpp), and the last one wins."""
    before = len([line for line in envoy_lines(stack) if line["path"] == WADO_URI_ROOT])
    path = f"{WADO_URI_ROOT}?requestType=WADO&{query}&contentType=application/dicom"
    status, _, _ = stack.request(path, credential=stack.admin)
    assert (status == 400) == (studies is None)
    line = lines_for(stack, WADO_URI_ROOT, before + 1)[-1]
    assert line["status"] == status and line["studies"] == studies


def _internal_clients(config: dict[str, Any]) -> dict[str, Any]:
    """Envoy told that loopback is internal, as it counts private addresses (a VPN's clients) by default."""
    for listener in config["static_resources"]["listeners"]:
        if listener["name"] == "https":
            manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
            manager["internal_address_config"] = {"cidr_ranges": [{"address_prefix": "127.0.0.0", "prefix_len": 8}]}
    return config


def test_a_client_cannot_choose_its_request_id_even_from_an_internal_address(stack: Stack) -> None:
    """Envoy keeps the x-request-id of a request from an address it counts as internal (envoyproxy.io,
    HTTP header sanitizing; x-request-id): the listener drops it before Envoy looks (an early header
    mutation), so the id that joins Orthanc's lines to Envoy's is always Envoy's own."""
    port = stack.start_variant_envoy("envoy-internal-clients", _internal_clients)
    status, _, _ = stack.request(
        "/system",
        credential=stack.admin,
        headers={"X-Request-Id": "chosen-by-client"},
        base=f"https://{LOOPBACK}:{port}",
    )
    assert status == 200
    log = stack.work_dir / "envoy-internal-clients" / "envoy.log"

    def lines() -> list[dict[str, Any]]:
        text = log.read_text(errors="replace") if log.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"/system"' in line]

    wait_until(lambda: bool(lines()), timeout=15, what="the variant Envoy's access line", interval=0.1)
    assert [line["request_id"] for line in lines()] != ["chosen-by-client"]
    assert uuid.UUID(lines()[0]["request_id"])


def test_the_export_filters_select_every_audit_line_of_the_day_and_nothing_else(
    recorded: Recorded, sso_stack: Stack, runtime_report: dict[str, object]
) -> None:
    """The subscription filters' patterns (telemetry.audit_line_patterns), run as CloudWatch Logs
    reads them (tools/harness/filter_patterns.py) over every line the day left in each log: they
    pick out the lines the audit answers are read from, by their own definition here (Envoy's
    access lines carry every field of the access log formats; Orthanc's match its audit line)."""
    wait_until(
        lambda: any(line["path"] == f"{DICOMWEB_ROOT}studies" for line in envoy_lines(sso_stack)),
        timeout=15,
        what="Envoy's line of the search",
        interval=0.2,
    )

    def is_access_line(line: str) -> bool:
        try:
            fields = set(json.loads(line))
        except (ValueError, TypeError):
            return False
        return fields >= set(telemetry.HTTP_ACCESS_LOG_FIELDS) or fields >= set(telemetry.DICOM_CONNECTION_LOG_FIELDS)

    logs = {
        telemetry.ENVOY_LOGS: sso_stack.envoy_log.read_text(errors="replace").splitlines(),
        telemetry.ORTHANC_LOGS: [
            line
            for i in range(1, sso_stack.replica_total + 1)
            for line in sso_stack.replica(i).log.read_text(errors="replace").splitlines()
        ],
    }
    audit_line = {
        telemetry.ENVOY_LOGS: is_access_line,
        telemetry.ORTHANC_LOGS: lambda line: telemetry.orthanc_audit_event(line, AUDIT_SEAL) is not None,
    }
    counts = {}
    for component, pattern in telemetry.audit_line_patterns(AUDIT_SEAL).items():
        selects = filter_patterns.compile_pattern(pattern)
        wanted = [line for line in logs[component] if audit_line[component](line)]
        assert [line for line in logs[component] if selects(line)] == wanted
        others = [line for other, lines in logs.items() if other != component for line in lines]
        assert not any(selects(line) for line in others)
        assert wanted and len(wanted) < len(logs[component])  # both kinds are in the log
        counts[component] = f"{len(wanted)} of {len(logs[component])} lines"
    runtime_report["audit: export filters select (audit lines of all lines)"] = counts


def _subscription_batch(group: str, stream: str, events: list[tuple[int, str]]) -> dict[str, Any]:
    """What CloudWatch Logs hands a subscribed Lambda function (base64 of gzipped JSON)."""
    batch = {
        "messageType": "DATA_MESSAGE",
        "logGroup": group,
        "logStream": stream,
        "logEvents": [{"id": str(n), "timestamp": t, "message": m} for n, (t, m) in enumerate(events)],
    }
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(batch).encode())).decode()}}


def test_the_audit_group_holds_every_audit_line_of_the_day_and_answers_alike(
    recorded: Recorded, sso_stack: Stack, runtime_report: dict[str, object]
) -> None:
    """The day's lines, as CloudWatch Logs would hand them over: each log's lines its subscription
    filter selects (telemetry.audit_line_patterns, run by tools/harness/filter_patterns.py), one
    batch per stream, through the copy function's own code into moto's CloudWatch Logs and an Object
    Lock bucket. The audit group and the bucket's files then hold exactly the audit lines, and
    `orthweb audit`'s queries on the group give every access of the day, as on the hosts' own groups."""
    recorded.wait_for_the_logs()
    audit_group = telemetry.log_group_name(STACK, telemetry.AUDIT_LOGS)
    sources = {c: telemetry.log_group_name(STACK, c) for c in (telemetry.ENVOY_LOGS, telemetry.ORTHANC_LOGS)}
    streams = {
        telemetry.ENVOY_LOGS: {"harness/envoy": sso_stack.envoy_log},
        telemetry.ORTHANC_LOGS: {
            f"harness/orthanc-{i}": sso_stack.replica(i).log for i in range(1, sso_stack.replica_total + 1)
        },
    }
    bucket = f"orthweb-{STACK}-audit-day"
    settings = json.loads(
        audit_copy.settings_document(audit_group, sorted(sources.values()), bucket, AUDIT_LINES_PREFIX)
    )
    base = int(time.time() * 1000) - 600_000  # what PutLogEvents accepts: the last 14 days
    offset, selected = 0, []
    # moto on loopback, as the harness's other AWS calls (an in-process mock would reset their state).
    with LocalAws() as local:
        logs, s3 = local.client("logs", "us-east-1"), local.client("s3", "us-east-1")
        logs.create_log_group(logGroupName=audit_group)
        make_locked_bucket(s3, bucket)
        for component, files in streams.items():
            selects = filter_patterns.compile_pattern(telemetry.audit_line_patterns(AUDIT_SEAL)[component])
            for stream, path in files.items():
                lines = path.read_text(errors="replace").splitlines()
                events = [(base + offset + n, line) for n, line in enumerate(lines) if selects(line)]
                offset += len(lines)
                selected += events
                batch = audit_copy.decode(_subscription_batch(sources[component], stream, events))
                assert audit_copy.copy(batch, logs, s3, settings) == len(events)
        held = [
            (event["timestamp"], event["message"])
            for stream in logs.describe_log_streams(logGroupName=audit_group)["logStreams"]
            for event in logs.get_log_events(
                logGroupName=audit_group, logStreamName=stream["logStreamName"], startFromHead=True
            )["events"]
        ]
        kept = [
            (event["timestamp"], event["message"])
            for item in s3.list_objects_v2(Bucket=bucket, Prefix=AUDIT_LINES_PREFIX)["Contents"]
            for event in json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()))[
                "logEvents"
            ]
        ]
    assert sorted(held) == sorted(selected) == sorted(kept)
    assert {telemetry.orthanc_audit_event(m, AUDIT_SEAL) is not None or m.startswith("{") for _, m in held} == {True}

    def from_the_audit_group(group: str, query: str) -> list[dict[str, str]]:
        assert group == audit_group
        return insights.run(query, insights.records(sorted(held)))

    answered = 0
    for study, done in recorded.day.expected.items():
        found = audit.answer(study, from_the_audit_group, audit_groups(STACK), user=None, ae=None)
        assert sorted((a.who, a.action) for a in found) == sorted(done)
        assert all(a.attributed for a in found)
        answered += len(found)
    runtime_report["audit: audit group, lines copied / accesses answered"] = f"{len(held)} / {answered}"
