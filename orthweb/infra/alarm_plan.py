"""Which alarms a stack gets, on which metric, at which threshold, and why (pure, no Pulumi).

The Monitoring component turns each `AlarmRule` into one CloudWatch alarm; README's threshold
table is checked against `ALL_THRESHOLDS`. Dimension values are whatever the caller passes
(plain strings in tests, Pulumi outputs in the program), so this module stays a plain function
of the stack's configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

from orthweb.shared import telemetry
from orthweb.shared.sizing import RDS_CLASS_MEMORY_GIB, rds_max_connections

V = TypeVar("V")

GIB: Final = 1024**3
EC2_NAMESPACE: Final = "AWS/EC2"
RDS_NAMESPACE: Final = "AWS/RDS"
NLB_NAMESPACE: Final = "AWS/NetworkELB"
VPN_NAMESPACE: Final = "AWS/VPN"
SQS_NAMESPACE: Final = "AWS/SQS"
# AWS/VPN TunnelState by VpnId: 1 while a tunnel is up (BGP: established), 0 while down.
VPN_TUNNEL_STATE: Final = "TunnelState"
AT_MOST: Final = "LessThanOrEqualToThreshold"

# CloudWatch's TreatMissingData values.
MISSING: Final = "missing"
BREACHING: Final = "breaching"
NOT_BREACHING: Final = "notBreaching"

ABOVE: Final = "GreaterThanOrEqualToThreshold"
BELOW: Final = "LessThanThreshold"

# Fractions behind the thresholds (README's table explains each one).
DISK_USED_PERCENT: Final = 85.0
MEMORY_USED_PERCENT: Final = 90.0
SERVER_ERRORS_PER_MINUTE: Final = 5.0
CERTIFICATE_DAYS_LEFT: Final = 30.0
DB_CPU_PERCENT: Final = 80.0
DB_CONNECTIONS_FRACTION: Final = 0.8
DB_FREE_MEMORY_FRACTION: Final = 0.1
# RDS storage autoscaling grows the volume when free space falls under 10 %: half of that at
# the initial size means autoscaling reached dbMaxStorageGb or cannot keep up.
DB_FREE_STORAGE_FRACTION: Final = 0.05
DB_FREE_STORAGE_FLOOR_GIB: Final = 1.0


@dataclass(frozen=True)
class AlarmRule(Generic[V]):
    """One CloudWatch alarm: what it watches, when it fires, and what it does."""

    key: str  # names the alarm (`orthweb-<stack>-<key>`) and its Pulumi resource
    summary: str  # the first line an administrator reads in the notification
    namespace: str
    metric: str
    dimensions: Mapping[str, V | str]
    statistic: str
    period_seconds: int
    evaluation_periods: int
    comparison: str
    threshold: float
    treat_missing_data: str
    # EC2 auto-recovery: move the instance to healthy hardware, keeping its id and addresses.
    recover_instance: bool = False
    why: str = field(default="", compare=False)

    @property
    def window_minutes(self) -> int:
        return self.period_seconds * self.evaluation_periods // 60


@dataclass(frozen=True)
class HostToWatch(Generic[V]):
    role: str  # the Host dimension the host's agent publishes with (primary, secondary, member)
    # None for the scale-out group's hosts: they come and go, and the group replaces a failed one.
    instance_id: V | None
    # A host that should be serving: silence from it is an incident, not a stopped spare.
    expected_running: bool

    @property
    def shares_series(self) -> bool:
        """The group's hosts all publish under one Host value, so each series holds every host's samples."""
        return self.instance_id is None


def _statistic(host: HostToWatch[V], comparison: str, *, one_host: str) -> str:
    """`one_host` on a host's own series; on a series the group shares, the statistic that breaches
    as soon as one host does and never because healthy hosts add up (Maximum for "too high",
    Minimum for "too low")."""
    if not host.shares_series:
        return one_host
    return "Maximum" if comparison == ABOVE else "Minimum"


def host_rules(host: HostToWatch[V], *, stack: str, replicas: int, recover: bool) -> list[AlarmRule[V]]:
    """Status check (with auto-recovery), replicas, 5xx, disk, memory and certificate of one host
    (or of every host of the scale-out group, which all publish with the same Host dimension)."""
    status = [] if host.instance_id is None else [_status_check(host, host.instance_id, recover=recover)]
    return [
        *status,
        _replicas_down(host, stack=stack, replicas=replicas),
        _server_errors(host, stack=stack),
        _disk_full(host, stack=stack),
        _memory_high(host, stack=stack),
        _certificate_expiring(host, stack=stack),
    ]


def _on_host(host: HostToWatch[V], **extra: str) -> dict[str, V | str]:
    return {telemetry.HOST_DIMENSION: host.role, **extra}


def _status_check(host: HostToWatch[V], instance_id: V, *, recover: bool) -> AlarmRule[V]:
    return AlarmRule(
        key=f"{host.role}-status-check",
        # Monitoring adds what follows: EC2's recovery, or what to do where the type has none.
        summary=f"{host.role} host failed its EC2 system status check",
        namespace=EC2_NAMESPACE,
        metric="StatusCheckFailed_System",
        dimensions={"InstanceId": instance_id},
        statistic="Maximum",
        period_seconds=60,
        evaluation_periods=2,
        comparison=ABOVE,
        threshold=1.0,
        treat_missing_data=MISSING,
        recover_instance=recover,
        why="AWS's recommended recovery alarm; recovery keeps the instance id, private address and Elastic IP",
    )


def _replicas_down(host: HostToWatch[V], *, stack: str, replicas: int) -> AlarmRule[V]:
    return AlarmRule(
        key=f"{host.role}-replicas-down",
        summary=f"{host.role} host: fewer than {replicas} Orthanc replicas pass Envoy's health check",
        namespace=telemetry.metric_namespace(stack),
        metric=telemetry.HEALTHY_REPLICAS.name,
        dimensions=_on_host(host, envoy_cluster_name=telemetry.HTTP_CLUSTER),
        # The lowest sample of the minute: with several hosts on one series, any short host counts.
        statistic=_statistic(host, BELOW, one_host="Minimum"),
        period_seconds=60,
        evaluation_periods=5,
        comparison=BELOW,
        threshold=float(replicas),
        # No data from a host that should serve means Envoy or the agent is down.
        treat_missing_data=BREACHING if host.expected_running else NOT_BREACHING,
        why="a replica restarts in seconds (Envoy checks every 3 s); five minutes short means it is not "
        "coming back. No data from a host that should run counts as down",
    )


def _server_errors(host: HostToWatch[V], *, stack: str) -> AlarmRule[V]:
    return AlarmRule(
        key=f"{host.role}-server-errors",
        summary=f"{host.role} host: HTTPS answers 5xx every minute",
        namespace=telemetry.metric_namespace(stack),
        metric=telemetry.SERVER_ERRORS.name,
        dimensions=_on_host(host, envoy_response_code_class="5"),
        # A host's 5xx of the minute (its samples are per-scrape counts); on the group's series, the worst host's.
        statistic=_statistic(host, ABOVE, one_host="Sum"),
        period_seconds=60,
        evaluation_periods=5,
        comparison=ABOVE,
        threshold=SERVER_ERRORS_PER_MINUTE,
        treat_missing_data=NOT_BREACHING,
        why="one failed request is not an incident; five or more in each of five consecutive minutes is",
    )


def _disk_full(host: HostToWatch[V], *, stack: str) -> AlarmRule[V]:
    return AlarmRule(
        key=f"{host.role}-disk-full",
        summary=f"{host.role} host: root volume {DISK_USED_PERCENT:.0f}% full",
        namespace=telemetry.metric_namespace(stack),
        metric=telemetry.ROOT_DISK_USED.name,
        dimensions=_on_host(host, **telemetry.ROOT_DISK_USED.dimensions),
        statistic=_statistic(host, ABOVE, one_host="Maximum"),
        period_seconds=300,
        evaluation_periods=3,
        comparison=ABOVE,
        threshold=DISK_USED_PERCENT,
        treat_missing_data=MISSING,
        why="images, container logs and Orthanc's temporary files share the root volume; 15% left is time "
        "to grow it before Docker cannot write",
    )


def _memory_high(host: HostToWatch[V], *, stack: str) -> AlarmRule[V]:
    return AlarmRule(
        key=f"{host.role}-memory-high",
        summary=f"{host.role} host: memory {MEMORY_USED_PERCENT:.0f}% used for 15 minutes",
        namespace=telemetry.metric_namespace(stack),
        metric=telemetry.MEMORY_USED.name,
        dimensions=_on_host(host),
        # Sustained on one host (a 5-minute average); on the group's series, the fullest host.
        statistic=_statistic(host, ABOVE, one_host="Average"),
        period_seconds=300,
        evaluation_periods=3,
        comparison=ABOVE,
        threshold=MEMORY_USED_PERCENT,
        treat_missing_data=MISSING,
        why="sustained, not a spike: above it the kernel starts killing Orthanc replicas",
    )


def _certificate_expiring(host: HostToWatch[V], *, stack: str) -> AlarmRule[V]:
    return AlarmRule(
        key=f"{host.role}-certificate-expiring",
        summary=f"{host.role} host serves a certificate that expires within {CERTIFICATE_DAYS_LEFT:.0f} days",
        namespace=telemetry.metric_namespace(stack),
        metric=telemetry.CERTIFICATE_DAYS.name,
        dimensions=_on_host(host),
        statistic=_statistic(host, BELOW, one_host="Minimum"),
        period_seconds=3600,
        evaluation_periods=1,
        comparison=BELOW,
        threshold=CERTIFICATE_DAYS_LEFT,
        treat_missing_data=NOT_BREACHING,
        why="Envoy counts the days left on the certificate it actually serves; a month is time to renew",
    )


def database_rules(db_identifier: V, *, instance_class: str, storage_gb: int) -> list[AlarmRule[V]]:
    """CPU, free storage, freeable memory and connections of the RDS instance."""
    on_db: dict[str, V | str] = {"DBInstanceIdentifier": db_identifier}
    free_storage_gib = max(DB_FREE_STORAGE_FLOOR_GIB, storage_gb * DB_FREE_STORAGE_FRACTION)
    connections = float(int(rds_max_connections(instance_class) * DB_CONNECTIONS_FRACTION))
    free_memory = RDS_CLASS_MEMORY_GIB[instance_class] * GIB * DB_FREE_MEMORY_FRACTION

    def rds(
        key: str, summary: str, metric: str, statistic: str, periods: int, comparison: str, threshold: float, why: str
    ) -> AlarmRule[V]:
        return AlarmRule(
            key=key,
            summary=summary,
            namespace=RDS_NAMESPACE,
            metric=metric,
            dimensions=on_db,
            statistic=statistic,
            period_seconds=300,
            evaluation_periods=periods,
            comparison=comparison,
            threshold=threshold,
            treat_missing_data=MISSING,
            why=why,
        )

    return [
        rds("database-cpu-high", f"database CPU above {DB_CPU_PERCENT:.0f}% for 15 minutes", "CPUUtilization",
            "Average", 3, ABOVE, DB_CPU_PERCENT,
            "burstable classes run out of CPU credits under sustained load, and every query slows"),
        rds("database-storage-low", f"database has less than {free_storage_gib:g} GiB free", "FreeStorageSpace",
            "Minimum", 2, BELOW, free_storage_gib * GIB,
            "storage autoscaling adds space at 10% free; half of that at the initial size means it reached "
            "dbMaxStorageGb or cannot keep up"),
        rds("database-memory-low", f"database freeable memory under {DB_FREE_MEMORY_FRACTION:.0%} of "
            f"{instance_class}", "FreeableMemory", "Average", 3, BELOW, free_memory,
            "below a tenth of the class's memory PostgreSQL's caches shrink and the instance swaps"),
        rds("database-connections-high", f"database connections near the limit of {instance_class}",
            "DatabaseConnections", "Maximum", 2, ABOVE, connections,
            "Orthanc's pools hold a fixed number of connections; 80% of the class's (conservatively estimated) "
            "max_connections means something else holds them and new ones will soon be refused"),
    ]  # fmt: skip


def load_balancer_rules(load_balancer: V, target_groups: Mapping[str, V]) -> list[AlarmRule[V]]:
    """Unhealthy targets behind the Network Load Balancer, one alarm per target group (scale-out)."""
    return [
        AlarmRule(
            key=f"nlb-{listener}-unhealthy-hosts",
            summary=f"load balancer: a host fails the {listener} health check",
            namespace=NLB_NAMESPACE,
            metric="UnHealthyHostCount",
            dimensions={"LoadBalancer": load_balancer, "TargetGroup": target_group},
            statistic="Maximum",
            period_seconds=60,
            evaluation_periods=3,
            comparison=ABOVE,
            threshold=1.0,
            treat_missing_data=NOT_BREACHING,
            why="the group replaces a host that stays unhealthy; three minutes tells the administrator first",
        )
        for listener, target_group in sorted(target_groups.items())
    ]


def vpn_rules(vpn_id: V) -> list[AlarmRule[V]]:
    """The hospital's VPN: both tunnels down for five minutes (hospitalNetwork)."""
    return [
        AlarmRule(
            key="vpn-tunnels-down",
            summary="VPN to the hospital: both tunnels down for 5 minutes; modalities without TLS cannot send",
            namespace=VPN_NAMESPACE,
            metric=VPN_TUNNEL_STATE,
            dimensions={"VpnId": vpn_id},
            # The larger of the two tunnels' states: 0 only while neither is up.
            statistic="Maximum",
            period_seconds=300,
            evaluation_periods=1,
            comparison=AT_MOST,
            threshold=0.0,
            treat_missing_data=BREACHING,
            why="one tunnel down is AWS maintenance or a device glitch and the other carries the traffic; "
            "with both down for five minutes the plain-DICOM path is gone",
        )
    ]


