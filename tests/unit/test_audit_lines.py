"""Which of Orthanc's log lines are audit lines: only what its Lua print wrote (Orthanc 1.12's line
prefix: orthanc-server/orthanc, OrthancFramework/Sources/Logging.cpp GetLinePrefix), never a line
in which a client managed to place the mark."""

from __future__ import annotations

import pytest

from orthweb.shared import telemetry

EVENT = '{"event":"http","request_id":"r-1","study":"1.2.3"}'


@pytest.mark.parametrize(
    "line",
    [
        f"W1206 13:16:57.353522 LuaContext.cpp:94] Lua says: orthweb-audit {EVENT}",  # Debian's 1.10
        f"W1206 13:16:57.353522 {'HTTP-12':>16} LuaContext.cpp:95] Lua says: orthweb-audit {EVENT}\n",  # 1.12
    ],
)
def test_orthancs_own_lua_lines_are_audit_lines(line: str) -> None:
    assert telemetry.orthanc_audit_event(line) == {"event": "http", "request_id": "r-1", "study": "1.2.3"}


@pytest.mark.parametrize(
    "line",
    [
        # Another source file logging something a client sent (a path, an AE title) that holds the mark.
        f"W1206 13:16:57.353522 OrthancRestApi.cpp:12] Unknown URI: Lua says: orthweb-audit {EVENT}",
        f"E1206 13:16:57.353522 LuaContext.cpp:94] Lua says: orthweb-audit {EVENT}",
        f"W1206 13:16:57.353522 LuaContext.cpp:94] Lua says: Lua toolbox installed {EVENT}",
        f"I1206 13:16:57.353522 CommandDispatcher.cpp:334] Association from AET x Lua says: orthweb-audit {EVENT}",
        "W1206 13:16:57.353522 LuaContext.cpp:94] Lua says: orthweb-audit [1, 2]",
    ],
)
def test_nothing_else_is(line: str) -> None:
    assert telemetry.orthanc_audit_event(line) is None
