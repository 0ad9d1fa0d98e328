"""Sign-in in the estimate: the pool is free on its tier up to 10,000 monthly users (said so), the
machine client is not free, and a basic stack shows no Cognito line at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from orthweb.evaluate import Evaluation, evaluate
from orthweb.ops import billable
from orthweb.ops.cost import estimate


@pytest.fixture(scope="module")
def sso_dev(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    home: Path = tmp_path_factory.mktemp("home")
    return evaluate("dev", {"authentication": "sso", "ssoAdminEmails": ["pacs-admin@example.org"]}, home=home)


def test_every_cognito_type_is_classified_and_the_estimate_is_complete(sso_dev: Evaluation) -> None:
    types = {r.type for r in sso_dev.resources if r.custom}
    assert billable.unclassified(types) == []
    assert estimate(sso_dev.resources, "us-east-1").complete


def test_the_pool_is_stated_with_its_tier_and_free_band(sso_dev: Evaluation) -> None:
    items = {item.item: item for item in estimate(sso_dev.resources, "us-east-1").items}
    pool = items["Cognito user pool, Essentials tier"]
    assert pool.monthly_usd == 0.0 and pool.note is not None and "10,000 monthly active users" in pool.note


def test_the_machine_client_costs_its_monthly_fee(sso_dev: Evaluation) -> None:
    result = estimate(sso_dev.resources, "us-east-1")
    (machine,) = [item for item in result.items if item.item == "Cognito machine-to-machine app client"]
    # Only the client-credentials client is billed; the site's browser client is not.
    assert machine.quantity == 1 and machine.monthly_usd == 6.0
    assert "aws-cognito" in {source["id"] for source in result.sources}


def test_a_basic_stack_has_no_cognito_line(dev: Evaluation) -> None:
    assert not [item for item in estimate(dev.resources, "us-east-1").items if "Cognito" in item.item]
