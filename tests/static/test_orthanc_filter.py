"""The health-check account's limits, enforced by the real Orthanc (Debian's, SQLite index).

Loads the rendered orthweb-filter.lua through `LuaScripts`, as the replicas do, with
ExecuteLuaEnabled false, and checks what each account may do over HTTP.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.static.static_checks import require_tool

ACCOUNTS = {"admin": "admin-pw-for-test", "health": "health-pw-for-test"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _status(port: int, account: str | None, method: str, path: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    if method in ("POST", "PUT"):
        request.data = b"{}"
    if account is not None:
        token = base64.b64encode(f"{account}:{ACCOUNTS[account]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _answers(port: int) -> bool:
    try:
        return _status(port, "admin", "GET", "/system") == 200
    except urllib.error.URLError:
        return False


@pytest.fixture(scope="module")
def drain_marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where ORTHWEB_DRAIN_MARKER points (the replica's drain directory on a host)."""
    return tmp_path_factory.mktemp("drain") / "draining"


@pytest.fixture(scope="module")
def orthanc_port(
    rendered: dict[str, str], tmp_path_factory: pytest.TempPathFactory, drain_marker: Path
) -> Iterator[int]:
    binary = require_tool("Orthanc", "apt-get install -y orthanc")
    workdir = tmp_path_factory.mktemp("orthanc-filter")
    (workdir / "orthweb-filter.lua").write_text(rendered["orthweb-filter.lua"])
    # What fetch-secrets.sh writes at boot.
    (workdir / "orthweb-health-user.lua").write_text('ORTHWEB_HEALTH_USER = "health"\n')
    http_port = _free_port()
    orthanc = json.loads(rendered["orthanc.json"])
    config = {
        "Name": "filter-test",
        "StorageDirectory": str(workdir / "db"),
        "IndexDirectory": str(workdir / "db"),
        "HttpPort": http_port,
        "DicomPort": _free_port(),
        "Plugins": [],
        "RegisteredUsers": ACCOUNTS,
        "LuaScripts": [str(workdir / "orthweb-health-user.lua"), str(workdir / "orthweb-filter.lua")],
        **{k: orthanc[k] for k in ("RemoteAccessAllowed", "AuthenticationEnabled", "ExecuteLuaEnabled")},
    }
    (workdir / "orthanc.json").write_text(json.dumps(config))
    log = (workdir / "orthanc.log").open("w")
    env = {**os.environ, "ORTHWEB_DRAIN_MARKER": str(drain_marker)}
    process = subprocess.Popen([binary, str(workdir / "orthanc.json")], stdout=log, stderr=log, env=env)
    try:
        deadline = time.monotonic() + 20
        while not _answers(http_port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("Orthanc did not start:\n" + Path(log.name).read_text())
            time.sleep(0.1)
        yield http_port
    finally:
        process.kill()  # a throwaway SQLite index: no clean shutdown needed
        process.wait(timeout=10)
        log.close()


@pytest.mark.parametrize(
    ("account", "method", "path", "expected"),
    [
        ("health", "GET", "/changes?last", 200),
        # The CloudWatch agent's scrape through Envoy's metrics listener (counts only).
        ("health", "GET", "/tools/metrics-prometheus", 200),
        ("health", "POST", "/tools/metrics-prometheus", 403),
        ("health", "GET", "/tools/metrics", 403),
        ("health", "GET", "/patients", 403),
        ("health", "POST", "/tools/find", 403),
        ("health", "DELETE", "/patients/0000", 403),
        ("health", "PUT", "/modalities/x", 403),
        ("admin", "GET", "/patients", 200),
        ("admin", "GET", "/changes?last", 200),
        (None, "GET", "/changes?last", 401),
        # Modalities and peers are stack configuration: nobody registers them over REST.
        ("admin", "PUT", "/modalities/x", 403),
        ("admin", "DELETE", "/modalities/x", 403),
        ("admin", "PUT", "/peers/x", 403),
        ("admin", "DELETE", "/peers/x/", 403),
        ("admin", "GET", "/modalities", 200),
    ],
)
def test_what_each_account_may_do(
    orthanc_port: int, account: str | None, method: str, path: str, expected: int
) -> None:
    assert _status(orthanc_port, account, method, path) == expected


def test_a_draining_replica_fails_the_health_check_only(orthanc_port: int, drain_marker: Path) -> None:
    """While start.sh --rolling drains it, Envoy's check fails (no new work) but it still serves."""
    drain_marker.touch()
    try:
        assert _status(orthanc_port, "health", "GET", "/changes?last") == 403
        assert _status(orthanc_port, "admin", "GET", "/changes?last") == 200  # docker's probe
    finally:
        drain_marker.unlink()
    assert _status(orthanc_port, "health", "GET", "/changes?last") == 200
