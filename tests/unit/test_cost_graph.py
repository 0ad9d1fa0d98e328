"""The estimate on the real program's resource graph (the session's dev and prod evaluations)."""

from __future__ import annotations

from pathlib import Path

from orthweb.evaluate import Evaluation
from orthweb.ops.cost import estimate


def test_dev_graph_is_fully_priced(dev: Evaluation) -> None:
    result = estimate(dev.resources, dev.config.region or "us-east-1")
    items = {item.item for item in result.items}
    options = dev.config.options
    assert result.complete, [item.item for item in result.unpriced]
    assert f"EC2 primary host {options.instance_type}" in items
    assert "Public IPv4: Elastic IP (site address)" in items
    assert any(item.startswith(f"RDS PostgreSQL {options.db_instance_class}") for item in items)
    assert not any(item.startswith("Interface endpoint") for item in items), "opt-in: secretsManagerEndpoint"
    running = result.monthly_usd
    stopped = estimate(dev.resources, "us-east-1", secondary_state="stopped").monthly_usd
    assert stopped is not None and running is not None and stopped < running


def test_prod_graph_prices_a_multi_az_database(prod: Evaluation) -> None:
    result = estimate(prod.resources, prod.config.region or "us-east-1")
    assert result.complete, [item.item for item in result.unpriced]
    assert any("Multi-AZ" in item.item for item in result.items)


def test_plan_command_adds_the_cost_section(dev: Evaluation) -> None:
    from orthweb.commands import plan

    cost = plan._cost(dev)  # pyright: ignore[reportPrivateUsage]
    assert cost.to_json()["currency"] == "USD" and cost.to_json()["total"] == f"${cost.monthly_usd:,.2f}"


def test_every_billed_monitoring_item_is_in_the_estimate(dev: Evaluation) -> None:
    from orthweb.shared import telemetry

    result = {item.item: item for item in estimate(dev.resources, "us-east-1").items}
    alarms = result["CloudWatch alarms (standard resolution)"]
    assert alarms.quantity == len(dev.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")) and alarms.unit_usd == 0.1
    assert result["CloudWatch dashboard"].quantity == 1 and result["CloudWatch dashboard"].unit_usd == 3.0
    per_host = telemetry.custom_metrics_per_host()
    metrics = result[f"CloudWatch custom metrics ({per_host} per running host)"]
    assert metrics.quantity == 2 * per_host and metrics.unit_usd == 0.3
    logs = result["CloudWatch Logs: container logs and the agent's metric events"]
    assert logs.usage_based and logs.monthly_usd == 0


def test_a_stopped_secondary_publishes_no_custom_metrics(dev: Evaluation) -> None:
    from orthweb.shared import telemetry

    per_host = telemetry.custom_metrics_per_host()
    items = estimate(dev.resources, "us-east-1", secondary_state="stopped").items
    (metrics,) = [item for item in items if item.item.startswith("CloudWatch custom metrics")]
    assert metrics.quantity == per_host


def test_custom_metrics_per_host_counts_every_kept_series() -> None:
    from orthweb.shared import telemetry

    # Healthy replicas are kept for both clusters; every other scraped metric is one series.
    assert telemetry.custom_metrics_per_host() == (len(telemetry.SCRAPED_METRICS) + 1) + len(telemetry.HOST_METRICS)


def test_the_scale_out_groups_hosts_share_one_set_of_custom_metrics(empty_home: Path) -> None:
    from orthweb.evaluate import evaluate
    from orthweb.shared import telemetry

    scale_out = evaluate("dev", {"topology": "scale-out"}, home=empty_home)
    items = estimate(scale_out.resources, "us-east-1").items
    (metrics,) = [item for item in items if item.item.startswith("CloudWatch custom metrics")]
    assert metrics.quantity == telemetry.custom_metrics_per_host()
