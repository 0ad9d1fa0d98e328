"""Monthly cost estimate of a stack from its offline-evaluated resources (no Pulumi imports).

`estimate(resources, region)` reads the resource records that `orthweb.evaluate` produces (anything
with `type`, `name`, `inputs` and, when known, `id`) and prices them with the list prices in
`orthweb/data/prices.json`. A price that is not in that table is never guessed: the line item is
kept with no price, and the total is then not a dollar figure but "incomplete: N items unpriced".
Usage-based charges (S3 storage, log ingestion, data transfer, API calls, CPU credits) are listed
and named as not included. Which resource types are priced, usage-based or free is
`orthweb.ops.billable`; a type it does not know is an unpriced line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources as package_files
from typing import Any, Protocol

from orthweb.evaluate.model import plain
from orthweb.ops import billable
from orthweb.ops.billable import (
    AUDIT_COPY_FUNCTION,
    BACKUP_VAULT,
    BUCKET_LIFECYCLE,
    DASHBOARD,
    EC2_INSTANCE,
    EIP,
    KMS_KEY,
    LAUNCH_TEMPLATE,
    LOAD_BALANCER,
    METRIC_ALARM,
    RDS_INSTANCE,
    SCALING_GROUP,
    SCALING_POLICY,
    SECRET,
    TRAIL,
    USER_POOL,
    USER_POOL_CLIENT,
    VPC_ENDPOINT,
    VPN_CONNECTION,
)
from orthweb.shared import telemetry
from orthweb.shared.constants import AFTER_FIRST_BOOT_TAG, PRIMARY, ROLE_TAG, SECONDARY

# What EC2 detailed monitoring sends each minute per running instance, each billed as a custom metric:
# CPUUtilization, DiskReadOps, DiskWriteOps, DiskReadBytes, DiskWriteBytes, NetworkIn, NetworkOut
# (CloudWatch pricing's detailed-monitoring example; infracost's instance test prices the same 7).
DETAILED_MONITORING_METRICS = 7


class PriceTableError(ValueError):
    """The price table has nothing for this region (the message names the known regions)."""


class ResourceLike(Protocol):
    @property
    def type(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def inputs(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class LineItem:
    item: str
    quantity: float
    unit: str
    unit_usd: float | None
    note: str | None = None
    usage_based: bool = False

    @property
    def priced(self) -> bool:
        return self.unit_usd is not None or self.usage_based

    @property
    def monthly_usd(self) -> float | None:
        if self.usage_based:
            return 0.0
        if self.unit_usd is None:
            return None
        return round(self.quantity * self.unit_usd, 2)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "item": self.item,
            "quantity": self.quantity,
            "unit": self.unit,
            "unit_usd": self.unit_usd,
            "monthly_usd": self.monthly_usd,
        }
        if self.note:
            data["note"] = self.note
        return data


@dataclass(frozen=True)
class CostEstimate:
    region: str
    items: tuple[LineItem, ...]
    hours_per_month: int
    # Each {"id", "as_of", "url"} from the price table, for the items priced here.
    sources: tuple[Mapping[str, str], ...] = field(default=())

    # Why some prices are missing altogether (a region the table does not have).
    warnings: tuple[str, ...] = ()

    @property
    def monthly_usd(self) -> float | None:
        """The monthly total in USD, or None when an item has no price (never a partial sum)."""
        if not self.complete:
            return None
        return round(sum(item.monthly_usd or 0.0 for item in self.items), 2)

    @property
    def total(self) -> str:
        """The total as it is shown: a dollar figure only when every item is priced."""
        if self.monthly_usd is None:
            count = len(self.unpriced)
            return f"incomplete: {count} item{'s' if count != 1 else ''} unpriced"
        return f"${self.monthly_usd:,.2f}"

    @property
    def unpriced(self) -> tuple[LineItem, ...]:
        return tuple(item for item in self.items if not item.priced)

    @property
    def complete(self) -> bool:
        return not self.unpriced

    def to_json(self) -> dict[str, Any]:
        return {
            "monthly_usd": self.monthly_usd,
            "total": self.total,
            "currency": "USD",
            "region": self.region,
            "complete": self.complete,
            "hours_per_month": self.hours_per_month,
            "items": [item.to_json() for item in self.items],
            "not_priced": [item.item for item in self.unpriced],
            "warnings": list(self.warnings),
            "sources": [dict(source) for source in self.sources],
        }

    def format_table(self) -> str:
        rows = [("Item", "Qty", "Unit", "Unit $", "Monthly $")]
        for item in self.items:
            rows.append(
                (
                    item.item,
                    _number(item.quantity),
                    item.unit,
                    "-" if item.unit_usd is None else _unit_price(item.unit_usd),
                    "usage" if item.usage_based else _money(item.monthly_usd),
                )
            )
        widths = [max(len(row[column]) for row in rows) for column in range(5)]
        numeric = (False, True, False, True, True)

        def line(row: tuple[str, ...]) -> str:
            cells = (
                cell.rjust(width) if right else cell.ljust(width)
                for cell, width, right in zip(row, widths, numeric, strict=True)
            )
            return "  ".join(cells).rstrip()

        rule = "  ".join("-" * width for width in widths)
        out = [line(rows[0]), rule, *(line(row) for row in rows[1:]), rule]
        out.append(f"Estimated monthly total: {self.total} (USD, {self.region}, on-demand list prices)")
        if self.unpriced:
            names = "; ".join(item.item for item in self.unpriced)
            out.append(f"Unpriced (no list price in orthweb/data/prices.json): {names}")
        out += [f"Warning: {warning}" for warning in self.warnings]
        notes = [f"  {item.item}: {item.note}" for item in self.items if item.note]
        if notes:
            out += ["Notes:", *notes]
        if self.sources:
            ids = ", ".join(source["id"] for source in self.sources)
            out.append(f"Price sources: {ids} (orthweb/data/prices.json names each one)")
        return "\n".join(out)


def _number(value: float) -> str:
    return f"{value:,.4f}".rstrip("0").rstrip(".") if value % 1 else f"{int(value):,}"


def _unit_price(value: float) -> str:
    # One format for every unit price: the table's prices have at most four decimals.
    return f"{value:,.4f}"


def _money(value: float | None) -> str:
    return "unpriced" if value is None else f"{value:,.2f}"


# --- price table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceTable:
    data: Mapping[str, Any]

    @classmethod
    def bundled(cls) -> PriceTable:
        return _bundled_table()

    @property
    def hours_per_month(self) -> int:
        return int(self.data["hours_per_month"])

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted(self.data["regions"]))

    def region(self, region: str) -> Mapping[str, Any]:
        try:
            return self.data["regions"][region]
        except KeyError:
            known = ", ".join(self.regions)
            raise PriceTableError(
                f"no list prices for region {region!r} in orthweb/data/prices.json (known: {known})"
            ) from None

    def regional(self, region: str, entry: str, key: str | None = None) -> tuple[float | None, str | None]:
        """(price, source id) of a regional entry, or (None, None) when the table has no price."""
        table = self.region(region).get(entry)
        if table is None:
            return None, None
        value = table["usd"] if key is None else table["usd"].get(key)
        return (None, None) if value is None else (float(value), table["source"])

    def flat(self, entry: str) -> tuple[float, str]:
        table = self.data["global"][entry]
        return float(table["usd"]), table["source"]

    def describe_source(self, source_id: str) -> Mapping[str, str]:
        source = self.data["sources"][source_id]
        return {"id": source_id, "as_of": source["as_of"], "url": source["url"]}


@cache
def _bundled_table() -> PriceTable:
    text = package_files.files("orthweb").joinpath("data/prices.json").read_text(encoding="utf-8")
    return PriceTable(json.loads(text))


# --- reading the resource graph ---------------------------------------------------------------


def _input(resource: ResourceLike, key: str, default: Any = None) -> Any:
    return plain(resource.inputs.get(key, default))


def _role(resource: ResourceLike) -> str | None:
    tags = _input(resource, "tags") or {}
    return plain(tags.get(ROLE_TAG)) if isinstance(tags, Mapping) else None


def _resource_id(resource: ResourceLike) -> Any:
    return getattr(resource, "id", None)


@dataclass
class _Host:
    resource: ResourceLike
    role: str
    running: bool = True
    holds_site_address: bool = False

    @property
    def label(self) -> str:
        return f"{self.role} host"


def _hosts(resources: list[ResourceLike], secondary_state: str | None) -> list[_Host]:
    hosts = [_Host(r, _role(r) or r.name) for r in resources if r.type == EC2_INSTANCE]
    by_id = {_resource_id(h.resource): h for h in hosts if _resource_id(h.resource) is not None}
    for host in hosts:
        # A standby secondary powers itself off once its first boot is done.
        tags = _input(host.resource, "tags") or {}
        host.running = not (isinstance(tags, Mapping) and plain(tags.get(AFTER_FIRST_BOOT_TAG)) == "stopped")
    if secondary_state is not None:
        for host in hosts:
            if host.role == SECONDARY:
                host.running = secondary_state == "running"
    for eip in (r for r in resources if r.type == EIP):
        holder = by_id.get(_input(eip, "instance"))
        if holder is None:
            holder = next((h for h in hosts if h.role == PRIMARY), None)
        if holder is not None:
            holder.holds_site_address = True
    order = {PRIMARY: 0, SECONDARY: 1}
    return sorted(hosts, key=lambda h: (order.get(h.role, 2), h.resource.name))


# --- the estimate -------------------------------------------------------------------------------


class _Builder:
    def __init__(self, table: PriceTable, region: str) -> None:
        self.table = table
        self.region = region
        self.hours = table.hours_per_month
        self.items: list[LineItem] = []
        self.sources: set[str] = set()
        self.warnings: list[str] = []
        if region not in table.regions:
            self.warnings.append(
                f"no list prices for region {region!r} in orthweb/data/prices.json "
                f"(priced regions: {', '.join(table.regions)})"
            )

    def regional(self, entry: str, key: str | None = None) -> tuple[float | None, str | None]:
        """A regional price, or (None, None) when the table has none for this region."""
        if self.region not in self.table.regions:
            return None, None
        return self.table.regional(self.region, entry, key)

    def add(
        self,
        item: str,
        quantity: float,
        unit: str,
        price: tuple[float | None, str | None],
        note: str | None = None,
    ) -> None:
        unit_usd, source = price
        if source:
            self.sources.add(source)
        self.items.append(LineItem(item, quantity, unit, unit_usd, note))

    def usage(self, item: str, unit: str, note: str) -> None:
        self.items.append(LineItem(item, 0, unit, None, note, usage_based=True))

    def result(self) -> CostEstimate:
        sources = tuple(self.table.describe_source(s) for s in sorted(self.sources))
        return CostEstimate(self.region, tuple(self.items), self.hours, sources, tuple(self.warnings))


def estimate(
    resources: Iterable[ResourceLike],
    region: str,
    *,
    secondary_state: str | None = None,
    prices: PriceTable | None = None,
) -> CostEstimate:
    """Price the stack's resources in `region`.

    `secondary_state` ("running"/"stopped") overrides what the secondary's tags say.
    A region the table does not have leaves its regional items unpriced (the estimate says why).
    """
    if secondary_state not in (None, "running", "stopped"):
        raise ValueError(f"secondary_state must be 'running' or 'stopped', not {secondary_state!r}")
    records = list(resources)
    build = _Builder(prices or PriceTable.bundled(), region)
    hosts = _hosts(records, secondary_state)

    for host in hosts:
        _price_host(build, host)
    group_hosts = _price_scale_out(build, records)
    _price_public_addresses(build, records, hosts)
    for database in (r for r in records if r.type == RDS_INSTANCE):
        _price_database(build, database)
    for endpoint in (r for r in records if r.type == VPC_ENDPOINT):
        _price_endpoint(build, endpoint)
    _price_keys_and_secrets(build, records)
    _price_monitoring(build, records, hosts, group_hosts=group_hosts)
    _price_sign_in(build, records)
    _price_backups(build, records)
    _price_audit_trail(build, records)
    _price_audit_copy(build, records)
    _price_storage_classes(build, records)
    _price_vpn(build, records)
    _usage_based(build, records)
    _unknown_types(build, records)
    return build.result()


def _add_while_running(
    build: _Builder, host: _Host, item: str, unit: str, price: tuple[float | None, str | None], stopped: str
) -> None:
    """An hourly line for a host: every hour while it runs; none while it is stopped, saying why."""
    if host.running:
        build.add(item, build.hours, unit, price)
    else:
        build.add(f"{item} (stopped)", 0, unit, price, note=stopped)


def _price_host(build: _Builder, host: _Host) -> None:
    resource = host.resource
    instance_type = str(_input(resource, "instanceType"))
    price = build.regional("ec2_linux_hour", instance_type)
    item = f"EC2 {host.label} {instance_type}"
    _add_while_running(build, host, item, "hour", price, "stopped: no instance-hours until failover starts it")
    _price_detailed_monitoring(build, host)
    _price_volumes(build, host)


def _price_detailed_monitoring(build: _Builder, host: _Host) -> None:
    """One-minute EC2 metrics are billed as custom metrics, and only while the host sends them."""
    if not _input(host.resource, "monitoring", False):
        return
    build.add(
        f"EC2 detailed monitoring, {host.label}{'' if host.running else ' (stopped)'}",
        DETAILED_MONITORING_METRICS if host.running else 0,
        "metric-month",
        build.regional("cloudwatch_custom_metric_month"),
        note=None if host.running else "a stopped host sends no metrics",
    )


def _price_volumes(build: _Builder, host: _Host) -> None:
    resource = host.resource
    volumes = []
    root = _input(resource, "rootBlockDevice")
    if isinstance(root, Mapping):
        volumes.append(("root volume", root))
    for extra in _input(resource, "ebsBlockDevices") or []:
        if isinstance(extra, Mapping):
            volumes.append((f"volume {extra.get('deviceName', '')}".strip(), extra))
    if not volumes:
        build.add(
            f"EBS root volume, {host.label}",
            0,
            "GB-month",
            (None, None),
            note="size not set in the program (AMI default)",
        )
    for label, volume in volumes:
        size = plain(volume.get("volumeSize"))
        volume_type = str(plain(volume.get("volumeType")) or "gp3")
        price = build.regional("ebs_gb_month", volume_type)
        if size is None:
            build.add(
                f"EBS {volume_type} {label}, {host.label}",
                0,
                "GB-month",
                (None, None),
                note="size not set in the program (AMI default)",
            )
        else:
            build.add(f"EBS {volume_type} {label}, {host.label}", float(size), "GB-month", price)


def _price_scale_out(build: _Builder, records: list[ResourceLike]) -> int:
    """The load balancer by the hour (its capacity units by use) and the scaling group's hosts at
    their desired size, from the launch template. Returns how many hosts the group runs."""
    for balancer in (r for r in records if r.type == LOAD_BALANCER):
        internal = _input(balancer, "internal") is True
        item = "Network Load Balancer, internal (plain DICOM)" if internal else "Network Load Balancer"
        build.add(item, build.hours, "hour", build.regional("nlb_hour"))
        build.usage(
            "Load balancer capacity units (NLCU)",
            "NLCU-hour",
            "usage-based, not included ($0.006 per NLCU-hour in us-east-1; one NLCU is 800 new TCP or 80 "
            "new TLS connections a second, 100,000 or 10,000 active ones, or 1 GB an hour)",
        )
        build.usage(
            "Traffic between zones (cross-zone load balancing)",
            "GB",
            "usage-based, not included: the load balancer sends clients to hosts in either zone",
        )
    templates = [r for r in records if r.type == LAUNCH_TEMPLATE]
    running = 0
    for group in (r for r in records if r.type == SCALING_GROUP):
        desired = int(_input(group, "desiredCapacity") or 0)
        running += desired
        _price_group_hosts(build, group, templates[0], desired)
    policies = sum(1 for r in records if r.type == SCALING_POLICY)
    if policies:
        # Target tracking creates and keeps two alarms (scale out, scale in) per policy.
        build.add(
            "CloudWatch alarms of CPU target tracking",
            2 * policies,
            "alarm-month",
            build.regional("cloudwatch_alarm_month"),
        )
    return running


def _price_vpn(build: _Builder, records: list[ResourceLike]) -> None:
    """The hospital's Site-to-Site VPN by the connection-hour (tunnels up or not); its traffic by use."""
    for _connection in (r for r in records if r.type == VPN_CONNECTION):
        build.add(
            "Site-to-Site VPN connection (two tunnels)", build.hours, "hour", build.regional("vpn_connection_hour")
        )
        build.usage(
            "Data transfer out over the VPN",
            "GB",
            "usage-based, not included: studies sent to the hospital (C-MOVE, C-GET) at EC2 data-transfer-out rates",
        )


