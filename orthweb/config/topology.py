"""What the chosen topology asks of the rest of the config (pure: no Pulumi, no config reading).

`failover` runs a primary and a standby; `scale-out` runs an Auto Scaling group behind a Network
Load Balancer. The group's size keys and the Route53 zone only mean something for scale-out, and
the database must have a connection for every Orthanc replica on every host the group may run.
`check_topology` answers with the `Problem` of the first key that does not fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from orthweb.config.problems import Problem
from orthweb.shared.constants import HOST_ROLES, SCALE_OUT
from orthweb.shared.sizing import index_connections_for

# Route53 hosted zone ids: "Z" and upper-case letters and digits, e.g. Z0123456789ABCDEFGHIJ.
HOSTED_ZONE_ID_PATTERN: Final = re.compile(r"^Z[A-Z0-9]{4,31}$")
# The most hosts a group may run (each brings its replicas' database connections).
MAX_GROUP_SIZE: Final = 20
DEFAULT_GROUP_SIZE: Final = 2
DEFAULT_GROUP_MIN_SIZE: Final = 2
DEFAULT_GROUP_MAX_SIZE: Final = 4
ONLY_SCALE_OUT: Final = "only used with topology scale-out (set orthweb:topology to scale-out, or remove it)"


@dataclass(frozen=True)
class GroupSize:
    desired: int = DEFAULT_GROUP_SIZE
    minimum: int = DEFAULT_GROUP_MIN_SIZE
    maximum: int = DEFAULT_GROUP_MAX_SIZE
    cpu_target_percent: int = 0  # 0: a fixed size, no CPU tracking


def database_hosts(topology: str, group: GroupSize) -> int:
    """How many hosts may connect to the database at once: the budget is sized for this many."""
    return group.maximum if topology == SCALE_OUT else len(HOST_ROLES)


def check_topology(
    *,
    topology: str,
    group: GroupSize,
    hosted_zone_id: str | None,
    site_domain: str | None,
    db_instance_class: str,
    replicas_per_host: int,
    secondary_state: str = "running",
) -> Problem | None:
    """The first thing wrong with how the topology, group, zone and database fit together."""
    if topology != SCALE_OUT:
        changed = _changed_group_keys(group)
        if changed:
            key, value = changed[0]
            return Problem(key, value, ONLY_SCALE_OUT)
        if hosted_zone_id:
            return Problem("hostedZoneId", hosted_zone_id, ONLY_SCALE_OUT)
    elif secondary_state != "running":
        # A scaled-out stack has no secondary; a stopped one would be silently ignored.
        return Problem("secondaryState", secondary_state, "only used with topology failover (remove it)")
    elif group.minimum > group.maximum:
        return Problem(
            "deploymentOptions.groupMinSize",
            group.minimum,
            f"at most groupMaxSize ({group.maximum}), the group's ceiling",
        )
    elif not group.minimum <= group.desired <= group.maximum:
        return Problem(
            "deploymentOptions.groupSize",
            group.desired,
            f"between groupMinSize ({group.minimum}) and groupMaxSize ({group.maximum})",
        )
    if hosted_zone_id and not site_domain:
        return Problem("hostedZoneId", hosted_zone_id, "set together with siteDomain, the name to publish in that zone")
    hosts = database_hosts(topology, group)
    try:
        index_connections_for(db_instance_class, replicas_per_host=replicas_per_host, hosts=hosts)
    except ValueError as error:
        if topology == SCALE_OUT:
            return Problem("deploymentOptions.groupMaxSize", group.maximum, str(error))
        return Problem("deploymentOptions.dbInstanceClass", db_instance_class, str(error))
    return None


def _changed_group_keys(group: GroupSize) -> list[tuple[str, int]]:
    default = GroupSize()
    keys = (
        ("deploymentOptions.groupSize", group.desired, default.desired),
        ("deploymentOptions.groupMinSize", group.minimum, default.minimum),
        ("deploymentOptions.groupMaxSize", group.maximum, default.maximum),
        ("deploymentOptions.cpuTargetPercent", group.cpu_target_percent, default.cpu_target_percent),
    )
    return [(key, value) for key, value, unchanged in keys if value != unchanged]
