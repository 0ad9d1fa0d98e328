"""Security groups with one resource per rule.

Separate rule resources (the provider's recommendation) give every rule its own description
and tags, can be changed without touching the others, and never fight inline rules. A group
created this way has no rule but the ones listed: the provider removes AWS's default egress.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.infra.hospital_network import HospitalNetwork


@dataclass(frozen=True)
class Rule:
    """TCP traffic on `port` from/to each CIDR, or from/to another security group."""

    name: str
    description: str
    port: int
    cidrs: tuple[str, ...] = ()
    peer_security_group_id: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class FirewallArgs:
    vpc_id: pulumi.Input[str]
    description: str
    tags: dict[str, str]
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()
    # Keep the group (not its rules) on destroy: AWS refuses to delete it while a kept resource uses it.
    retain_on_delete: bool = False


def firewall(name: str, args: FirewallArgs, parent: pulumi.Resource) -> aws.ec2.SecurityGroup:
    child = pulumi.ResourceOptions(parent=parent)
    group = aws.ec2.SecurityGroup(
        name,
        description=args.description,
        vpc_id=args.vpc_id,
        tags=args.tags,
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=args.retain_on_delete),
    )
    for direction, rules in (("in", args.ingress), ("out", args.egress)):
        resource = aws.vpc.SecurityGroupIngressRule if direction == "in" else aws.vpc.SecurityGroupEgressRule
        for rule in rules:
            peers: list[tuple[str, str | None]] = [(cidr.replace("/", "_"), cidr) for cidr in rule.cidrs]
            if rule.peer_security_group_id is not None:
                peers.append(("peer", None))
            for suffix, cidr in peers:
                resource(
                    f"{name}-{direction}-{rule.name}-{suffix}",
                    security_group_id=group.id,
                    description=rule.description,
                    ip_protocol="tcp",
                    from_port=rule.port,
                    to_port=rule.port,
                    cidr_ipv4=cidr,
                    referenced_security_group_id=None if cidr else rule.peer_security_group_id,
                    tags=args.tags,
                    opts=child,
                )
    return group


def plain_dicom_rules(hospital: HospitalNetwork | None) -> tuple[Rule, ...]:
    """Plain DICOM in from the hospital's ranges only (none without a hospital network)."""
    if hospital is None:
        return ()
    return (Rule("dicom-plain", "plain DICOM from the hospital, through the VPN", hospital.dicom_port, hospital.cidrs),)


def open_to_hosts(
    name: str,
    security_group_id: pulumi.Input[str],
    ports: tuple[int, ...],
    hosts_security_group_id: pulumi.Input[str],
    *,
    health_port: int,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> None:
    """A load balancer's outbound rules to the hosts' Envoy: one per port it forwards, and one for
    its health checks, which obey the outbound rules too. Named `<name>-sg-out-<port>-hosts`."""
    for port in ports:
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-sg-out-{port}-hosts",
            security_group_id=security_group_id,
            description="to the hosts' Envoy" if port != health_port else "health checks of the hosts' Envoy",
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=hosts_security_group_id,
            tags=tags,
            opts=opts,
        )
