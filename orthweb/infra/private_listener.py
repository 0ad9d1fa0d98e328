"""Scale-out's plain DICOM for the hospital (config `hospitalNetwork`): an internal Network Load
Balancer in the private subnets, one fixed private address per zone, forwarding to the group's
hosts. Only the hospital's ranges may reach it (they arrive through the VPN); it has no public
address, and the hosts admit the plain port from its security group alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.infra.firewall import FirewallArgs, firewall, open_to_hosts, plain_dicom_rules
from orthweb.infra.hospital_network import HospitalNetwork, internal_listener_address
from orthweb.infra.lb_names import elb_name
from orthweb.infra.load_balancer import DEREGISTRATION_DELAY_SECONDS, envoy_health_check
from orthweb.infra.tags import stack_tags
from orthweb.shared.constants import LB_HEALTH_PORT


@dataclass(frozen=True)
class PrivateDicomListenerArgs:
    stack: str
    vpc_id: pulumi.Input[str]
    hospital: HospitalNetwork
    # The VPC's private subnets (ids and ranges, one per zone): the load balancer's fixed addresses.
    subnet_ids: Sequence[pulumi.Input[str]]
    subnet_cidrs: Sequence[str]


class PrivateDicomListener(pulumi.ComponentResource):
    security_group: aws.ec2.SecurityGroup
    load_balancer: aws.lb.LoadBalancer
    target_group: aws.lb.TargetGroup
    # Where modalities send plain DICOM (one per zone; either works), and its port.
    addresses: list[str]
    port: int

    def __init__(self, name: str, args: PrivateDicomListenerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:PrivateDicomListener", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self._tags = stack_tags(args.stack)
        port = self.port = args.hospital.dicom_port
        self.addresses = [internal_listener_address(cidr) for cidr in args.subnet_cidrs]
        # Egress to the hosts is added by `open_to`, once their security group exists.
        self.security_group = firewall(
            f"{name}-sg",
            FirewallArgs(
                vpc_id=args.vpc_id,
                description="plain DICOM from the hospital's ranges (through the VPN) to the internal load balancer",
                tags=self._tags,
                ingress=plain_dicom_rules(args.hospital),
            ),
            parent=self,
        )
        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-nlb",
            name=elb_name(args.stack, "private-dicom"),
            load_balancer_type="network",
            internal=True,
            ip_address_type="ipv4",
            subnet_mappings=[
                aws.lb.LoadBalancerSubnetMappingArgs(subnet_id=subnet_id, private_ipv4_address=address)
                for subnet_id, address in zip(args.subnet_ids, self.addresses, strict=True)
            ],
            security_groups=[self.security_group.id],
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=False,
            tags=self._tags,
            opts=self._child,
        )
        self.target_group = self._create_target_group(port)
        aws.lb.Listener(
            f"{name}-listener",
            load_balancer_arn=self.load_balancer.arn,
            port=port,
            protocol="TCP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=self.target_group.arn)],
            tags=self._tags,
            opts=self._child,
        )
        self.register_outputs({"addresses": self.addresses})

    def _create_target_group(self, port: int) -> aws.lb.TargetGroup:
        return aws.lb.TargetGroup(
            f"{self._name}-targets",
            name=elb_name(self._args.stack, "private", str(port)),
            target_type="instance",
            protocol="TCP",
            port=port,
            vpc_id=self._args.vpc_id,
            preserve_client_ip="true",
            deregistration_delay=DEREGISTRATION_DELAY_SECONDS,
            health_check=envoy_health_check(),  # the same as the public load balancer's
            tags=self._tags,
            opts=self._child,
        )

    def open_to(self, targets_security_group_id: pulumi.Input[str]) -> None:
        """Let the load balancer reach the hosts: the plain port and the health endpoint only."""
        open_to_hosts(
            self._name,
            self.security_group.id,
            (self._args.hospital.dicom_port, LB_HEALTH_PORT),
            targets_security_group_id,
            health_port=LB_HEALTH_PORT,
            tags=self._tags,
            opts=self._child,
        )
