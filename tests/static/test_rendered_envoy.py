"""envoy.yaml: accepted by the real Envoy 1.40 and shaped as the hosts need it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from orthweb.host.layout import HEALTH_AUTH_PLACEHOLDER
from orthweb.shared.constants import TCP_KEEPALIVE_SECONDS, TRANSFER_IDLE_TIMEOUT_SECONDS
from tests.static.static_checks import (
    CheckFailed,
    SiteCertificate,
    envoy_cluster_references,
    envoy_validate,
    with_local_certificates,
)


@pytest.fixture
def local_envoy(rendered: dict[str, str], site_certificate: SiteCertificate) -> str:
    return with_local_certificates(rendered["envoy.yaml"], site_certificate.cert_path, site_certificate.key_path)


@pytest.fixture(scope="module")
def envoy(rendered: dict[str, str]) -> dict[str, Any]:
    return yaml.safe_load(rendered["envoy.yaml"])


def _listener(envoy: dict[str, Any], name: str) -> dict[str, Any]:
    (listener,) = [x for x in envoy["static_resources"]["listeners"] if x["name"] == name]
    return listener


def test_envoy_validates(local_envoy: str, tmp_path: Path) -> None:
    envoy_validate(local_envoy, tmp_path)


def test_every_referenced_cluster_exists(rendered: dict[str, str]) -> None:
    envoy_cluster_references(rendered["envoy.yaml"])


def test_a_misspelled_field_fails_validation(local_envoy: str, tmp_path: Path) -> None:
    broken = local_envoy.replace("healthy_panic_threshold", "healthy_panik_threshold", 1)
    with pytest.raises(CheckFailed, match="healthy_panik_threshold"):
        envoy_validate(broken, tmp_path)


def test_a_tcp_proxy_to_an_unknown_cluster_fails_our_check(local_envoy: str, tmp_path: Path) -> None:
    broken = local_envoy.replace("cluster: orthanc_dicom", "cluster: orthanc_dicomm", 1)
    envoy_validate(broken, tmp_path)  # Envoy itself lets this through ...
    with pytest.raises(CheckFailed, match="orthanc_dicomm"):
        envoy_cluster_references(broken)  # ... which is why we check it


def test_admin_is_bound_to_localhost(envoy: dict[str, Any]) -> None:
    assert envoy["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"


@pytest.mark.parametrize(("name", "port"), [("https", 443), ("dicom_tls", 11112)])
def test_listeners_terminate_tls_1_2_or_later_with_the_site_certificate(
    envoy: dict[str, Any], name: str, port: int
) -> None:
    listener = _listener(envoy, name)
    assert listener["address"]["socket_address"]["port_value"] == port
    (chain,) = listener["filter_chains"]
    tls = chain["transport_socket"]["typed_config"]
    assert tls["@type"].endswith("DownstreamTlsContext")
    common = tls["common_tls_context"]
    assert common["tls_params"]["tls_minimum_protocol_version"] == "TLSv1_2"
    (certificate,) = common["tls_certificates"]
    assert certificate["certificate_chain"]["filename"] == "/run/secrets/site.crt"
    assert certificate["private_key"]["filename"] == "/run/secrets/site.key"


def _orthanc_routes(envoy: dict[str, Any]) -> list[dict[str, Any]]:
    (chain,) = _listener(envoy, "https")["filter_chains"]
    (hcm,) = chain["filters"]
    (vhost,) = hcm["typed_config"]["route_config"]["virtual_hosts"]
    return [r for r in vhost["routes"] if "route" in r]


def test_https_has_no_timeouts_and_cookie_affinity(envoy: dict[str, Any]) -> None:
    (chain,) = _listener(envoy, "https")["filter_chains"]
    (hcm,) = chain["filters"]
    assert hcm["typed_config"]["request_timeout"] == "0s"
    # Envoy's default stream idle timeout is 300 s (HttpConnectionManager.stream_idle_timeout).
    assert _seconds(hcm["typed_config"]["stream_idle_timeout"]) == TRANSFER_IDLE_TIMEOUT_SECONDS > 300
    routes = _orthanc_routes(envoy)
    assert routes and routes[-1]["match"] == {"prefix": "/"}  # every request reaches Orthanc
    for route in routes:
        assert route["route"]["cluster"] == "orthanc_http"
        assert route["route"]["timeout"] == "0s"
        (policy,) = route["route"]["hash_policy"]
        assert policy["cookie"]["name"] and policy["cookie"]["ttl"] != "0s"


@pytest.mark.parametrize("name", ["https", "dicom_tls"])
def test_client_connections_send_tcp_keepalives(envoy: dict[str, Any], name: str) -> None:
    """Linux numbers: SOL_SOCKET 1, SO_KEEPALIVE 9; IPPROTO_TCP 6, TCP_KEEPIDLE 4, TCP_KEEPINTVL 5
    (asm-generic/socket.h, netinet/tcp.h). Shorter than the load balancer's 350 s idle timeout."""
    options = {(o["level"], o["name"]): o["int_value"] for o in _listener(envoy, name)["socket_options"]}
    assert options == {(1, 9): 1, (6, 4): TCP_KEEPALIVE_SECONDS, (6, 5): TCP_KEEPALIVE_SECONDS}
    assert TCP_KEEPALIVE_SECONDS < 350


