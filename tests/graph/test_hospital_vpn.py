"""`hospitalNetwork`: the Site-to-Site VPN and the plain-DICOM path, in every topology.

The tunnel options are checked against what the EC2 API accepts, read from botocore's model of
`VpnTunnelOptionsSpecification` (its "Valid values" lists), and against the weak choices AWS still
allows and RFC 8247 ("Algorithm Implementation Requirements and Usage Guidance for IKEv2") tells
implementations not to use: IKEv1, SHA-1, Diffie-Hellman groups 2, 5 (1024/1536-bit MODP) and
22-24 (MODP with small subgroups).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from orthweb.evaluate import Evaluation, evaluate
from orthweb.infra.hospital_network import site_address, site_subnet
from orthweb.ops import billable
from orthweb.ops.cost import estimate

INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
CONNECTION = "aws:ec2/vpnConnection:VpnConnection"
DEVICE = "81.2.69.160"
HOSPITAL = ["10.20.0.0/16", "192.168.8.0/24"]
# Every variant: topology, environment, routing, port.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "failover-static": ("dev", {"hospitalNetwork": {"cidrs": HOSPITAL, "vpnDeviceAddress": DEVICE}}),
    "failover-bgp-prod-port": (
        "prod",
        {"hospitalNetwork": {"cidrs": HOSPITAL, "vpnDeviceAddress": DEVICE, "bgpAsn": 65010, "dicomPort": 4104}},
    ),
    "scale-out": (
        "dev",
        {"topology": "scale-out", "hospitalNetwork": {"cidrs": HOSPITAL, "vpnDeviceAddress": DEVICE}},
    ),
}


_EVALUATED: dict[str, Evaluation] = {}


def evaluated(name: str, home: Path) -> Evaluation:
    """Each variant evaluated once for the module (a whole-program run takes seconds)."""
    if name not in _EVALUATED:
        stack, overrides = VARIANTS[name]
        _EVALUATED[name] = evaluate(stack, overrides, home=home)
    return _EVALUATED[name]


@pytest.fixture(params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest, empty_home: Path) -> tuple[Evaluation, dict[str, Any]]:
    return evaluated(request.param, empty_home), VARIANTS[request.param][1]["hospitalNetwork"]


def rules_on(evaluation: Evaluation, kind: str, port: int) -> list[Any]:
    return [r for r in evaluation.of_type(kind) if r.inputs["fromPort"] <= port <= r.inputs["toPort"]]


def test_no_rule_opens_the_plain_port_beyond_the_hospital(variant: tuple[Evaluation, dict[str, Any]]) -> None:
    evaluation, hospital = variant
    port = hospital.get("dicomPort", 104)
    hospital_networks = [ipaddress.IPv4Network(cidr) for cidr in hospital["cidrs"]]
    rules = rules_on(evaluation, INGRESS, port)
    assert rules, "nothing admits plain DICOM"
    by_cidr = [r for r in rules if r.inputs.get("cidrIpv4")]
    assert sorted(r.inputs["cidrIpv4"] for r in by_cidr) == sorted(hospital["cidrs"])
    for rule in by_cidr:
        network = ipaddress.IPv4Network(rule.inputs["cidrIpv4"])
        assert any(network.subnet_of(allowed) for allowed in hospital_networks)
    # A rule naming a security group names the internal load balancer's, which admits the ranges alone.
    for rule in rules:
        if rule.inputs.get("referencedSecurityGroupId"):
            peer = next(
                g
                for g in evaluation.of_type("aws:ec2/securityGroup:SecurityGroup")
                if g.id == rule.inputs["referencedSecurityGroupId"]
            )
            assert peer.name == "orthweb-private-dicom-sg"
    assert not [r for r in rules if r.inputs.get("cidrIpv4") == "0.0.0.0/0" or r.inputs.get("cidrIpv6")]


def test_without_a_hospital_network_nothing_changes(dev: Evaluation) -> None:
    assert not rules_on(dev, INGRESS, 104)
    assert not [r for r in dev.resources if "Vpn" in r.type or "CustomerGateway" in r.type]
    assert all(r.inputs.get("sourceDestCheck", True) is not False for r in dev.of_type("aws:ec2/instance:Instance"))


def _valid_values(member: str) -> set[str]:
    """The values botocore's documentation of the EC2 tunnel option lists as valid."""
    shape = botocore.session.get_session().get_service_model("ec2").shape_for("VpnTunnelOptionsSpecification")
    documentation = shape.members[member].documentation
    return set(re.findall(r"<code>([^<]+)</code>", documentation.split("Valid values", 1)[1]))


