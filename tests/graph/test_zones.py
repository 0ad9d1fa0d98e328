"""The two zones are the first (sorted) that offer both the host type and the database class.

AZ names map to different physical zones in each account, and not every zone offers every
instance type or RDS class: a zone picked by name alone can make RunInstances or CreateDBInstance
fail halfway through the first deploy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orthweb.evaluate import Evaluation, evaluate
from orthweb.evaluate.mocks import MockAccount
from orthweb.infra.zones import ZoneChoiceError, pick_zones

# The sizes these tests reason about, whatever the stack files choose.
SIZES = {"deploymentOptions": {"instanceType": "t4g.medium", "dbInstanceClass": "db.t4g.small"}}


def subnet_zones(stack: Evaluation) -> dict[str, str]:
    return {r.name: r.inputs["availabilityZone"] for r in stack.of_type("aws:ec2/subnet:Subnet")}


def public_zones(stack: Evaluation) -> list[str]:
    zones = subnet_zones(stack)
    return [zones["orthweb-network-public-a"], zones["orthweb-network-public-b"]]


def test_every_zone_offers_everything_so_the_first_two_are_used(stack: Evaluation) -> None:
    assert public_zones(stack) == ["us-east-1a", "us-east-1b"]


def test_a_zone_without_the_host_type_is_skipped(empty_home: Path) -> None:
    account = MockAccount(missing_offerings={"t4g.medium": ("us-east-1a",)})
    stack = evaluate("dev", SIZES, home=empty_home, account=account)
    assert public_zones(stack) == ["us-east-1b", "us-east-1c"]
    zones = subnet_zones(stack)
    assert [zones["orthweb-network-private-a"], zones["orthweb-network-private-b"]] == public_zones(stack)


def test_the_configured_host_type_is_the_one_asked_about(empty_home: Path) -> None:
    # t4g.medium missing in b does not matter once the stack runs t3.large.
    account = MockAccount(missing_offerings={"t4g.medium": ("us-east-1b",), "t3.large": ("us-east-1a",)})
    stack = evaluate("dev", {"deploymentOptions": {"instanceType": "t3.large"}}, home=empty_home, account=account)
    assert public_zones(stack) == ["us-east-1b", "us-east-1c"]


def test_a_zone_without_the_database_class_is_skipped(empty_home: Path) -> None:
    account = MockAccount(missing_offerings={"db.t4g.small": ("us-east-1b",)})
    stack = evaluate("prod", SIZES, home=empty_home, account=account)
    assert public_zones(stack) == ["us-east-1a", "us-east-1c"]


def test_fewer_than_two_zones_is_one_message_naming_type_class_and_region(empty_home: Path) -> None:
    account = MockAccount(missing_offerings={"t4g.medium": ("us-east-1a",), "db.t4g.small": ("us-east-1c",)})
    with pytest.raises(Exception, match=r"t4g\.medium") as caught:
        evaluate("dev", SIZES, home=empty_home, account=account)
    message = str(caught.value)
    assert "db.t4g.small" in message and "us-east-1" in message and "us-east-1b" in message


def test_pick_zones_needs_both_offerings_and_sorts() -> None:
    chosen = pick_zones(
        available=["eu-west-1c", "eu-west-1b", "eu-west-1a"],
        host_zones=["eu-west-1c", "eu-west-1a", "eu-west-1b"],
        database_zones=["eu-west-1c", "eu-west-1b"],
        count=2,
        what="t4g.medium and db.t4g.small in eu-west-1",
    )
    assert chosen == ["eu-west-1b", "eu-west-1c"]
    with pytest.raises(ZoneChoiceError) as caught:
        pick_zones(available=["a", "b"], host_zones=["a"], database_zones=["b"], count=2, what="x")
    assert "\n" not in str(caught.value)