def _price_group_hosts(build: _Builder, group: ResourceLike, template: ResourceLike, desired: int) -> None:
    instance_type = str(_input(template, "instanceType"))
    size = f"{int(_input(group, 'minSize'))} to {int(_input(group, 'maxSize'))} hosts"
    label = f"group hosts x {desired}"
    build.add(
        f"EC2 {label} {instance_type}",
        build.hours * desired,
        "hour",
        build.regional("ec2_linux_hour", instance_type),
        note=f"the desired size; the group runs {size}",
    )
    if (_input(template, "monitoring") or {}).get("enabled"):
        build.add(
            f"EC2 detailed monitoring, {label}",
            DETAILED_MONITORING_METRICS * desired,
            "metric-month",
            build.regional("cloudwatch_custom_metric_month"),
        )
    for mapping in _input(template, "blockDeviceMappings") or []:
        ebs = mapping.get("ebs") or {}
        volume_type = str(plain(ebs.get("volumeType")) or "gp3")
        gigabytes = float(plain(ebs.get("volumeSize")) or 0) * desired
        build.add(
            f"EBS {volume_type} root volumes, {label}",
            gigabytes,
            "GB-month",
            build.regional("ebs_gb_month", volume_type),
        )
    if any(
        str(plain(n.get("associatePublicIpAddress"))) == "true" for n in _input(template, "networkInterfaces") or []
    ):
        build.add(f"Public IPv4: {label}", build.hours * desired, "IP-hour", build.table.flat("public_ipv4_hour"))


