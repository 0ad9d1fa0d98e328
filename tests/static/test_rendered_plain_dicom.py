"""The plain-DICOM listener (`hospitalNetwork`) as the hosts get it: accepted by the real Envoy,
the same TCP proxy to the same replicas as DICOM-TLS, published on the site's private address only
(failover) or for the internal load balancer (scale-out), and the TLS listener left as it was."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from orthweb.host.context import ANY_ADDRESS, HostAppContext
from orthweb.host.render import render_host_files
from orthweb.infra.hospital_network import HOST_PORTS, port_reason
from orthweb.shared.constants import DICOM_TLS_PORT, GROUP_MEMBER, HTTPS_PORT, LB_HEALTH_PORT
from tests.static.static_checks import (
    SiteCertificate,
    envoy_cluster_references,
    envoy_validate,
    with_local_certificates,
)

SITE_ADDRESS = "172.27.255.244"


def _listeners(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {x["name"]: x for x in yaml.safe_load(files["envoy.yaml"])["static_resources"]["listeners"]}


@pytest.fixture(scope="module")
def with_plain(app_context: HostAppContext) -> dict[str, str]:
    return render_host_files(dataclasses.replace(app_context, plain_dicom_port=104, plain_dicom_address=SITE_ADDRESS))


def test_the_plain_listener_validates_in_envoy(
    with_plain: dict[str, str], site_certificate: SiteCertificate, tmp_path: Path
) -> None:
    local = with_local_certificates(with_plain["envoy.yaml"], site_certificate.cert_path, site_certificate.key_path)
    envoy_validate(local, tmp_path)
    envoy_cluster_references(with_plain["envoy.yaml"])


def test_plain_dicom_is_the_tls_listener_s_proxy_without_tls(
    with_plain: dict[str, str], rendered: dict[str, str]
) -> None:
    listeners, before = _listeners(with_plain), _listeners(rendered)
    assert "dicom_plain" not in before
    # DICOM-TLS is unchanged, byte for byte in its parsed form.
    assert listeners["dicom_tls"] == before["dicom_tls"]
    plain = listeners["dicom_plain"]
    assert plain["address"]["socket_address"]["port_value"] == 104
    (chain,) = plain["filter_chains"]
    assert "transport_socket" not in chain
    (tls_chain,) = listeners["dicom_tls"]["filter_chains"]
    (proxy,), (tls_proxy,) = chain["filters"], tls_chain["filters"]
    assert proxy["typed_config"]["cluster"] == tls_proxy["typed_config"]["cluster"] == "orthanc_dicom"
    assert proxy["typed_config"]["stat_prefix"] == "dicom_plain"
    assert {k: v for k, v in proxy["typed_config"].items() if k != "stat_prefix"} == {
        k: v for k, v in tls_proxy["typed_config"].items() if k != "stat_prefix"
    }


def test_failover_publishes_the_port_on_the_site_private_address_only(with_plain: dict[str, str]) -> None:
    ports = yaml.safe_load(with_plain["docker-compose.yml"])["services"]["envoy"]["ports"]
    assert f"{SITE_ADDRESS}:104:104" in ports
    assert not [p for p in ports if str(p).endswith(":104") and not str(p).startswith(f"{SITE_ADDRESS}:")]
    # The host takes the address before docker publishes on it, at every start of the service.
    unit = with_plain["orthweb.service"]
    take = f"ExecStartPre=/usr/sbin/ip address replace {SITE_ADDRESS}/32 dev lo"
    assert take in unit and unit.index(take) < unit.index("ExecStart=")


def test_scale_out_publishes_for_the_internal_load_balancer(app_context: HostAppContext) -> None:
    member = dataclasses.replace(
        app_context, host_role=GROUP_MEMBER, plain_dicom_port=104, plain_dicom_address=ANY_ADDRESS
    )
    files = render_host_files(member)
    assert "0.0.0.0:104:104" in yaml.safe_load(files["docker-compose.yml"])["services"]["envoy"]["ports"]
    assert "ip address" not in files["orthweb.service"]


@pytest.mark.parametrize(
    ("port", "address"), [(None, SITE_ADDRESS), (104, ""), (104, "81.2.69.160"), (104, "site"), (70000, ANY_ADDRESS)]
)
def test_a_listener_without_a_private_address_is_refused(app_context: HostAppContext, port: Any, address: str) -> None:
    with pytest.raises(ValueError, match="plain_dicom"):
        dataclasses.replace(app_context, plain_dicom_port=port, plain_dicom_address=address)


def _ports_in_use(files: dict[str, str]) -> set[int]:
    """Every TCP port the rendered host binds or publishes: Envoy's listeners and admin, what compose
    publishes on the host, and each Orthanc replica's ports."""
    envoy = yaml.safe_load(files["envoy.yaml"])
    ports = {x["address"]["socket_address"]["port_value"] for x in envoy["static_resources"]["listeners"]}
    ports.add(envoy["admin"]["address"]["socket_address"]["port_value"])
    services = yaml.safe_load(files["docker-compose.yml"])["services"]
    for service in services.values():
        ports |= {int(str(p).rsplit(":", 2)[-2]) for p in service.get("ports", [])}
        ports |= {int(p) for p in service.get("expose", [])}
    orthanc = json.loads(files["orthanc.json"])
    return ports | {orthanc["HttpPort"], orthanc["DicomPort"]}


def test_every_port_a_host_uses_is_one_the_plain_listener_may_not_take(app_context: HostAppContext) -> None:
    """A scale-out member with the plain listener binds the most ports; each but the plain one is in
    the table `hospitalNetwork.dicomPort` is checked against, so a new listener cannot slip past it."""
    member = dataclasses.replace(
        app_context, host_role=GROUP_MEMBER, plain_dicom_port=2104, plain_dicom_address=ANY_ADDRESS
    )
    in_use = _ports_in_use(render_host_files(member))
    assert 2104 in in_use and {HTTPS_PORT, DICOM_TLS_PORT, LB_HEALTH_PORT} <= in_use
    assert in_use - {2104} <= set(HOST_PORTS)
    for port in in_use - {2104}:
        assert port_reason(port).startswith(f"{port} is taken by ")
