"""`orthweb audit`: who accessed a study, answered from the stack's audit lines with CloudWatch
Logs Insights.

Two queries, in this order: Orthanc's audit lines naming the study (each web request's id, each
instance stored, each C-FIND) and then Envoy's lines of those requests (who asked, from where,
with what result), plus Envoy's lines that name the study themselves (WADO-URI, STOW-RS answers)
or the instances a REST upload stored. `join` turns both answers into one row per access. The
query texts are plain Logs Insights (README, "Audit trail"); a runner takes a query and returns
its rows as dicts, so the same texts run against CloudWatch or, in tests, over recorded lines.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from orthweb.ops.aws import OpsError, call_aws
from orthweb.shared import telemetry

# A query's rows (field -> value); Logs Insights returns at most 10,000 per query.
Row = dict[str, str]
Runner = Callable[[str, str], list[Row]]  # (log group, query text) -> rows
ROW_LIMIT = 10000
# Logs Insights refuses a query text over 10,000 characters: request ids go in batches.
IDS_PER_QUERY = 80
UID = re.compile(r"^[0-9]+(?:\.[0-9]+)*$")
AE_TITLE = re.compile(r"^[ -~]{1,16}$")
# Cognito user names and subjects: e-mail addresses, UUIDs, names without quotes or spaces.
USER = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")
SINCE = re.compile(r"^([1-9][0-9]{0,4})([dhm])$")
SINCE_SECONDS = {"d": 86400, "h": 3600, "m": 60}

# Envoy's fields an access row shows (`groups` comes as groups.0, groups.1, ...: Logs Insights splits lists).
ENVOY_FIELDS = (
    "time", "method", "path", "status", "bytes_sent", "source", "request_id", "auth", "subject", "user", "client",
)  # fmt: skip
ENVOY_REFERENCE_FIELDS = tuple(telemetry.AUDIT_REFERENCE_FIELDS)


def since_seconds(text: str) -> int:
    """`90d`, `12h`, `30m` -> seconds; anything else is refused with what is allowed."""
    match = SINCE.match(text)
    if match is None:
        raise OpsError(f"--since {text!r} is not a duration", hint="a number and d, h or m, e.g. 90d, 12h, 30m")
    return int(match.group(1)) * SINCE_SECONDS[match.group(2)]


def _quoted(value: str) -> str:
    # Values reach a query only after checks that leave no quote or backslash in them.
    return '"' + value + '"'


def _one_of(values: Iterable[str]) -> str:
    """A regex matching one of `values` as a whole item of a comma-separated field."""
    return "/(^|,)(" + "|".join(re.escape(v) for v in values) + ")(,|$)/"


def orthanc_query(
    study: str | None, ae: str | None = None, request_ids: Sequence[str] = (), stored: Sequence[str] = ()
) -> str:
    """Orthanc's audit lines that name `study` (and, with `ae`, only what that AE title did); without
    a study, those of these requests or stored instances, or everything `ae` did."""
    parses = [f'parse @message /"{name}":"(?<{name}>[^"]*)"/' for name in telemetry.AUDIT_LINE_FIELDS]
    wanted = [f"request_id in [{', '.join(_quoted(r) for r in request_ids)}]"] if request_ids else []
    if stored:
        wanted.append(f"orthanc_id in [{', '.join(_quoted(i) for i in stored)}]")
    lines = [
        f"filter @message like /{telemetry.ORTHANC_AUDIT_PREFIX}/",
        *parses,
        *([f"filter study = {_quoted(study)}"] if study else []),
        *([f"filter {' or '.join(wanted)}"] if wanted else []),
        *([f"filter remote_aet = {_quoted(ae)}"] if ae else []),
        f"fields @timestamp, {', '.join(telemetry.AUDIT_LINE_FIELDS)}",
        "sort @timestamp asc",
        f"limit {ROW_LIMIT}",
    ]
    return "\n| ".join(lines)


def _envoy_query(*filters: str) -> str:
    """Envoy's access lines (they alone have a method) passing `filters`, with the fields a row shows."""
    lines = [
        "filter ispresent(method)",
        *(f"filter {f}" for f in filters),
        f"fields @timestamp, {', '.join(ENVOY_FIELDS + ENVOY_REFERENCE_FIELDS)}, groups.0, groups.1, groups.2",
        "sort @timestamp asc",
        f"limit {ROW_LIMIT}",
    ]
    return "\n| ".join(lines)


def _by_person(user: str) -> str:
    return f"user = {_quoted(user)} or subject = {_quoted(user)}"


