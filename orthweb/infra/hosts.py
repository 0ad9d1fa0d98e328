"""The two hosts: primary and secondary EC2 in two AZs, their firewall and the site's Elastic IP."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.constants import (
    AFTER_FIRST_BOOT_TAG,
    BUNDLE_TAG,
    DICOM_TLS_PORT,
    HOST_ROLES,
    HTTPS_PORT,
    POSTGRES_PORT,
    PRIMARY,
    SECONDARY,
    SITE_ROLE,
    aws_name,
)
from orthweb.infra.firewall import FirewallArgs, Rule, firewall
from orthweb.infra.host_image import HostLaunch, InstanceType, host_image
from orthweb.infra.modality_egress import modality_egress_rules
from orthweb.infra.tags import stack_tags, with_role
from orthweb.infra.user_data import HostBoot
from orthweb.modalities import DicomModality


@dataclass(frozen=True)
class HostsArgs:
    stack: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    subnet_ids: list[pulumi.Output[str]]  # one public subnet per host, in two AZs
    instance_type: str
    # What EC2's instance-type lookup says the type runs: a pinned AMI must be one of these.
    instance_architectures: pulumi.Input[Sequence[str] | None]
    ami_id: pulumi.Input[str]  # the current Amazon Linux 2023 (see host_image for when it is used)
    instance_profile: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    root_volume_gb: int
    web_allowed_cidrs: tuple[str, ...]
    dicom_allowed_cidrs: tuple[str, ...]
    # Called with the host role (PRIMARY/SECONDARY): its user data and bundle.
    boot: Callable[[str], HostBoot]
    public_key: str | None
    secondary_state: str
    # An AMI the user pinned (`deploymentOptions.amiId`), used for every host whatever runs now.
    pinned_ami_id: str | None = None
    # C-MOVE destinations: the firewall lets Orthanc reach exactly these addresses and ports.
    dicom_modalities: tuple[DicomModality, ...] = ()


class Hosts(pulumi.ComponentResource):
    security_group: aws.ec2.SecurityGroup
    instances: dict[str, aws.ec2.Instance]
    site_ip: aws.ec2.Eip

    def __init__(self, name: str, args: HostsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:Hosts", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self._tags = stack_tags(args.stack)

        self.security_group = self._create_firewall()
        key_pair = self._create_key_pair()
        self.instances = {
            role: self._create_instance(role, subnet_id, key_pair)
            for role, subnet_id in zip(HOST_ROLES, args.subnet_ids, strict=True)
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
                vpc_id=args.vpc_id,
                description="HTTPS and DICOM-TLS in; no SSH (Session Manager instead)",
                tags=self._tags,
                ingress=(
                    Rule("https", "HTTPS (Orthanc web UI and REST through Envoy)", HTTPS_PORT, args.web_allowed_cidrs),
                    Rule("dicom-tls", "DICOM over TLS (through Envoy)", DICOM_TLS_PORT, args.dicom_allowed_cidrs),
                ),
                egress=(
                    Rule("https", "HTTPS out: packages, container images, AWS APIs", HTTPS_PORT, ("0.0.0.0/0",)),
                    Rule("postgres", "PostgreSQL to the database inside the VPC", POSTGRES_PORT, (args.vpc_cidr,)),
                    *modality_egress_rules(args.dicom_modalities),
                ),
            ),
            parent=self,
        )

    def _create_key_pair(self) -> aws.ec2.KeyPair | None:
        if not self._args.public_key:
            return None
        return aws.ec2.KeyPair(
            f"{self._name}-ssh-key", public_key=self._args.public_key, tags=self._tags, opts=self._child
        )

    def _create_instance(
        self, role: str, subnet_id: pulumi.Input[str], key_pair: aws.ec2.KeyPair | None
    ) -> aws.ec2.Instance:
        args = self._args
        boot = args.boot(role)
        launch = HostLaunch(
            user_data_base64=boot.user_data_base64,
            subnet_id=subnet_id,
            key_name=key_pair.key_name if key_pair else None,
            root_volume_key_arn=args.key_arn,
        )
        return aws.ec2.Instance(
            f"{self._name}-{role}",
            # A new AMI release alone never replaces a host; a host replaced anyway gets it.
            ami=host_image(
                stack=args.stack,
                role=role,
                launch=launch,
                current_ami=args.ami_id,
                pinned_ami=args.pinned_ami_id,
                instance_type=InstanceType(args.instance_type, args.instance_architectures),
            ),
            instance_type=args.instance_type,
            subnet_id=launch.subnet_id,
            vpc_security_group_ids=[self.security_group.id],
            iam_instance_profile=args.instance_profile,
            key_name=launch.key_name,
            # The secondary needs its own address to pull images; the primary's is replaced
            # by the Elastic IP.
            associate_public_ip_address=True,
            user_data_base64=launch.user_data_base64,
            # cloud-init applies user data once per instance: a new application layer
            # needs a new host (created before the old one is deleted).
            user_data_replace_on_change=True,
            monitoring=True,
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                # Two hops: the Orthanc containers reach IMDS for the instance role.
                http_put_response_hop_limit=2,
            ),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                volume_type="gp3",
                volume_size=args.root_volume_gb,
                encrypted=True,
                kms_key_id=args.key_arn,
                delete_on_termination=True,
                tags=self._tags,
            ),
            tags=self._host_tags(role, boot.bundle_sha256),
            # Its first boot fetches the bundle with the role's permission to read it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(boot.ready)),
        )

    def _host_tags(self, role: str, bundle_sha256: pulumi.Output[str]) -> dict[str, pulumi.Input[str]]:
        """A standby secondary powers itself off after its first boot (see its cloud-init); nothing
        stops it from outside, and no later `up` stops a host that a failover started."""
        tags: dict[str, pulumi.Input[str]] = {
            **with_role(self._args.stack, role, name=aws_name(self._args.stack, role)),
            BUNDLE_TAG: bundle_sha256,
        }
        if role == SECONDARY and self._args.secondary_state == "stopped":
            tags[AFTER_FIRST_BOOT_TAG] = "stopped"
        return tags

    def _create_site_ip(self) -> aws.ec2.Eip:
        """Whoever holds the address is respected: after `orthweb failover` the secondary keeps
        it through later `pulumi up` runs (with or without --refresh). It goes to the primary
        on first deploy, or when its holder no longer exists (the hosts were replaced)."""
        holder = _current_site_holder(self._args.stack)
        return aws.ec2.Eip(
            f"{self._name}-site-ip",
            domain="vpc",
            instance=pulumi.Output.all(
                primary=self.instances[PRIMARY].id, secondary=self.instances[SECONDARY].id, holder=holder
            ).apply(
                lambda ids: ids["holder"] if ids["holder"] in (ids["primary"], ids["secondary"]) else ids["primary"]
            ),
            tags=with_role(self._args.stack, SITE_ROLE, name=aws_name(self._args.stack, SITE_ROLE)),
            opts=self._child,
        )


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
