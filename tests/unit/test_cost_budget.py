"""What the stacks cost by default: dev within $80 a month, prod at the Terraform orthweb's sizes
within that release's $158, both with every security control of the program."""

from __future__ import annotations

from pathlib import Path

import yaml

from orthweb.config import DeploymentOptions
from orthweb.evaluate import PROJECT_ROOT, Evaluation, evaluate
from orthweb.ops.cost import estimate

DEV_BUDGET_USD = 80.0
# orthweb 1.0.1 (Terraform): 2 x t3.medium and a Multi-AZ db.t3.small, about $158 a month.
ANCHOR_USD = 158.0
ANCHOR_SIZES = {"instanceType": "t3.medium", "dbInstanceClass": "db.t3.small"}


def _monthly(evaluation: Evaluation) -> float:
    result = estimate(evaluation.resources, evaluation.config.region or "us-east-1")
    assert result.monthly_usd is not None, [item.item for item in result.unpriced]
    return result.monthly_usd


def test_dev_costs_at_most_80_dollars_a_month(dev: Evaluation) -> None:
    assert _monthly(dev) <= DEV_BUDGET_USD


def test_the_dev_stack_file_uses_the_default_sizes() -> None:
    # So a stack with no deploymentOptions at all costs what the dev figure says.
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8"))
    options = document["config"]["orthweb:deploymentOptions"]
    defaults = DeploymentOptions()
    assert options["instanceType"] == defaults.instance_type
    assert options["dbInstanceClass"] == defaults.db_instance_class
    assert "secretsManagerEndpoint" not in options and defaults.secrets_manager_endpoint is False


def test_prod_at_the_terraform_orthwebs_sizes_costs_at_most_what_it_did(empty_home: Path) -> None:
    anchor_sized = evaluate("prod", {"deploymentOptions": ANCHOR_SIZES}, home=empty_home)
    assert anchor_sized.config.options.instance_type == "t3.medium"
    assert anchor_sized.config.options.db_storage_gb == 50, "the rest of Pulumi.prod.yaml is kept"
    assert _monthly(anchor_sized) <= ANCHOR_USD


def test_dev_and_prod_create_the_same_kinds_of_resources(dev: Evaluation, prod: Evaluation) -> None:
    # Dev is cheaper by its sizes and settings (single-AZ, retention), not by leaving a control out.
    def kinds(evaluation: Evaluation) -> set[str]:
        return {r.type for r in evaluation.resources}

    assert kinds(dev) == kinds(prod)
