"""Operations visibility, checked on the deployed stack: the CloudWatch agent runs on each serving
host, every log group received events recently, and every alarm watches a series that is actually
being published.

The last check matters because AWS accepts an alarm on any namespace, metric and dimensions: one
that names a series nobody publishes sits in INSUFFICIENT_DATA forever and never pages anyone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from orthweb.ops.aws import OpsError, call_aws, open_clients
from orthweb.ops.verify.host import Section
from orthweb.ops.verify.model import CheckFailed, Deployment
from orthweb.shared import telemetry
from orthweb.shared.constants import aws_name

# A group that received nothing in this long is not being written to (Envoy and the agent write
# every minute; Orthanc logs every request verify itself makes).
RECENT_MINUTES: Final = 15
AGENT_CTL: Final = "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"
# The host script section that asks the agent for its status.
AGENT_SECTION: Final = "cloudwatch-agent"
AGENT_COMMAND: Final = f"{AGENT_CTL} -a status"
AGENT_HINT: Final = (
    f"`sudo {AGENT_CTL} -a status` and /opt/aws/amazon-cloudwatch-agent/logs/amazon-cloudwatch-agent.log on the host"
)
EC2_NAMESPACE: Final = "AWS/EC2"
SQS_NAMESPACE: Final = "AWS/SQS"


@dataclass(frozen=True)
class WatchedSeries:
    """What one alarm watches."""

    alarm: str
    namespace: str
    metric: str
    dimensions: Mapping[str, str]


class TelemetryBackend(Protocol):
    """CloudWatch Logs and metrics as the checks need them (tests point it at moto)."""

    def has_events_since(self, group: str, since_ms: int) -> bool | None:
        """Whether `group` has an event at or after `since_ms`; None when the group does not exist."""
        ...

    def watched_series(self, alarm_prefix: str) -> list[WatchedSeries]:
        """The series every alarm named `alarm_prefix...` watches."""
        ...

    def is_published(self, series: WatchedSeries) -> bool:
        """Whether exactly this series (namespace, name, all dimensions) received data recently."""
        ...


class TelemetryChecks:
    def __init__(self, backend: TelemetryBackend | None, *, now: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.now = now

    def logs(self, deployment: Deployment) -> str:
        """`telemetry.logs`: each of the stack's log groups received an event in the last minutes."""
        if self.backend is None:
            return "skipped: no CloudWatch access in this run"
        since_ms = int((self.now() - RECENT_MINUTES * 60) * 1000)
        missing, silent = [], []
        # The audit group too: the checks before this one made requests and stored an instance,
        # whose audit lines the copy function puts there within seconds.
        for component in telemetry.STACK_LOG_GROUPS:
            group = telemetry.log_group_name(deployment.stack, component)
            found = self.backend.has_events_since(group, since_ms)
            if found is None:
                missing.append(group)
            elif not found:
                silent.append(group)
        if missing:
            raise CheckFailed(f"log groups missing: {', '.join(missing)}", "`pulumi up` creates them; run it again")
        if silent:
            audit_group = telemetry.log_group_name(deployment.stack, telemetry.AUDIT_LOGS)
            function = telemetry.audit_copy_function_name(deployment.stack)
            copy_hint = (
                f"; audit lines reach {audit_group} through the Lambda function {function} (its log "
                f"{telemetry.lambda_log_group_name(function)}, failed batches in the queue "
                f"{telemetry.audit_copy_failed_queue_name(deployment.stack)})"
                if audit_group in silent
                else ""
            )
            raise CheckFailed(
                f"no event in the last {RECENT_MINUTES} minutes in {', '.join(silent)}",
                "container logs go through Docker's awslogs driver (`journalctl -u docker` on the host shows "
                f"refusals); metric events through the CloudWatch agent: {AGENT_HINT}{copy_hint}",
            )
        groups = ", ".join(telemetry.STACK_LOG_GROUPS)
        return f"events in the last {RECENT_MINUTES} minutes in every log group ({groups})"

    def metrics(self, deployment: Deployment) -> str:
        """`telemetry.metrics`: every alarm on a serving host or shared resource has data to watch."""
        if self.backend is None:
            return "skipped: no CloudWatch access in this run"
        prefix = aws_name(deployment.stack) + "-"
        watched = self.backend.watched_series(prefix)
        if not watched:
            raise CheckFailed(f"no alarm named {prefix}*", "`pulumi up` creates them; run it again")
        # An empty queue nobody touches stops publishing (SQS: inactive after six hours), and its
        # alarm counts silence as no failed batch: nothing to require of it here.
        watched = [series for series in watched if series.namespace != SQS_NAMESPACE]
        relevant = [series for series in watched if _concerns_serving_hosts(series, deployment)]
        unpublished = [series.alarm for series in relevant if not self.backend.is_published(series)]
        if unpublished:
            raise CheckFailed(
                f"{len(unpublished)} of {len(relevant)} alarms watch a series with no recent data: "
                f"{', '.join(sorted(unpublished))}",
                f"host metrics come from the CloudWatch agent: {AGENT_HINT}",
            )
        idle = len(watched) - len(relevant)
        return f"{len(relevant)} alarms watch series with data" + (f" ({idle} watch hosts not serving)" if idle else "")


