"""orthanc.json and the ORTHANC__* names: every key is one Orthanc 1.12 or its plugins read."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
import yaml

from orthweb.host.context import HostAppContext
from orthweb.host.render import render_host_files
from orthweb.shared.modalities import DicomModality, parse_modality
from tests.static.static_checks import orthanc_unknown_keys, orthanc_unknown_modality_keys, orthancteam_name_unknown


@pytest.fixture(scope="module")
def orthanc(rendered: dict[str, str]) -> dict[str, Any]:
    return json.loads(rendered["orthanc.json"])


def test_every_key_is_a_known_setting(orthanc: dict[str, Any]) -> None:
    assert orthanc_unknown_keys(orthanc) == []


def test_a_misspelled_key_is_caught(orthanc: dict[str, Any]) -> None:
    broken = dict(orthanc, ExecuteLuaEnable=False)
    broken["PostgreSQL"] = dict(orthanc["PostgreSQL"], EnableSSL=True)
    assert orthanc_unknown_keys(broken) == ["PostgreSQL.EnableSSL", "ExecuteLuaEnable"]


def test_every_orthanc_name_in_compose_maps_to_a_known_setting(rendered: dict[str, str]) -> None:
    compose = yaml.safe_load(rendered["docker-compose.yml"])
    names = set(compose["secrets"])
    for service in compose["services"].values():
        names |= set(service.get("environment", {}))
    orthanc_names = {n for n in names if n.startswith("ORTHANC__")}
    assert orthanc_names, "no ORTHANC__ names found"
    assert [n for n in sorted(orthanc_names) if orthancteam_name_unknown(n)] == []
    assert orthancteam_name_unknown("ORTHANC__POSTGRESQL__PASWORD")


def test_index_uses_postgresql_without_lock(orthanc: dict[str, Any], app_context: HostAppContext) -> None:
    pg = orthanc["PostgreSQL"]
    assert pg["EnableIndex"] is True
    assert pg["EnableStorage"] is False
    assert pg["Lock"] is False  # several replicas share the index
    assert pg["IndexConnectionsCount"] == app_context.index_connections
    assert pg["EnableVerboseLogs"] is False  # SQL carries patient data
    # The plugin ignores EnableSsl when given a ConnectionUri: TLS is the URI's sslmode
    # (tests/static/test_fetch_secrets.py), so the key would only mislead.
    for key in ("EnableSsl", "ConnectionUri", "Host", "Port", "Username", "Password", "Database"):
        assert key not in pg  # from /run/secrets at boot


def test_orthanc_gets_the_database_as_one_uri(rendered: dict[str, str]) -> None:
    compose = yaml.safe_load(rendered["docker-compose.yml"])
    for name, service in compose["services"].items():
        if name.startswith("orthanc-"):
            database = [s for s in service["secrets"] if s.startswith("ORTHANC__POSTGRESQL__")]
            assert database == ["ORTHANC__POSTGRESQL__CONNECTION_URI"], name


def test_storage_is_s3_with_the_instance_role(orthanc: dict[str, Any], app_context: HostAppContext) -> None:
    s3 = orthanc["AwsS3Storage"]
    assert s3["BucketName"] == app_context.dicom_bucket
    assert s3["Region"] == app_context.region
    assert "AccessKey" not in s3 and "SecretKey" not in s3


def test_hardening_per_the_orthanc_security_faq(orthanc: dict[str, Any]) -> None:
    expected = {
        "ExecuteLuaEnabled": False,
        "RestApiWriteToFileSystemEnabled": False,
        "WebDavEnabled": False,
        "AuthenticationEnabled": True,
        "RemoteAccessAllowed": True,  # only Envoy reaches it, on the compose network
        "OrthancExplorerEnabled": False,
        "DicomAet": "ORTHANC",
        "DicomPort": 4242,
        "HttpPort": 8042,
        "SslEnabled": False,  # TLS terminates at Envoy
        "SaveJobs": False,  # several writers share the database
    }
    assert {k: orthanc[k] for k in expected} == expected
    assert orthanc["OrthancExplorer2"]["Enable"] is True
    assert orthanc["LimitFindResults"] > 0 and orthanc["LimitFindInstances"] > 0
    assert "RegisteredUsers" not in orthanc  # from /run/secrets at boot


def test_health_filter_allows_the_health_user_only_a_read_of_changes(
    orthanc: dict[str, Any], rendered: dict[str, str]
) -> None:
    assert "/etc/orthanc/orthweb-filter.lua" in orthanc["LuaScripts"]
    lua = rendered["orthweb-filter.lua"]
    assert "function IncomingHttpRequestFilter(method, uri, ip, username, httpHeaders)" in lua
    assert "return method == 'GET' and uri == '/changes'" in lua


MODALITIES = (parse_modality("CT_SCANNER_1@10.20.0.15:104"), parse_modality("WS-2@192.0.2.7:11112"))


def test_modalities_come_from_the_stack_config_identical_for_every_replica(app_context: HostAppContext) -> None:
    """Orthanc keeps REST registrations per server identifier, i.e. per replica: never use them."""
    files = render_host_files(dataclasses.replace(app_context, dicom_modalities=MODALITIES))
    orthanc = json.loads(files["orthanc.json"])
    assert orthanc["DicomModalitiesInDatabase"] is False
    assert orthanc["OrthancPeersInDatabase"] is False
    assert orthanc_unknown_modality_keys(orthanc) == []
    entries = orthanc["DicomModalities"]
    assert {name: (e["AET"], e["Host"], e["Port"]) for name, e in entries.items()} == {
        "CT_SCANNER_1": ("CT_SCANNER_1", "10.20.0.15", 104),
        "WS-2": ("WS-2", "192.0.2.7", 11112),
    }
    for entry in entries.values():
        assert entry["AllowFind"] and entry["AllowMove"] and entry["AllowGet"]
        assert not entry["AllowFindWorklist"] and not entry["AllowStorageCommitment"]
    # Nothing per replica: the compose file only names each replica's own server identifier.
    compose = yaml.safe_load(files["docker-compose.yml"])
    for name in app_context.replica_names:
        assert not any("MODALIT" in key for key in compose["services"][name]["environment"])


def test_a_misspelled_modality_key_is_caught() -> None:
    assert orthanc_unknown_modality_keys({"DicomModalities": {"a": {"AET": "A", "AllowFinds": True}}}) == [
        "DicomModalities.a.AllowFinds"
    ]


@pytest.mark.parametrize(
    ("modalities", "why"),
    [
        ((DicomModality("A", "10.0.0.1", 104), DicomModality("a", "10.0.0.2", 104)), "twice"),
        (tuple(DicomModality(f"M{i}", "10.0.0.1", 104) for i in range(21)), "at most 20"),
    ],
)
def test_the_context_refuses_a_bad_modality_list(
    app_context: HostAppContext, modalities: tuple[DicomModality, ...], why: str
) -> None:
    with pytest.raises(ValueError, match=r"HostAppContext\.dicom_modalities"):
        dataclasses.replace(app_context, dicom_modalities=modalities)
    assert why  # documents which rule each case breaks
