"""The filter patterns that pick the audit lines for the audit log group, against lines made to
look like audit lines without being one. CloudWatch Logs User Guide, "Filter pattern syntax for
metric filters, subscription filters, filter log events, and Live Tail" and its "Supported regular
expressions (regex) syntax": a pattern is at most 1,024 characters; a regex sits between % signs,
uses letters, digits, `: _ # = @ / ; , -` and `^ $ ? [ ] { } | \\ * + .` only, and at most two
regexes are allowed in one pattern. The same patterns run over the harness's real lines in
tests/runtime/test_runtime_audit.py."""

from __future__ import annotations

import json

import pytest

from orthweb.shared import telemetry
from tools.harness.filter_patterns import PatternError, compile_pattern

SEAL = "k3v9q0w7m2x5b8n1c4z6"
ORTHANC = compile_pattern(telemetry.audit_line_patterns(SEAL)[telemetry.ORTHANC_LOGS])
ENVOY = compile_pattern(telemetry.audit_line_patterns(SEAL)[telemetry.ENVOY_LOGS])
EVENT = '{"event":"http","request_id":"r1","study":"1.2.3"}'

ORTHANC_LINES = [
    # Orthanc 1.10 (the harness's), and 1.12 with a thread name (Logging.cpp, GetLinePrefix).
    (f"W1206 16:20:00.123456 LuaContext.cpp:123] Lua says: orthweb-audit {SEAL} {EVENT}", True),
    (f"W1206 16:20:00.123456 HTTP-SERVER-12   LuaContext.cpp:123] Lua says: orthweb-audit {SEAL} {EVENT}", True),
    # The whole shape of an audit line, as a client could write it after a newline in something
    # Orthanc logs, without the stack's seal: with none, with another one, with a shorter one.
    (f"W1206 16:20:00.123456 LuaContext.cpp:123] Lua says: orthweb-audit {EVENT}", False),
    (f"W1206 16:20:00.123456 LuaContext.cpp:123] Lua says: orthweb-audit {'a' * 20} {EVENT}", False),
    (f"W1206 16:20:00.123456 LuaContext.cpp:123] Lua says: orthweb-audit {SEAL[:-1]} {EVENT}", False),
    # The words of an audit line inside another line (a logged URI, an error quoting a request).
    (f"E1206 16:20:00.123456 HttpServer.cpp:1] /x Lua says: orthweb-audit {EVENT}", False),
    (f"W1206 16:20:00.123456 OrthancRestApi.cpp:9] uri=LuaContext.cpp:1] Lua says: orthweb-audit {EVENT}", False),
    (f"I1206 16:20:00.123456 LuaContext.cpp:123] Lua says: orthweb-audit {EVENT}", False),
    (f"W1206 16:20:00.123456 LuaContext.cpp:123] Lua says: something else {EVENT}", False),
    (f"Lua says: orthweb-audit {EVENT}", False),
]


@pytest.mark.parametrize(("line", "audit"), ORTHANC_LINES)
def test_only_orthancs_own_audit_lines_are_copied(line: str, audit: bool) -> None:
    assert ORTHANC(line) is audit
    # The copy and `orthweb audit` read the same lines as audit lines.
    assert (telemetry.orthanc_audit_event(line, SEAL) is not None) is audit


def http_line(**changed: object) -> str:
    line: dict[str, object] = {name: None for name in telemetry.HTTP_ACCESS_LOG_FIELDS}
    line.update(time="2026-12-06T16:20:00Z", method="GET", path="/studies/x", status=200, **changed)
    return json.dumps(line)


DICOM_LINE = json.dumps({name: "x" for name in telemetry.DICOM_CONNECTION_LOG_FIELDS})


@pytest.mark.parametrize(
    ("line", "audit"),
    [
        (http_line(), True),
        (DICOM_LINE, True),
        # Envoy's own messages, even one quoting a field name; JSON without either field.
        ('[2026-12-06 16:20:00.000][1][info][main] "method": "GET"', False),
        ('{"level":"info","msg":"starting"}', False),
        ('{"peer": null}', False),
        ("method GET peer 127.0.0.1", False),
    ],
)
def test_only_envoys_access_lines_are_exported(line: str, audit: bool) -> None:
    assert ENVOY(line) is audit
    assert not ORTHANC(line)


@pytest.mark.parametrize("seal", ["", "a" * 19, "A" * 20, "a" * 19 + ".", "a" * 21])
def test_a_seal_is_twenty_lowercase_letters_and_digits(seal: str) -> None:
    with pytest.raises(ValueError, match="audit seal"):
        telemetry.audit_line_patterns(seal)


def test_each_pattern_is_one_cloudwatch_logs_accepts() -> None:
    for pattern in telemetry.audit_line_patterns(SEAL).values():
        compile_pattern(pattern)  # refuses a character outside the regex dialect, or a longer pattern
        assert pattern.count("%") in (0, 2)


@pytest.mark.parametrize("pattern", ["%a b%", "%(a|b)%", "%a!%", "{ $.method = * }", "%" + "a" * 1023 + "%", "ERROR"])
def test_the_evaluator_refuses_what_it_cannot_read_or_cloudwatch_would_refuse(pattern: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(pattern)