def _concerns_serving_hosts(series: WatchedSeries, deployment: Deployment) -> bool:
    """Alarms on a host that is not serving (a stopped secondary) have nothing to watch yet."""
    role = series.dimensions.get(telemetry.HOST_DIMENSION)
    if role is not None:
        return role == deployment.serving_role
    if series.namespace == EC2_NAMESPACE and "InstanceId" in series.dimensions:
        return series.dimensions["InstanceId"] in deployment.host_instances
    return True


def check_agent(section: Section) -> str:
    """`amazon-cloudwatch-agent-ctl -a status`: a JSON object whose status is running."""
    try:
        status: dict[str, Any] = json.loads(section.text[section.text.index("{") :])
    except ValueError:
        raise CheckFailed(f"the CloudWatch agent did not answer: {section.text.strip()[:200]}", AGENT_HINT) from None
    if status.get("status") != "running":
        raise CheckFailed(
            f"CloudWatch agent {status.get('status', 'unknown')} (config {status.get('configstatus', '?')})",
            AGENT_HINT,
        )
    if status.get("configstatus") != "configured":
        raise CheckFailed(
            f"CloudWatch agent running without its configuration ({status.get('configstatus')})", AGENT_HINT
        )
    return f"CloudWatch agent {status.get('version', '')} running, configured".replace("  ", " ")


class AwsTelemetry:
    """`TelemetryBackend` on CloudWatch Logs and CloudWatch (read-only calls)."""

    def __init__(self, logs: Any, cloudwatch: Any) -> None:
        self.logs = logs
        self.cloudwatch = cloudwatch

    @classmethod
    def connect(cls, *, region: str, endpoint_url: str | None = None) -> AwsTelemetry:
        try:
            _, clients = open_clients(("logs", "cloudwatch"), region=region, endpoint_url=endpoint_url)
        except OpsError as error:
            raise CheckFailed(error.detail, error.hint) from None
        return cls(clients["logs"], clients["cloudwatch"])

    def has_events_since(self, group: str, since_ms: int) -> bool | None:
        try:
            found = call_aws(self.logs, "filter_log_events", logGroupName=group, startTime=since_ms, limit=1)
        except OpsError as error:
            if "ResourceNotFoundException" in str(error):
                return None
            raise CheckFailed(str(error), "your credentials need logs:FilterLogEvents on the stack's groups") from None
        return bool(found.get("events"))

    def watched_series(self, alarm_prefix: str) -> list[WatchedSeries]:
        series: list[WatchedSeries] = []
        pages = self.cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNamePrefix=alarm_prefix, AlarmTypes=["MetricAlarm"]
        )
        try:
            for page in pages:
                for alarm in page.get("MetricAlarms", []):
                    dimensions = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
                    series.append(
                        WatchedSeries(alarm["AlarmName"], alarm["Namespace"], alarm["MetricName"], dimensions)
                    )
        except Exception as error:  # botocore raises ClientError from inside the paginator
            raise CheckFailed(f"cloudwatch:DescribeAlarms failed: {error}", "your credentials need it") from None
        return series

    def is_published(self, series: WatchedSeries) -> bool:
        try:
            found = call_aws(
                self.cloudwatch,
                "list_metrics",
                Namespace=series.namespace,
                MetricName=series.metric,
                Dimensions=[{"Name": name, "Value": value} for name, value in series.dimensions.items()],
                RecentlyActive="PT3H",
            )
        except OpsError as error:
            raise CheckFailed(str(error), "your credentials need cloudwatch:ListMetrics") from None
        # list_metrics also returns series with more dimensions than asked for: require exactly these.
        wanted = dict(series.dimensions)
        return any({d["Name"]: d["Value"] for d in m.get("Dimensions", [])} == wanted for m in found.get("Metrics", []))