def _price_public_addresses(build: _Builder, records: list[ResourceLike], hosts: list[_Host]) -> None:
    price = build.table.flat("public_ipv4_hour")
    for _eip in (r for r in records if r.type == EIP):
        build.add(
            "Public IPv4: Elastic IP (site address)",
            build.hours,
            "IP-hour",
            price,
            note="charged whether associated or not",
        )
    for host in hosts:
        if host.holds_site_address:
            continue  # the Elastic IP replaces this host's own public address
        if _input(host.resource, "associatePublicIpAddress", True) is False:
            continue
        item = f"Public IPv4: {host.label} address"
        _add_while_running(build, host, item, "IP-hour", price, "a stopped host releases its auto-assigned address")


def _price_database(build: _Builder, database: ResourceLike) -> None:
    db_class = str(_input(database, "instanceClass"))
    multi_az = bool(_input(database, "multiAz", False))
    copies = 2 if multi_az else 1
    deployment = "Multi-AZ, primary + standby" if multi_az else "Single-AZ"
    price = build.regional("rds_postgres_single_az_hour", db_class)
    build.add(f"RDS PostgreSQL {db_class} ({deployment})", build.hours * copies, "instance-hour", price)
    size = _input(database, "allocatedStorage")
    storage_type = str(_input(database, "storageType") or "gp2")
    price = build.regional("rds_storage_gb_month", storage_type)
    if size is None:
        build.add(
            f"RDS storage {storage_type}",
            0,
            "GB-month",
            (None, None),
            note="allocatedStorage not set",
        )
    else:
        note = "billed for primary and standby" if multi_az else None
        build.add(f"RDS storage {storage_type}", float(size) * copies, "GB-month", price, note=note)
    build.usage(
        "RDS backup storage beyond the allocated size",
        "GB-month",
        "usage-based, not included (backups up to the allocated size are free)",
    )
    if _input(database, "monitoringInterval", 0):
        build.usage(
            "RDS enhanced monitoring (its RDSOSMetrics log group)",
            "GB",
            "usage-based, not included: CloudWatch Logs ingestion of the OS metrics",
        )


