"""`orthweb verify`'s telemetry checks against moto (CloudWatch Logs and CloudWatch on 127.0.0.1).

The stack's log groups and alarms are seeded from the same names the program creates them with
(`orthweb.shared.telemetry`, the alarm plan), so a renamed group or dimension fails here too.
"""

from __future__ import annotations

import uuid

import pytest

from orthweb.host.credentials import Credential
from orthweb.ops.verify.host import Section
from orthweb.ops.verify.model import CheckFailed, Deployment
from orthweb.ops.verify.telemetry_checks import AwsTelemetry, TelemetryChecks, check_agent
from orthweb.shared import telemetry
from orthweb.shared.constants import aws_name
from tests.verify.conftest import REGION, publish, seed_alarms, seed_log_events
from tools.harness.aws import LocalAws

PRIMARY_ID = "i-0123456789abcdef0"
SECONDARY_ID = "i-0fedcba9876543210"


def deployment(stack: str, serving_role: str = "primary", serving_instance: str = PRIMARY_ID) -> Deployment:
    return Deployment(
        stack=stack,
        region=REGION,
        site_address="203.0.113.10",
        serving_instance=serving_instance,
        serving_role=serving_role,
        certificate_pem="",
        admin=Credential("a", "b"),
        credentials_secret="s",
        site_tls_secret="t",
        dicom_bucket="b",
        key_arn="k",
        key_alias="alias/k",
    )


@pytest.fixture
def cloud(local_aws: LocalAws) -> AwsTelemetry:
    return AwsTelemetry(local_aws.client("logs", REGION), local_aws.client("cloudwatch", REGION))


@pytest.fixture
def stack() -> str:
    """A fresh stack name per test: the moto server is shared by the whole session."""
    return "w" + uuid.uuid4().hex[:8]


def test_recent_events_in_every_group_pass(cloud: AwsTelemetry, stack: str) -> None:
    seed_log_events(cloud, stack)
    detail = TelemetryChecks(cloud).logs(deployment(stack))
    assert "every log group" in detail


def test_a_silent_group_fails_naming_it(cloud: AwsTelemetry, stack: str) -> None:
    seed_log_events(cloud, stack, silent=telemetry.ORTHANC_LOGS)
    with pytest.raises(CheckFailed) as failed:
        TelemetryChecks(cloud).logs(deployment(stack))
    assert telemetry.log_group_name(stack, telemetry.ORTHANC_LOGS) in failed.value.detail
    assert telemetry.log_group_name(stack, telemetry.ENVOY_LOGS) not in failed.value.detail
    assert "awslogs" in failed.value.hint


def test_a_silent_audit_group_points_at_the_copy_function(cloud: AwsTelemetry, stack: str) -> None:
    """The hosts' groups have lines but the audit group none: the copy is what broke."""
    seed_log_events(cloud, stack, silent=telemetry.AUDIT_LOGS)
    with pytest.raises(CheckFailed) as failed:
        TelemetryChecks(cloud).logs(deployment(stack))
    assert failed.value.detail.endswith(telemetry.log_group_name(stack, telemetry.AUDIT_LOGS))
    assert telemetry.audit_copy_function_name(stack) in failed.value.hint
    assert telemetry.audit_copy_failed_queue_name(stack) in failed.value.hint


def test_a_missing_group_fails_naming_it(cloud: AwsTelemetry, stack: str) -> None:
    seed_log_events(cloud, stack, missing=telemetry.METRIC_EVENTS_LOGS)
    with pytest.raises(CheckFailed, match=f"log groups missing: /orthweb/{stack}/metrics"):
        TelemetryChecks(cloud).logs(deployment(stack))


HOSTS = {"primary": PRIMARY_ID, "secondary": SECONDARY_ID}


