"""What an on-call administrator gets: log groups, alarms to an encrypted topic, e-mail and a dashboard.

The hosts write container logs and metrics under the names in `orthweb.shared.telemetry`; this component
owns the log groups they write to (encrypted with the stack key, retention from config), one alarm
per rule of `alarm_plan` (EC2 auto-recovery on the failover topology's hosts), the SNS topic the
alarms notify (encrypted with the same key; only this stack's alarms may publish), one e-mail
subscription per configured address, and the dashboard whose name becomes a stack output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from orthweb.infra import policies
from orthweb.infra.alarm_plan import AlarmRule, HostToWatch, stack_rules
from orthweb.infra.dashboard import DashboardInputs, dashboard_body, dashboard_name
from orthweb.infra.tags import stack_tags, with_name
from orthweb.shared import telemetry
from orthweb.shared.constants import aws_name

# What a status-check notification says where EC2 cannot recover the instance type.
RECOVERY_UNSUPPORTED = (
    "EC2 cannot recover this instance type in place; stop and start it (it moves to other hardware) "
    "or fail over to the other host"
)


@dataclass(frozen=True)
class LoadBalancerToWatch:
    """The scale-out topology's load balancer and its target groups (by listener name)."""

    arn_suffix: pulumi.Input[str]
    target_group_arn_suffixes: Mapping[str, pulumi.Input[str]]


@dataclass(frozen=True)
class MonitoringArgs:
    stack: str
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    region: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    log_retention_days: int
    alarm_emails: Sequence[str]
    hosts: Sequence[HostToWatch[pulumi.Input[str]]]
    # Failover topology: a host on failed hardware is recovered in place (same id and addresses)...
    recover_hosts: bool
    # ...where EC2 can recover its instance type (DescribeInstanceTypes' AutoRecoverySupported).
    recovery_supported: pulumi.Input[bool]
    orthanc_replicas: int
    db_identifier: pulumi.Input[str]
    db_instance_class: str
    db_storage_gb: int
    load_balancer: LoadBalancerToWatch | None = None
    # The scale-out group's name (its hosts have no fixed instance ids).
    group_name: pulumi.Input[str] | None = None
    # The hospital's Site-to-Site VPN connection (hospitalNetwork): its tunnels are watched.
    vpn_id: pulumi.Input[str] | None = None


