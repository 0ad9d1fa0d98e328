"""The alarm plan as a pure function: thresholds follow the configuration, keys never collide."""

from __future__ import annotations

from typing import Any

import pytest

from orthweb.infra.alarm_plan import (
    BREACHING,
    NOT_BREACHING,
    AlarmRule,
    HostToWatch,
    database_rules,
    host_rules,
    load_balancer_rules,
    stack_rules,
)
from orthweb.shared import telemetry
from orthweb.shared.sizing import RDS_CLASS_MEMORY_GIB, rds_max_connections

HOSTS = [HostToWatch("primary", "i-1", True), HostToWatch("secondary", "i-2", False)]
PER_HOST = ("status-check", "replicas-down", "server-errors", "disk-full", "memory-high", "certificate-expiring")


def plan(**overrides: Any) -> dict[str, AlarmRule[str]]:
    arguments: dict[str, Any] = {
        "stack": "dev",
        "hosts": HOSTS,
        "replicas": 3,
        "recover_hosts": True,
        "db_identifier": "orthweb-dev-abc123",
        "db_instance_class": "db.t4g.small",
        "db_storage_gb": 20,
    }
    arguments.update(overrides)
    return {rule.key: rule for rule in stack_rules(**arguments)}


def test_every_host_and_the_database_get_their_alarms_with_unique_keys() -> None:
    rules = plan()
    # Six per host, four for the database, one for the audit copy.
    assert len(rules) == 2 * 6 + 4 + 1


def test_recovery_only_where_asked_and_only_on_the_status_check() -> None:
    assert [key for key, rule in plan().items() if rule.recover_instance] == [
        "primary-status-check",
        "secondary-status-check",
    ]
    assert not any(rule.recover_instance for rule in plan(recover_hosts=False).values())


@pytest.mark.parametrize("replicas", [1, 3, 8])
def test_the_replicas_threshold_is_the_configured_count(replicas: int) -> None:
    rule = plan(replicas=replicas)["primary-replicas-down"]
    assert rule.threshold == replicas and rule.comparison == "LessThanThreshold"
    assert rule.metric == telemetry.HEALTHY_REPLICAS.name


def test_silence_breaches_only_for_a_host_that_should_run() -> None:
    primary = host_rules(HOSTS[0], stack="dev", replicas=3, recover=True)
    spare = host_rules(HOSTS[1], stack="dev", replicas=3, recover=True)
    assert {r.key: r.treat_missing_data for r in primary}["primary-replicas-down"] == BREACHING
    assert {r.key: r.treat_missing_data for r in spare}["secondary-replicas-down"] == NOT_BREACHING


@pytest.mark.parametrize("instance_class", sorted(RDS_CLASS_MEMORY_GIB))
def test_database_thresholds_scale_with_the_class(instance_class: str) -> None:
    rules = {r.key: r for r in database_rules("db", instance_class=instance_class, storage_gb=100)}
    assert rules["database-memory-low"].threshold == RDS_CLASS_MEMORY_GIB[instance_class] * 1024**3 * 0.1
    limit = rds_max_connections(instance_class)
    assert 0 < rules["database-connections-high"].threshold < limit
    assert rules["database-storage-low"].threshold == 5 * 1024**3  # 5% of 100 GB


def test_small_databases_keep_a_one_gib_storage_floor() -> None:
    rules = {r.key: r for r in database_rules("db", instance_class="db.t4g.micro", storage_gb=20)}
    assert rules["database-storage-low"].threshold == 1024**3


def test_scale_out_adds_one_unhealthy_hosts_alarm_per_target_group() -> None:
    groups = {"https": "targetgroup/a/1", "dicom": "targetgroup/b/2"}
    rules = load_balancer_rules("net/orthweb-dev/xyz", groups)
    assert [r.key for r in rules] == ["nlb-dicom-unhealthy-hosts", "nlb-https-unhealthy-hosts"]
    for rule in rules:
        assert (rule.namespace, rule.metric) == ("AWS/NetworkELB", "UnHealthyHostCount")
        assert rule.dimensions["LoadBalancer"] == "net/orthweb-dev/xyz"
        assert rule.dimensions["TargetGroup"] in groups.values()
    with_lb = plan(load_balancer=("net/orthweb-dev/xyz", groups), hosts=[])
    assert "nlb-https-unhealthy-hosts" in with_lb and "primary-status-check" not in with_lb


def test_the_scale_out_groups_hosts_share_one_host_dimension_and_need_no_recovery_alarm() -> None:
    rules = {r.key: r for r in host_rules(HostToWatch("member", None, True), stack="dev", replicas=3, recover=False)}
    assert "member-status-check" not in rules
    assert set(rules) == {f"member-{what}" for what in PER_HOST if what != "status-check"}
    assert all(r.dimensions.get("Host") == "member" for r in rules.values())
    # One short host among several publishing the same series is enough.
    assert rules["member-replicas-down"].statistic == "Minimum"


def test_repeated_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="primary-status-check"):
        plan(hosts=[HOSTS[0], HOSTS[0]])


def test_every_rule_says_why_and_what_happened() -> None:
    for rule in plan(load_balancer=("lb", {"https": "tg"})).values():
        assert rule.why and rule.summary, rule.key
        assert rule.window_minutes >= 2, rule.key
