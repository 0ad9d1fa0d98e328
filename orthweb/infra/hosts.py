"""The two hosts: primary and secondary EC2 in two AZs, their firewall and the site's Elastic IP."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.infra.firewall import FirewallArgs, Rule, firewall, plain_dicom_rules
from orthweb.infra.hospital_network import HospitalNetwork
from orthweb.infra.host_launch import METADATA_OPTIONS, HostLaunch
from orthweb.infra.tags import with_role
from orthweb.shared.constants import (
    AFTER_FIRST_BOOT_TAG,
    DICOM_TLS_PORT,
    HOST_ROLES,
    HTTPS_PORT,
    PRIMARY,
    SECONDARY,
    SITE_ROLE,
    aws_name,
)


@dataclass(frozen=True)
class HostsArgs:
    # How each host is launched (the same as a scale-out member): one per public subnet, two AZs.
    launch: HostLaunch
    web_allowed_cidrs: tuple[str, ...]
    dicom_allowed_cidrs: tuple[str, ...]
    secondary_state: str
    # Plain DICOM from the hospital's ranges (through the VPN) to the site's private address.
    hospital: HospitalNetwork | None = None


class Hosts(pulumi.ComponentResource):
    security_group: aws.ec2.SecurityGroup
    instances: dict[str, aws.ec2.Instance]
    site_ip: aws.ec2.Eip

    def __init__(self, name: str, args: HostsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:Hosts", name, None, opts)
        self._name = name
        self._args = args
        self._launch = args.launch
        self._child = pulumi.ResourceOptions(parent=self)

        self.security_group = self._create_firewall()
        key_pair = self._launch.create_key_pair(f"{name}-ssh-key", parent=self)
        self.instances = {
            role: self._create_instance(role, subnet_id, key_pair)
            for role, subnet_id in zip(HOST_ROLES, self._launch.subnet_ids, strict=True)
        }
        self.site_ip = self._create_site_ip()
        self.register_outputs(
            {
                "primary_id": self.instances[PRIMARY].id,
                "secondary_id": self.instances[SECONDARY].id,
                "site_ip": self.site_ip.public_ip,
            }
        )

    def _create_firewall(self) -> aws.ec2.SecurityGroup:
        args = self._args
        return firewall(
            f"{self._name}-sg",
            FirewallArgs(
                vpc_id=self._launch.vpc_id,
                description="HTTPS and DICOM-TLS in; no SSH (Session Manager instead)",
                tags=self._launch.tags,
                ingress=(
                    Rule("https", "HTTPS (Orthanc web UI and REST through Envoy)", HTTPS_PORT, args.web_allowed_cidrs),
                    Rule("dicom-tls", "DICOM over TLS (through Envoy)", DICOM_TLS_PORT, args.dicom_allowed_cidrs),
                    *plain_dicom_rules(args.hospital),
                ),
                egress=self._launch.egress_rules(),
            ),
            parent=self,
        )

    def _create_instance(
        self, role: str, subnet_id: pulumi.Input[str], key_pair: aws.ec2.KeyPair | None
    ) -> aws.ec2.Instance:
        launch = self._launch
        key_name = key_pair.key_name if key_pair else None
        return aws.ec2.Instance(
            f"{self._name}-{role}",
            # A new AMI release alone never replaces a host; a host replaced anyway gets it.
            ami=launch.image(role, key_name=key_name, subnet_id=subnet_id),
            instance_type=launch.instance_type,
            subnet_id=subnet_id,
            vpc_security_group_ids=[self.security_group.id],
            # The site's private address is not the interface's own: the host takes its packets
            # (AWS drops them while the source/destination check is on).
            source_dest_check=self._args.hospital is None,
            iam_instance_profile=launch.instance_profile,
            key_name=key_name,
            # The secondary needs its own address to pull images; the primary's is replaced
            # by the Elastic IP.
            associate_public_ip_address=True,
            user_data_base64=launch.boot(role).user_data_base64,
            # cloud-init applies user data once per instance: a new application layer
            # needs a new host (created before the old one is deleted).
            user_data_replace_on_change=True,
            monitoring=True,
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(**METADATA_OPTIONS),
            root_block_device=launch.instance_root_volume(),
            tags=self._host_tags(role),
            opts=launch.booted_after(role, parent=self),
        )

    def _host_tags(self, role: str) -> dict[str, pulumi.Input[str]]:
        """A standby secondary powers itself off after its first boot (see its cloud-init); nothing
        stops it from outside, and no later `up` stops a host that a failover started."""
        tags = self._launch.host_tags(role)
        if role == SECONDARY and self._args.secondary_state == "stopped":
            tags[AFTER_FIRST_BOOT_TAG] = "stopped"
        return tags

    def _create_site_ip(self) -> aws.ec2.Eip:
        """Whoever holds the address is respected: after `orthweb failover` the secondary keeps
        it through later `pulumi up` runs (with or without --refresh). It goes to the primary
        on first deploy, or when its holder no longer exists (the hosts were replaced)."""
        return aws.ec2.Eip(
            f"{self._name}-site-ip",
            domain="vpc",
            instance=self._site_host().apply(lambda role: self.instances[role].id),
            tags=with_role(self._launch.stack, SITE_ROLE, name=aws_name(self._launch.stack, SITE_ROLE)),
            opts=self._child,
        )

    def _site_host(self) -> pulumi.Output[str]:
        """The role of the host that serves: whoever holds the Elastic IP now, else the primary."""
        return pulumi.Output.all(
            primary=self.instances[PRIMARY].id,
            secondary=self.instances[SECONDARY].id,
            holder=_current_site_holder(self._launch.stack),
        ).apply(lambda ids: SECONDARY if ids["holder"] and ids["holder"] == ids["secondary"] else PRIMARY)

    def site_interface(self) -> pulumi.Output[str]:
        """The serving host's network interface (where the site's private address is routed)."""
        return self._site_host().apply(lambda role: self.instances[role].primary_network_interface_id)


def _current_site_holder(stack: str) -> pulumi.Output[str]:
    """The instance that holds this stack's Elastic IP now, or "" before the first deploy."""
    addresses = aws.ec2.get_eips_output(tags=with_role(stack, SITE_ROLE))
    return addresses.allocation_ids.apply(
        lambda allocation_ids: (
            aws.ec2.get_elastic_ip_output(id=allocation_ids[0]).instance_id.apply(lambda held: held or "")
            if allocation_ids
            else ""
        )
    )
