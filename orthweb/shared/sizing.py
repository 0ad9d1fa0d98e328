"""Capacity arithmetic shared by the config checks and the host application (pure, no imports).

RDS PostgreSQL's `max_connections` follows from the DB class's memory; every Orthanc replica on
every host must fit into it.
"""

from __future__ import annotations

from typing import Final

_GIB: Final = 1024**3
# Nominal memory (GiB) of the RDS classes we expect; add a class here before using it.
RDS_CLASS_MEMORY_GIB: Final[dict[str, float]] = {
    "db.t3.micro": 1,
    "db.t3.small": 2,
    "db.t3.medium": 4,
    "db.t3.large": 8,
    "db.t3.xlarge": 16,
    "db.t4g.micro": 1,
    "db.t4g.small": 2,
    "db.t4g.medium": 4,
    "db.t4g.large": 8,
    "db.t4g.xlarge": 16,
    "db.m6g.large": 8,
    "db.m6g.xlarge": 16,
    "db.m6g.2xlarge": 32,
    "db.m7g.large": 8,
    "db.m7g.xlarge": 16,
    "db.m7g.2xlarge": 32,
    "db.r6g.large": 16,
    "db.r6g.xlarge": 32,
    "db.r6g.2xlarge": 64,
}
# RDS PostgreSQL default: max_connections = LEAST({DBInstanceClassMemory/9531392}, 5000).
_BYTES_PER_CONNECTION: Final = 9531392
_MAX_CONNECTIONS_CAP: Final = 5000
# DBInstanceClassMemory is the nominal memory less what the OS and RDS keep; 3/4 of nominal
# lands at or below the values observed on small classes (db.t3.micro reports ~80).
_CLASS_MEMORY_FRACTION: Final = 0.75
# Superuser slots, RDS's own monitoring sessions and an operator's psql.
RESERVED_CONNECTIONS: Final = 10
# Measured with the runtime harness (docs/benchmarks.md): 5 connections per replica ingest as
# fast as 25 (1.04x), and after a database restart a replica is back in rotation after
# IndexConnectionsCount + 3 failed requests (8 at 5, 28 at 25: ~24 s instead of ~75 s of
# health checks). Not 1: plugin >= 7 in the image runs transactions in parallel.
MAX_CONNECTIONS_PER_REPLICA: Final = 5


def rds_max_connections(db_instance_class: str) -> int:
    """Conservative estimate of RDS PostgreSQL's default `max_connections` for a class."""
    try:
        gib = RDS_CLASS_MEMORY_GIB[db_instance_class]
    except KeyError:
        known = ", ".join(sorted(RDS_CLASS_MEMORY_GIB))
        raise ValueError(
            f"unknown RDS instance class {db_instance_class!r}: add its memory to "
            f"RDS_CLASS_MEMORY_GIB in orthweb/shared/sizing.py (known: {known})"
        ) from None
    usable = int(gib * _GIB * _CLASS_MEMORY_FRACTION)
    return min(usable // _BYTES_PER_CONNECTION, _MAX_CONNECTIONS_CAP)


def index_connections_for(db_instance_class: str, *, replicas_per_host: int, hosts: int = 2) -> int:
    """Orthanc's `IndexConnectionsCount` so that every replica on every host fits the database.

    Each replica also keeps one spare connection for the plugin's housekeeping, hence the +1.
    Raises ValueError when even one connection per replica does not fit.
    """
    if replicas_per_host < 1 or hosts < 1:
        raise ValueError("replicas_per_host and hosts must be at least 1")
    available = rds_max_connections(db_instance_class) - RESERVED_CONNECTIONS
    per_replica = available // (replicas_per_host * hosts) - 1
    if per_replica < 1:
        needed = hosts * replicas_per_host * 2
        raise ValueError(
            f"RDS class {db_instance_class!r} allows about {available} connections for Orthanc: "
            f"too few for {replicas_per_host} replicas on {hosts} hosts, which need at least "
            f"{hosts} hosts x {replicas_per_host} replicas x 2 connections (one for the index, one "
            f"spare) = {needed}; pick a larger class, fewer replicas or fewer hosts"
        )
    return min(per_replica, MAX_CONNECTIONS_PER_REPLICA)


# Memory a host must have: the OS, Docker and the CloudWatch agent, Envoy, then each Orthanc
# replica with its PostgreSQL and S3 plugins and a working set for a study in transit.
HOST_RESERVED_MIB: Final = 512
ENVOY_MIB: Final = 128
ORTHANC_REPLICA_MIB: Final = 400


def host_memory_reason(instance_type: str, memory_gib: float | None, replicas: int) -> str | None:
    """Why `replicas` Orthanc containers do not fit the instance type's memory, or None.

    `memory_gib` is the type's nominal memory; None (a type whose name does not tell) passes.
    """
    if memory_gib is None:
        return None
    needed = HOST_RESERVED_MIB + ENVOY_MIB + replicas * ORTHANC_REPLICA_MIB
    available = int(memory_gib * 1024)
    if needed <= available:
        return None
    fits = max(0, (available - HOST_RESERVED_MIB - ENVOY_MIB) // ORTHANC_REPLICA_MIB)
    return (
        f"{replicas} replicas need about {needed} MiB ({ORTHANC_REPLICA_MIB} each, {ENVOY_MIB} for Envoy, "
        f"{HOST_RESERVED_MIB} for the system) but {instance_type} has {available} MiB; "
        + (f"use at most {fits} replicas or a larger instance type" if fits else "use a larger instance type")
    )
