"""`orthweb audit`'s Logs Insights queries and the join of their answers: their shape (commands of
the CloudWatch Logs Insights query syntax, AWS CloudWatch Logs User Guide), what they select from
lines shaped like the hosts' (run by tools.harness.insights), and the bad input they refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from parliament import analyze_policy_string

from orthweb.ops import audit
from orthweb.ops.aws import OpsError
from orthweb.shared import telemetry
from tools.harness import insights

STUDY = "1.2.840.99.1"
OTHER = "1.2.840.99.10"  # the first as a prefix: must never match it
ORTHANC = "/orthweb/dev/orthanc"
ENVOY = "/orthweb/dev/envoy"
GROUPS = {telemetry.ORTHANC_LOGS: ORTHANC, telemetry.ENVOY_LOGS: ENVOY}
SEAL = "k3v9q0w7m2x5b8n1c4z6"


def compact(event: dict[str, str]) -> str:
    """As Orthanc's Lua DumpJson writes it (Toolbox::WriteFastJson: no spaces)."""
    return json.dumps(event, separators=(",", ":"), sort_keys=True)


def orthanc_line(event: dict[str, str]) -> str:
    return f"W1206 13:16:57.353522 LuaContext.cpp:94] Lua says: {telemetry.AUDIT_MARK} {SEAL} {compact(event)}"


def envoy_line(request_id: str, *, user: str | None = "ana@example.org", **extra: object) -> str:
    line: dict[str, object] = {
        "time": f"2026-12-06T13:16:{len(request_id):02d}.000Z",
        "method": "GET",
        "path": "/studies/x",
        "status": 200,
        "bytes_sent": 10,
        "request_id": request_id,
        "source": "198.51.100.7",
        "auth": telemetry.AUTH_TOKEN if user else None,
        "user": user,
        "subject": "sub-1" if user else None,
        "groups": ["viewer"] if user else None,
        "client": "site",
        "studies": None,
        "stored": None,
        **extra,
    }
    return json.dumps(line)


LINES = {
    ORTHANC: [
        orthanc_line({"event": "http", "request_id": "r-1", "level": "studies", "study": STUDY}),
        orthanc_line({"event": "http", "request_id": "r-2", "level": "studies", "study": OTHER}),
        orthanc_line(
            {"event": "stored", "orthanc_id": "aa-bb", "study": STUDY, "instance": "9.9", "origin": "RestApi"}
        ),
        orthanc_line(
            {
                "event": "stored",
                "orthanc_id": "cc-dd",
                "study": STUDY,
                "instance": "9.8",
                "origin": "DicomProtocol",
                "remote_aet": "CT1",
                "called_aet": "ORTHANC",
                "remote_ip": "172.18.0.2",
            }
        ),
        orthanc_line(
            {"event": "c-find", "level": "STUDY", "study": STUDY, "remote_aet": "CT1", "called_aet": "ORTHANC"}
        ),
        # A query by other keys (a patient's name, say): it names no study.
        orthanc_line({"event": "c-find", "level": "PATIENT", "remote_aet": "CT1", "called_aet": "ORTHANC"}),
        # Forgeries: another file's line, and an error line, both holding the mark.
        f"W1206 13:16:57.353522 OrthancRestApi.cpp:1] x Lua says: {telemetry.AUDIT_MARK} {SEAL} "
        + compact({"event": "http", "request_id": "r-3", "study": STUDY}),
        f"E1206 13:16:57.353522 LuaContext.cpp:94] Lua says: {telemetry.AUDIT_MARK} {SEAL} "
        + compact({"event": "http", "request_id": "r-3", "study": STUDY}),
    ],
    ENVOY: [
        envoy_line("r-1"),
        envoy_line("r-2"),
        envoy_line("r-3", user="mallory@example.org"),
        envoy_line("r-upload", method="POST", path="/instances", stored="aa-bb,ee-ff"),
        envoy_line("r-wado", path="/wado", studies=f"{OTHER},{STUDY}"),
        envoy_line("r-wado-other", path="/wado", studies=OTHER),
        envoy_line("r-basic", user=None, auth=telemetry.AUTH_SHARED_CREDENTIAL, path="/wado", studies=STUDY),
        "[2026-12-06 13:16:57.000][1][warning][main] an Envoy message, no JSON",
    ],
}


def runner(group: str, query: str) -> list[dict[str, str]]:
    return insights.run(query, insights.records(enumerate(LINES[group])))