def envoy_query(request_ids: Sequence[str], stored: Sequence[str], study: str, user: str | None = None) -> str:
    """Envoy's lines of these requests, of uploads that stored these instances, or naming `study`."""
    wanted = [f"studies like {_one_of([study])}"]
    if request_ids:
        wanted.append(f"request_id in [{', '.join(_quoted(r) for r in request_ids)}]")
    if stored:
        wanted.append(f"stored like {_one_of(stored)}")
    return _envoy_query(" or ".join(wanted), *([_by_person(user)] if user else []))


def person_query(user: str) -> str:
    """Envoy's lines of one person's requests (by sign-in user name or subject)."""
    return _envoy_query(_by_person(user))


@dataclass(frozen=True)
class Access:
    """One access to the study: who, from where, what, with what result."""

    time: str
    who: str
    attributed: bool
    source: str
    action: str
    status: str
    bytes: str
    study: str
    series: str
    instance: str
    request_id: str


def _who(line: Mapping[str, str]) -> tuple[str, bool]:
    auth = line.get("auth") or ""
    if auth == telemetry.AUTH_TOKEN:
        person = line.get("user") or line.get("subject") or ""
        groups = ",".join(v for k, v in sorted(line.items()) if k.startswith("groups.") and v)
        machine = not line.get("user")
        label = f"client {line.get('client', '')}" if machine else person
        return (f"{label} ({groups})" if groups else label), True
    if auth == telemetry.AUTH_SHARED_CREDENTIAL:
        return "the shared admin credential (basic authentication)", False
    return "nobody verified", False


def _web(line: Mapping[str, str], event: Mapping[str, str], study: str) -> Access:
    who, attributed = _who(line)
    return Access(
        time=line.get("time") or line.get("@timestamp", ""),
        who=who,
        attributed=attributed,
        source=line.get("source", ""),
        action=f"{line.get('method', '')} {line.get('path', '')}",
        status=line.get("status", ""),
        bytes=line.get("bytes_sent", ""),
        study=study,
        series=event.get("series", ""),
        instance=event.get("instance", ""),
        request_id=line.get("request_id", ""),
    )


def _dicom(event: Mapping[str, str], study: str) -> Access:
    action = "C-STORE" if event.get("event") == telemetry.AUDIT_EVENT_STORED else f"C-FIND {event.get('level', '')}"
    return Access(
        time=event.get("@timestamp", ""),
        who=f"AE {event.get('remote_aet', '')} -> {event.get('called_aet', '')}",
        attributed=True,
        source=event.get("remote_ip", ""),
        action=action.strip(),
        status="",
        bytes="",
        study=study,
        series=event.get("series", ""),
        instance=event.get("instance", ""),
        request_id="",
    )


def accesses_in(orthanc_rows: Sequence[Row], envoy_rows: Sequence[Row], *, unnamed: bool = False) -> list[Access]:
    """One row per access to each study: each web request once per study it touched, each instance
    a DICOM caller stored once, each C-FIND once (`unnamed`: also a C-FIND that names no study)."""
    by_request = {row["request_id"]: row for row in envoy_rows if row.get("request_id")}
    stored = {
        e["orthanc_id"]: e
        for e in orthanc_rows
        if e.get("event") == telemetry.AUDIT_EVENT_STORED and e.get("orthanc_id")
    }
    found: dict[tuple[str, str], Access] = {}
    for event in orthanc_rows:
        kind, study = event.get("event"), event.get("study") or ""
        if kind == telemetry.AUDIT_EVENT_HTTP and study and event.get("request_id") in by_request:
            found.setdefault((event["request_id"], study), _web(by_request[event["request_id"]], event, study))
        elif kind == telemetry.AUDIT_EVENT_STORED and study and event.get("origin") == "DicomProtocol":
            found[(f"stored:{event.get('orthanc_id')}:{event.get('@timestamp')}", study)] = _dicom(event, study)
        elif kind == telemetry.AUDIT_EVENT_FIND and (study or unnamed):
            found[(f"find:{event.get('@timestamp')}:{event.get('remote_aet')}", study)] = _dicom(event, study)
    for line in envoy_rows:
        request = line.get("request_id")
        if not request:
            continue
        for study in (line.get("studies") or "").split(","):
            if study:
                found.setdefault((request, study), _web(line, {}, study))
        for orthanc_id in (line.get("stored") or "").split(","):
            event = stored.get(orthanc_id)
            if event is not None and event.get("study"):
                found.setdefault((request, event["study"]), _web(line, event, event["study"]))
    return sorted(found.values(), key=lambda a: (a.time, a.study))


def join(study: str, orthanc_rows: Sequence[Row], envoy_rows: Sequence[Row]) -> list[Access]:
    """The accesses to one study."""
    return [a for a in accesses_in(orthanc_rows, envoy_rows) if a.study == study]