def _seconds(duration: str) -> float:
    assert duration.endswith("s"), duration
    return float(duration[:-1])


def test_envoy_drops_idle_upstream_connections_before_orthanc(envoy: dict[str, Any], rendered: dict[str, str]) -> None:
    """Else Envoy may send a request on a connection Orthanc is closing: the client gets a 503."""
    (cluster,) = [c for c in envoy["static_resources"]["clusters"] if c["name"] == "orthanc_http"]
    options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    idle = _seconds(options["common_http_protocol_options"]["idle_timeout"])
    orthanc = json.loads(rendered["orthanc.json"])
    assert orthanc["KeepAlive"] is True
    # Below the configured keep-alive, and below Orthanc's 1 s default should the key be ignored.
    assert 0 < idle <= min(orthanc["KeepAliveTimeout"], 1) / 2


def test_only_safe_methods_are_retried_after_a_reset(envoy: dict[str, Any]) -> None:
    """A reset may come after Orthanc processed the request: only a GET can safely be sent again."""
    for route in _orthanc_routes(envoy):
        retry_on = set(route["route"]["retry_policy"]["retry_on"].split(","))
        assert {"connect-failure", "refused-stream"} <= retry_on
        methods = [h for h in route["match"].get("headers", []) if h["name"] == ":method"]
        if "reset" in retry_on:
            (method,) = methods
            assert set(method["string_match"]["safe_regex"]["regex"].split("|")) <= {"GET", "HEAD", "OPTIONS"}
        else:
            assert methods == []
    assert any("reset" in r["route"]["retry_policy"]["retry_on"].split(",") for r in _orthanc_routes(envoy))


def test_dicom_is_proxied_as_tcp_to_port_4242(envoy: dict[str, Any]) -> None:
    (chain,) = _listener(envoy, "dicom_tls")["filter_chains"]
    (proxy,) = chain["filters"]
    assert proxy["name"] == "envoy.filters.network.tcp_proxy"
    assert proxy["typed_config"]["cluster"] == "orthanc_dicom"


@pytest.mark.parametrize("cluster_name", ["orthanc_http", "orthanc_dicom"])
def test_dead_replicas_leave_rotation_within_seconds(envoy: dict[str, Any], cluster_name: str) -> None:
    (cluster,) = [c for c in envoy["static_resources"]["clusters"] if c["name"] == cluster_name]
    assert cluster["common_lb_config"]["healthy_panic_threshold"]["value"] == 0
    outlier = cluster["outlier_detection"]
    assert outlier["consecutive_local_origin_failure"] == 1
    assert outlier["split_external_local_origin_errors"] is True
    (check,) = cluster["health_checks"]
    assert int(check["no_traffic_interval"].rstrip("s")) <= 5
    http = check["http_health_check"]
    assert http["path"] == "/changes?last"  # reads the index: a replica without its database fails
    (header,) = http["request_headers_to_add"]
    assert header["header"]["key"].lower() == "authorization"
    assert header["header"]["value"] == HEALTH_AUTH_PLACEHOLDER  # filled at boot, never rendered


def test_registering_a_modality_or_peer_is_refused_with_guidance(envoy: dict[str, Any]) -> None:
    (chain,) = _listener(envoy, "https")["filter_chains"]
    (hcm,) = chain["filters"]
    (vhost,) = hcm["typed_config"]["route_config"]["virtual_hosts"]
    first = vhost["routes"][0]  # before any route to Orthanc
    pattern = re.compile(first["match"]["safe_regex"]["regex"])
    for path in ("/modalities/ct1", "/peers/other/", "/modalities/CT_1"):
        assert pattern.fullmatch(path), path
    for path in ("/modalities", "/modalities/ct1/echo", "/modalities/ct1/move", "/instances/x"):
        assert not pattern.fullmatch(path), path
    (method,) = first["match"]["headers"]
    assert method["name"] == ":method"
    assert set(method["string_match"]["safe_regex"]["regex"].split("|")) == {"PUT", "DELETE"}
    answer = first["direct_response"]
    assert answer["status"] == 403
    assert "dicomModalities" in answer["body"]["inline_string"]


def test_endpoints_carry_the_replica_name_for_the_admin_page(envoy: dict[str, Any]) -> None:
    """start.sh --rolling finds a replica on Envoy's /clusters page by this hostname."""
    replica_clusters = [c for c in envoy["static_resources"]["clusters"] if c["name"].startswith("orthanc_")]
    assert len(replica_clusters) == 2
    for cluster in replica_clusters:
        for group in cluster["load_assignment"]["endpoints"]:
            for endpoint in group["lb_endpoints"]:
                address = endpoint["endpoint"]["address"]["socket_address"]["address"]
                assert endpoint["endpoint"]["hostname"] == address, cluster["name"]