def test_the_answer_has_each_access_once_from_both_groups() -> None:
    found = audit.answer(STUDY, runner, GROUPS, user=None, ae=None)
    assert sorted((a.action, a.who, a.attributed) for a in found) == sorted(
        [
            ("GET /studies/x", "ana@example.org (viewer)", True),
            ("POST /instances", "ana@example.org (viewer)", True),
            ("GET /wado", "ana@example.org (viewer)", True),
            ("GET /wado", "the shared admin credential (basic authentication)", False),
            ("C-STORE", "AE CT1 -> ORTHANC", True),
            ("C-FIND STUDY", "AE CT1 -> ORTHANC", True),
        ]
    )
    assert "mallory@example.org" not in json.dumps(audit.as_json(found))  # r-3 came from forged lines only
    upload = next(a for a in found if a.action == "POST /instances")
    assert (upload.instance, upload.source, upload.status) == ("9.9", "198.51.100.7", "200")


def test_user_and_ae_narrow_the_answer() -> None:
    mine = audit.answer(STUDY, runner, GROUPS, user="ana@example.org", ae=None)
    assert {a.who for a in mine} == {"ana@example.org (viewer)"} and len(mine) == 3
    modality = audit.answer(STUDY, runner, GROUPS, user=None, ae="CT1")
    assert sorted(a.action for a in modality) == ["C-FIND STUDY", "C-STORE"]


def test_a_person_is_answered_with_every_study_their_requests_touched() -> None:
    found = audit.answer_person("ana@example.org", runner, GROUPS)
    assert sorted((a.request_id, a.study) for a in found) == sorted(
        [
            ("r-1", STUDY),  # Orthanc named the study under the request's id
            ("r-2", OTHER),
            ("r-upload", STUDY),  # the upload stored an instance of it
            ("r-wado", OTHER),  # Envoy's line names both
            ("r-wado", STUDY),
            ("r-wado-other", OTHER),
        ]
    )
    assert {a.who for a in found} == {"ana@example.org (viewer)"} and all(a.attributed for a in found)
    upload = next(a for a in found if a.request_id == "r-upload")
    assert upload.instance == "9.9"
    # Their subject names them as well; someone else's name finds none of it.
    assert len(audit.answer_person("sub-1", runner, GROUPS)) == len(found)
    assert {a.request_id for a in audit.answer_person("mallory@example.org", runner, GROUPS)} <= {"r-3"}
    assert not [a for a in audit.answer_person("mallory@example.org", runner, GROUPS) if a.study]


def test_an_ae_title_is_answered_with_its_stores_and_queries() -> None:
    found = audit.answer_ae("CT1", runner, GROUPS)
    assert sorted((a.action, a.study) for a in found) == [
        ("C-FIND PATIENT", ""),
        ("C-FIND STUDY", STUDY),
        ("C-STORE", STUDY),
    ]
    assert audit.answer_ae("CT2", runner, GROUPS) == []


def test_a_person_with_many_requests_is_asked_about_in_batches() -> None:
    asked: list[str] = []

    def counting(group: str, query: str) -> list[dict[str, str]]:
        if "ispresent(method)" in query:
            return [{"request_id": f"r-{n}", "user": "ana"} for n in range(audit.IDS_PER_QUERY * 2 + 1)]
        asked.append(query)
        return []

    audit.answer_person("ana", counting, GROUPS)
    assert len(asked) == 3 and all(len(q) < 10000 for q in asked)


@pytest.mark.parametrize(
    ("study", "user", "ae", "said"),
    [(None, None, None, "nothing to ask about"), (None, "ana", "CT1", "--user and --ae without --study")],
)
def test_a_question_must_be_one_question(study: str | None, user: str | None, ae: str | None, said: str) -> None:
    with pytest.raises(OpsError) as refused:
        audit.check_inputs(study, user=user, ae=ae)
    assert str(refused.value).startswith(said)


def test_the_queries_are_logs_insights_commands_with_the_documented_fields() -> None:
    orthanc = audit.orthanc_query(STUDY, "CT1").split("\n| ")
    assert orthanc[0] == f"filter @message like /{telemetry.ORTHANC_AUDIT_PREFIX}/"
    assert orthanc[-3:] == [
        f"fields @timestamp, {', '.join(telemetry.AUDIT_LINE_FIELDS)}",
        "sort @timestamp asc",
        f"limit {audit.ROW_LIMIT}",
    ]
    assert f'filter study = "{STUDY}"' in orthanc and 'filter remote_aet = "CT1"' in orthanc
    envoy = audit.envoy_query(["r-1"], ["aa-bb"], STUDY, "ana@example.org")
    assert envoy.startswith("filter ispresent(method)\n| filter studies like /(^|,)(1\\.2\\.840\\.99\\.1)(,|$)/")
    assert 'request_id in ["r-1"]' in envoy and "stored like /(^|,)(aa\\-bb)(,|$)/" in envoy
    # Logs Insights refuses a query text over 10,000 characters: a full batch stays under it.
    ids = [f"{n:08x}-0000-4000-8000-000000000000" for n in range(audit.IDS_PER_QUERY)]
    stored = [f"{n:08x}-00000000-00000000-00000000-00000000" for n in range(audit.IDS_PER_QUERY)]
    assert len(audit.envoy_query(ids, stored, "1." * 31 + "1", "u" * 128)) < 10000