def check_inputs(study: str | None, *, user: str | None, ae: str | None) -> None:
    """What goes into a query text: nothing that could end a quoted value or a regex."""
    if study is None and user is None and ae is None:
        raise OpsError("nothing to ask about", hint="give --study UID, --user NAME or --ae TITLE")
    if study is None and user is not None and ae is not None:
        raise OpsError(
            "--user and --ae without --study ask two questions",
            hint="--user lists a person's web accesses, --ae an AE title's DICOM ones: give one, or add --study",
        )
    if study is not None and (not UID.match(study) or len(study) > 64):
        raise OpsError(f"--study {study!r} is not a DICOM UID", hint="digits and dots, at most 64, e.g. 1.2.840.1")
    if ae is not None and (not AE_TITLE.match(ae) or '"' in ae or "\\" in ae):
        raise OpsError(f"--ae {ae!r} is not an AE title", hint="1 to 16 printable characters, no quote or backslash")
    if user is not None and (not USER.match(user)):
        raise OpsError(f"--user {user!r} is not a user name", hint="a user name or subject, e.g. ana@example.org")


def answer(study: str, run: Runner, groups: Mapping[str, str], *, user: str | None, ae: str | None) -> list[Access]:
    """Both queries through `run`; `groups` names the Orthanc and Envoy log groups."""
    check_inputs(study, user=user, ae=ae)
    orthanc_rows = run(groups[telemetry.ORTHANC_LOGS], orthanc_query(study, ae))
    if ae is not None:
        return join(study, orthanc_rows, [])
    request_ids = sorted({r["request_id"] for r in orthanc_rows if r.get("request_id")})
    stored = sorted({r["orthanc_id"] for r in orthanc_rows if r.get("orthanc_id")})
    envoy_rows: list[Row] = []
    for start in range(0, max(len(request_ids), len(stored), 1), IDS_PER_QUERY):
        batch_ids, batch_stored = request_ids[start : start + IDS_PER_QUERY], stored[start : start + IDS_PER_QUERY]
        envoy_rows += run(groups[telemetry.ENVOY_LOGS], envoy_query(batch_ids, batch_stored, study, user))
    found = join(study, orthanc_rows, envoy_rows)
    return [a for a in found if a.request_id] if user is not None else found


def answer_person(user: str, run: Runner, groups: Mapping[str, str]) -> list[Access]:
    """Every study one person's web requests touched: their requests first, then Orthanc's lines of
    those requests and of the instances their uploads stored."""
    check_inputs(None, user=user, ae=None)
    envoy_rows = run(groups[telemetry.ENVOY_LOGS], person_query(user))
    request_ids = sorted({r["request_id"] for r in envoy_rows if r.get("request_id")})
    stored = sorted({i for r in envoy_rows for i in (r.get("stored") or "").split(",") if i})
    orthanc_rows: list[Row] = []
    for start in range(0, max(len(request_ids), len(stored)), IDS_PER_QUERY):
        batch_ids, batch_stored = request_ids[start : start + IDS_PER_QUERY], stored[start : start + IDS_PER_QUERY]
        orthanc_rows += run(groups[telemetry.ORTHANC_LOGS], orthanc_query(None, None, batch_ids, batch_stored))
    return accesses_in(orthanc_rows, envoy_rows)


def answer_ae(ae: str, run: Runner, groups: Mapping[str, str]) -> list[Access]:
    """Every store and query one AE title made, study by study (a C-FIND naming no study too)."""
    check_inputs(None, user=None, ae=ae)
    return accesses_in(run(groups[telemetry.ORTHANC_LOGS], orthanc_query(None, ae)), [], unnamed=True)


def as_json(accesses: Sequence[Access]) -> list[dict[str, Any]]:
    return [asdict(a) for a in accesses]


def cloudwatch_runner(logs: Any, start: int, end: int, poll_seconds: float = 1.0) -> Runner:
    """Runs a query with CloudWatch Logs Insights over [start, end] (epoch seconds)."""

    def run(group: str, query: str) -> list[Row]:
        started = call_aws(
            logs, "start_query", logGroupNames=[group], startTime=start, endTime=end, queryString=query, limit=ROW_LIMIT
        )
        while True:
            result = call_aws(logs, "get_query_results", queryId=started["queryId"])
            if result["status"] in ("Complete", "Failed", "Cancelled", "Timeout", "Unknown"):
                break
            time.sleep(poll_seconds)
        if result["status"] != "Complete":
            raise OpsError(f"the Logs Insights query on {group} ended {result['status']}")
        return [{f["field"]: f["value"] for f in row if f["field"] != "@ptr"} for row in result["results"]]

    return run