def test_tunnel_options_are_ikev2_and_strong_suites_aws_accepts(variant: tuple[Evaluation, dict[str, Any]]) -> None:
    connection = variant[0].one(CONNECTION).inputs
    for tunnel in (1, 2):
        prefix = f"tunnel{tunnel}"
        assert connection[f"{prefix}IkeVersions"] == ["ikev2"]
        assert set(connection[f"{prefix}IkeVersions"]) <= _valid_values("IKEVersions")
        for phase in ("Phase1", "Phase2"):
            encryption = set(connection[f"{prefix}{phase}EncryptionAlgorithms"])
            integrity = set(connection[f"{prefix}{phase}IntegrityAlgorithms"])
            groups = {int(g) for g in connection[f"{prefix}{phase}DhGroupNumbers"]}
            assert encryption <= _valid_values(f"{phase}EncryptionAlgorithms")
            assert integrity <= _valid_values(f"{phase}IntegrityAlgorithms")
            assert {str(g) for g in groups} <= _valid_values(f"{phase}DHGroupNumbers")
            assert encryption and all(name.startswith("AES256") for name in encryption)
            assert integrity and "SHA1" not in integrity
            assert groups and not groups & {2, 5, 22, 23, 24}


def test_routes_reach_the_hospital_from_both_route_tables(variant: tuple[Evaluation, dict[str, Any]]) -> None:
    evaluation, hospital = variant
    connection = evaluation.one(CONNECTION)
    gateway = evaluation.one("aws:ec2/vpnGateway:VpnGateway")
    customer = evaluation.one("aws:ec2/customerGateway:CustomerGateway").inputs
    assert customer["ipAddress"] == DEVICE and customer["type"] == "ipsec.1"
    assert gateway.inputs["vpcId"] == evaluation.one("aws:ec2/vpc:Vpc").id
    static = "bgpAsn" not in hospital
    assert connection.inputs["staticRoutesOnly"] is static
    assert customer["bgpAsn"] == str(hospital.get("bgpAsn", 65000))
    routes = sorted(
        r.inputs["destinationCidrBlock"] for r in evaluation.of_type("aws:ec2/vpnConnectionRoute:VpnConnectionRoute")
    )
    assert routes == (sorted(hospital["cidrs"]) if static else [])
    propagated = {
        r.inputs["routeTableId"]
        for r in evaluation.of_type("aws:ec2/vpnGatewayRoutePropagation:VpnGatewayRoutePropagation")
    }
    tables = {
        evaluation.named("orthweb-network-public-routes").id,
        evaluation.named("orthweb-network-private-routes").id,
    }
    assert propagated == tables


def test_failover_routes_the_site_address_to_the_serving_host(empty_home: Path) -> None:
    evaluation = evaluated("failover-static", empty_home)
    vpc_cidr = evaluation.config.vpc_cidr
    table = evaluation.named("orthweb-hospital-vpn-gateway-routes")
    edge = evaluation.named("orthweb-hospital-vpn-gateway-routes-edge").inputs
    assert edge["gatewayId"] == evaluation.one("aws:ec2/vpnGateway:VpnGateway").id and edge["routeTableId"] == table.id
    route = evaluation.named("orthweb-hospital-vpn-site-route").inputs
    primary = evaluation.named("orthweb-hosts-primary")
    assert route["destinationCidrBlock"] == site_subnet(vpc_cidr)
    assert route["networkInterfaceId"] == primary.state["primaryNetworkInterfaceId"]
    # A whole subnet where nothing runs: AWS routes a gateway's traffic to subnets only.
    subnet = evaluation.named("orthweb-hospital-vpn-site-subnet").inputs
    assert subnet["cidrBlock"] == site_subnet(vpc_cidr) and subnet["mapPublicIpOnLaunch"] is False
    assert ipaddress.IPv4Address(site_address(vpc_cidr)) in ipaddress.IPv4Network(site_subnet(vpc_cidr))
    for host in evaluation.of_type("aws:ec2/instance:Instance"):
        assert host.inputs["sourceDestCheck"] is False