def _price_endpoint(build: _Builder, endpoint: ResourceLike) -> None:
    if str(_input(endpoint, "vpcEndpointType", "Gateway")) != "Interface":
        return  # gateway endpoints (S3, DynamoDB) are free
    service = str(_input(endpoint, "serviceName") or endpoint.name).rsplit(".", 1)[-1]
    zones = len(_input(endpoint, "subnetIds") or [])
    price = build.regional("interface_endpoint_az_hour")
    build.add(f"Interface endpoint {service} ({zones} AZ)", build.hours * zones, "ENI-hour", price)
    build.usage(
        f"Interface endpoint {service}: data processed",
        "GB",
        "usage-based, not included ($0.01 per GB in us-east-1; "
        "the hosts' secret reads every 5 minutes stay under 1 GB a month)",
    )


def _price_keys_and_secrets(build: _Builder, records: list[ResourceLike]) -> None:
    keys = sum(1 for r in records if r.type == KMS_KEY)
    if keys:
        build.add(
            "KMS customer managed keys",
            keys,
            "key-month",
            build.table.flat("kms_key_month"),
            note="API requests beyond the free tier not included",
        )
    declared = sum(1 for r in records if r.type == SECRET)
    managed = sum(1 for r in records if r.type == RDS_INSTANCE and _input(r, "manageMasterUserPassword"))
    if declared or managed:
        note = "includes the RDS-managed master password secret" if managed else None
        build.add(
            "Secrets Manager secrets",
            declared + managed,
            "secret-month",
            build.table.flat("secrets_manager_secret_month"),
            note=note,
        )


