"""The scale-out topology's hosts: an Auto Scaling group over two zones behind the load balancer.

Every member is launched as a failover host is (orthweb.infra.host_launch: the same AMI rule, key
pair, IMDSv2, encrypted root volume, instance profile, firewall egress and bundle) and runs the same
application (Envoy + N Orthanc replicas; the index and the storage are shared), from a launch
template. What reaches the members is the load balancer only. The group replaces a member
the load balancer finds unhealthy, rolls a new launch template out with an instance refresh while
at least half of the members keep serving, and may follow CPU load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import pulumi
import pulumi_aws as aws

from orthweb.infra.firewall import FirewallArgs, Rule, firewall
from orthweb.infra.host_launch import METADATA_OPTIONS, HostLaunch
from orthweb.infra.tags import with_role
from orthweb.shared.constants import DICOM_TLS_PORT, GROUP_MEMBER, HTTPS_PORT, LB_HEALTH_PORT, aws_name

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
    # How each member is launched (the same as a failover host), in every zone's public subnet.
    launch: HostLaunch
    # The Auto Scaling service-linked role the group launches with (the stack key admits it).
    launch_role_arn: pulumi.Input[str]
    load_balancer_security_group_id: pulumi.Input[str]
    target_group_arns: Sequence[pulumi.Input[str]]
    desired_size: int
    min_size: int
    max_size: int
    # Average CPU the group keeps its members at by adding and removing them; None: a fixed size.
    cpu_target_percent: int | None = None
    # Plain DICOM (hospitalNetwork): its port and the internal load balancer's security group,
    # the only one admitted to that port.
    private_dicom: tuple[int, pulumi.Input[str]] | None = None


class ScalingGroup(pulumi.ComponentResource):
    security_group: aws.ec2.SecurityGroup
    launch_template: aws.ec2.LaunchTemplate
    group: aws.autoscaling.Group

    def __init__(self, name: str, args: ScalingGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:ScalingGroup", name, None, opts)
        self._name = name
        self._args = args
        self._launch = args.launch
        self._child = pulumi.ResourceOptions(parent=self)

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
                vpc_id=self._launch.vpc_id,
                description="HTTPS, DICOM-TLS and health checks from the load balancer only; no SSH",
                tags=self._launch.tags,
                ingress=(
                    Rule("https", "HTTPS from the load balancer", HTTPS_PORT, peer_security_group_id=lb),
                    Rule("dicom-tls", "DICOM-TLS from the load balancer", DICOM_TLS_PORT, peer_security_group_id=lb),
                    Rule(
                        "health",
                        "Envoy's health endpoint, for the load balancer",
                        LB_HEALTH_PORT,
                        peer_security_group_id=lb,
                    ),
                    *self._private_dicom_rules(),
                ),
                egress=self._launch.egress_rules(),
            ),
            parent=self,
        )

    def _private_dicom_rules(self) -> tuple[Rule, ...]:
        """Plain DICOM and health checks from the internal load balancer (none without it)."""
        if self._args.private_dicom is None:
            return ()
        port, internal = self._args.private_dicom
        return (
            Rule("dicom-plain", "plain DICOM from the internal load balancer", port, peer_security_group_id=internal),
            Rule(
                "health-private",
                "health checks of the internal load balancer",
                LB_HEALTH_PORT,
                peer_security_group_id=internal,
            ),
        )

    def _create_launch_template(self) -> aws.ec2.LaunchTemplate:
        launch = self._launch
        key_pair = launch.create_key_pair(f"{self._name}-ssh-key", parent=self)
        key_name = key_pair.key_name if key_pair else None
        # Each member carries the digest of the bundle its launch template version names.
        member_tags = launch.host_tags(GROUP_MEMBER)
        return aws.ec2.LaunchTemplate(
            f"{self._name}-launch-template",
            description=f"orthweb {launch.stack}: one host of the scale-out group",
            # A new template version means an instance refresh: a new AMI release alone must not make
            # one, while a refresh for new user data brings the current AMI along.
            image_id=launch.image(GROUP_MEMBER, key_name=key_name),
            instance_type=launch.instance_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(name=launch.instance_profile),
            key_name=key_name,
            user_data=launch.boot(GROUP_MEMBER).user_data_base64,
            # Public subnets without NAT: a member needs its own address to pull images and reach AWS.
            network_interfaces=[
                aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                    device_index=0,
                    associate_public_ip_address="true",
                    delete_on_termination="true",
                    security_groups=[self.security_group.id],
                )
            ],
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(**METADATA_OPTIONS),
            block_device_mappings=[launch.template_root_volume()],
            monitoring=aws.ec2.LaunchTemplateMonitoringArgs(enabled=True),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=member_tags)
                for kind in ("instance", "volume")
            ],
            # The group launches the newest version; every change becomes one (and a refresh).
            update_default_version=True,
            tags=launch.tags,
            opts=launch.booted_after(GROUP_MEMBER, parent=self),
        )

    def _create_group(self) -> aws.autoscaling.Group:
        args, stack = self._args, self._launch.stack
        return aws.autoscaling.Group(
            f"{self._name}-hosts",
            name=aws_name(stack, "hosts"),
            vpc_zone_identifiers=list(self._launch.subnet_ids),
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
                for key, value in with_role(stack, GROUP_MEMBER, name=aws_name(stack, GROUP_MEMBER)).items()
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
