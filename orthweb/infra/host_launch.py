"""How a host is launched, the same in both topologies: the failover hosts (orthweb.infra.hosts)
and each member of the scale-out group (orthweb.infra.scaling_group) take one `HostLaunch`, as
pulumi-eks's node groups share one base of options.

What every host shares: its AMI (orthweb.infra.host_image's rule), the key pair, the way out of
its firewall (HTTPS, the database inside the VPC, the configured modalities), IMDSv2 with two
hops, an encrypted gp3 root volume, detailed monitoring, the instance profile, and the bundle its
user data fetches (named by the host's digest tag; the host waits for the bundle and for the
permission to read it). The topologies differ in what reaches the hosts and in what keeps them
running: an Elastic IP moved by `orthweb failover`, or a load balancer and an Auto Scaling group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi_aws as aws

from orthweb.infra.firewall import Rule
from orthweb.infra.host_image import InstanceType, LaunchInputs, host_image
from orthweb.infra.modality_egress import modality_egress_rules
from orthweb.infra.tags import stack_tags, with_role
from orthweb.infra.user_data import HostBoot
from orthweb.shared.constants import BUNDLE_TAG, HTTPS_PORT, POSTGRES_PORT, aws_name
from orthweb.shared.modalities import DicomModality

# IMDSv2 only, with two hops: the Orthanc containers reach it for the instance role.
METADATA_OPTIONS: Final[dict[str, Any]] = {
    "http_endpoint": "enabled",
    "http_tokens": "required",
    "http_put_response_hop_limit": 2,
}
ROOT_VOLUME_TYPE: Final = "gp3"
# Amazon Linux 2023's root device (a launch template names it).
ROOT_DEVICE: Final = "/dev/xvda"


@dataclass(frozen=True)
class HostLaunch:
    stack: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    subnet_ids: Sequence[pulumi.Input[str]]  # the public subnets, one per zone
    instance_type: str
    # What EC2's instance-type lookup says the type runs: a pinned AMI must be one of these.
    instance_architectures: pulumi.Input[Sequence[str] | None]
    current_ami_id: pulumi.Input[str]  # the current Amazon Linux 2023 (see host_image for when it is used)
    instance_profile: pulumi.Input[str]
    key_arn: pulumi.Input[str]  # encrypts the root volume
    root_volume_gb: int
    # A host role's user data and bundle (PRIMARY, SECONDARY or GROUP_MEMBER).
    boot: Callable[[str], HostBoot]
    public_key: str | None
    # An AMI the user pinned (`deploymentOptions.amiId`), used for every host whatever runs now.
    pinned_ami_id: str | None = None
    # C-MOVE destinations: the firewall lets Orthanc reach exactly these addresses and ports.
    dicom_modalities: tuple[DicomModality, ...] = ()

    @property
    def tags(self) -> dict[str, str]:
        return stack_tags(self.stack)

    def egress_rules(self) -> tuple[Rule, ...]:
        """Where a host may open connections: what it installs and the AWS APIs, its database,
        and the modalities that receive C-MOVE results."""
        return (
            Rule("https", "HTTPS out: packages, container images, AWS APIs", HTTPS_PORT, ("0.0.0.0/0",)),
            Rule("postgres", "PostgreSQL to the database inside the VPC", POSTGRES_PORT, (self.vpc_cidr,)),
            *modality_egress_rules(self.dicom_modalities),
        )

    def create_key_pair(self, name: str, parent: pulumi.Resource) -> aws.ec2.KeyPair | None:
        """The SSH key the hosts accept, or none (Session Manager only)."""
        if not self.public_key:
            return None
        return aws.ec2.KeyPair(
            name, public_key=self.public_key, tags=self.tags, opts=pulumi.ResourceOptions(parent=parent)
        )

    def image(
        self, role: str, *, key_name: pulumi.Input[str] | None, subnet_id: pulumi.Input[str] | None = None
    ) -> pulumi.Output[str]:
        """The AMI of the host with this role: a new AMI release alone never replaces a host."""
        return host_image(
            stack=self.stack,
            role=role,
            launch=LaunchInputs(
                user_data_base64=self.boot(role).user_data_base64,
                subnet_id=subnet_id,
                key_name=key_name,
                root_volume_key_arn=self.key_arn,
            ),
            current_ami=self.current_ami_id,
            pinned_ami=self.pinned_ami_id,
            instance_type=InstanceType(self.instance_type, self.instance_architectures),
        )

    def host_tags(self, role: str) -> dict[str, pulumi.Input[str]]:
        """A host's tags: its role and name, and the digest of the bundle it runs."""
        return {
            **with_role(self.stack, role, name=aws_name(self.stack, role)),
            BUNDLE_TAG: self.boot(role).bundle_sha256,
        }

    def instance_root_volume(self) -> aws.ec2.InstanceRootBlockDeviceArgs:
        return aws.ec2.InstanceRootBlockDeviceArgs(
            volume_type=ROOT_VOLUME_TYPE,
            volume_size=self.root_volume_gb,
            encrypted=True,
            kms_key_id=self.key_arn,
            delete_on_termination=True,
            tags=self.tags,
        )

    def template_root_volume(self) -> aws.ec2.LaunchTemplateBlockDeviceMappingArgs:
        """The same volume in a launch template (which tags volumes through its tag specifications)."""
        return aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
            device_name=ROOT_DEVICE,
            ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                volume_type=ROOT_VOLUME_TYPE,
                volume_size=self.root_volume_gb,
                encrypted="true",
                kms_key_id=self.key_arn,
                delete_on_termination="true",
            ),
        )

    def booted_after(self, role: str, parent: pulumi.Resource) -> pulumi.ResourceOptions:
        """A host's first boot fetches its bundle with the role's permission to read it."""
        return pulumi.ResourceOptions(parent=parent, depends_on=list(self.boot(role).ready))
