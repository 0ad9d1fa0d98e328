"""What the stacks cost by default: dev within $80 a month, prod at the Terraform orthweb's sizes
within that release's $158 apart from prod's Secrets Manager endpoint ($14.60 a month), both with
every security control of the program."""

from __future__ import annotations

from pathlib import Path

import yaml

from orthweb.config.stack_config import default_options
from orthweb.evaluate import PROJECT_ROOT, Evaluation, evaluate
from orthweb.ops.cost import LineItem, estimate

DEV_BUDGET_USD = 80.0
# orthweb 1.0.1 (Terraform): 2 x t3.medium and a Multi-AZ db.t3.small, about $158 a month.
ANCHOR_USD = 158.0
ANCHOR_SIZES = {"instanceType": "t3.medium", "dbInstanceClass": "db.t3.small"}


def _monthly(evaluation: Evaluation) -> float:
    result = estimate(evaluation.resources, evaluation.config.region or "us-east-1")
    assert result.monthly_usd is not None, [item.item for item in result.unpriced]
    return result.monthly_usd


def _items(evaluation: Evaluation) -> list[LineItem]:
    return list(estimate(evaluation.resources, evaluation.config.region or "us-east-1").items)


def test_dev_costs_at_most_80_dollars_a_month(dev: Evaluation) -> None:
    assert _monthly(dev) <= DEV_BUDGET_USD


def test_the_dev_stack_file_uses_the_default_sizes() -> None:
    # So a stack with no deploymentOptions at all costs what the dev figure says.
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8"))
    options = document["config"]["orthweb:deploymentOptions"]
    defaults = default_options()
    assert options["instanceType"] == defaults.instance_type
    assert options["dbInstanceClass"] == defaults.db_instance_class
    assert "secretsManagerEndpoint" not in options and defaults.secrets_manager_endpoint is False


def test_prod_at_the_terraform_orthwebs_sizes_costs_at_most_what_it_did_plus_the_secrets_endpoint(
    empty_home: Path,
) -> None:
    # Prod's Secrets Manager endpoint ($14.60 a month) is the one thing priced above that release's
    # total: every other control fits within it.
    without_endpoint = {**ANCHOR_SIZES, "secretsManagerEndpoint": False}
    anchor_sized = evaluate("prod", {"deploymentOptions": without_endpoint}, home=empty_home)
    assert anchor_sized.config.options.instance_type == "t3.medium"
    assert anchor_sized.config.options.db_storage_gb == 50, "the rest of Pulumi.prod.yaml is kept"
    assert _monthly(anchor_sized) <= ANCHOR_USD
    with_endpoint = evaluate("prod", {"deploymentOptions": ANCHOR_SIZES}, home=empty_home)
    endpoint = [item for item in _items(with_endpoint) if item.item.startswith("Interface endpoint")]
    priced = [item.monthly_usd for item in endpoint if item.monthly_usd]
    assert len(priced) == 1
    assert round(_monthly(with_endpoint) - _monthly(anchor_sized), 2) == priced[0] == 14.60


def test_dev_and_prod_create_the_same_kinds_of_resources(dev: Evaluation, prod: Evaluation, empty_home: Path) -> None:
    # Dev is cheaper by its sizes and settings (single-AZ, retention), and by leaving out only the
    # Secrets Manager endpoint (a setting away: the same kinds then); the backup vault's lock, which
    # bills nothing, is prod's alone (a dev stack must stay destroyable).
    lock = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"

    def kinds(evaluation: Evaluation) -> set[str]:
        return {r.type for r in evaluation.resources}

    assert kinds(prod) - kinds(dev) == {"aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy", lock}
    assert kinds(dev) <= kinds(prod)
    dev_with_endpoint = evaluate("dev", {"deploymentOptions.secretsManagerEndpoint": True}, home=empty_home)
    assert kinds(dev_with_endpoint) == kinds(prod) - {lock}
