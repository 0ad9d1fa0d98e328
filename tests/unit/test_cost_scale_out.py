"""The scale-out topology's estimate: the load balancer by the hour (its capacity units by use), its
fixed addresses, and the group's hosts at the desired size, from the launch template."""

from __future__ import annotations

from typing import Any

from orthweb.ops import billable
from orthweb.ops.cost import estimate
from tests.unit.test_cost import Res

HOURS = 730


def scale_out(desired: float = 3.0, *, tracking: bool = False) -> list[Res]:
    """Shaped as the mocks record them: camelCase inputs, numbers as floats, strings for EBS flags."""
    template: dict[str, Any] = {
        "instanceType": "t4g.medium",
        "monitoring": {"enabled": True},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeType": "gp3", "volumeSize": 30.0}}],
        "networkInterfaces": [{"deviceIndex": 0.0, "associatePublicIpAddress": "true"}],
    }
    group = {"desiredCapacity": desired, "minSize": 2.0, "maxSize": 6.0, "launchTemplate": {"id": "lt-1"}}
    records = [
        Res(billable.LOAD_BALANCER, "nlb", {"loadBalancerType": "network"}),
        Res(billable.EIP, "ip-a", {"domain": "vpc"}),
        Res(billable.EIP, "ip-b", {"domain": "vpc"}),
        Res(billable.LAUNCH_TEMPLATE, "launch-template", template, id="lt-1"),
        Res(billable.SCALING_GROUP, "group", group),
    ]
    if tracking:
        records.append(Res(billable.SCALING_POLICY, "cpu", {"policyType": "TargetTrackingScaling"}))
    return records


def _items(records: list[Res]) -> dict[str, Any]:
    return {item.item: item for item in estimate(records, "us-east-1").items}


def test_the_group_is_priced_at_its_desired_size() -> None:
    items = _items(scale_out(desired=3.0))
    hosts = items["EC2 group hosts x 3 t4g.medium"]
    assert hosts.quantity == 3 * HOURS and hosts.unit_usd == 0.0336
    assert "2 to 6 hosts" in str(hosts.note)
    assert items["EBS gp3 root volumes, group hosts x 3"].quantity == 90
    assert items["Public IPv4: group hosts x 3"].quantity == 3 * HOURS
    assert items["EC2 detailed monitoring, group hosts x 3"].quantity == 21


def test_the_load_balancer_is_hourly_and_its_capacity_units_usage_based() -> None:
    items = _items(scale_out())
    balancer = items["Network Load Balancer"]
    assert balancer.quantity == HOURS and balancer.monthly_usd == round(HOURS * 0.0225, 2)
    assert items["Load balancer capacity units (NLCU)"].usage_based
    every = estimate(scale_out(), "us-east-1").items
    addresses = [item for item in every if item.item.startswith("Public IPv4: Elastic IP")]
    assert sum(item.quantity for item in addresses) == 2 * HOURS, "one address per zone"


def test_cpu_tracking_adds_its_two_alarms() -> None:
    assert "CloudWatch alarms of CPU target tracking" not in _items(scale_out())
    assert _items(scale_out(tracking=True))["CloudWatch alarms of CPU target tracking"].quantity == 2


def test_a_region_without_a_load_balancer_price_says_the_estimate_is_incomplete() -> None:
    result = estimate(scale_out(), "eu-west-1")
    assert not result.complete
    assert "Network Load Balancer" in [item.item for item in result.unpriced]


def test_cross_zone_traffic_and_burstable_group_hosts_are_listed_as_usage() -> None:
    items = _items(scale_out())
    assert items["Traffic between zones (cross-zone load balancing)"].usage_based
    assert any(name.startswith("CPU credits beyond the baseline") and "t4g.medium" in name for name in items)
