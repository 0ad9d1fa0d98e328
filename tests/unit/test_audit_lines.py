"""Which of Orthanc's log lines are audit lines: only what its Lua print wrote (Orthanc 1.12's line
prefix: orthanc-server/orthanc, OrthancFramework/Sources/Logging.cpp GetLinePrefix), never a line
in which a client managed to place the mark."""

from __future__ import annotations

import pytest

from orthweb.shared import telemetry

EVENT = '{"event":"http","request_id":"r-1","study":"1.2.3"}'
SEAL = "k3v9q0w7m2x5b8n1c4z6"


@pytest.mark.parametrize(
    "line",
    [
        f"W1206 13:16:57.353522 LuaContext.cpp:94] Lua says: orthweb-audit {SEAL} {EVENT}",  # Debian's 1.10
        f"W1206 13:16:57.353522 {'HTTP-12':>16} LuaContext.cpp:95] Lua says: orthweb-audit {SEAL} {EVENT}\n",  # 1.12
    ],
)
def test_orthancs_own_lua_lines_are_audit_lines(line: str) -> None:
    event = {"event": "http", "request_id": "r-1", "study": "1.2.3"}
    assert telemetry.orthanc_audit_event(line) == telemetry.orthanc_audit_event(line, SEAL) == event
    # Sealed by another stack, or by nobody: not this stack's.
    assert telemetry.orthanc_audit_event(line, "b" * 20) is None
    assert telemetry.orthanc_audit_event(line.replace(f"{SEAL} ", "")) is None


@pytest.mark.parametrize(
    "line",
    [
        # Another source file logging something a client sent (a path, an AE title) that holds the mark.
        f"W1206 13:16:57.353522 OrthancRestApi.cpp:12] Unknown URI: Lua says: orthweb-audit {SEAL} {EVENT}",
        f"E1206 13:16:57.353522 LuaContext.cpp:94] Lua says: orthweb-audit {SEAL} {EVENT}",
        f"W1206 13:16:57.353522 LuaContext.cpp:94] Lua says: Lua toolbox installed {EVENT}",
        f"I1206 13:16:57.353522 CommandDispatcher.cpp:334] Association from AET x Lua says: orthweb-audit {SEAL} "
        + EVENT,
        f"W1206 13:16:57.353522 LuaContext.cpp:94] Lua says: orthweb-audit {SEAL} [1, 2]",
        f"W1206 13:16:57.353522 LuaContext.cpp:94] Lua says: orthweb-audit {EVENT}",
    ],
)
def test_nothing_else_is(line: str) -> None:
    assert telemetry.orthanc_audit_event(line) is None