class Monitoring(pulumi.ComponentResource):
    topic: aws.sns.Topic
    log_groups: dict[str, aws.cloudwatch.LogGroup]
    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    dashboard: aws.cloudwatch.Dashboard
    dashboard_name: pulumi.Output[str]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:Monitoring", name, None, opts)
        if args.log_retention_days not in telemetry.LOG_RETENTION_DAYS:
            raise ValueError(
                f"log_retention_days={args.log_retention_days} is not a CloudWatch Logs retention "
                f"({', '.join(map(str, telemetry.LOG_RETENTION_DAYS))})"
            )
        self._name = name
        self._args = args
        self.log_groups = {component: self._create_log_group(component) for component in telemetry.LOG_COMPONENTS}
        self.topic = self._create_topic()
        for address in args.alarm_emails:
            self._create_subscription(address)
        rules = stack_rules(
            stack=args.stack,
            hosts=list(args.hosts),
            replicas=args.orthanc_replicas,
            recover_hosts=args.recover_hosts,
            db_identifier=args.db_identifier,
            db_instance_class=args.db_instance_class,
            db_storage_gb=args.db_storage_gb,
            load_balancer=(
                (args.load_balancer.arn_suffix, args.load_balancer.target_group_arn_suffixes)
                if args.load_balancer
                else None
            ),
            vpn_id=args.vpn_id,
        )
        self.alarms = {rule.key: self._create_alarm(rule) for rule in rules}
        self.dashboard = self._create_dashboard()
        self.dashboard_name = self.dashboard.dashboard_name
        self.register_outputs(
            {
                "topic_arn": self.topic.arn,
                "dashboard_name": self.dashboard_name,
                "log_groups": [group.name for group in self.log_groups.values()],
            }
        )

    @property
    def _child(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self)

    def _create_log_group(self, component: str) -> aws.cloudwatch.LogGroup:
        return aws.cloudwatch.LogGroup(
            f"{self._name}-log-{component}",
            name=telemetry.log_group_name(self._args.stack, component),
            retention_in_days=self._args.log_retention_days,
            kms_key_id=self._args.key_arn,
            tags=stack_tags(self._args.stack),
            opts=self._child,
        )

    def _create_topic(self) -> aws.sns.Topic:
        args = self._args
        topic = aws.sns.Topic(
            f"{self._name}-alarms",
            name=policies.alarm_topic_name(args.stack),
            display_name=f"orthweb {args.stack}",
            kms_master_key_id=args.key_arn,
            tags=with_name(args.stack, "alarms"),
            opts=self._child,
        )
        aws.sns.TopicPolicy(
            f"{self._name}-alarms-policy",
            arn=topic.arn,
            policy=pulumi.Output.all(
                topic_arn=topic.arn, account_id=args.account_id, partition=args.partition, region=args.region
            ).apply(lambda where: policies.to_json(policies.alarm_topic_policy(**where, stack=args.stack))),
            opts=self._child,
        )
        return topic

    def _create_subscription(self, address: str) -> aws.sns.TopicSubscription:
        # Named after the address, so adding or removing one leaves the others' subscriptions alone.
        slug = re.sub(r"[^a-z0-9]+", "-", address.lower()).strip("-")
        return aws.sns.TopicSubscription(
            f"{self._name}-email-{slug}",
            topic=self.topic.arn,
            protocol="email",
            endpoint=address,
            opts=self._child,
        )

    def _create_alarm(self, rule: AlarmRule[pulumi.Input[str]]) -> aws.cloudwatch.MetricAlarm:
        args = self._args
        notify = [self.topic.arn]
        actions, description = self._recovery(rule) if rule.recover_instance else (notify, rule.summary)
        return aws.cloudwatch.MetricAlarm(
            f"{self._name}-{rule.key}",
            # Matches policies.stack_alarm_arns: the only alarms the topic and the key admit.
            name=aws_name(args.stack, rule.key),
            alarm_description=description,
            namespace=rule.namespace,
            metric_name=rule.metric,
            dimensions=dict(rule.dimensions),
            statistic=rule.statistic,
            period=rule.period_seconds,
            evaluation_periods=rule.evaluation_periods,
            datapoints_to_alarm=rule.evaluation_periods,
            comparison_operator=rule.comparison,
            threshold=rule.threshold,
            treat_missing_data=rule.treat_missing_data,
            alarm_actions=actions,
            # The administrator also learns when it is over.
            ok_actions=notify,
            tags=stack_tags(args.stack),
            opts=self._child,
        )

    def _recovery(self, rule: AlarmRule[pulumi.Input[str]]) -> tuple[pulumi.Output[list[str]], pulumi.Output[str]]:
        """EC2's recover action where the instance type supports it, else notification only (EC2's
        guide: stop and start the instance to move it to other hardware)."""
        args = self._args
        known = pulumi.Output.all(
            supported=args.recovery_supported, topic=self.topic.arn, partition=args.partition, region=args.region
        )
        actions = known.apply(
            lambda v: (
                [v["topic"], f"arn:{v['partition']}:automate:{v['region']}:ec2:recover"]
                if v["supported"]
                else [v["topic"]]
            )
        )
        description = known.apply(
            lambda v: f"{rule.summary}: " + ("AWS is recovering it" if v["supported"] else RECOVERY_UNSUPPORTED)
        )
        return actions, description

    def _create_dashboard(self) -> aws.cloudwatch.Dashboard:
        args = self._args
        instance_ids = {host.role: host.instance_id for host in args.hosts if host.instance_id is not None}
        body = pulumi.Output.all(
            region=args.region,
            db_identifier=args.db_identifier,
            instance_ids=instance_ids,
            roles=[host.role for host in args.hosts],
            alarm_arns=[alarm.arn for alarm in self.alarms.values()],
            group_name=args.group_name,
            vpn_id=args.vpn_id,
        ).apply(
            lambda known: dashboard_body(
                DashboardInputs(
                    stack=args.stack,
                    region=known["region"],
                    instance_ids=known["instance_ids"],
                    roles=known["roles"],
                    db_identifier=known["db_identifier"],
                    replicas=args.orthanc_replicas,
                    alarm_arns=known["alarm_arns"],
                    group_name=known["group_name"],
                    vpn_id=known["vpn_id"],
                )
            )
        )
        return aws.cloudwatch.Dashboard(
            f"{self._name}-dashboard",
            dashboard_name=dashboard_name(args.stack),
            dashboard_body=body,
            opts=self._child,
        )
