"""The hospital's network and the private path to it (pure: no Pulumi, no config reading).

With `hospitalNetwork` set, the stack reaches the hospital through an AWS Site-to-Site VPN and
serves plain DICOM (for modalities that cannot speak TLS) on a listener only the hospital's
ranges reach. This module holds what the config check, the VPN component, the hosts and the
operator tools must agree on: the settings, the tunnel options, and where the private listener's
address is in the VPC.

Where the modalities send plain DICOM:
- failover: one address of a /28 of the VPC where nothing runs (the last /28 of the VPC range);
  the VPN gateway's route table sends that /28 to the serving host's network interface, and
  `orthweb failover` moves the route with the Elastic IP. A host's own address cannot follow
  the site: the two hosts are in different subnets and zones, and a private address belongs to
  one subnet (AWS, "Gateway route tables": a gateway route table may send a whole subnet's CIDR to
  a network interface).
- scale-out: an internal Network Load Balancer with one fixed address in each private subnet.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

from orthweb.host.layout import ENVOY_ADMIN_PORT, ORTHANC_DICOM_PORT, ORTHANC_HTTP_PORT
from orthweb.infra.cidr import plan_subnets
from orthweb.shared.constants import DICOM_TLS_PORT, HTTPS_PORT, LB_HEALTH_PORT, POSTGRES_PORT
from orthweb.shared.telemetry import METRICS_PORT

# The port DICOM assigns to DIMSE without TLS (PS3.8, "DICOM Upper Layer Service": port 104).
PLAIN_DICOM_PORT: Final = 104
# The port sshd listens on (Amazon Linux's default; the firewall admits none, Session Manager is the way in).
SSH_PORT: Final = 22
# Every TCP port a host already listens on or connects to, and who uses it: the plain listener
# may take none of them (Envoy could not bind it, or the published port would shadow it).
HOST_PORTS: Final = {
    SSH_PORT: "SSH (sshd on every host)",
    HTTPS_PORT: "HTTPS (Envoy)",
    DICOM_TLS_PORT: "DICOM-TLS (Envoy)",
    LB_HEALTH_PORT: "the load balancer's health checks (Envoy)",
    ENVOY_ADMIN_PORT: "Envoy's admin interface",
    METRICS_PORT: "Envoy's metrics for the CloudWatch agent",
    ORTHANC_HTTP_PORT: "Orthanc's HTTP (each replica)",
    ORTHANC_DICOM_PORT: "Orthanc's DICOM (each replica)",
    POSTGRES_PORT: "PostgreSQL (the database the hosts connect to)",
}
PLAIN_PORT_ALLOWED: Final = f"a TCP port from 1 to 65535 other than {', '.join(map(str, sorted(HOST_PORTS)))}"
# Each range is a route in two route tables and a rule in a security group (EC2 allows 50 routes
# per table and 60 rules per direction by default).
MAX_HOSPITAL_CIDRS: Final = 20
# The AWS side's BGP ASN (CreateVpnGateway's default); the hospital's must differ from it.
AMAZON_SIDE_ASN: Final = 64512
# What a customer gateway for static routing is created with (CreateCustomerGateway's default).
STATIC_ROUTING_ASN: Final = 65000
# AWS Site-to-Site VPN User Guide, "Customer gateway options": ASNs 1 to 4,294,967,295, except these.
MAX_ASN: Final = 4_294_967_295
RESERVED_ASNS: Final = {7224: None, 9059: "eu-west-1", 10124: "ap-northeast-1", 17943: "ap-southeast-1"}
# CreateCustomerGateway takes an ASN above this one as BgpAsnExtended.
LARGEST_BGP_ASN: Final = 2_147_483_647

# Tunnel options (EC2 API VpnTunnelOptionsSpecification; the values AWS allows are in botocore's
# model, which tests/graph/test_hospital_vpn.py reads): IKEv2 only, AES-256 (CBC or GCM), SHA-2,
# and Diffie-Hellman groups of 2048-bit MODP or 256-bit elliptic curves and stronger. Groups 2 and
# 5 (1024/1536-bit MODP) and 22 to 24 (MODP with small subgroups, RFC 8247 "SHOULD NOT") are left out.
IKE_VERSIONS: Final = ("ikev2",)
ENCRYPTION_ALGORITHMS: Final = ("AES256", "AES256-GCM-16")
INTEGRITY_ALGORITHMS: Final = ("SHA2-256", "SHA2-384", "SHA2-512")
DH_GROUPS: Final = (14, 15, 16, 17, 18, 19, 20, 21)
TUNNELS: Final = (1, 2)

# AWS refuses subnets smaller than /28; the private site address's subnet is that small.
SITE_SUBNET_PREFIX: Final = 28
# The first address AWS would give an interface in a subnet (it keeps the first four).
SITE_ADDRESS_OFFSET: Final = 4


@dataclass(frozen=True)
class HospitalNetwork:
    """The hospital side of the VPN (config `hospitalNetwork`)."""

    cidrs: tuple[str, ...]
    # The public IPv4 address of the hospital's VPN device (the customer gateway).
    vpn_device_address: str
    # The device's BGP ASN; None: static routes to `cidrs`.
    bgp_asn: int | None = None
    # Where the hosts take plain DICOM from the hospital.
    dicom_port: int = PLAIN_DICOM_PORT

    @property
    def static_routing(self) -> bool:
        return self.bgp_asn is None

    @property
    def customer_gateway_asn(self) -> int:
        return STATIC_ROUTING_ASN if self.bgp_asn is None else self.bgp_asn


def cidrs_reason(cidrs: tuple[str, ...]) -> str:
    """What is wrong with the hospital's ranges on their own, or ""."""
    if not cidrs:
        return "at least one of the hospital's IPv4 ranges"
    if len(cidrs) > MAX_HOSPITAL_CIDRS:
        return f"at most {MAX_HOSPITAL_CIDRS} ranges (each is a route and a firewall rule)"
    networks = [ipaddress.IPv4Network(cidr) for cidr in cidrs]
    for network in networks:
        if network.prefixlen == 0 or network.is_loopback or network.is_link_local or network.is_multicast:
            return f"{network} is not a network a VPN can route to (loopback, link-local, multicast or everything)"
        if network.is_reserved or network.subnet_of(ipaddress.IPv4Network("0.0.0.0/8")):
            return f"{network} is a reserved range"
    for index, network in enumerate(networks):
        for other in networks[index + 1 :]:
            if network.overlaps(other):
                return f"{network} and {other} overlap: give each range once"
    return ""