def _price_sign_in(build: _Builder, records: list[ResourceLike]) -> None:
    """A Cognito pool bills its monthly active users by tier; a client-credentials client bills itself."""
    for pool in (r for r in records if r.type == USER_POOL):
        tier = str(_input(pool, "userPoolTier") or "ESSENTIALS").capitalize()
        price = build.table.flat("cognito_essentials_pool_month") if tier == "Essentials" else (None, None)
        build.add(
            f"Cognito user pool, {tier} tier",
            1,
            "pool-month",
            price,
            note="no charge for the first 10,000 monthly active users; each one beyond is billed",
        )
    clients = (r for r in records if r.type == USER_POOL_CLIENT)
    machine = [r for r in clients if "client_credentials" in (_input(r, "allowedOauthFlows") or [])]
    if machine:
        build.add(
            "Cognito machine-to-machine app client",
            len(machine),
            "client-month",
            build.table.flat("cognito_m2m_app_client_month"),
            note="no free tier; token requests are usage-based, not included ($2.25 per 1,000)",
        )


# The DICOM volume the storage lines are worked out for (a stated volume, not a forecast).
STATED_DICOM_GB = 1000


def _price_backups(build: _Builder, records: list[ResourceLike]) -> None:
    """Recovery points are billed by their size: the rates, per stated volume, in the line's note."""
    vaults = [r for r in records if r.type == BACKUP_VAULT]
    if not vaults:
        return
    s3, _ = build.regional("backup_s3_gb_month")
    rds, _ = build.regional("backup_rds_gb_month")
    rates = (
        f"S3 backup ${s3} per GB-month (${s3 * STATED_DICOM_GB:,.2f} a month for {STATED_DICOM_GB:,} GB of DICOM "
        f"kept), RDS backup ${rds} per GB-month beyond the database's allocated size"
        if s3 is not None and rds is not None
        else f"no AWS Backup rates for {build.region} in orthweb/data/prices.json"
    )
    copies = " and again in the copy region, plus transfer" if len(vaults) > 1 else ""
    build.usage(
        "AWS Backup storage (continuous backups)",
        "GB-month",
        f"usage-based, not included: {rates}{copies}",
    )


