"""The estimate on the real program's resource graph (the session's dev and prod evaluations)."""

from __future__ import annotations

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
    assert any(item.startswith("Interface endpoint secretsmanager") for item in items)
    running = result.monthly_usd
    stopped = estimate(dev.resources, "us-east-1", secondary_state="stopped").monthly_usd
    assert stopped < running


def test_prod_graph_prices_a_multi_az_database(prod: Evaluation) -> None:
    result = estimate(prod.resources, prod.config.region or "us-east-1")
    assert result.complete, [item.item for item in result.unpriced]
    assert any("Multi-AZ" in item.item for item in result.items)


def test_plan_command_adds_the_cost_section(dev: Evaluation) -> None:
    from orthweb.commands import plan

    cost, error = plan._cost(dev)  # pyright: ignore[reportPrivateUsage]
    assert error is None and cost is not None
    assert cost.to_json()["currency"] == "USD"
