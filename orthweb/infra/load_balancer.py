"""The scale-out topology's front door: an internet-facing Network Load Balancer with fixed addresses.

One Elastic IP per public subnet (modalities are configured by IP address, so the addresses never
change), cross-zone load balancing, its own security group and a listener each for HTTPS and
DICOM-TLS. By default the listeners pass TCP through to Envoy, which
terminates TLS with the site certificate as in the failover topology. With a site domain and a
Route53 hosted zone, an ACM certificate validated in that zone is served by TLS listeners that
forward TLS to Envoy, an alias record points the domain at the load balancer, and its access logs
(which AWS writes for TLS listeners only) go to the log bucket.

A target is healthy while Envoy's health endpoint answers 200, which it does only while at least
one local Orthanc replica passes Envoy's own health checks (see templates/envoy.yaml.j2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from orthweb.infra.firewall import FirewallArgs, Rule, firewall, open_to_hosts
from orthweb.infra.lb_names import elb_name
from orthweb.infra.tags import stack_tags, with_role
from orthweb.shared.constants import (
    DICOM_TLS_PORT,
    HTTPS_PORT,
    LB_HEALTH_PATH,
    LB_HEALTH_PORT,
    LOAD_BALANCER_LOGS_PREFIX,
    LOAD_BALANCER_ROLE,
    SITE_ROLE,
    TRANSFER_IDLE_TIMEOUT_SECONDS,
    ZONE_SUFFIXES,
    aws_name,
)

# Target health: a host that stops serving is out after interval x unhealthy threshold (20 s);
# NLB allows intervals of 5-300 s and thresholds of 2-10.
HEALTH_CHECK_INTERVAL_SECONDS: Final = 10
HEALTH_CHECK_TIMEOUT_SECONDS: Final = 5
HEALTHY_THRESHOLD: Final = 2
UNHEALTHY_THRESHOLD: Final = 2
# A leaving host keeps its open connections this long: a DICOM association sending a large study
# over a hospital uplink finishes instead of being cut (AWS's default, 0-3600 allowed).
DEREGISTRATION_DELAY_SECONDS: Final = 300


def envoy_health_check() -> aws.lb.TargetGroupHealthCheckArgs:
    """Every target group's health: Envoy's health endpoint, which answers 200 only with a replica that serves."""
    return aws.lb.TargetGroupHealthCheckArgs(
        enabled=True,
        protocol="HTTP",
        port=str(LB_HEALTH_PORT),
        path=LB_HEALTH_PATH,
        matcher="200",
        interval=HEALTH_CHECK_INTERVAL_SECONDS,
        timeout=HEALTH_CHECK_TIMEOUT_SECONDS,
        healthy_threshold=HEALTHY_THRESHOLD,
        unhealthy_threshold=UNHEALTHY_THRESHOLD,
    )


# TLS 1.3 and 1.2 with forward-secret AEAD ciphers only. Without a policy the ELB API picks
# ELBSecurityPolicy-2016-08, which still accepts TLS 1.0.
TLS_POLICY: Final = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
# Client ports: what each listener serves, and which configured networks may reach it.
SERVED_PORTS: Final = (HTTPS_PORT, DICOM_TLS_PORT)
# The record ACM asks for in the hosted zone; a short TTL lets a re-issued certificate validate fast.
VALIDATION_RECORD_TTL_SECONDS: Final = 300


@dataclass(frozen=True)
class LoadBalancerArgs:
    stack: str
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]  # the public subnets, one per zone
    web_allowed_cidrs: tuple[str, ...]
    dicom_allowed_cidrs: tuple[str, ...]
    log_bucket: pulumi.Input[str]  # the log bucket's name
    site_domain: str | None = None
    # With `site_domain`: a Route53 zone that may hold the site's records (publicly trusted TLS).
    hosted_zone_id: str | None = None
    # What the load balancer waits for: the log bucket's policy (ELB checks its write access when
    # access logs are turned on).
    wait_for: Sequence[pulumi.Resource] = ()

    @property
    def terminates_tls(self) -> bool:
        """The load balancer serves an ACM certificate (else Envoy's certificate passes through)."""
        return bool(self.site_domain and self.hosted_zone_id)


class LoadBalancer(pulumi.ComponentResource):
    security_group: aws.ec2.SecurityGroup
    addresses: list[aws.ec2.Eip]
    load_balancer: aws.lb.LoadBalancer
    target_groups: dict[int, aws.lb.TargetGroup]
    listeners: dict[int, aws.lb.Listener]
    site_address: pulumi.Output[str]
    site_ips: pulumi.Output[list[str]]

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:LoadBalancer", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self._tags = stack_tags(args.stack)

        self.security_group = self._create_firewall()
        self.addresses = [
            aws.ec2.Eip(
                f"{name}-ip-{suffix}",
                domain="vpc",
                tags=with_role(args.stack, SITE_ROLE, name=aws_name(args.stack, SITE_ROLE, suffix)),
                opts=self._child,
            )
            for suffix in ZONE_SUFFIXES
        ]
        self.load_balancer = self._create_load_balancer()
        certificate_arn = self._create_public_certificate() if args.terminates_tls else None
        self.target_groups = {port: self._create_target_group(port) for port in SERVED_PORTS}
        self.listeners = {port: self._create_listener(port, certificate_arn) for port in SERVED_PORTS}
        if args.terminates_tls:
            self._create_alias_record()
        self.site_address = (
            pulumi.Output.from_input(args.site_domain) if args.site_domain else self.load_balancer.dns_name
        )
        self.site_ips = pulumi.Output.all(*[address.public_ip for address in self.addresses]).apply(list)
        self.register_outputs(
            {"dns_name": self.load_balancer.dns_name, "site_address": self.site_address, "site_ips": self.site_ips}
        )

    def open_to(self, targets_security_group_id: pulumi.Input[str]) -> None:
        """Let the load balancer reach the hosts: client ports and the health endpoint, nothing else.

        Health checks obey the load balancer's outbound rules, so the health port needs one too.
        """
        open_to_hosts(
            self._name,
            self.security_group.id,
            (*SERVED_PORTS, LB_HEALTH_PORT),
            targets_security_group_id,
            health_port=LB_HEALTH_PORT,
            tags=self._tags,
            opts=self._child,
        )

    def _create_firewall(self) -> aws.ec2.SecurityGroup:
        # Egress to the hosts is added by `open_to`, once their security group exists.
        return firewall(
            f"{self._name}-sg",
            FirewallArgs(
                vpc_id=self._args.vpc_id,
                description="HTTPS and DICOM-TLS from the configured networks to the load balancer",
                tags=self._tags,
                ingress=(
                    Rule("https", "HTTPS (Orthanc web UI and REST)", HTTPS_PORT, self._args.web_allowed_cidrs),
                    Rule("dicom-tls", "DICOM over TLS", DICOM_TLS_PORT, self._args.dicom_allowed_cidrs),
                ),
            ),
            parent=self,
        )

    def _create_load_balancer(self) -> aws.lb.LoadBalancer:
        args = self._args
        return aws.lb.LoadBalancer(
            f"{self._name}-nlb",
            name=elb_name(args.stack),
            load_balancer_type="network",
            internal=False,
            ip_address_type="ipv4",
            subnet_mappings=[
                aws.lb.LoadBalancerSubnetMappingArgs(subnet_id=subnet_id, allocation_id=address.allocation_id)
                for subnet_id, address in zip(args.subnet_ids, self.addresses, strict=True)
            ],
            # Security groups can only be given when the load balancer is created.
            security_groups=[self.security_group.id],
            enable_cross_zone_load_balancing=True,
            # Never protected: it holds no data and `pulumi up` makes it again with the same
            # addresses, while AWS refuses to delete a protected one and `pulumi destroy` would stop.
            enable_deletion_protection=False,
            # AWS writes access logs for TLS listeners only: with TCP pass-through there are none.
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(
                bucket=args.log_bucket, prefix=LOAD_BALANCER_LOGS_PREFIX, enabled=args.terminates_tls
            ),
            tags=with_role(args.stack, LOAD_BALANCER_ROLE, name=aws_name(args.stack, LOAD_BALANCER_ROLE)),
            # An Elastic IP serves one load balancer at a time: a replacement must release them first.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True, depends_on=list(args.wait_for)),
        )

    def _create_target_group(self, port: int) -> aws.lb.TargetGroup:
        protocol = "TLS" if self._args.terminates_tls else "TCP"
        return aws.lb.TargetGroup(
            f"{self._name}-targets-{port}",
            # The protocol is in the name: changing it replaces the group, created before the old one goes.
            name=elb_name(self._args.stack, protocol.lower(), str(port)),
            target_type="instance",
            protocol=protocol,
            port=port,
            vpc_id=self._args.vpc_id,
            # Envoy logs and filters on the client's own address.
            preserve_client_ip="true",
            deregistration_delay=DEREGISTRATION_DELAY_SECONDS,
            health_check=envoy_health_check(),
            tags=self._tags,
            opts=self._child,
        )

    def _create_listener(self, port: int, certificate_arn: pulumi.Output[str] | None) -> aws.lb.Listener:
        return aws.lb.Listener(
            f"{self._name}-listener-{port}",
            load_balancer_arn=self.load_balancer.arn,
            port=port,
            protocol="TLS" if certificate_arn is not None else "TCP",
            certificate_arn=certificate_arn,
            ssl_policy=TLS_POLICY if certificate_arn is not None else None,
            # A TCP listener's idle timeout can follow Envoy's (a TLS listener's is 350 s, fixed).
            tcp_idle_timeout_seconds=TRANSFER_IDLE_TIMEOUT_SECONDS if certificate_arn is None else None,
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=self.target_groups[port].arn)
            ],
            tags=self._tags,
            opts=self._child,
        )

    def _create_public_certificate(self) -> pulumi.Output[str]:
        """An ACM certificate for the site domain, validated by a DNS record in the hosted zone."""
        args = self._args
        certificate = aws.acm.Certificate(
            f"{self._name}-certificate",
            domain_name=args.site_domain,
            validation_method="DNS",
            # Browsers refuse publicly trusted certificates that are missing from the CT logs.
            options=aws.acm.CertificateOptionsArgs(certificate_transparency_logging_preference="ENABLED"),
            tags=self._tags,
            opts=self._child,
        )
        validation = certificate.domain_validation_options.apply(lambda options: options[0])
        record = aws.route53.Record(
            f"{self._name}-certificate-validation-record",
            zone_id=args.hosted_zone_id,
            name=validation.resource_record_name,
            type=validation.resource_record_type,
            records=[validation.resource_record_value],
            ttl=VALIDATION_RECORD_TTL_SECONDS,
            # ACM asks for the same record again when it renews or re-issues.
            allow_overwrite=True,
            opts=self._child,
        )
        validated = aws.acm.CertificateValidation(
            f"{self._name}-certificate-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[record.fqdn],
            opts=self._child,
        )
        # Listeners wait for the certificate to be issued, not merely requested.
        return validated.certificate_arn

    def _create_alias_record(self) -> None:
        aws.route53.Record(
            f"{self._name}-site-record",
            zone_id=self._args.hosted_zone_id,
            name=self._args.site_domain,
            type="A",
            aliases=[
                aws.route53.RecordAliasArgs(
                    name=self.load_balancer.dns_name,
                    zone_id=self.load_balancer.zone_id,
                    # The only record for the name: there is nothing to fail over to.
                    evaluate_target_health=False,
                )
            ],
            opts=self._child,
        )
