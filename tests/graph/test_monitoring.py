"""Operations visibility on the real resource graph: logs, alarms, the topic and the dashboard.

Each alarm is checked for the exact namespace, metric, dimensions and actions it must have; a
wrong dimension value would leave an alarm watching a series that never exists, which AWS accepts
silently (it just stays INSUFFICIENT_DATA forever).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from parliament import analyze_policy_string

from orthweb.evaluate import Evaluation, evaluate
from orthweb.infra.dashboard import dashboard_name
from orthweb.shared import telemetry
from orthweb.shared.sizing import RDS_CLASS_MEMORY_GIB, rds_max_connections

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
TOPIC = "aws:sns/topic:Topic"
RDS = "aws:rds/instance:Instance"
HOST = "aws:ec2/instance:Instance"
PREFIX = "orthweb-monitoring-"


def alarms(stack: Evaluation) -> dict[str, dict[str, Any]]:
    """Alarm inputs by key (the alarm's name without `orthweb-<stack>-`)."""
    found = {}
    for alarm in stack.of_type(ALARM):
        assert alarm.name.startswith(PREFIX), alarm.name
        found[alarm.name.removeprefix(PREFIX)] = alarm.inputs
    return found


def key_arn(stack: Evaluation) -> str:
    return stack.one("aws:kms/key:Key").state["arn"]


def topic_arn(stack: Evaluation) -> str:
    return stack.one(TOPIC).state["arn"]


def instance_id(stack: Evaluation, role: str) -> str:
    return stack.named(f"orthweb-hosts-{role}").id


# --- logs -----------------------------------------------------------------------------------------


def test_one_log_group_per_component_encrypted_with_the_stack_key_and_configured_retention(
    stack: Evaluation,
) -> None:
    groups = {
        g.inputs["name"]: g.inputs for g in stack.of_type(LOG_GROUP) if g.name.startswith("orthweb-monitoring-log-")
    }
    expected = {telemetry.log_group_name(stack.stack, component) for component in telemetry.LOG_COMPONENTS}
    assert set(groups) == expected
    for name, group in groups.items():
        assert group["kmsKeyId"] == key_arn(stack), name
        assert group["retentionInDays"] == stack.config.options.log_retention_days, name
        assert group["retentionInDays"] in telemetry.LOG_RETENTION_DAYS


def test_a_retention_cloudwatch_refuses_never_reaches_aws(empty_home: Any) -> None:
    from orthweb.config.stack_config import ConfigError

    with pytest.raises(ConfigError, match="logRetentionDays"):
        evaluate("dev", {"deploymentOptions": {"logRetentionDays": 100}}, home=empty_home)


# --- the topic --------------------------------------------------------------------------------------


def test_the_alarm_topic_is_encrypted_with_the_stack_key(stack: Evaluation) -> None:
    topic = stack.one(TOPIC).inputs
    assert topic["kmsMasterKeyId"] == key_arn(stack)
    assert topic["name"] == f"orthweb-{stack.stack}-alarms"


def test_only_this_stacks_alarms_may_publish_and_only_over_tls(stack: Evaluation) -> None:
    document = json.loads(stack.one("aws:sns/topicPolicy:TopicPolicy").inputs["policy"])
    assert stack.one("aws:sns/topicPolicy:TopicPolicy").inputs["arn"] == topic_arn(stack)
    statements = {s["Sid"]: s for s in document["Statement"]}
    publish = statements["StackAlarmsPublish"]
    assert publish["Effect"] == "Allow"
    assert publish["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert publish["Action"] == "sns:Publish" and publish["Resource"] == topic_arn(stack)
    assert publish["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:orthweb-{stack.stack}-*"},
    }
    insecure = statements["DenyInsecureTransport"]
    assert insecure["Effect"] == "Deny" and insecure["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    findings = [(f.issue, f.detail) for f in analyze_policy_string(json.dumps(document)).findings]
    assert findings == []


def test_cloudwatch_may_use_the_key_for_this_stacks_alarms_only(stack: Evaluation) -> None:
    policy = json.loads(stack.one("aws:kms/key:Key").inputs["policy"])
    (statement,) = [s for s in policy["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == (
        f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:orthweb-{stack.stack}-*"
    )
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"


def test_every_configured_address_gets_an_email_subscription(empty_home: Any) -> None:
    addresses = ["pacs-oncall@hospital.example", "it@hospital.example"]
    evaluation = evaluate("dev", {"alarmEmails": addresses}, home=empty_home)
    subscriptions = evaluation.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert sorted(s.inputs["endpoint"] for s in subscriptions) == sorted(addresses)
    assert all(s.inputs["protocol"] == "email" for s in subscriptions)
    assert {s.inputs["topic"] for s in subscriptions} == {topic_arn(evaluation)}


def test_no_address_no_subscription(dev: Evaluation) -> None:
    assert dev.config.alarm_emails == ()
    assert not dev.of_type("aws:sns/topicSubscription:TopicSubscription")


# --- alarms -----------------------------------------------------------------------------------------


def test_every_alarm_notifies_the_topic_when_it_fires_and_when_it_clears(stack: Evaluation) -> None:
    found = alarms(stack)
    assert found
    for key, alarm in found.items():
        assert topic_arn(stack) in alarm["alarmActions"], key
        assert alarm["okActions"] == [topic_arn(stack)], key
        assert alarm["name"] == f"orthweb-{stack.stack}-{key}"
        assert alarm["datapointsToAlarm"] == alarm["evaluationPeriods"], key
        assert alarm["alarmDescription"], key


def test_the_alarm_set_is_the_documented_one(stack: Evaluation) -> None:
    per_host = {"status-check", "replicas-down", "server-errors", "disk-full", "memory-high", "certificate-expiring"}
    expected = {f"{role}-{what}" for role in ("primary", "secondary") for what in per_host}
    expected |= {"database-cpu-high", "database-storage-low", "database-memory-low", "database-connections-high"}
    expected |= {"audit-copy-failed"}
    assert set(alarms(stack)) == expected


@pytest.mark.parametrize("role", ["primary", "secondary"])
def test_a_failed_system_status_check_recovers_the_host(stack: Evaluation, role: str) -> None:
    alarm = alarms(stack)[f"{role}-status-check"]
    assert (alarm["namespace"], alarm["metricName"]) == ("AWS/EC2", "StatusCheckFailed_System")
    assert alarm["dimensions"] == {"InstanceId": instance_id(stack, role)}
    assert alarm["statistic"] == "Maximum" and alarm["period"] == 60 and alarm["evaluationPeriods"] == 2
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert sorted(alarm["alarmActions"]) == sorted([topic_arn(stack), "arn:aws:automate:us-east-1:ec2:recover"])


@pytest.mark.parametrize("instance_type", ["m5d.large", "c6in.large"])
def test_no_recover_action_where_ec2_cannot_recover_the_instance_type(empty_home: Any, instance_type: str) -> None:
    """EC2 recovers only instance types whose DescribeInstanceTypes entry says AutoRecoverySupported
    (Amazon EC2 User Guide, "Recover your instance": EBS-only types; instance-store types such as
    m5d cannot be recovered). The program asks the provider's instance-type lookup at `pulumi up`;
    offline, m5d.large is recorded as unsupported and c6in.large is not known at all: neither gets
    the action. The alarm still notifies, and says what to do instead (stop and start, as EC2's
    guide advises when recovery is not possible)."""
    evaluation = evaluate("dev", {"deploymentOptions": {"instanceType": instance_type}}, home=empty_home)
    for role in ("primary", "secondary"):
        alarm = alarms(evaluation)[f"{role}-status-check"]
        assert alarm["alarmActions"] == [topic_arn(evaluation)], role
        assert "stop and start" in alarm["alarmDescription"], role


def test_the_recover_action_is_decided_by_the_instance_type_lookup(stack: Evaluation) -> None:
    """t4g types are recorded with AutoRecoverySupported true: recovery, and the notification says so."""
    alarm = alarms(stack)["primary-status-check"]
    assert "arn:aws:automate:us-east-1:ec2:recover" in alarm["alarmActions"]
    assert "recovering it" in alarm["alarmDescription"]


def test_only_status_check_alarms_act_on_instances(stack: Evaluation) -> None:
    for key, alarm in alarms(stack).items():
        automated = [a for a in alarm["alarmActions"] if ":automate:" in a]
        assert bool(automated) == key.endswith("status-check"), key


@pytest.mark.parametrize("role", ["primary", "secondary"])
def test_host_application_alarms_watch_what_the_host_agent_publishes(stack: Evaluation, role: str) -> None:
    namespace = telemetry.metric_namespace(stack.stack)
    found = alarms(stack)
    expected = {
        "replicas-down": (telemetry.HEALTHY_REPLICAS.name, {"envoy_cluster_name": telemetry.HTTP_CLUSTER}),
        "server-errors": (telemetry.SERVER_ERRORS.name, {"envoy_response_code_class": "5"}),
        "disk-full": (telemetry.ROOT_DISK_USED.name, {"path": "/", "fstype": "xfs"}),
        "memory-high": (telemetry.MEMORY_USED.name, {}),
        "certificate-expiring": (telemetry.CERTIFICATE_DAYS.name, {}),
    }
    for what, (metric, extra) in expected.items():
        alarm = found[f"{role}-{what}"]
        assert alarm["namespace"] == namespace, what
        assert alarm["metricName"] == metric, what
        assert alarm["dimensions"] == {"Host": role, **extra}, what


def test_replicas_alarm_fires_below_the_configured_count_and_on_silence_from_a_serving_host(
    empty_home: Any,
) -> None:
    evaluation = evaluate(
        "dev", {"secondaryState": "stopped", "deploymentOptions": {"orthancReplicas": 2}}, home=empty_home
    )
    found = alarms(evaluation)
    for role in ("primary", "secondary"):
        alarm = found[f"{role}-replicas-down"]
        assert (alarm["comparisonOperator"], alarm["threshold"]) == ("LessThanThreshold", 2)
        assert alarm["period"] * alarm["evaluationPeriods"] == 300
    assert found["primary-replicas-down"]["treatMissingData"] == "breaching"
    # A secondary kept stopped to save money sends nothing, and that is not an incident.
    assert found["secondary-replicas-down"]["treatMissingData"] == "notBreaching"


def test_sustained_5xx_means_every_minute_for_five_minutes(stack: Evaluation) -> None:
    alarm = alarms(stack)["primary-server-errors"]
    assert (alarm["statistic"], alarm["period"], alarm["evaluationPeriods"]) == ("Sum", 60, 5)
    assert alarm["threshold"] == 5 and alarm["treatMissingData"] == "notBreaching"


def test_certificate_alarm_fires_30_days_before_expiry(stack: Evaluation) -> None:
    alarm = alarms(stack)["primary-certificate-expiring"]
    assert (alarm["comparisonOperator"], alarm["threshold"], alarm["statistic"]) == (
        "LessThanThreshold",
        30,
        "Minimum",
    )


def test_database_alarms_follow_the_configured_class_and_storage(stack: Evaluation) -> None:
    options = stack.config.options
    db = {"DBInstanceIdentifier": stack.one(RDS).inputs["identifier"]}
    found = alarms(stack)
    for key, metric in (
        ("database-cpu-high", "CPUUtilization"),
        ("database-storage-low", "FreeStorageSpace"),
        ("database-memory-low", "FreeableMemory"),
        ("database-connections-high", "DatabaseConnections"),
    ):
        assert (found[key]["namespace"], found[key]["metricName"]) == ("AWS/RDS", metric)
        assert found[key]["dimensions"] == db
        assert found[key]["alarmActions"] == [topic_arn(stack)]
    assert found["database-cpu-high"]["threshold"] == 80
    gib = 1024**3
    assert found["database-storage-low"]["threshold"] == max(1, options.db_storage_gb * 0.05) * gib
    assert found["database-memory-low"]["threshold"] == RDS_CLASS_MEMORY_GIB[options.db_instance_class] * gib / 10
    limit = rds_max_connections(options.db_instance_class)
    assert found["database-connections-high"]["threshold"] == int(limit * 0.8)


def test_connections_threshold_stays_above_what_orthanc_holds(stack: Evaluation) -> None:
    """Orthanc alone must never trip the connections alarm: it holds a fixed pool per replica."""
    from orthweb.shared.sizing import index_connections_for

    options = stack.config.options
    per_replica = index_connections_for(options.db_instance_class, replicas_per_host=options.orthanc_replicas) + 1
    held_by_orthanc = per_replica * options.orthanc_replicas * 2
    assert alarms(stack)["database-connections-high"]["threshold"] > held_by_orthanc


# --- dashboard --------------------------------------------------------------------------------------


def test_the_dashboard_name_is_a_stack_output(stack: Evaluation) -> None:
    board = stack.one("aws:cloudwatch/dashboard:Dashboard").inputs
    assert board["dashboardName"] == dashboard_name(stack.stack) == f"orthweb-{stack.stack}"
    assert stack.outputs["dashboard_name"] == board["dashboardName"]


def test_the_dashboard_shows_every_alarm_and_only_metrics_that_are_published(stack: Evaluation) -> None:
    body = json.loads(stack.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert sorted(alarm_widget["properties"]["alarms"]) == sorted(a.state["arn"] for a in stack.of_type(ALARM))
    published = {m.name for m in telemetry.SCRAPED_METRICS} | {m.name for m in telemetry.HOST_METRICS}
    own_namespace = telemetry.metric_namespace(stack.stack)
    titles = []
    for widget in body["widgets"]:
        if widget["type"] != "metric":
            continue
        titles.append(widget["properties"]["title"])
        for line in widget["properties"]["metrics"]:
            namespace, metric = line[0], line[1]
            if namespace == own_namespace:
                assert metric in published, metric
            else:
                assert namespace in ("AWS/EC2", "AWS/RDS"), namespace
    joined = " ".join(titles).lower()
    for topic in ("requests", "5xx", "replicas", "dicom", "database", "host"):
        assert topic in joined, topic


def test_dashboard_widgets_fit_the_grid_without_overlapping(stack: Evaluation) -> None:
    body = json.loads(stack.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    cells: set[tuple[int, int]] = set()
    for widget in body["widgets"]:
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24
        covered = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not covered & cells, widget["properties"].get("title")
        cells |= covered


# --- scale-out ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scale_out(empty_home: Any) -> Evaluation:
    return evaluate("dev", {"topology": "scale-out"}, home=empty_home)


def test_scale_out_watches_the_group_hosts_together_and_the_load_balancers_targets(scale_out: Evaluation) -> None:
    found = alarms(scale_out)
    per_host = {"replicas-down", "server-errors", "disk-full", "memory-high", "certificate-expiring"}
    database = {"database-cpu-high", "database-storage-low", "database-memory-low", "database-connections-high"}
    balancer = {"nlb-https-unhealthy-hosts", "nlb-dicom-unhealthy-hosts"}
    assert set(found) == {f"member-{what}" for what in per_host} | database | balancer | {"audit-copy-failed"}
    assert all(alarm["dimensions"]["Host"] == "member" for key, alarm in found.items() if key.startswith("member-"))
    # The group replaces a failed host itself: nothing is recovered in place.
    assert not [key for key, alarm in found.items() if any(":automate:" in a for a in alarm["alarmActions"])]
    nlb = scale_out.one("aws:lb/loadBalancer:LoadBalancer").state["arnSuffix"]
    groups = {int(t.inputs["port"]): t.state["arnSuffix"] for t in scale_out.of_type("aws:lb/targetGroup:TargetGroup")}
    for listener, port in (("https", 443), ("dicom", 11112)):
        alarm = found[f"nlb-{listener}-unhealthy-hosts"]
        assert (alarm["namespace"], alarm["metricName"]) == ("AWS/NetworkELB", "UnHealthyHostCount")
        assert alarm["dimensions"] == {"LoadBalancer": nlb, "TargetGroup": groups[port]}


def test_scale_out_group_hosts_publish_as_the_member_the_alarms_watch(scale_out: Evaluation) -> None:
    from orthweb.evaluate.host_files import host_files

    agent = json.loads(host_files(scale_out)["member"]["cloudwatch-agent.json"].content)
    assert agent["metrics"]["metrics_collected"]["mem"]["append_dimensions"] == {"Host": "member"}


# --- a series the group's hosts share -------------------------------------------------------------

# What CloudWatch makes of the samples of one period, as "Statistics definitions" in the Amazon
# CloudWatch User Guide defines them
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Statistics-definitions.html).
STATISTICS = {
    "Minimum": min,
    "Maximum": max,
    "Sum": sum,
    "Average": lambda samples: sum(samples) / len(samples),
    "SampleCount": len,
}
COMPARISONS = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}


def breaches(alarm: dict[str, Any], samples: list[float]) -> bool:
    """Whether one period whose samples are `samples` (one per host) breaches the alarm."""
    value = STATISTICS[alarm["statistic"]](samples)
    return COMPARISONS[alarm["comparisonOperator"]](value, alarm["threshold"])


def edge_values(alarm: dict[str, Any]) -> tuple[float, float]:
    """A value one host breaches the alarm with, and the nearest value a healthy host reports."""
    threshold = alarm["threshold"]
    if alarm["comparisonOperator"].startswith("Greater"):
        return threshold + 1, threshold - 1
    return threshold - 1, threshold


@pytest.mark.parametrize("hosts", [2, 4])
def test_every_alarm_on_a_series_the_group_shares_fires_when_one_host_breaches(
    scale_out: Evaluation, hosts: int
) -> None:
    """Every group host publishes under Host=member, so CloudWatch aggregates all their samples of a
    period into one statistic. An alarm there must breach as soon as any one host does (Maximum for
    "too high", Minimum for "too low"), and must not breach while every host is on the healthy side
    of the threshold; Average waters one host at 95 % memory down to nothing, Sum adds healthy hosts
    up into an alarm."""
    shared = {key: alarm for key, alarm in alarms(scale_out).items() if alarm["dimensions"].get("Host") == "member"}
    assert set(shared) == {
        f"member-{what}"
        for what in ("replicas-down", "server-errors", "disk-full", "memory-high", "certificate-expiring")
    }
    for key, alarm in shared.items():
        bad, healthy = edge_values(alarm)
        assert breaches(alarm, [bad] + [healthy] * (hosts - 1)), f"{key}: one host breaching is not seen"
        assert not breaches(alarm, [healthy] * hosts), f"{key}: healthy hosts add up to an alarm"


def test_a_single_hosts_alarms_keep_their_per_host_statistics(stack: Evaluation) -> None:
    """On a failover host the series is its own: memory stays a 5-minute average (sustained, not a
    spike) and 5xx a per-minute sum."""
    found = alarms(stack)
    assert found["primary-memory-high"]["statistic"] == "Average"
    assert found["primary-server-errors"]["statistic"] == "Sum"


def test_the_scale_out_dashboard_graphs_the_groups_cpu(scale_out: Evaluation) -> None:
    """EC2 publishes CPUUtilization per instance and, for instances of an Auto Scaling group, under
    the AutoScalingGroupName dimension (Amazon EC2 User Guide, "Aggregate statistics by Auto Scaling
    group"). The group's instances come and go and the program never knows their ids, so its host
    CPU graph names the group: the average it scales on, and its busiest host."""
    body = json.loads(scale_out.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    (cpu,) = [w for w in body["widgets"] if w["type"] == "metric" and w["properties"]["title"] == "Host CPU %"]
    group = scale_out.one("aws:autoscaling/group:Group").inputs["name"]
    lines = cpu["properties"]["metrics"]
    assert [line[:4] for line in lines] == [["AWS/EC2", "CPUUtilization", "AutoScalingGroupName", group]] * 2
    assert sorted(line[4].get("stat", cpu["properties"]["stat"]) for line in lines) == ["Average", "Maximum"]


def test_the_failover_dashboard_graphs_each_hosts_cpu(stack: Evaluation) -> None:
    body = json.loads(stack.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"])
    (cpu,) = [w for w in body["widgets"] if w["type"] == "metric" and w["properties"]["title"] == "Host CPU %"]
    assert sorted(line[3] for line in cpu["properties"]["metrics"]) == sorted(
        instance_id(stack, role) for role in ("primary", "secondary")
    )