def test_every_alarm_of_the_serving_host_and_the_database_has_data(cloud: AwsTelemetry, stack: str) -> None:
    rules = seed_alarms(cloud, stack, HOSTS, running=("primary",))
    serving = [r for r in rules if r.dimensions.get("Host") in (None, "primary") and r.dimensions.get("InstanceId")
               in (None, PRIMARY_ID)]  # fmt: skip
    # The audit copy's dead-letter queue: empty and idle, SQS publishes nothing for it, which its
    # alarm counts as no failure; it is not required to have data.
    (queue,) = [r for r in serving if r.namespace == "AWS/SQS"]
    serving.remove(queue)
    for rule in serving:
        publish(cloud, rule.namespace, rule.metric, dict(rule.dimensions))
    detail = TelemetryChecks(cloud).metrics(deployment(stack))
    assert detail.startswith(f"{len(serving)} alarms watch series with data")
    assert f"({len(rules) - len(serving) - 1} watch hosts not serving)" in detail


def test_an_alarm_whose_series_is_not_published_fails_naming_the_alarm(cloud: AwsTelemetry, stack: str) -> None:
    rules = seed_alarms(cloud, stack, HOSTS, running=("primary",))
    for rule in rules:
        if rule.key == "primary-disk-full":
            # The agent tagged the root volume differently: an extra dimension is another series.
            publish(cloud, rule.namespace, rule.metric, {**rule.dimensions, "device": "nvme0n1p1"})
        elif rule.dimensions.get("Host") != "secondary":
            publish(cloud, rule.namespace, rule.metric, dict(rule.dimensions))
    with pytest.raises(CheckFailed) as failed:
        TelemetryChecks(cloud).metrics(deployment(stack))
    assert failed.value.detail.endswith(f"with no recent data: {aws_name(stack, 'primary-disk-full')}")
    assert "CloudWatch agent" in failed.value.hint


def test_after_a_failover_the_secondarys_alarms_are_the_ones_checked(cloud: AwsTelemetry, stack: str) -> None:
    rules = seed_alarms(cloud, stack, HOSTS, running=("primary",))
    for rule in rules:
        if rule.dimensions.get("Host") != "primary" and rule.dimensions.get("InstanceId") != PRIMARY_ID:
            publish(cloud, rule.namespace, rule.metric, dict(rule.dimensions))
    assert "alarms watch series with data" in TelemetryChecks(cloud).metrics(
        deployment(stack, "secondary", SECONDARY_ID)
    )


def test_no_alarms_at_all_is_a_failure(cloud: AwsTelemetry, stack: str) -> None:
    with pytest.raises(CheckFailed, match=rf"no alarm named orthweb-{stack}-\*"):
        TelemetryChecks(cloud).metrics(deployment(stack))


def test_without_cloudwatch_access_the_checks_are_skipped(stack: str) -> None:
    checks = TelemetryChecks(None)
    assert checks.logs(deployment(stack)).startswith("skipped:")
    assert checks.metrics(deployment(stack)).startswith("skipped:")


# --- the agent's own status (the host script's section) ------------------------------------------

RUNNING = '{\n  "status": "running",\n  "starttime": "2026-11-29T10:00:00+00:00",\n  "configstatus": "configured",\n  "version": "1.300057.0"\n}'  # noqa: E501


def test_a_running_configured_agent_passes() -> None:
    assert check_agent(Section("cloudwatch-agent", RUNNING, 0)) == "CloudWatch agent 1.300057.0 running, configured"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (RUNNING.replace('"running"', '"stopped"'), "CloudWatch agent stopped"),
        (RUNNING.replace('"configured"', '"not configured"'), "without its configuration"),
        ("bash: amazon-cloudwatch-agent-ctl: No such file or directory", "did not answer"),
    ],
)
def test_a_stopped_unconfigured_or_missing_agent_fails(text: str, expected: str) -> None:
    with pytest.raises(CheckFailed, match=expected) as failed:
        check_agent(Section("cloudwatch-agent", text, 0))
    assert "amazon-cloudwatch-agent-ctl" in failed.value.hint