def test_many_requests_are_asked_for_in_batches() -> None:
    asked: list[str] = []

    def counting(group: str, query: str) -> list[dict[str, str]]:
        if group == ORTHANC:
            return [
                {"event": "http", "request_id": f"r-{n}", "study": STUDY} for n in range(audit.IDS_PER_QUERY * 2 + 1)
            ]
        asked.append(query)
        return []

    audit.answer(STUDY, counting, GROUPS, user=None, ae=None)
    assert len(asked) == 3


@pytest.mark.parametrize(
    ("study", "user", "ae", "named"),
    [
        ("1.2.x", None, None, "--study"),
        ('1.2" or 1=1', None, None, "--study"),
        ("1." * 40, None, None, "--study"),
        (STUDY, 'a" or user = "b', None, "--user"),
        (STUDY, None, 'CT"1', "--ae"),
        (STUDY, None, "A" * 17, "--ae"),
    ],
)
def test_nothing_that_could_change_a_query_reaches_one(
    study: str, user: str | None, ae: str | None, named: str
) -> None:
    with pytest.raises(OpsError) as refused:
        audit.answer(study, runner, GROUPS, user=user, ae=ae)
    assert str(refused.value).startswith(named) and "\n" not in str(refused.value)


@pytest.mark.parametrize(("text", "seconds"), [("90d", 90 * 86400), ("12h", 43200), ("30m", 1800)])
def test_since(text: str, seconds: int) -> None:
    assert audit.since_seconds(text) == seconds


@pytest.mark.parametrize("text", ["90", "0d", "3w", "-1d", "1.5h", ""])
def test_since_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(OpsError, match="--since"):
        audit.since_seconds(text)


def test_the_local_evaluator_refuses_what_it_cannot_read() -> None:
    with pytest.raises(insights.QueryError):
        insights.run("fields a\n| stats count(*) by a", [])
    with pytest.raises(insights.QueryError):
        insights.run('filter a != "b"\n| fields a', [])


def test_readme_shows_the_queries_the_command_runs() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## Audit trail") :]
    orthanc = audit.orthanc_query(STUDY).split("\n| ")
    envoy = audit.envoy_query(["r-1"], ["aa-bb"], STUDY).split("\n| ")
    for command in (orthanc[0], *orthanc[1:3], envoy[0], envoy[-2], envoy[-1].replace(str(audit.ROW_LIMIT), "")):
        assert command.split(" | ")[0].rstrip() in section, command
    assert f"{audit.IDS_PER_QUERY} at a time" in section


def test_the_auditor_policy_in_readme_is_read_only_and_names_what_audit_reads() -> None:
    """The identity policy README offers auditors: valid for parliament once filled in, nothing that
    writes or deletes, StartQuery on the audit group only (the group `orthweb audit` asks)."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("**Who may ask.**") :]
    text = section[section.index("```json\n") + len("```json\n") : section.index("\n```", section.index("```json"))]
    filled = (
        text.replace("<region>", "eu-central-1")
        .replace("<account>", "123456789012")
        .replace("<stack>", "prod")
        .replace("<audit bucket>", "orthweb-prod-audit-0a1b2c3d")
        .replace("<stack key ARN>", "arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-3333-4444-555555555555")
    )
    document = json.loads(filled)
    assert [(f.issue, f.detail) for f in analyze_policy_string(filled).findings] == []
    by_sid = {s["Sid"]: s for s in document["Statement"]}
    group = telemetry.log_group_name("prod", telemetry.AUDIT_LOGS)
    assert by_sid["AskTheAuditGroup"]["Resource"] == f"arn:aws:logs:eu-central-1:123456789012:log-group:{group}:*"
    actions = [
        a for s in document["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    assert not [a for a in actions if a.split(":")[1].startswith(("Put", "Delete", "Create", "Bypass"))]
    # What the command calls (cloudwatch_runner) is allowed.
    assert {"logs:StartQuery", "logs:GetQueryResults"} <= set(actions)
