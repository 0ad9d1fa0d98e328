"""Values the program sends that AWS itself checks: what passes validation must pass AWS too."""

from __future__ import annotations

from pathlib import Path

import pytest

from orthweb.config.keys import OPTION_BY_NAME
from orthweb.evaluate import Evaluation, evaluate

HOST_LAUNCHERS = ("aws:ec2/instance:Instance", "aws:ec2/launchTemplate:LaunchTemplate")


def database_log_retention(stack: Evaluation) -> set[int]:
    groups = [
        r.inputs
        for r in stack.of_type("aws:cloudwatch/logGroup:LogGroup")
        if str(r.inputs.get("name", "")).startswith("/aws/rds/instance/")
    ]
    assert len(groups) == 2, "the postgresql and upgrade exports"
    return {group["retentionInDays"] for group in groups}


def launchers(stack: Evaluation) -> list:
    found = [r for token in HOST_LAUNCHERS for r in stack.of_type(token)]
    assert found
    return found


# RunInstances refuses EbsOptimized=true for a type without EBS optimization (t2, ...); every
# current type is EBS-optimized by default, so the program never asks for it.
@pytest.mark.parametrize(
    "options",
    [{}, {"deploymentOptions": {"instanceType": "t2.small", "orthancReplicas": 1}}],
    ids=["stack-file", "t2"],
)
def test_no_host_asks_for_ebs_optimization(empty_home: Path, stack: Evaluation, options: dict) -> None:
    evaluation = evaluate(stack.stack, options, home=empty_home) if options else stack
    for launcher in launchers(evaluation):
        assert "ebsOptimized" not in launcher.inputs, launcher.name


@pytest.mark.parametrize("days", [1, 30, 3653])
def test_database_logs_are_kept_exactly_the_configured_days(empty_home: Path, days: int) -> None:
    stack = evaluate("dev", {"deploymentOptions": {"logRetentionDays": days}}, home=empty_home)
    assert database_log_retention(stack) == {days}


def test_each_environment_keeps_database_logs_its_default_days(dev: Evaluation, prod: Evaluation) -> None:
    retention = OPTION_BY_NAME["logRetentionDays"]
    assert database_log_retention(dev) == {retention.default_in("dev")}
    assert database_log_retention(prod) == {retention.default_in("prod")}
    assert retention.default_in("prod") > retention.default_in("dev")
