"""The hospital's Site-to-Site VPN as its network team needs it (config `hospitalNetwork`).

The connection is found by its tags. Its tunnels' addresses and pre-shared keys come from the
customer gateway configuration AWS returns with DescribeVpnConnections (the "generic" document of
the Site-to-Site VPN User Guide); the IKE and IPsec choices are the ones the stack configured
(orthweb.infra.hospital_network), which AWS's generic document does not show. The keys go to a
file readable by its owner only, and are registered with the redaction so no message shows them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from typing import Any

from orthweb.infra.hospital_network import (
    DH_GROUPS,
    ENCRYPTION_ALGORITHMS,
    IKE_VERSIONS,
    INTEGRITY_ALGORITHMS,
)
from orthweb.ops.aws import OpsError, call_aws, tag_filters, tags_of
from orthweb.ops.tagged import TaggedStack
from orthweb.shared import redaction
from orthweb.shared.constants import PLAIN_DICOM_TAG, VPN_ROLE

# The states in which a connection exists (DescribeVpnConnections also lists deleted ones for a while).
LIVE_STATES = ("pending", "available")


@dataclass(frozen=True)
class Tunnel:
    aws_outside_address: str
    device_outside_address: str
    aws_inside_address: str
    device_inside_address: str
    inside_prefix: str
    # Never in a repr or message; only `VpnSettings.file_content` writes it.
    pre_shared_key: str = field(default="", repr=False)
    aws_asn: str = ""
    device_asn: str = ""
    # UP or DOWN as AWS reports it (VgwTelemetry), "" when it does not.
    status: str = ""


@dataclass(frozen=True)
class VpnSettings:
    connection_id: str
    state: str
    static_routes: tuple[str, ...] | None  # None: BGP
    tunnels: tuple[Tunnel, ...]
    # "address:port" where modalities send plain DICOM.
    destinations: tuple[str, ...]

    def file_content(self, stack: str) -> str:
        """The device's settings, pre-shared keys included: for a file only its owner reads."""
        lines = [
            f"# orthweb {stack}: AWS Site-to-Site VPN {self.connection_id}, settings for the hospital's VPN device.",
            "# This file holds the tunnels' pre-shared keys: keep it as secret as a password.",
            f"routing = {'static: ' + ', '.join(self.static_routes) if self.static_routes is not None else 'BGP'}",
            f"ike_versions = {', '.join(IKE_VERSIONS)}",
            f"encryption = {', '.join(ENCRYPTION_ALGORITHMS)}  (phase 1 and phase 2)",
            f"integrity = {', '.join(INTEGRITY_ALGORITHMS)}  (phase 1 and phase 2)",
            f"dh_groups = {', '.join(map(str, DH_GROUPS))}  (phase 1 and phase 2, perfect forward secrecy)",
        ]
        for number, tunnel in enumerate(self.tunnels, start=1):
            lines += [
                "",
                f"[tunnel {number}]",
                f"aws_outside_address = {tunnel.aws_outside_address}",
                f"device_outside_address = {tunnel.device_outside_address}",
                f"aws_inside_address = {tunnel.aws_inside_address}/{tunnel.inside_prefix}",
                f"device_inside_address = {tunnel.device_inside_address}/{tunnel.inside_prefix}",
                f"pre_shared_key = {tunnel.pre_shared_key}",
            ]
            if self.static_routes is None:
                lines += [f"bgp_aws_asn = {tunnel.aws_asn}", f"bgp_device_asn = {tunnel.device_asn}"]
        return "\n".join(lines) + "\n"


def hospital_vpn(tagged: TaggedStack) -> VpnSettings | None:
    """The stack's VPN connection to the hospital, or None when it has none."""
    connection = vpn_connection(tagged)
    return None if connection is None else settings_of(connection)


def vpn_connection(tagged: TaggedStack) -> dict[str, Any] | None:
    """The stack's VPN connection as DescribeVpnConnections returns it, or None when it has none."""
    filters = [*tag_filters(tagged.stack, (VPN_ROLE,)), {"Name": "state", "Values": list(LIVE_STATES)}]
    found = call_aws(tagged.clients.ec2, "describe_vpn_connections", Filters=filters).get("VpnConnections", [])
    if not found:
        return None
    if len(found) > 1:
        raise OpsError(f"found {len(found)} VPN connections tagged for stack {tagged.stack}; expected one")
    return found[0]


@dataclass(frozen=True)
class TunnelState:
    """One tunnel as AWS reports it (VgwTelemetry): its AWS outside address, UP or DOWN, and why."""

    outside_address: str
    status: str
    message: str = ""

    @property
    def up(self) -> bool:
        return self.status == "UP"

    def describe(self) -> str:
        return f"{self.outside_address} {self.status or 'no state'}" + (f" ({self.message})" if self.message else "")


def tunnel_states(connection: dict[str, Any]) -> tuple[TunnelState, ...]:
    """The connection's tunnels as AWS last reported them; empty when it reports none."""
    return tuple(
        TunnelState(str(t.get("OutsideIpAddress", "")), str(t.get("Status", "")), str(t.get("StatusMessage", "")))
        for t in connection.get("VgwTelemetry", [])
    )


def destinations_of(connection: dict[str, Any]) -> tuple[str, ...]:
    """Where modalities send plain DICOM ("address:port"), as `pulumi up` tagged the connection."""
    return tuple(tags_of(connection.get("Tags")).get(PLAIN_DICOM_TAG, "").split())


def settings_of(connection: dict[str, Any]) -> VpnSettings:
    document = connection.get("CustomerGatewayConfiguration") or ""
    if not document:
        raise OpsError(
            f"AWS returned no tunnel settings for {connection['VpnConnectionId']} (state "
            f"{connection.get('State', '?')}); try again once it is available"
        )
    status = {t.get("OutsideIpAddress"): t.get("Status", "") for t in connection.get("VgwTelemetry", [])}
    tunnels = tuple(_tunnel(element, status) for element in _parsed(document).iter("ipsec_tunnel"))
    static = bool(connection.get("Options", {}).get("StaticRoutesOnly"))
    routes = tuple(r["DestinationCidrBlock"] for r in connection.get("Routes", []) if r.get("State") != "deleted")
    destinations = destinations_of(connection)
    return VpnSettings(
        connection_id=connection["VpnConnectionId"],
        state=connection.get("State", ""),
        static_routes=routes if static else None,
        tunnels=tunnels,
        destinations=destinations,
    )


def _parsed(document: str) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(document)
    except ElementTree.ParseError:
        raise OpsError("AWS's customer gateway configuration could not be read (not the XML it documents)") from None


def _tunnel(element: ElementTree.Element, status: dict[str | None, str]) -> Tunnel:
    def text(path: str) -> str:
        return (element.findtext(path) or "").strip()

    key = text("ike/pre_shared_key")
    if key:
        redaction.register(key)
    aws_outside = text("vpn_gateway/tunnel_outside_address/ip_address")
    return Tunnel(
        aws_outside_address=aws_outside,
        device_outside_address=text("customer_gateway/tunnel_outside_address/ip_address"),
        aws_inside_address=text("vpn_gateway/tunnel_inside_address/ip_address"),
        device_inside_address=text("customer_gateway/tunnel_inside_address/ip_address"),
        inside_prefix=text("vpn_gateway/tunnel_inside_address/network_cidr"),
        pre_shared_key=key,
        aws_asn=text("vpn_gateway/bgp/asn"),
        device_asn=text("customer_gateway/bgp/asn"),
        status=status.get(aws_outside, ""),
    )
