"""The monthly estimate against hand-computed totals, on resource lists built here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from orthweb.ops import billable, cost
from orthweb.ops.cost import PriceTable, estimate, terraform_anchor
from orthweb.shared.constants import AFTER_FIRST_BOOT_TAG


@dataclass(frozen=True)
class Res:
    type: str
    name: str
    inputs: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


def _tags(role: str | None = None) -> dict[str, str]:
    tags = {"orthweb:project": "orthweb", "orthweb:stack": "dev"}
    if role:
        tags["orthweb:role"] = role
    return tags


def stack(
    *,
    instance_type: str = "t4g.medium",
    root_gb: float = 30.0,
    secondary_state: str = "running",
    db_class: str = "db.t4g.small",
    multi_az: bool = False,
    db_gb: float = 20.0,
) -> list[Res]:
    """The shape the program creates (inputs camelCase, numbers as floats, as the mocks give)."""
    host = {"instanceType": instance_type, "associatePublicIpAddress": True}
    root = {"volumeType": "gp3", "volumeSize": root_gb, "encrypted": True}
    # A standby secondary says so in its tags (it powers itself off after its first boot).
    standby = {AFTER_FIRST_BOOT_TAG: "stopped"} if secondary_state == "stopped" else {}
    secondary_tags = {**_tags("secondary"), **standby}
    return [
        Res(cost.KMS_KEY, "key"),
        Res(billable.S3_BUCKET, "dicom"),
        Res(billable.S3_BUCKET, "logs"),
        Res(billable.FLOW_LOG, "flow-log"),
        Res(cost.VPC_ENDPOINT, "s3", {"vpcEndpointType": "Gateway", "serviceName": "x.s3"}),
        Res(
            cost.VPC_ENDPOINT,
            "secrets",
            {
                "vpcEndpointType": "Interface",
                "serviceName": "com.amazonaws.us-east-1.secretsmanager",
                "subnetIds": ["private-a", "private-b"],
            },
        ),
        Res(cost.SECRET, "orthanc-credentials", {"tags": _tags("orthanc-credentials")}),
        Res(cost.SECRET, "site-tls", {"tags": _tags("site-tls")}),
        Res(
            cost.RDS_INSTANCE,
            "postgres",
            {
                "instanceClass": db_class,
                "multiAz": multi_az,
                "allocatedStorage": db_gb,
                "storageType": "gp3",
                "manageMasterUserPassword": True,
            },
        ),
        Res(cost.EC2_INSTANCE, "primary", {**host, "rootBlockDevice": root, "tags": _tags("primary")}, "i-1"),
        Res(cost.EC2_INSTANCE, "secondary", {**host, "rootBlockDevice": root, "tags": secondary_tags}, "i-2"),
        Res(cost.EIP, "site", {"instance": "i-1", "tags": _tags("site")}, "eipalloc-1"),
    ]


def _by_item(result: cost.CostEstimate) -> dict[str, float | None]:
    return {item.item: item.monthly_usd for item in result.items}


def test_dev_stack_in_us_east_1_matches_the_hand_computed_total() -> None:
    result = estimate(stack(), "us-east-1")
    items = _by_item(result)
    # 730 h x $0.0336 = 24.53 per host; 30 GB x $0.08 = 2.40 per root volume.
    assert items["EC2 primary host t4g.medium"] == 24.53
    assert items["EC2 secondary host t4g.medium"] == 24.53
    assert items["EBS gp3 root volume, primary host"] == 2.40
    assert items["EBS gp3 root volume, secondary host"] == 2.40
    # The Elastic IP replaces the primary's own address; the running secondary has its own.
    assert items["Public IPv4: Elastic IP (site address)"] == 3.65
    assert items["Public IPv4: secondary host address"] == 3.65
    assert "Public IPv4: primary host address" not in items
    assert items["RDS PostgreSQL db.t4g.small (Single-AZ)"] == 23.36  # 730 x 0.032
    assert items["RDS storage gp3"] == 2.30  # 20 GB x 0.115
    assert items["Interface endpoint secretsmanager (2 AZ)"] == 14.60  # 2 x 730 x 0.01
    assert items["KMS customer managed keys"] == 1.00
    assert items["Secrets Manager secrets"] == 1.20  # 2 declared + the RDS-managed one
    assert items["S3 storage and requests"] == 0.0
    assert result.complete
    assert result.monthly_usd == 103.62


def test_a_stopped_secondary_costs_storage_but_no_compute_or_address() -> None:
    result = estimate(stack(secondary_state="stopped"), "us-east-1")
    items = _by_item(result)
    assert items["EC2 secondary host t4g.medium (stopped)"] == 0.0
    assert items["Public IPv4: secondary host address (stopped)"] == 0.0
    assert items["EBS gp3 root volume, secondary host"] == 2.40
    assert result.monthly_usd == round(103.62 - 24.53 - 3.65, 2) == 75.44
    # The caller may also state it (whatever the secondary's tags say).
    assert estimate(stack(), "us-east-1", secondary_state="stopped").monthly_usd == 75.44


def test_prod_stack_doubles_the_database_for_multi_az() -> None:
    result = estimate(stack(multi_az=True, db_class="db.t4g.medium", db_gb=100.0), "us-east-1")
    items = _by_item(result)
    assert items["RDS PostgreSQL db.t4g.medium (Multi-AZ, primary + standby)"] == 94.90  # 1460 x 0.065
    assert items["RDS storage gp3"] == 23.00  # 100 GB x 2 x 0.115
    assert result.monthly_usd == round(103.62 - 23.36 - 2.30 + 94.90 + 23.00, 2) == 195.86


def test_other_regions_use_their_own_ec2_prices() -> None:
    result = estimate(stack(instance_type="m7g.large"), "eu-central-1")
    assert _by_item(result)["EC2 primary host m7g.large"] == round(730 * 0.0978, 2)


def test_a_price_missing_from_the_table_is_reported_not_guessed() -> None:
    result = estimate(stack(), "eu-central-1")
    assert not result.complete
    missing = {item.item for item in result.unpriced}
    assert "RDS PostgreSQL db.t4g.small (Single-AZ)" in missing
    assert all(_by_item(result)[name] is None for name in missing)
    data = result.to_json()
    assert data["complete"] is False and "RDS storage gp3" in data["not_priced"]
    assert data["monthly_usd"] is None and data["total"] == f"incomplete: {len(missing)} items unpriced"
    assert f"Estimated monthly total: incomplete: {len(missing)} items unpriced" in result.format_table()


def test_an_unknown_instance_type_is_an_unpriced_line() -> None:
    result = estimate(stack(instance_type="c7i.large"), "us-east-1")
    assert {i.item for i in result.unpriced} >= {"EC2 primary host c7i.large"}


def test_a_region_without_prices_is_incomplete_and_says_why() -> None:
    result = estimate(stack(), "ap-south-2")
    assert result.monthly_usd is None and "EC2 primary host t4g.medium" in {i.item for i in result.unpriced}
    assert any(w.startswith("no list prices for region 'ap-south-2'") and "us-east-1" in w for w in result.warnings)
    assert "Warning: no list prices for region 'ap-south-2'" in result.format_table()


def test_json_shape_for_the_plan_command() -> None:
    data = estimate(stack(), "us-east-1").to_json()
    json.dumps(data)  # serialisable as is
    assert data["currency"] == "USD" and data["monthly_usd"] == 103.62
    assert {"item", "quantity", "unit_usd", "monthly_usd"} <= set(data["items"][0])
    assert sum(item["monthly_usd"] or 0 for item in data["items"]) == pytest.approx(103.62)
    assert {source["id"] for source in data["sources"]} >= {"skypilot-catalog", "aws-public-ipv4"}


def test_table_lists_every_item_and_the_total() -> None:
    table = estimate(stack(), "us-east-1").format_table()
    assert "EC2 primary host t4g.medium" in table
    assert "Estimated monthly total: $103.62" in table
    assert "usage-based, not included" in table


def test_terraform_anchor() -> None:
    anchor = terraform_anchor()
    items = _by_item(anchor)
    assert items["EC2 primary host t3.medium"] == 30.37  # 730 x 0.0416
    assert items["RDS PostgreSQL db.t3.small (Multi-AZ, primary + standby)"] == 52.56
    assert sum(v or 0 for k, v in items.items() if k.startswith("Interface endpoint")) == 29.20
    assert anchor.complete and anchor.monthly_usd == 149.80


def test_every_price_names_a_known_source() -> None:
    table = PriceTable.bundled().data
    sources = set(table["sources"])
    assert {"url", "as_of", "what"} <= set().union(*(set(s) for s in table["sources"].values()))
    for entry in table["global"].values():
        assert entry["source"] in sources
    for region, entries in table["regions"].items():
        for name, entry in entries.items():
            assert entry["source"] in sources, (region, name)
    required = {"us-east-1", "us-east-2", "us-west-2", "ca-central-1", "eu-west-1", "eu-central-1"}
    assert required <= set(table["regions"])
    families = [f"{f}.{s}" for f in ("t3", "t3a", "t4g") for s in ("micro", "small", "medium", "large", "xlarge")]
    families += [f"{f}.{s}" for f in ("m6i", "m7i", "m6g", "m7g") for s in ("large", "xlarge")]
    for region in required:
        assert set(families) <= set(table["regions"][region]["ec2_linux_hour"]["usd"]), region
