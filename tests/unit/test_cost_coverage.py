"""The estimate never misleads: every billable resource type is priced or listed, and a total is a
dollar figure only when every item has a price, for every value the config accepts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orthweb.config.validation import known_regions
from orthweb.evaluate import Evaluation, evaluate
from orthweb.infra import instance_types
from orthweb.ops import billable
from orthweb.ops.cost import CostEstimate, estimate
from orthweb.shared.sizing import RDS_CLASS_MEMORY_GIB
from tests.unit.test_cost import Res, stack

# The shapes `pulumi up` can create: both environments, both topologies, and the modalities'
# client certificates (their CA, certificates and secret).
SHAPES: list[tuple[str, dict[str, Any]]] = [
    ("dev", {}),
    ("prod", {}),
    ("dev", {"topology": "scale-out"}),
    ("prod", {"topology": "scale-out"}),
    ("dev", {"dicomClientCertificates": True, "dicomModalities": ["CT_1@10.20.0.15:104"]}),
]

ACCEPTED_REGIONS = sorted(region for region, partition in known_regions().items() if partition == "aws")
ACCEPTED_INSTANCE_TYPES = sorted(t for t in instance_types.known_instance_types() if instance_types.supports_al2023(t))
ACCEPTED_DB_CLASSES = sorted(RDS_CLASS_MEMORY_GIB)
# An item row ends with the unit price (one format: four decimals, or "-") and the monthly cell.
ITEM_ROW_END = re.compile(r"  (-|\d[\d,]*\.\d{4})  +(\d[\d,]*\.\d{2}|usage|unpriced)$")


@pytest.fixture(
    scope="module",
    params=SHAPES,
    ids=lambda shape: "-".join(
        [shape[0], shape[1].get("topology", "failover")] + ["certificates"] * ("dicomClientCertificates" in shape[1])
    ),
)
def shape(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    stack_name, overrides = request.param
    return evaluate(stack_name, overrides, home=tmp_path_factory.mktemp("home"))


def test_the_tables_do_not_overlap() -> None:
    usage = set(billable.USAGE_BASED)
    assert not billable.PRICED & billable.FREE and not billable.PRICED & usage and not billable.FREE & usage


def test_every_resource_type_is_priced_listed_or_free(shape: Evaluation) -> None:
    types = {r.type for r in shape.resources if r.custom}
    assert billable.unclassified(types) == [], "classify each new type in orthweb/ops/billable.py and price it"
    result = estimate(shape.resources, "us-east-1")
    assert result.complete, [item.item for item in result.unpriced]
    for token, (item, _unit, _what) in billable.USAGE_BASED.items():
        if token in types:
            assert any(line.item == item and line.usage_based for line in result.items), item


def test_an_unclassified_type_makes_the_total_incomplete() -> None:
    records = [*stack(), Res("aws:example/thing:Thing", "thing"), Res("aws:example/thing:Thing", "other")]
    result = estimate(records, "us-east-1")
    assert result.monthly_usd is None
    assert "aws:example/thing:Thing x 2 (not classified in orthweb/ops/billable.py)" in result.to_json()["not_priced"]


def test_detailed_monitoring_is_priced_per_running_host(dev: Evaluation) -> None:
    assert all(host.inputs["monitoring"] is True for host in dev.of_type(billable.EC2_INSTANCE))
    running = {i.item: i for i in estimate(dev.resources, "us-east-1", secondary_state="running").items}
    stopped = {i.item: i for i in estimate(dev.resources, "us-east-1", secondary_state="stopped").items}
    # Seven one-minute metrics per instance at the custom-metric price: $2.10 a month in us-east-1.
    assert running["EC2 detailed monitoring, primary host"].monthly_usd == 2.10
    assert running["EC2 detailed monitoring, secondary host"].monthly_usd == 2.10
    assert stopped["EC2 detailed monitoring, secondary host (stopped)"].monthly_usd == 0.0


def test_unit_prices_print_in_one_format(dev: Evaluation) -> None:
    table = estimate(dev.resources, "us-east-1").format_table().splitlines()
    rules = [number for number, line in enumerate(table) if line.startswith("---")]
    rows = table[rules[0] + 1 : rules[1]]
    assert rows and all(ITEM_ROW_END.search(row) for row in rows), [r for r in rows if not ITEM_ROW_END.search(r)]


def _shown_total(result: CostEstimate) -> str:
    (line,) = [line for line in result.format_table().splitlines() if line.startswith("Estimated monthly total:")]
    return line


@settings(max_examples=300, deadline=None)
@given(
    region=st.sampled_from(ACCEPTED_REGIONS),
    instance_type=st.sampled_from(ACCEPTED_INSTANCE_TYPES),
    db_class=st.sampled_from(ACCEPTED_DB_CLASSES),
    secondary=st.sampled_from(["running", "stopped"]),
    multi_az=st.booleans(),
)
def test_a_total_is_a_dollar_figure_only_when_every_item_is_priced(
    region: str, instance_type: str, db_class: str, secondary: str, multi_az: bool
) -> None:
    result = estimate(
        stack(instance_type=instance_type, db_class=db_class, secondary_state=secondary, multi_az=multi_az), region
    )
    data, total = result.to_json(), _shown_total(result)
    items = {item.item for item in result.items}
    assert f"EC2 primary host {instance_type}" in items and any(db_class in item for item in items)
    if result.complete:
        assert data["monthly_usd"] is not None and f"${data['monthly_usd']:,.2f}" in total
        return
    unpriced = [item.item for item in result.unpriced]
    assert data["monthly_usd"] is None and data["not_priced"] == unpriced
    assert "$" not in total and f"incomplete: {len(unpriced)} item" in total and data["total"] in total
    unpriced_line = next(line for line in result.format_table().splitlines() if line.startswith("Unpriced"))
    assert all(name in unpriced_line for name in unpriced)


def test_the_default_region_prices_the_defaults_and_every_listed_type(tmp_path: Path) -> None:
    # Spot check of the table itself: what the stack files use is priced in their region.
    for name in ("dev", "prod"):
        evaluation = evaluate(name, home=tmp_path)
        assert estimate(evaluation.resources, evaluation.config.region or "us-east-1").complete
