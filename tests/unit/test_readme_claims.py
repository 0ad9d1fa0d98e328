"""What README.md and the docs claim is what the code does: the cost figures, and no pointers a user
cannot follow (specification sections, issue numbers, "the seed"). The configuration tables are
tests/unit/test_config_keys.py's."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from orthweb.evaluate import PROJECT_ROOT, evaluate
from orthweb.ops.cost import estimate, terraform_anchor
from tests.python_source import parse

README = PROJECT_ROOT / "README.md"
# Pointers into material a user of the product does not have.
UNFOLLOWABLE = re.compile(r"(?-i:\bSPEC\b)|§\s*\d|\bissue\s+#?\d+|\bthe seed\b|\bseed's\b", re.IGNORECASE)


def _section(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + len(heading) + 2)
    return text[start : end if end != -1 else len(text)]


# The rows of the cost table, and the evaluation each one states.
COST_ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    "dev (`Pulumi.dev.yaml`": ("dev", {}),
    "dev with the secondary stopped": ("dev", {"secondaryState": "stopped"}),
    "prod (`Pulumi.prod.yaml`": ("prod", {}),
    "dev, scale-out": ("dev", {"topology": "scale-out"}),
    "prod, scale-out": ("prod", {"topology": "scale-out"}),
    "prod at the Terraform orthweb's sizes": (
        "prod",
        {"deploymentOptions": {"instanceType": "t3.medium", "dbInstanceClass": "db.t3.small"}},
    ),
}


def _cost_figures() -> dict[str, str]:
    figures = {}
    for line in _section("## What it costs").splitlines():
        for label in [*COST_ROWS, "Terraform orthweb 1.0.1"]:
            if line.startswith(f"| {label}"):
                figures[label] = line.rsplit("|", 2)[-2].strip().strip("*")
    return figures


@pytest.mark.parametrize("label", list(COST_ROWS))
def test_each_cost_figure_is_what_plan_prints(label: str, empty_home: Path) -> None:
    stack, overrides = COST_ROWS[label]
    evaluation = evaluate(stack, overrides, home=empty_home)
    result = estimate(evaluation.resources, evaluation.config.region or "us-east-1")
    assert _cost_figures()[label] == result.total, f"README says {_cost_figures()[label]} for {label!r}"


def test_the_terraform_figure_is_what_the_anchor_prices() -> None:
    assert _cost_figures()["Terraform orthweb 1.0.1"] == terraform_anchor().total


def _code_strings(path: Path) -> list[str]:
    """String literals of a module that are not docstrings (what it may print or raise)."""
    tree = parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_no_doc_or_message_points_where_a_user_cannot_follow() -> None:
    documents = [
        README,
        *sorted((PROJECT_ROOT / "docs").glob("*.md")),
        PROJECT_ROOT / "orthweb/ops/compliance/skips.yaml",
    ]
    found = [
        f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}"
        for path in documents
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if UNFOLLOWABLE.search(line)
    ]
    for module in sorted((PROJECT_ROOT / "orthweb").rglob("*.py")):
        where = module.relative_to(PROJECT_ROOT)
        found += [f"{where}: {text!r}" for text in _code_strings(module) if UNFOLLOWABLE.search(text)]
    assert found == []


def test_the_topology_comparison_repeats_the_cost_table() -> None:
    figures = _cost_figures()
    (row,) = [line for line in _section("## Scale-out").splitlines() if line.startswith("| cost, us-east-1 |")]
    failover, scale_out = (cell.strip() for cell in row.strip("|").split("|")[1:3])
    assert failover == f"dev {figures['dev (`Pulumi.dev.yaml`']}, prod {figures['prod (`Pulumi.prod.yaml`']}"
    assert scale_out.startswith(f"dev {figures['dev, scale-out']}, prod {figures['prod, scale-out']}")
