"""`secondaryState: stopped`: the secondary powers itself off after its first boot (no resource
stops it from outside), and the stack's graph says so for the cost estimate and for operators."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orthweb.evaluate import Evaluation, evaluate
from orthweb.evaluate.host_files import user_data_text
from orthweb.ops.cost import estimate
from orthweb.shared.constants import AFTER_FIRST_BOOT_TAG

INSTANCE_STATE = "aws:ec2transitgateway/instanceState:InstanceState"


@pytest.fixture(scope="module")
def standby_stack(empty_home: Path) -> Evaluation:
    return evaluate("dev", {"secondaryState": "stopped"}, home=empty_home)


def _cloud_config(stack: Evaluation, role: str) -> dict:
    return yaml.safe_load(user_data_text(stack.named(f"orthweb-hosts-{role}")))


def test_no_resource_stops_a_host_from_outside(stack: Evaluation, standby_stack: Evaluation) -> None:
    assert not stack.of_type(INSTANCE_STATE) and not standby_stack.of_type(INSTANCE_STATE)


def test_only_the_standby_secondary_powers_off_after_its_first_boot(dev: Evaluation, standby_stack: Evaluation) -> None:
    assert _cloud_config(standby_stack, "secondary")["power_state"]["mode"] == "poweroff"
    assert "power_state" not in _cloud_config(standby_stack, "primary")
    assert "power_state" not in _cloud_config(dev, "secondary")


def test_the_standby_is_tagged_and_priced_as_stopped(dev: Evaluation, standby_stack: Evaluation) -> None:
    tags = standby_stack.named("orthweb-hosts-secondary").inputs["tags"]
    assert tags[AFTER_FIRST_BOOT_TAG] == "stopped"
    assert AFTER_FIRST_BOOT_TAG not in dev.named("orthweb-hosts-secondary").inputs["tags"]
    region = "us-east-1"
    standby_cost = estimate(standby_stack.resources, region).monthly_usd
    running_cost = estimate(dev.resources, region).monthly_usd
    assert standby_cost is not None and running_cost is not None and standby_cost < running_cost
    assert standby_cost == estimate(dev.resources, region, secondary_state="stopped").monthly_usd
