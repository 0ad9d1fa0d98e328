"""The rendered orthweb-filter.lua, enforced by the real Orthanc (Debian's, SQLite index): the
health-check account's limits, the registrations nobody may make, and with sign-in the role table
of orthweb.shared.access on the role Envoy names.

Loads the filter through `LuaScripts`, as the replicas do, with ExecuteLuaEnabled false, and
checks what each account may do over HTTP.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from orthweb.host.context import HostAppContext
from orthweb.host.render import render_host_files
from orthweb.host.sso_context import SsoHostContext
from orthweb.shared import access, sso
from tests.static.static_checks import require_tool

ACCOUNTS = {"admin": "admin-pw-for-test", "health": "health-pw-for-test"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _status(port: int, account: str | None, method: str, path: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, headers=headers or {})
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
    """Orthanc's HTTP server answers (with sign-in, the filter refuses /system without a role)."""
    try:
        return _status(port, "admin", "GET", "/system") in (200, 403)
    except urllib.error.URLError:
        return False


@pytest.fixture(scope="module")
def drain_marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where ORTHWEB_DRAIN_MARKER points (the replica's drain directory on a host)."""
    return tmp_path_factory.mktemp("drain") / "draining"


@contextlib.contextmanager
def running_orthanc(filter_lua: str, workdir: Path, drain_marker: Path) -> Iterator[int]:
    """Debian's Orthanc (SQLite) loading `filter_lua` as the replicas load orthweb-filter.lua."""
    binary = require_tool("Orthanc", "apt-get install -y orthanc")
    (workdir / "orthweb-filter.lua").write_text(filter_lua)
    # What fetch-secrets.sh writes at boot.
    (workdir / "orthweb-health-user.lua").write_text('ORTHWEB_HEALTH_USER = "health"\n')
    http_port = _free_port()
    config = {
        "Name": "filter-test",
        "StorageDirectory": str(workdir / "db"),
        "IndexDirectory": str(workdir / "db"),
        "HttpPort": http_port,
        "DicomPort": _free_port(),
        "Plugins": [],
        "RegisteredUsers": ACCOUNTS,
        "LuaScripts": [str(workdir / "orthweb-health-user.lua"), str(workdir / "orthweb-filter.lua")],
        "RemoteAccessAllowed": True,
        "AuthenticationEnabled": True,
        "ExecuteLuaEnabled": False,
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


@pytest.fixture(scope="module")
def orthanc_port(
    rendered: dict[str, str], tmp_path_factory: pytest.TempPathFactory, drain_marker: Path
) -> Iterator[int]:
    orthanc = json.loads(rendered["orthanc.json"])
    assert {orthanc[k] for k in ("RemoteAccessAllowed", "AuthenticationEnabled")} == {True}
    assert orthanc["ExecuteLuaEnabled"] is False
    with running_orthanc(
        rendered["orthweb-filter.lua"], tmp_path_factory.mktemp("orthanc-filter"), drain_marker
    ) as port:
        yield port


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


# --- with sign-in: the role table, as Orthanc's filter renders it, says what orthweb.shared.access says ----


@pytest.fixture(scope="module")
def sso_orthanc_port(
    app_context: HostAppContext, tmp_path_factory: pytest.TempPathFactory, drain_marker: Path
) -> Iterator[int]:
    sso_ctx = SsoHostContext.for_cognito(
        region=app_context.region,
        user_pool_id="eu-west-3_Ab12Cd34E",
        domain="orthweb-dev-12345678.auth.eu-west-3.amazoncognito.com",
        machine_client_id="4f1machineclient0000000000",
        site_client_secret_arn=app_context.site_tls_secret_arn.replace("site-tls", "sso-site-client"),
    )
    filter_lua = render_host_files(dataclasses.replace(app_context, sso=sso_ctx))["orthweb-filter.lua"]
    with running_orthanc(filter_lua, tmp_path_factory.mktemp("orthanc-roles"), drain_marker) as port:
        yield port


ID = "0123abcd-0123abcd-0123abcd-0123abcd-0123abcd"
# Every route of the role table spelled out, near misses, and paths no rule names.
PATHS = sorted(
    {
        *(
            re.sub(r"%(.)", r"\1", p).replace("[^/]+", ID).replace("[0-9.]+", "1.2.3").strip("^$").removesuffix("/?")
            for g in (*access.GRANTS, access.REGISTRATIONS)
            for r in (g.routes or ()) + g.refused
            for p in r.lua_patterns()
        ),
        "/system",
        f"/instances/{ID}",
        "/tools/bulk-delete",
        "/tools/log-level",
        "/tools/find/x",
        "/dicom-web/studies/1.2.3/series",
        f"/studies/{ID}/archive/",
        "/modalities",
    }
)


def test_the_filter_enforces_the_role_table(sso_orthanc_port: int) -> None:
    """Each role (and none, and an unknown one) x each method Orthanc's filter sees x each path:
    Orthanc refuses (403) exactly what orthweb.shared.access.allows refuses."""
    disagreements = []
    for role in (*sso.ROLES, None, "superadmin"):
        headers = {} if role is None else {sso.ROLE_HEADER: role}
        for method in ("GET", "POST", "PUT", "DELETE"):
            for path in PATHS:
                refused = _status(sso_orthanc_port, "admin", method, path, headers) == 403
                expected = role is not None and access.allows(role, method, path)
                if refused == expected:
                    disagreements.append(f"{role} {method} {path}: Orthanc {'refused' if refused else 'allowed'}")
    assert not disagreements, "\n".join(disagreements)
