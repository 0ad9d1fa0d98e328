"""The Site-to-Site VPN to the hospital (config `hospitalNetwork`): its customer gateway, a virtual
private gateway attached to the VPC, one connection of two tunnels, and the routes to the hospital's
ranges in the public and private route tables (propagated from the VPN gateway).

In the failover topology the VPN gateway also gets a route table of its own (a gateway route
table, AWS VPC User Guide "Gateway route tables") that sends the site's private /28 to the serving
host's network interface; `orthweb failover` moves that route with the Elastic IP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.infra.hospital_network import (
    AMAZON_SIDE_ASN,
    LARGEST_BGP_ASN,
    TUNNELS,
    HospitalNetwork,
    site_subnet,
    tunnel_options,
)
from orthweb.infra.tags import with_name, with_role
from orthweb.shared.constants import PLAIN_DICOM_TAG, SITE_ROUTE_ROLE, VPN_ROLE, aws_name

# The only VPN type AWS offers (CreateVpnConnection, CreateCustomerGateway).
VPN_TYPE = "ipsec.1"


@dataclass(frozen=True)
class HospitalVpnArgs:
    stack: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    hospital: HospitalNetwork
    # The VPC's route tables (public, private): each learns the routes to the hospital's ranges.
    route_table_ids: Sequence[pulumi.Input[str]]
    # Where modalities send plain DICOM (tagged on the connection for `orthweb vpn`).
    destinations: tuple[str, ...] = ()


class HospitalVpn(pulumi.ComponentResource):
    vpn_gateway: aws.ec2.VpnGateway
    connection: aws.ec2.VpnConnection

    def __init__(self, name: str, args: HospitalVpnArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:HospitalVpn", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        customer_gateway = self._create_customer_gateway()
        self.vpn_gateway = aws.ec2.VpnGateway(
            f"{name}-gateway",
            vpc_id=args.vpc_id,
            amazon_side_asn=str(AMAZON_SIDE_ASN),
            tags=with_name(args.stack, "vpn-gateway"),
            opts=self._child,
        )
        self.connection = self._create_connection(customer_gateway)
        self._create_routes()
        self.register_outputs({"vpn_connection_id": self.connection.id})

    def _create_customer_gateway(self) -> aws.ec2.CustomerGateway:
        hospital = self._args.hospital
        asn = hospital.customer_gateway_asn
        return aws.ec2.CustomerGateway(
            f"{self._name}-customer-gateway",
            ip_address=hospital.vpn_device_address,
            # CreateCustomerGateway takes ASNs beyond 2,147,483,647 in a field of their own.
            bgp_asn=str(asn) if asn <= LARGEST_BGP_ASN else None,
            bgp_asn_extended=str(asn) if asn > LARGEST_BGP_ASN else None,
            type=VPN_TYPE,
            tags=with_name(self._args.stack, "hospital"),
            opts=self._child,
        )

    def _create_connection(self, customer_gateway: aws.ec2.CustomerGateway) -> aws.ec2.VpnConnection:
        options: dict = {}
        for tunnel in TUNNELS:
            options.update(tunnel_options(tunnel))
        return aws.ec2.VpnConnection(
            f"{self._name}-connection",
            customer_gateway_id=customer_gateway.id,
            vpn_gateway_id=self.vpn_gateway.id,
            type=VPN_TYPE,
            static_routes_only=self._args.hospital.static_routing,
            tags={
                **with_role(self._args.stack, VPN_ROLE, name=aws_name(self._args.stack, VPN_ROLE)),
                PLAIN_DICOM_TAG: " ".join(f"{a}:{self._args.hospital.dicom_port}" for a in self._args.destinations),
            },
            opts=self._child,
            **options,
        )

    def _create_routes(self) -> None:
        """Static routes to the hospital's ranges (without BGP), propagated to every route table."""
        if self._args.hospital.static_routing:
            for cidr in self._args.hospital.cidrs:
                aws.ec2.VpnConnectionRoute(
                    f"{self._name}-route-{cidr.replace('/', '_')}",
                    destination_cidr_block=cidr,
                    vpn_connection_id=self.connection.id,
                    opts=self._child,
                )
        for index, table_id in enumerate(self._args.route_table_ids):
            aws.ec2.VpnGatewayRoutePropagation(
                f"{self._name}-propagation-{index}",
                vpn_gateway_id=self.vpn_gateway.id,
                route_table_id=table_id,
                opts=self._child,
            )

    def route_site_to(self, zone: pulumi.Input[str], network_interface_id: pulumi.Input[str]) -> aws.ec2.Route:
        """Failover: the site's private /28 (a subnet where nothing runs) routed from the VPN gateway to
        the serving host's interface; AWS routes a gateway's traffic only to whole subnets."""
        args = self._args
        cidr = site_subnet(args.vpc_cidr)
        subnet = aws.ec2.Subnet(
            f"{self._name}-site-subnet",
            vpc_id=args.vpc_id,
            cidr_block=cidr,
            availability_zone=zone,
            map_public_ip_on_launch=False,
            tags=with_name(args.stack, "site-private"),
            opts=self._child,
        )
        table = aws.ec2.RouteTable(
            f"{self._name}-gateway-routes",
            vpc_id=args.vpc_id,
            tags=with_role(args.stack, SITE_ROUTE_ROLE, name=aws_name(args.stack, SITE_ROUTE_ROLE)),
            opts=self._child,
        )
        aws.ec2.RouteTableAssociation(
            f"{self._name}-gateway-routes-edge",
            gateway_id=self.vpn_gateway.id,
            route_table_id=table.id,
            opts=self._child,
        )
        return aws.ec2.Route(
            f"{self._name}-site-route",
            route_table_id=table.id,
            destination_cidr_block=cidr,
            network_interface_id=network_interface_id,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[subnet]),
        )
