"""`hospitalNetwork`: the hospital's side of the VPN, checked before anything is created.

The ASN rules are AWS's (Site-to-Site VPN User Guide, "Customer gateway options for your Site-to-Site
VPN connection": 1 to 4,294,967,295 except the reserved 7224 everywhere, 9059 in eu-west-1, 10124 in
ap-northeast-1, 17943 in ap-southeast-1); the AWS side's default ASN is 64512 (CreateVpnGateway).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orthweb.config.stack_config import ConfigError, load_config
from orthweb.infra.hospital_network import HospitalNetwork

DEVICE = "81.2.69.160"


def hospital(value: Any, home: Path, **raw: Any) -> HospitalNetwork | None:
    given = {"orthweb:hospitalNetwork": json.dumps(value), **raw}
    return load_config(given, stack="dev", home=home).hospital_network


def test_off_by_default_and_for_an_empty_object(empty_home: Path) -> None:
    assert load_config({}, stack="dev", home=empty_home).hospital_network is None
    assert hospital({}, empty_home) is None


def test_a_complete_object(empty_home: Path) -> None:
    given = {"cidrs": ["10.20.0.0/16", "192.168.8.0/24"], "vpnDeviceAddress": DEVICE, "bgpAsn": 65010}
    assert hospital(given, empty_home) == HospitalNetwork(
        cidrs=("10.20.0.0/16", "192.168.8.0/24"), vpn_device_address=DEVICE, bgp_asn=65010, dicom_port=104
    )


def test_static_routing_without_an_asn_and_a_chosen_port(empty_home: Path) -> None:
    network = hospital({"cidrs": ["10.20.0.0/16"], "vpnDeviceAddress": DEVICE, "dicomPort": 4104}, empty_home)
    assert network is not None and network.static_routing and network.dicom_port == 4104


@pytest.mark.parametrize(
    ("value", "key", "message"),
    [
        ({"cidrs": ["0.0.0.0/0"], "vpnDeviceAddress": DEVICE}, "cidrs", "not a network a VPN can route to"),
        ({"cidrs": ["10.0.0.0/8", "0.0.0.0/1"], "vpnDeviceAddress": DEVICE}, "cidrs", "overlap"),
        ({"cidrs": ["127.0.0.0/8"], "vpnDeviceAddress": DEVICE}, "cidrs", "loopback"),
        ({"cidrs": ["169.254.0.0/16"], "vpnDeviceAddress": DEVICE}, "cidrs", "link-local"),
        ({"cidrs": ["240.0.0.0/4"], "vpnDeviceAddress": DEVICE}, "cidrs", "reserved"),
        ({"cidrs": ["10.0.0.0/8", "10.1.0.0/16"], "vpnDeviceAddress": DEVICE}, "cidrs", "overlap"),
        ({"cidrs": ["10.0.0.1/8"], "vpnDeviceAddress": DEVICE}, "cidrs", "host bits"),
        ({"cidrs": [], "vpnDeviceAddress": DEVICE}, "cidrs", "non-empty"),
        ({"cidrs": [f"10.{i}.0.0/16" for i in range(21)], "vpnDeviceAddress": DEVICE}, "cidrs", "at most 20"),
        # The VPC's own range (the default 172.27.0.0/16), whole or in part.
        ({"cidrs": ["172.27.5.0/24"], "vpnDeviceAddress": DEVICE}, "cidrs", "overlap the VPC's 172.27.0.0/16"),
        ({"cidrs": ["172.16.0.0/12"], "vpnDeviceAddress": DEVICE}, "cidrs", "overlap the VPC's"),
        ({"cidrs": ["10.0.0.0/8"], "vpnDeviceAddress": "10.1.1.1"}, "vpnDeviceAddress", "not a public address"),
        ({"cidrs": ["10.0.0.0/8"], "vpnDeviceAddress": "100.64.1.1"}, "vpnDeviceAddress", "not a public address"),
        ({"cidrs": ["10.0.0.0/8"], "vpnDeviceAddress": "203.0.113.9"}, "vpnDeviceAddress", "not a public address"),
        ({"cidrs": ["10.0.0.0/8"], "vpnDeviceAddress": "vpn.example.org"}, "vpnDeviceAddress", "public IPv4"),
        ({"cidrs": ["10.0.0.0/8"], "vpnDeviceAddress": 1}, "vpnDeviceAddress", "public IPv4"),
        ({"cidrs": ["10.0.0.0/8"]}, "vpnDeviceAddress", "required"),
        ({"vpnDeviceAddress": DEVICE}, "cidrs", "required"),
        ({"cidrs": ["10.0.0.0/8"], "vpnDeviceAddress": DEVICE, "bgpAs": 65010}, "bgpAs", "did you mean 'bgpAsn'"),
        ({"cidrs": ["10.0.0.0/8"], "vpnDeviceAddress": DEVICE, "bgpAsn": 0}, "bgpAsn", "from 1 to 4,294,967,295"),
        ({"cidrs": ["10.0.0.0/8"], "vpnDeviceAddress": DEVICE, "bgpAsn": 2**32}, "bgpAsn", "from 1 to"),
        ({"cidrs": ["10.0.0.0/8"], "vpnDeviceAddress": DEVICE, "bgpAsn": "x"}, "bgpAsn", "BGP ASN"),
        ({"cidrs": ["10.0.0.0/8"], "vpnDeviceAddress": DEVICE, "bgpAsn": 64512}, "bgpAsn", "AWS side's"),
        ({"cidrs": ["10.0.0.0/8"], "vpnDeviceAddress": DEVICE, "bgpAsn": 7224}, "bgpAsn", "reserved"),
        ({"cidrs": ["10.0.0.0/8"], "vpnDeviceAddress": DEVICE, "dicomPort": 0}, "dicomPort", "1 to 65535"),
        ({"cidrs": ["10.0.0.0/8"], "vpnDeviceAddress": DEVICE, "dicomPort": True}, "dicomPort", "1 to 65535"),
        (["10.0.0.0/8"], "hospitalNetwork ", "an object"),
    ],
)
def test_mistakes_are_one_line_naming_the_field(value: Any, key: str, message: str, empty_home: Path) -> None:
    with pytest.raises(ConfigError, match=f"orthweb:hospitalNetwork(\\.{key})?.*{message}") as caught:
        hospital(value, empty_home)
    text = str(caught.value)
    assert "\n" not in text and "[not shown]" not in text
    if key != "hospitalNetwork ":
        assert f"hospitalNetwork.{key}" in text


@pytest.mark.parametrize(
    ("port", "user"),
    [
        (22, "SSH"),
        (443, "HTTPS"),
        (11112, "DICOM-TLS"),
        (8081, "health checks"),
        (9901, "Envoy's admin"),
        (9902, "metrics"),
        (8042, "Orthanc's HTTP"),
        (4242, "Orthanc's DICOM"),
        (5432, "PostgreSQL"),
    ],
)
def test_a_port_the_hosts_use_is_refused_naming_its_user(port: int, user: str, empty_home: Path) -> None:
    value = {"cidrs": ["10.0.0.0/8"], "vpnDeviceAddress": DEVICE, "dicomPort": port}
    with pytest.raises(ConfigError) as caught:
        hospital(value, empty_home)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"config orthweb:hospitalNetwork.dicomPort = {port} is invalid: {port} is taken by ")
    assert user in text and "other than 22, 443, 4242, 5432, 8042, 8081, 9901, 9902, 11112" in text


@pytest.mark.parametrize("port", [1, 104, 2104, 4104, 11113, 65535])
def test_a_free_port_is_accepted(port: int, empty_home: Path) -> None:
    network = hospital({"cidrs": ["10.0.0.0/8"], "vpnDeviceAddress": DEVICE, "dicomPort": port}, empty_home)
    assert network is not None and network.dicom_port == port


def test_the_asn_reserved_in_one_region_is_refused_there_only(empty_home: Path) -> None:
    value = {"cidrs": ["10.0.0.0/8"], "vpnDeviceAddress": DEVICE, "bgpAsn": 9059}
    with pytest.raises(ConfigError, match="reserved in eu-west-1"):
        hospital(value, empty_home, **{"aws:region": "eu-west-1"})
    network = hospital(value, empty_home, **{"aws:region": "us-east-1"})
    assert network is not None and network.bgp_asn == 9059


def test_a_vpc_moved_away_from_the_hospital_ranges_is_accepted(empty_home: Path) -> None:
    value = {"cidrs": ["172.16.0.0/12"], "vpnDeviceAddress": DEVICE}
    network = hospital(value, empty_home, **{"orthweb:vpcCidr": "10.50.0.0/16"})
    assert network is not None and network.cidrs == ("172.16.0.0/12",)