def test_scale_out_listens_on_fixed_private_addresses_only(empty_home: Path) -> None:
    evaluation = evaluated("scale-out", empty_home)
    internal = evaluation.named("orthweb-private-dicom-nlb").inputs
    assert internal["internal"] is True
    private = {
        evaluation.named(f"orthweb-network-private-{z}").id: evaluation.named(f"orthweb-network-private-{z}").inputs[
            "cidrBlock"
        ]
        for z in "ab"
    }
    for mapping in internal["subnetMappings"]:
        assert "allocationId" not in mapping
        assert ipaddress.IPv4Address(mapping["privateIpv4Address"]) in ipaddress.IPv4Network(
            private[mapping["subnetId"]]
        )
    listener = evaluation.named("orthweb-private-dicom-listener").inputs
    assert listener["port"] == 104 and listener["protocol"] == "TCP"
    public_lb = evaluation.named("orthweb-load-balancer-nlb").inputs
    assert public_lb["internal"] is False
    assert not [
        listener
        for listener in evaluation.of_type("aws:lb/listener:Listener")
        if listener.inputs["port"] == 104
        and listener.inputs["loadBalancerArn"] != evaluation.named("orthweb-private-dicom-nlb").state.get("arn")
    ]


def test_plan_prices_the_vpn_connection_and_the_internal_load_balancer(
    variant: tuple[Evaluation, dict[str, Any]],
) -> None:
    """$0.05 per connection-hour in us-east-1 (aws.amazon.com/vpn/pricing); an NLB $0.0225 an hour."""
    evaluation = variant[0]
    assert billable.unclassified({r.type for r in evaluation.resources if r.custom}) == []
    result = estimate(evaluation.resources, "us-east-1")
    assert result.complete
    by_item = {item.item: item for item in result.items}
    vpn = by_item["Site-to-Site VPN connection (two tunnels)"]
    assert vpn.monthly_usd == pytest.approx(730 * 0.05, abs=0.01)
    internal = by_item.get("Network Load Balancer, internal (plain DICOM)")
    scale_out = evaluation.config.topology == "scale-out"
    assert (internal is not None) is scale_out
    if internal is not None:
        assert internal.monthly_usd == pytest.approx(730 * 0.0225, abs=0.01)


def test_both_tunnels_down_for_five_minutes_alarms_the_stack_topic(
    variant: tuple[Evaluation, dict[str, Any]],
) -> None:
    """AWS/VPN TunnelState by VpnId (Site-to-Site VPN User Guide, "Monitoring your Site-to-Site VPN
    connection"): 1 while a tunnel is up, 0 while down; the Maximum is 0 only with both down."""
    evaluation = variant[0]
    (alarm,) = [a for a in evaluation.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if "vpn" in a.name]
    inputs = alarm.inputs
    assert (inputs["namespace"], inputs["metricName"], inputs["statistic"]) == ("AWS/VPN", "TunnelState", "Maximum")
    assert inputs["dimensions"] == {"VpnId": evaluation.one(CONNECTION).id}
    assert inputs["period"] * inputs["evaluationPeriods"] == 300
    assert (inputs["comparisonOperator"], inputs["threshold"]) == ("LessThanOrEqualToThreshold", 0)
    topic = evaluation.one("aws:sns/topic:Topic").state["arn"]
    assert inputs["alarmActions"] == [topic] and inputs["okActions"] == [topic]
    dashboard = evaluation.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"]
    assert "TunnelState" in dashboard and evaluation.one(CONNECTION).id in dashboard


def test_no_vpn_alarm_without_a_hospital_network(dev: Evaluation) -> None:
    assert not [a for a in dev.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") if "vpn" in a.name]
    assert "TunnelState" not in dev.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"]


def test_the_connection_names_where_modalities_send_plain_dicom(variant: tuple[Evaluation, dict[str, Any]]) -> None:
    """`orthweb vpn` prints the modality settings from this tag: it must be where the listener is."""
    evaluation, hospital = variant
    tag = evaluation.one(CONNECTION).inputs["tags"]["orthweb:plain-dicom"].split()
    port = hospital.get("dicomPort", 104)
    if evaluation.config.topology == "scale-out":
        mappings = evaluation.named("orthweb-private-dicom-nlb").inputs["subnetMappings"]
        assert tag == [f"{m['privateIpv4Address']}:{port}" for m in mappings]
    else:
        assert tag == [f"{site_address(evaluation.config.vpc_cidr)}:{port}"]