def port_reason(port: int) -> str:
    """Why the plain listener may not take `port` (a port the hosts use), or ""."""
    user = HOST_PORTS.get(port)
    if user is None:
        return ""
    return f"{port} is taken by {user}: {PLAIN_PORT_ALLOWED}"


def overlap_reason(cidrs: tuple[str, ...], vpc_cidr: str) -> str:
    """The hospital's ranges must not overlap the VPC: a route to them would shadow its own subnets."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    clash = [cidr for cidr in cidrs if ipaddress.IPv4Network(cidr).overlaps(vpc)]
    if clash:
        return f"ranges that do not overlap the VPC's {vpc_cidr} ({', '.join(clash)} does; change vpcCidr or the range)"
    return ""


def device_address_reason(address: str) -> str:
    """The hospital's VPN device needs a public IPv4 address AWS can reach over the internet."""
    try:
        parsed = ipaddress.IPv4Address(address)
    except ValueError:
        return "the public IPv4 address of the hospital's VPN device (or of the NAT in front of it)"
    if not parsed.is_global or parsed.is_multicast:
        return (
            f"{address} is not a public address: give the public IPv4 address the device (or the NAT in front of "
            "it) has on the internet"
        )
    return ""


def asn_reason(asn: int, region: str | None) -> str:
    """A BGP ASN AWS accepts for a customer gateway in `region` (None: any region)."""
    if not 1 <= asn <= MAX_ASN:
        return f"a BGP ASN from 1 to {MAX_ASN:,} (a private one: 64512-65534 or 4200000000-4294967294)"
    if asn == AMAZON_SIDE_ASN:
        return f"an ASN other than {AMAZON_SIDE_ASN}, the AWS side's (the two ends of a BGP session differ)"
    if asn in RESERVED_ASNS:
        where = RESERVED_ASNS[asn]
        if where is None or region in (None, where):
            return f"an ASN AWS does not reserve ({asn} is reserved {'in ' + where if where else 'in every region'})"
    return ""


def site_subnet(vpc_cidr: str) -> str:
    """The /28 of the VPC that holds the private site address: its last (the subnet plan fills
    the VPC from the start)."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    last = int(vpc.broadcast_address) + 1 - 2 ** (32 - SITE_SUBNET_PREFIX)
    return str(ipaddress.IPv4Network((last, SITE_SUBNET_PREFIX)))


def site_address(vpc_cidr: str) -> str:
    """The failover topology's private site address: where modalities send plain DICOM."""
    return str(ipaddress.IPv4Network(site_subnet(vpc_cidr)).network_address + SITE_ADDRESS_OFFSET)


def plain_dicom_destinations(vpc_cidr: str, *, scale_out: bool) -> tuple[str, ...]:
    """Where modalities send plain DICOM: the failover site's private address, or the internal load
    balancer's address in each private subnet."""
    if scale_out:
        return tuple(internal_listener_address(subnet) for subnet in plan_subnets(vpc_cidr).private)
    return (site_address(vpc_cidr),)


def internal_listener_address(private_subnet: str) -> str:
    """The scale-out topology's internal load balancer address in a private subnet: its last
    usable one (AWS keeps the last address of every subnet)."""
    return str(ipaddress.IPv4Network(private_subnet).broadcast_address - 1)


def tunnel_options(tunnel: int) -> dict[str, object]:
    """One tunnel's options as `aws.ec2.VpnConnection` takes them: IKEv2 and the strong suites only,
    in both phases; everything else (lifetimes, rekey, DPD) at AWS's defaults."""
    prefix = f"tunnel{tunnel}_"
    options: dict[str, object] = {f"{prefix}ike_versions": list(IKE_VERSIONS)}
    for phase in ("phase1", "phase2"):
        options[f"{prefix}{phase}_encryption_algorithms"] = list(ENCRYPTION_ALGORITHMS)
        options[f"{prefix}{phase}_integrity_algorithms"] = list(INTEGRITY_ALGORITHMS)
        options[f"{prefix}{phase}_dh_group_numbers"] = list(DH_GROUPS)
    return options