# The DICOM object reads and writes a month the audit trail's line is worked out for (a stated volume).
STATED_AUDIT_EVENTS = 1_000_000


def _price_audit_trail(build: _Builder, records: list[ResourceLike]) -> None:
    """Data events are billed by the 100,000, the log files as S3 storage kept for the lock's days."""
    if not any(r.type == TRAIL for r in records):
        return
    per_100k, _ = build.table.flat("cloudtrail_data_events_100k")
    s3, _ = build.regional("s3_gb_month", "STANDARD")
    storage = f"S3 Standard ${s3} per GB-month" if s3 is not None else "S3 storage at the region's rate"
    item, unit, _what = billable.USAGE_BASED[TRAIL]
    stated = per_100k * STATED_AUDIT_EVENTS / 100_000
    build.usage(
        item,
        unit,
        f"usage-based, not included: ${per_100k:.2f} per 100,000 data events (${stated:,.2f} a month for "
        f"{STATED_AUDIT_EVENTS:,} DICOM object reads and writes), then the log files in the audit bucket at {storage}, "
        "kept `auditRetentionDays`",
    )


# The audit lines a month the copy's line is worked out for (a stated volume, not a forecast).
STATED_AUDIT_LINES_GB = 10


# A batch CloudWatch Logs hands the copy function, and how long copying one takes (stated, for the
# line's worked example: batches of about 50 KB, a few PutLogEvents calls each).
STATED_COPY_BATCH_KB = 50
STATED_COPY_SECONDS = 0.2


