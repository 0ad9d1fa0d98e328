"""The hosts that serve the site, in the configured topology, and what the rest of the stack needs
from them: who may reach the database, the site's address and fixed IPs, what to watch, the outputs.

`failover` is the primary and secondary with the Elastic IP (orthweb.infra.hosts); `scale-out` is a
Network Load Balancer with one Elastic IP per zone in front of an Auto Scaling group
(orthweb.infra.load_balancer, orthweb.infra.scaling_group). Both run the same host application.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from orthweb.config.stack_config import StackConfig
from orthweb.infra.alarm_plan import HostToWatch
from orthweb.infra.cidr import plan_subnets
from orthweb.infra.host_launch import HostLaunch
from orthweb.infra.hosts import Hosts
from orthweb.infra.load_balancer import LoadBalancer, LoadBalancerArgs
from orthweb.infra.monitoring import LoadBalancerToWatch
from orthweb.infra.private_listener import PrivateDicomListener, PrivateDicomListenerArgs
from orthweb.infra.scaling_group import ScalingGroup, ScalingGroupArgs
from orthweb.infra.storage import Storage
from orthweb.shared.constants import DICOM_TLS_PORT, GROUP_MEMBER, HTTPS_PORT, PRIMARY, PROJECT

# The load balancer's listeners by the names the alarms use.
LISTENER_NAMES = {HTTPS_PORT: "https", DICOM_TLS_PORT: "dicom"}


@dataclass(frozen=True)
class Serving:
    # May reach the database.
    client_security_group_id: pulumi.Output[str]
    # The domain, else the public DNS name clients use.
    site_address: pulumi.Output[str]
    # The public DNS name of the address(es), named in the site certificate beside site_address.
    public_dns_name: pulumi.Output[str]
    # The fixed public addresses (modalities are configured by IP).
    site_ips: pulumi.Output[list[str]]
    host_info: pulumi.Output[dict[str, str]]
    hosts_to_watch: list[HostToWatch[pulumi.Input[str]]]
    load_balancer_to_watch: LoadBalancerToWatch | None = None
    # The scale-out group's name (what the dashboard graphs its hosts' EC2 metrics by).
    group_name: pulumi.Output[str] | None = None
    # The failover topology's one Elastic IP (its output since the first release).
    site_ip: pulumi.Output[str] | None = None


def failover_serving(cfg: StackConfig, hosts: Hosts) -> Serving:
    """The primary and secondary hosts behind the Elastic IP that `orthweb failover` moves."""
    public_dns = hosts.site_ip.public_dns
    return Serving(
        client_security_group_id=hosts.security_group.id,
        site_address=pulumi.Output.from_input(cfg.site_domain) if cfg.site_domain else public_dns,
        public_dns_name=public_dns,
        site_ips=hosts.site_ip.public_ip.apply(lambda ip: [ip]),
        host_info=pulumi.Output.all(**{role: instance.id for role, instance in hosts.instances.items()}),
        hosts_to_watch=[
            HostToWatch(role, instance.id, expected_running=role == PRIMARY or cfg.secondary_state == "running")
            for role, instance in hosts.instances.items()
        ],
        site_ip=hosts.site_ip.public_ip,
    )


def create_scale_out(
    cfg: StackConfig,
    launch: HostLaunch,
    launch_role_arn: pulumi.Input[str],
    storage: Storage,
    private_subnet_ids: Sequence[pulumi.Input[str]] = (),
) -> Serving:
    """The load balancer with its fixed addresses, then the group of hosts behind it, launched with
    the group's own Auto Scaling role (which the stack key admits for the hosts' volumes). With a
    hospital network, the internal load balancer for plain DICOM in the private subnets too."""
    load_balancer = _create_load_balancer(cfg, launch, storage)
    private = _create_private_listener(cfg, launch, private_subnet_ids) if cfg.hospital_network else None
    scaling_group = _create_scaling_group(cfg, launch, launch_role_arn, load_balancer, private)
    load_balancer.open_to(scaling_group.security_group.id)
    if private is not None:
        private.open_to(scaling_group.security_group.id)
    dns_name = load_balancer.load_balancer.dns_name
    return Serving(
        client_security_group_id=scaling_group.security_group.id,
        site_address=load_balancer.site_address,
        public_dns_name=dns_name,
        site_ips=load_balancer.site_ips,
        host_info=pulumi.Output.all(group=scaling_group.group.name),
        group_name=scaling_group.group.name,
        # Every group host publishes as Host=member: one set of application alarms for all of them
        # (no status check: the group replaces a failed host).
        hosts_to_watch=[HostToWatch(GROUP_MEMBER, None, expected_running=True)],
        load_balancer_to_watch=LoadBalancerToWatch(
            arn_suffix=load_balancer.load_balancer.arn_suffix,
            target_group_arn_suffixes={
                LISTENER_NAMES[port]: tg.arn_suffix for port, tg in load_balancer.target_groups.items()
            },
        ),
    )


def _create_load_balancer(cfg: StackConfig, launch: HostLaunch, storage: Storage) -> LoadBalancer:
    return LoadBalancer(
        f"{PROJECT}-load-balancer",
        LoadBalancerArgs(
            stack=cfg.stack,
            vpc_id=launch.vpc_id,
            subnet_ids=launch.subnet_ids,
            web_allowed_cidrs=cfg.web_allowed_cidrs,
            dicom_allowed_cidrs=cfg.dicom_allowed_cidrs,
            log_bucket=storage.log_bucket.bucket,
            site_domain=cfg.site_domain,
            hosted_zone_id=cfg.hosted_zone_id,
            wait_for=[storage.log_bucket_policy],
        ),
    )


def _create_private_listener(
    cfg: StackConfig, launch: HostLaunch, private_subnet_ids: Sequence[pulumi.Input[str]]
) -> PrivateDicomListener:
    assert cfg.hospital_network is not None
    return PrivateDicomListener(
        f"{PROJECT}-private-dicom",
        PrivateDicomListenerArgs(
            stack=cfg.stack,
            vpc_id=launch.vpc_id,
            hospital=cfg.hospital_network,
            subnet_ids=private_subnet_ids,
            subnet_cidrs=plan_subnets(cfg.vpc_cidr).private,
        ),
    )


def _create_scaling_group(
    cfg: StackConfig,
    launch: HostLaunch,
    launch_role_arn: pulumi.Input[str],
    load_balancer: LoadBalancer,
    private: PrivateDicomListener | None,
) -> ScalingGroup:
    group = cfg.options.group
    return ScalingGroup(
        f"{PROJECT}-group",
        ScalingGroupArgs(
            launch=launch,
            launch_role_arn=launch_role_arn,
            load_balancer_security_group_id=load_balancer.security_group.id,
            target_group_arns=[
                *(tg.arn for tg in load_balancer.target_groups.values()),
                *((private.target_group.arn,) if private else ()),
            ],
            private_dicom=(private.port, private.security_group.id) if private else None,
            desired_size=group.desired,
            min_size=group.minimum,
            max_size=group.maximum,
            cpu_target_percent=group.cpu_target_percent or None,
        ),
    )
