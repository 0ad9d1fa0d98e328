"""Config `topology`, the group's size keys and `hostedZoneId`: each bad value is one clear error."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from orthweb.config.stack_config import ConfigError, StackConfig, load_config
from orthweb.config.topology import GroupSize


def load(home: Path, **values: Any) -> StackConfig:
    return load_config({f"orthweb:{k}": v for k, v in values.items()}, stack="dev", home=home)


def test_failover_is_the_default_and_budgets_for_two_hosts(empty_home: Path) -> None:
    config = load(empty_home)
    assert config.topology == "failover" and config.hosted_zone_id is None
    assert config.database_hosts == 2


def test_scale_out_reads_the_group_and_budgets_for_its_maximum(empty_home: Path) -> None:
    config = load(
        empty_home,
        topology="scale-out",
        deploymentOptions={"groupSize": 3, "groupMinSize": 2, "groupMaxSize": 6, "cpuTargetPercent": 60},
    )
    assert config.options.group == GroupSize(desired=3, minimum=2, maximum=6, cpu_target_percent=60)
    assert config.database_hosts == 6


@pytest.mark.parametrize(
    ("values", "key", "allowed"),
    [
        ({"topology": "active-active"}, "topology", "one of failover, scale-out"),
        ({"deploymentOptions": {"groupSize": 3}}, "deploymentOptions.groupSize", "only used with topology scale-out"),
        ({"deploymentOptions": {"cpuTargetPercent": 50}}, "deploymentOptions.cpuTargetPercent", "scale-out"),
        ({"hostedZoneId": "Z0123456789ABC", "siteDomain": "pacs.example.org"}, "hostedZoneId", "scale-out"),
        ({"topology": "scale-out", "hostedZoneId": "zone-1"}, "hostedZoneId", "Route53 hosted zone id"),
        ({"topology": "scale-out", "hostedZoneId": "Z0123456789ABC"}, "hostedZoneId", "together with siteDomain"),
        (
            {"topology": "scale-out", "deploymentOptions": {"groupSize": 5, "groupMaxSize": 4}},
            "deploymentOptions.groupSize",
            "between groupMinSize (2) and groupMaxSize (4)",
        ),
        (
            {"topology": "scale-out", "deploymentOptions": {"groupMinSize": 3}},
            "deploymentOptions.groupSize",
            "between groupMinSize (3)",
        ),
        (
            {"topology": "scale-out", "deploymentOptions": {"groupMaxSize": 21}},
            "deploymentOptions.groupMaxSize",
            "1 to 20",
        ),
        (
            {"topology": "scale-out", "deploymentOptions": {"cpuTargetPercent": 95}},
            "deploymentOptions.cpuTargetPercent",
            "0 to 90",
        ),
    ],
)
def test_bad_topology_settings_name_the_key(empty_home: Path, values: dict[str, Any], key: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(empty_home, **values)
    assert raised.value.problems[0].key == key
    assert allowed in str(raised.value)
    assert "\n" not in str(raised.value)


def test_the_database_budget_holds_at_the_groups_maximum_size(empty_home: Path) -> None:
    small = {"dbInstanceClass": "db.t4g.micro", "orthancReplicas": 8, "instanceType": "t4g.large"}
    # Two hosts of 8 replicas fit a db.t4g.micro ...
    load(empty_home, topology="scale-out", deploymentOptions={**small, "groupMaxSize": 2})
    # ... twenty do not, and the one error names every number of the sum.
    with pytest.raises(ConfigError) as raised:
        load(empty_home, topology="scale-out", deploymentOptions={**small, "groupMaxSize": 20})
    message = str(raised.value)
    assert raised.value.problems[0].key == "deploymentOptions.groupMaxSize"
    assert re.search(r"20 hosts x 8 replicas x 2 connections .* = 320", message), message
    assert re.search(r"allows about \d+ connections", message), message


def test_a_public_certificate_needs_a_zone_and_a_domain(empty_home: Path) -> None:
    config = load(empty_home, topology="scale-out", siteDomain="pacs.example.org", hostedZoneId="Z0123456789ABC")
    assert config.hosted_zone_id == "Z0123456789ABC"
    assert load(empty_home, topology="scale-out", hostedZoneId="").hosted_zone_id is None


def test_plan_shows_the_topology_and_the_group(empty_home: Path) -> None:
    from orthweb.commands.plan_settings import _hosts, _topology

    failover = load(empty_home)
    assert _topology(failover).startswith("failover:") and _hosts(failover).startswith("2 x ")
    scaled = load(
        empty_home,
        topology="scale-out",
        siteDomain="pacs.example.org",
        hostedZoneId="Z0123456789ABC",
        deploymentOptions={"groupSize": 3, "groupMaxSize": 6, "cpuTargetPercent": 60},
    )
    assert _topology(scaled).startswith("scale-out: an Auto Scaling group behind a Network Load Balancer")
    assert "ACM certificate for pacs.example.org" in _topology(scaled)
    assert "(2 to 6, CPU target 60%;" in _hosts(scaled) and _hosts(scaled).startswith("3 x ")


def test_a_stopped_secondary_means_nothing_to_a_scale_out_stack(empty_home: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load(empty_home, topology="scale-out", secondaryState="stopped")
    assert raised.value.problems[0].key == "secondaryState" and "only used with topology failover" in str(raised.value)
    assert load(empty_home, topology="scale-out", secondaryState="running").topology == "scale-out"