def _price_audit_copy(build: _Builder, records: list[ResourceLike]) -> None:
    """The copy function's requests and GB-seconds, the audit group's ingestion and storage, and a PUT
    per batch into the audit bucket."""
    functions = [r for r in records if r.type == AUDIT_COPY_FUNCTION]
    if not functions:
        return
    memory_gb = float(_input(functions[0], "memorySize", 128)) / 1024
    per_million, _ = build.table.flat("lambda_requests_million")
    per_gb_second, _ = build.table.flat("lambda_arm_gb_second")
    ingest, _ = build.regional("cloudwatch_logs_ingested_gb")
    stored, _ = build.regional("cloudwatch_logs_stored_gb_month")
    batches = STATED_AUDIT_LINES_GB * 1024 * 1024 / STATED_COPY_BATCH_KB
    function_usd = batches / 1e6 * per_million + batches * STATED_COPY_SECONDS * memory_gb * per_gb_second
    logs = (
        f"the audit group ${ingest:.2f} per GB ingested (${ingest * STATED_AUDIT_LINES_GB:,.2f}) and ${stored:.2f} per "
        f"GB-month stored, each month's lines kept `auditRetentionDays`"
        if ingest is not None and stored is not None
        else f"the audit group at CloudWatch Logs' rates for {build.region}"
    )
    put, _ = build.regional("s3_put_1000")
    files = (
        f"; each batch one file in the audit bucket (${put * batches / 1000:,.2f} of PUT requests at ${put} per "
        "1,000, then S3 storage, kept `auditRetentionDays`)"
        if put is not None
        else "; each batch one file in the audit bucket (PUT requests and S3 storage at the region's rates)"
    )
    item, unit, _what = billable.USAGE_BASED[AUDIT_COPY_FUNCTION]
    build.usage(
        item,
        unit,
        f"usage-based, not included: for {STATED_AUDIT_LINES_GB} GB of audit lines a month, Lambda "
        f"${function_usd:,.2f} (${per_million:.2f} per million requests, ${per_gb_second:.10f} per GB-second on Arm, "
        f"batches of about {STATED_COPY_BATCH_KB} KB; within the account's free tier it is $0), then {logs}{files}",
    )


def _price_storage_classes(build: _Builder, records: list[ResourceLike]) -> None:
    """What the DICOM bucket's lifecycle saves, for a stated volume kept past its transition age."""
    for lifecycle in (r for r in records if r.type == BUCKET_LIFECYCLE):
        for rule in _input(lifecycle, "rules") or []:
            for transition in plain(rule.get("transitions")) or []:
                days, storage_class = int(plain(transition["days"])), str(plain(transition["storageClass"]))
                standard, _ = build.regional("s3_gb_month", "STANDARD")
                cold, _ = build.regional("s3_gb_month", storage_class)
                effect = (
                    f"{STATED_DICOM_GB:,} GB cost ${standard * STATED_DICOM_GB:,.2f} a month in S3 Standard and "
                    f"${cold * STATED_DICOM_GB:,.2f} in {storage_class} once older than {days} days (reading them "
                    "back bills retrieval per GB)"
                    if standard is not None and cold is not None
                    else f"no S3 storage prices for {build.region} in orthweb/data/prices.json"
                )
                build.usage(f"DICOM objects older than {days} days in {storage_class}", "GB-month", effect)


def _price_monitoring(
    build: _Builder, records: list[ResourceLike], hosts: list[_Host], *, group_hosts: int = 0
) -> None:
    """Alarms and dashboards are resources; custom metrics are what each running host publishes."""
    alarms = sum(1 for r in records if r.type == METRIC_ALARM)
    if alarms:
        price = build.regional("cloudwatch_alarm_month")
        build.add("CloudWatch alarms (standard resolution)", alarms, "alarm-month", price)
    dashboards = sum(1 for r in records if r.type == DASHBOARD)
    if dashboards:
        price = build.regional("cloudwatch_dashboard_month")
        build.add(
            "CloudWatch dashboard", dashboards, "dashboard-month", price, note="free if among the account's first 3"
        )
    if alarms or dashboards:
        per_host = telemetry.custom_metrics_per_host()
        # CloudWatch bills each distinct series: the group's hosts all publish as Host=member,
        # so however many there are, they share one set.
        publishers = sum(1 for host in hosts if host.running) + (1 if group_hosts else 0)
        build.add(
            f"CloudWatch custom metrics ({per_host} per running host)",
            per_host * publishers,
            "metric-month",
            build.regional("cloudwatch_custom_metric_month"),
            note="a stopped host publishes none; the scale-out group's hosts share one set",
        )
        build.usage(
            "CloudWatch Logs: container logs and the agent's metric events",
            "GB",
            "usage-based, not included ($0.50 per GB ingested, $0.03 per GB-month stored in us-east-1)",
        )


