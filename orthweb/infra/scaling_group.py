"""The scale-out topology's hosts: an Auto Scaling group over two zones behind the load balancer.

Every member runs the same cloud-init as a failover host (Envoy + N Orthanc replicas; the index and
the storage are shared), from a launch template with IMDSv2 (two hops, for the containers), a root
volume encrypted with the stack's key and the hosts' instance profile. The group replaces a member
the load balancer finds unhealthy, rolls a new launch template out with an instance refresh while
at least half of the members keep serving, and may follow CPU load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from orthweb.constants import (
    BUNDLE_TAG,
    DICOM_TLS_PORT,
    GROUP_MEMBER,
    HTTPS_PORT,
    LB_HEALTH_PORT,
    POSTGRES_PORT,
    aws_name,
)
from orthweb.infra.firewall import FirewallArgs, Rule, firewall
from orthweb.infra.host_image import HostLaunch, InstanceType, host_image
from orthweb.infra.modality_egress import modality_egress_rules
from orthweb.infra.tags import stack_tags, with_role
from orthweb.infra.user_data import HostBoot
from orthweb.modalities import DicomModality

# Amazon Linux 2023's root device.
ROOT_DEVICE: Final = "/dev/xvda"
# A first deployment creates the database while the hosts boot; they wait for it (Multi-AZ RDS takes
# up to ~20 minutes), and the group must not replace them for failing health checks meanwhile.
FIRST_BOOT_GRACE_SECONDS: Final = 1500
# After a new member passes the load balancer's health checks, how long before it counts as capacity
# (for the next step of an instance refresh and for CPU metrics): its caches and connections settle.
INSTANCE_WARMUP_SECONDS: Final = 60
# Rolling replacement keeps at least this share of the desired members in service, and never runs
# more than the desired number (no surplus host is paid for during a refresh).
REFRESH_MIN_HEALTHY_PERCENT: Final = 50
REFRESH_MAX_HEALTHY_PERCENT: Final = 100
# Free group metrics (1-minute granularity) that show what the group did and why.
GROUP_METRICS: Final = (
    aws.autoscaling.Metric.GROUP_DESIRED_CAPACITY,
    aws.autoscaling.Metric.GROUP_IN_SERVICE_INSTANCES,
    aws.autoscaling.Metric.GROUP_PENDING_INSTANCES,
    aws.autoscaling.Metric.GROUP_TERMINATING_INSTANCES,
    aws.autoscaling.Metric.GROUP_TOTAL_INSTANCES,
)


@dataclass(frozen=True)
class ScalingGroupArgs:
    stack: str
    # The Auto Scaling service-linked role the group launches with (the stack key admits it).
    launch_role_arn: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    subnet_ids: Sequence[pulumi.Input[str]]  # the public subnets, one per zone
    instance_type: str
    # What EC2's instance-type lookup says the type runs: a pinned AMI must be one of these.
    instance_architectures: pulumi.Input[Sequence[str] | None]
    ami_id: pulumi.Input[str]  # the current Amazon Linux 2023 (see host_image for when it is used)
    instance_profile: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    root_volume_gb: int
    # The members' user data and bundle (one for the whole group).
    boot: HostBoot
    public_key: str | None
    load_balancer_security_group_id: pulumi.Input[str]
    target_group_arns: Sequence[pulumi.Input[str]]
    desired_size: int
    min_size: int
    max_size: int
    # Average CPU the group keeps its members at by adding and removing them; None: a fixed size.
    cpu_target_percent: int | None = None
    # An AMI the user pinned (`deploymentOptions.amiId`), used whatever the members run now.
    pinned_ami_id: str | None = None
    # C-MOVE destinations: the firewall lets Orthanc reach exactly these addresses and ports.
    dicom_modalities: tuple[DicomModality, ...] = ()


class ScalingGroup(pulumi.ComponentResource):
    security_group: aws.ec2.SecurityGroup
    launch_template: aws.ec2.LaunchTemplate
    group: aws.autoscaling.Group

    def __init__(self, name: str, args: ScalingGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:ScalingGroup", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self._tags = stack_tags(args.stack)

        self.security_group = self._create_firewall()
        self.launch_template = self._create_launch_template()
        self.group = self._create_group()
        if args.cpu_target_percent is not None:
            self._create_cpu_tracking(args.cpu_target_percent)
        self.register_outputs({"group_name": self.group.name, "launch_template_id": self.launch_template.id})

    def _create_firewall(self) -> aws.ec2.SecurityGroup:
        lb = self._args.load_balancer_security_group_id
        return firewall(
            f"{self._name}-sg",
            FirewallArgs(
                vpc_id=self._args.vpc_id,
                description="HTTPS, DICOM-TLS and health checks from the load balancer only; no SSH",
                tags=self._tags,
                ingress=(
                    Rule("https", "HTTPS from the load balancer", HTTPS_PORT, peer_security_group_id=lb),
                    Rule("dicom-tls", "DICOM-TLS from the load balancer", DICOM_TLS_PORT, peer_security_group_id=lb),
                    Rule(
                        "health",
                        "Envoy's health endpoint, for the load balancer",
                        LB_HEALTH_PORT,
                        peer_security_group_id=lb,
                    ),
                ),
                egress=(
                    Rule("https", "HTTPS out: packages, container images, AWS APIs", HTTPS_PORT, ("0.0.0.0/0",)),
                    Rule(
                        "postgres", "PostgreSQL to the database inside the VPC", POSTGRES_PORT, (self._args.vpc_cidr,)
                    ),
                    *modality_egress_rules(self._args.dicom_modalities),
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

    def _member_image(self, key_name: pulumi.Input[str] | None) -> pulumi.Output[str]:
        args = self._args
        # A new template version means an instance refresh: a new AMI release alone must not make
        # one, while a refresh for new user data brings the current AMI along.
        return host_image(
            stack=args.stack,
            role=GROUP_MEMBER,
            launch=HostLaunch(
                user_data_base64=args.boot.user_data_base64,
                subnet_id=None,
                key_name=key_name,
                root_volume_key_arn=args.key_arn,
            ),
            current_ami=args.ami_id,
            pinned_ami=args.pinned_ami_id,
            instance_type=InstanceType(args.instance_type, args.instance_architectures),
        )

    def _create_launch_template(self) -> aws.ec2.LaunchTemplate:
        args = self._args
        key_pair = self._create_key_pair()
        key_name = key_pair.key_name if key_pair else None
        # Each member carries the digest of the bundle its launch template version names.
        member_tags: dict[str, pulumi.Input[str]] = {
            **with_role(args.stack, GROUP_MEMBER, name=aws_name(args.stack, GROUP_MEMBER)),
            BUNDLE_TAG: args.boot.bundle_sha256,
        }
        return aws.ec2.LaunchTemplate(
            f"{self._name}-launch-template",
            description=f"orthweb {args.stack}: one host of the scale-out group",
            image_id=self._member_image(key_name),
            instance_type=args.instance_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(name=args.instance_profile),
            key_name=key_name,
            user_data=args.boot.user_data_base64,
            # Public subnets without NAT: a member needs its own address to pull images and reach AWS.
            network_interfaces=[
                aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                    device_index=0,
                    associate_public_ip_address="true",
                    delete_on_termination="true",
                    security_groups=[self.security_group.id],
                )
            ],
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",
                # Two hops: the Orthanc containers reach IMDS for the instance role.
                http_put_response_hop_limit=2,
            ),
            block_device_mappings=[_encrypted_root_volume(args)],
            monitoring=aws.ec2.LaunchTemplateMonitoringArgs(enabled=True),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=member_tags)
                for kind in ("instance", "volume")
            ],
            # The group launches the newest version; every change becomes one (and a refresh).
            update_default_version=True,
            tags=self._tags,
            # A member's first boot fetches the bundle with the role's permission to read it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.boot.ready)),
        )

    def _create_group(self) -> aws.autoscaling.Group:
        args = self._args
        return aws.autoscaling.Group(
            f"{self._name}-hosts",
            name=aws_name(args.stack, "hosts"),
            vpc_zone_identifiers=list(args.subnet_ids),
            desired_capacity=args.desired_size,
            min_size=args.min_size,
            max_size=args.max_size,
            launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
                id=self.launch_template.id, version=self.launch_template.latest_version.apply(str)
            ),
            target_group_arns=list(args.target_group_arns),
            service_linked_role_arn=args.launch_role_arn,
            # A member that stops serving (not only one that stops running) is replaced.
            health_check_type="ELB",
            health_check_grace_period=FIRST_BOOT_GRACE_SECONDS,
            default_instance_warmup=INSTANCE_WARMUP_SECONDS,
            # A changed launch template rolls out by itself, at most half of the members at a time.
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling",
                preferences=aws.autoscaling.GroupInstanceRefreshPreferencesArgs(
                    min_healthy_percentage=REFRESH_MIN_HEALTHY_PERCENT,
                    max_healthy_percentage=REFRESH_MAX_HEALTHY_PERCENT,
                    skip_matching=True,
                ),
            ),
            enabled_metrics=list(GROUP_METRICS),
            metrics_granularity=aws.autoscaling.MetricsGranularity.ONE_MINUTE,
            tags=[
                aws.autoscaling.GroupTagArgs(key=key, value=value, propagate_at_launch=True)
                for key, value in with_role(args.stack, GROUP_MEMBER, name=aws_name(args.stack, GROUP_MEMBER)).items()
            ],
            # With CPU tracking the policy owns the desired size; `pulumi up` must not reset it.
            opts=pulumi.ResourceOptions(
                parent=self, ignore_changes=["desiredCapacity"] if args.cpu_target_percent is not None else None
            ),
        )

    def _create_cpu_tracking(self, target_percent: int) -> None:
        aws.autoscaling.Policy(
            f"{self._name}-cpu-tracking",
            autoscaling_group_name=self.group.name,
            policy_type="TargetTrackingScaling",
            target_tracking_configuration=aws.autoscaling.PolicyTargetTrackingConfigurationArgs(
                predefined_metric_specification=aws.autoscaling.PolicyTargetTrackingConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="ASGAverageCPUUtilization"
                ),
                target_value=float(target_percent),
            ),
            opts=self._child,
        )


def _encrypted_root_volume(args: ScalingGroupArgs) -> aws.ec2.LaunchTemplateBlockDeviceMappingArgs:
    return aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
        device_name=ROOT_DEVICE,
        ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
            volume_type="gp3",
            volume_size=args.root_volume_gb,
            encrypted="true",
            kms_key_id=args.key_arn,
            delete_on_termination="true",
        ),
    )