def audit_rules(stack: str) -> list[AlarmRule[Any]]:
    """Audit lines the copy function could not write into the audit group (orthweb.infra.audit_log_group)."""
    return [
        AlarmRule(
            key="audit-copy-failed",
            summary="Audit lines not copied into the audit log group: a failed batch waits in the dead-letter "
            "queue (README, Audit trail)",
            namespace=SQS_NAMESPACE,
            metric="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": telemetry.audit_copy_failed_queue_name(stack)},
            statistic="Maximum",
            period_seconds=300,
            evaluation_periods=1,
            comparison=ABOVE,
            threshold=1.0,
            # SQS publishes nothing for an idle queue: no message, nothing to say.
            treat_missing_data=NOT_BREACHING,
            why="Lambda has already retried the batch twice; its lines are in neither the audit group "
            "nor the audit bucket until someone replays it",
        )
    ]


def stack_rules(
    *,
    stack: str,
    hosts: list[HostToWatch[V]],
    replicas: int,
    recover_hosts: bool,
    db_identifier: V,
    db_instance_class: str,
    db_storage_gb: int,
    load_balancer: tuple[V, Mapping[str, V]] | None = None,
    vpn_id: V | None = None,
) -> list[AlarmRule[V]]:
    """Every alarm of a stack, in a stable order; keys are unique."""
    rules = [rule for host in hosts for rule in host_rules(host, stack=stack, replicas=replicas, recover=recover_hosts)]
    rules += database_rules(db_identifier, instance_class=db_instance_class, storage_gb=db_storage_gb)
    if load_balancer is not None:
        rules += load_balancer_rules(*load_balancer)
    if vpn_id is not None:
        rules += vpn_rules(vpn_id)
    rules += audit_rules(stack)
    keys = [rule.key for rule in rules]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"alarm keys must be unique, repeated: {', '.join(duplicates)}")
    return rules
