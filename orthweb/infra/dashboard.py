"""The stack's CloudWatch dashboard body: what an on-call administrator looks at first (pure, no Pulumi).

Rows, top to bottom: the alarms; traffic and errors; replica health and DICOM associations; the
database; the hosts. Every graph reads a metric an alarm watches or the hosts publish, so nothing
on the dashboard adds a custom metric of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from orthweb.infra.alarm_plan import EC2_NAMESPACE, RDS_NAMESPACE, VPN_NAMESPACE, VPN_TUNNEL_STATE
from orthweb.shared import telemetry
from orthweb.shared.constants import aws_name

WIDTH: Final = 24  # CloudWatch's dashboard grid is 24 units wide
GRAPH_HEIGHT: Final = 6


@dataclass(frozen=True)
class DashboardInputs:
    stack: str
    region: str
    # Host role -> EC2 instance id, for the EC2 graphs (the scale-out group's hosts have none).
    instance_ids: Mapping[str, str]
    db_identifier: str
    replicas: int
    alarm_arns: Sequence[str]
    # The Host dimension values the hosts publish with (their roles).
    roles: Sequence[str] = ()
    # The scale-out group's name: EC2 aggregates its instances' metrics under it.
    group_name: str | None = None
    # The hospital's VPN connection (hospitalNetwork): its tunnels' state.
    vpn_id: str | None = None


def dashboard_name(stack: str) -> str:
    """Dashboard names allow letters, digits, '-' and '_' only."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", aws_name(stack))


def dashboard_body(inputs: DashboardInputs) -> str:
    namespace = telemetry.metric_namespace(inputs.stack)
    roles = list(inputs.roles or inputs.instance_ids)
    graphs = [
        _graph("HTTPS requests per minute", inputs, "Sum", _per_host(namespace, telemetry.REQUESTS.name, roles)),
        _graph(
            "HTTPS 5xx responses per minute",
            inputs,
            "Sum",
            _per_host(namespace, telemetry.SERVER_ERRORS.name, roles, envoy_response_code_class="5"),
        ),
        _graph(
            "Healthy Orthanc replicas",
            inputs,
            "Minimum",
            [
                line
                for cluster in (telemetry.HTTP_CLUSTER, telemetry.DICOM_CLUSTER)
                for line in _per_host(
                    namespace, telemetry.HEALTHY_REPLICAS.name, roles, suffix=cluster, envoy_cluster_name=cluster
                )
            ],
            floor={"value": inputs.replicas, "label": "configured replicas"},
        ),
        _graph(
            "Open DICOM associations",
            inputs,
            "Maximum",
            _per_host(namespace, telemetry.DICOM_CONNECTIONS.name, roles, envoy_cluster_name=telemetry.DICOM_CLUSTER),
        ),
        *_database_graphs(inputs),
        *_host_graphs(inputs, namespace),
        _graph(
            "Stored DICOM instances", inputs, "Maximum", _per_host(namespace, telemetry.STORED_INSTANCES.name, roles)
        ),
        *_vpn_graphs(inputs),
    ]
    widgets = [_alarm_widget(inputs.alarm_arns), *_laid_out(graphs, top=3)]
    return json.dumps({"widgets": widgets}, sort_keys=True)


def _per_host(
    namespace: str, metric: str, roles: Sequence[str], *, suffix: str = "", **dimensions: str
) -> list[list[Any]]:
    """One line per host; the legend shows the host's role (and `suffix`)."""
    lines: list[list[Any]] = []
    for role in roles:
        pairs = [item for pair in {telemetry.HOST_DIMENSION: role, **dimensions}.items() for item in pair]
        lines.append([namespace, metric, *pairs, {"label": f"{role} {suffix}".strip()}])
    return lines


def _vpn_graphs(inputs: DashboardInputs) -> list[dict[str, Any]]:
    if inputs.vpn_id is None:
        return []
    state = [VPN_NAMESPACE, VPN_TUNNEL_STATE, "VpnId", inputs.vpn_id]
    return [
        _graph(
            "VPN to the hospital: tunnels up (1 both, 0.5 one, 0 none)",
            inputs,
            "Average",
            [[*state, {"label": "tunnels up"}]],
        )
    ]


def _database_graphs(inputs: DashboardInputs) -> list[dict[str, Any]]:
    on_db = ["DBInstanceIdentifier", inputs.db_identifier]
    return [
        _graph("Database CPU %", inputs, "Average", [[RDS_NAMESPACE, "CPUUtilization", *on_db]]),
        _graph("Database connections", inputs, "Maximum", [[RDS_NAMESPACE, "DatabaseConnections", *on_db]]),
        _graph(
            "Database free storage and memory (bytes)",
            inputs,
            "Minimum",
            [[RDS_NAMESPACE, "FreeStorageSpace", *on_db], [RDS_NAMESPACE, "FreeableMemory", *on_db]],
        ),
    ]


def _host_graphs(inputs: DashboardInputs, namespace: str) -> list[dict[str, Any]]:
    roles = list(inputs.roles or inputs.instance_ids)
    cpu = [
        [EC2_NAMESPACE, "CPUUtilization", "InstanceId", iid, {"label": role}]
        for role, iid in inputs.instance_ids.items()
    ]
    if inputs.group_name is not None:
        # The group's hosts come and go: EC2's aggregate over the group, its average and busiest host.
        on_group = [EC2_NAMESPACE, "CPUUtilization", "AutoScalingGroupName", inputs.group_name]
        cpu += [[*on_group, {"label": "group average"}], [*on_group, {"label": "busiest host", "stat": "Maximum"}]]
    disk = _per_host(namespace, telemetry.ROOT_DISK_USED.name, roles, **telemetry.ROOT_DISK_USED.dimensions)
    return [
        _graph("Host CPU %", inputs, "Average", cpu),
        _graph("Host memory used %", inputs, "Average", _per_host(namespace, telemetry.MEMORY_USED.name, roles)),
        _graph("Host root volume used %", inputs, "Maximum", disk),
    ]


def _graph(
    title: str,
    inputs: DashboardInputs,
    stat: str,
    metrics: list[list[Any]],
    *,
    floor: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "title": title,
        "region": inputs.region,
        "view": "timeSeries",
        "stacked": False,
        "stat": stat,
        "period": 60,
        "metrics": metrics,
        "yAxis": {"left": {"min": 0}},
    }
    if floor is not None:
        properties["annotations"] = {"horizontal": [dict(floor)]}
    return {"type": "metric", "properties": properties}


def _alarm_widget(alarm_arns: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "alarm",
        "x": 0,
        "y": 0,
        "width": WIDTH,
        "height": 3,
        # Alarms in ALARM first, then the most recently changed.
        "properties": {"title": "Alarms", "alarms": sorted(alarm_arns), "sortBy": "stateUpdatedTimestamp"},
    }


def _laid_out(graphs: list[dict[str, Any]], *, top: int) -> list[dict[str, Any]]:
    """Three graphs per row under the alarm strip."""
    width = WIDTH // 3
    placed = []
    for index, graph in enumerate(graphs):
        row, column = divmod(index, 3)
        placed.append(
            {**graph, "x": column * width, "y": top + row * GRAPH_HEIGHT, "width": width, "height": GRAPH_HEIGHT}
        )
    return placed