def _usage_based(build: _Builder, records: list[ResourceLike]) -> None:
    """One line per usage-based charge the stack's resources bring (orthweb.ops.billable), then
    the ones every stack has: data transfer, and CPU credits of burstable (T) classes."""
    present = {r.type for r in records}
    listed = {item.item for item in build.items}
    for token, (item, unit, what) in billable.USAGE_BASED.items():
        if token in present and item not in listed:
            listed.add(item)
            build.usage(item, unit, f"usage-based, not included: {what}")
    burstable = sorted(
        {str(_input(r, "instanceType")) for r in records if r.type in (EC2_INSTANCE, LAUNCH_TEMPLATE)}
        | {str(_input(r, "instanceClass")) for r in records if r.type == RDS_INSTANCE}
    )
    burstable = [name for name in burstable if name.removeprefix("db.").startswith("t")]
    if burstable:
        build.usage(
            f"CPU credits beyond the baseline ({', '.join(burstable)})",
            "vCPU-hour",
            "usage-based, not included: T classes run in unlimited mode and bill sustained use above baseline",
        )
    build.usage("Data transfer out to the internet", "GB", "usage-based, not included")


def _unknown_types(build: _Builder, records: list[ResourceLike]) -> None:
    """A resource type orthweb.ops.billable does not classify is unpriced, never silently free."""
    for token in billable.unclassified(r.type for r in records if not _is_component(r)):
        count = sum(1 for r in records if r.type == token)
        build.add(f"{token} x {count} (not classified in orthweb/ops/billable.py)", count, "resource", (None, None))


def _is_component(resource: ResourceLike) -> bool:
    # Component resources (orthweb:index:*) only group others; the evaluation marks them not custom.
    return getattr(resource, "custom", True) is False or resource.type.startswith("orthweb:")


# --- the Terraform anchor -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Record:
    type: str
    name: str
    inputs: Mapping[str, Any]
    id: str | None = None


def terraform_anchor(region: str = "us-east-1", *, prices: PriceTable | None = None) -> CostEstimate:
    """orthweb 1.0.1 (Terraform), priced with the same table, for the README comparison.

    That release runs 2 x t3.medium, a Multi-AZ db.t3.small and 4 interface-endpoint ENIs
    (S3 and Secrets Manager endpoints in two AZs); both hosts have public IPv4 addresses (one an
    Elastic IP). Storage sizes of that release are not modelled, so EBS and RDS storage, KMS and
    Secrets Manager are left out here; the figure is the comparable compute-and-network floor.
    """
    anchor = [
        _Record(
            EC2_INSTANCE,
            "primary",
            {"instanceType": "t3.medium", "tags": {ROLE_TAG: PRIMARY}, "rootBlockDevice": {}},
            "i-primary",
        ),
        _Record(
            EC2_INSTANCE,
            "secondary",
            {"instanceType": "t3.medium", "tags": {ROLE_TAG: SECONDARY}, "rootBlockDevice": {}},
            "i-secondary",
        ),
        _Record(EIP, "site", {"instance": "i-primary"}),
        _Record(RDS_INSTANCE, "database", {"instanceClass": "db.t3.small", "multiAz": True}),
        _Record(
            VPC_ENDPOINT,
            "s3",
            {
                "vpcEndpointType": "Interface",
                "serviceName": "com.amazonaws.s3",
                "subnetIds": ["a", "b"],
            },
        ),
        _Record(
            VPC_ENDPOINT,
            "secretsmanager",
            {
                "vpcEndpointType": "Interface",
                "serviceName": "com.amazonaws.secretsmanager",
                "subnetIds": ["a", "b"],
            },
        ),
    ]
    full = estimate(anchor, region, prices=prices)
    modelled = ("EC2 ", "Public IPv4", "RDS PostgreSQL", "Interface endpoint")
    items = tuple(item for item in full.items if item.item.startswith(modelled))
    return CostEstimate(full.region, items, full.hours_per_month, full.sources)
