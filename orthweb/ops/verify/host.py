"""Checks run on the serving host: one read-only shell script, its output cut into sections, and
a parser per section.

The script prints no secret: the database credential is read from the host's secret files into
the environment of a one-off `psql` container (`docker run --rm -e PGPASSWORD ...`), never onto a
command line. Envoy's admin interface listens on 127.0.0.1 *inside* its container, so the script
enters the container's network namespace with `nsenter` and uses the host's curl (the Envoy image
needs no tools for this).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from orthweb.host.layout import APP_DIR, DEPLOYMENT_INFO, ENVOY_ADMIN_PORT, SECRETS_DIR
from orthweb.ops.verify.model import CheckFailed
from orthweb.shared import telemetry
from orthweb.shared.constants import PROJECT

BEGIN = "@@orthweb-verify-begin@@"
END = "@@orthweb-verify-end@@"
SECTIONS = ("deployment", "cloud-init", "compose-ps", "envoy-clusters", "database", "cloudwatch-agent")
# The Envoy clusters of the Orthanc replicas (templates/envoy.yaml.j2 names them from telemetry).
CLUSTERS = (telemetry.HTTP_CLUSTER, telemetry.DICOM_CLUSTER)
# PostgreSQL 17 client (the RDS major version); only used for one read-only query per run.
PSQL_IMAGE = "postgres:17.5-alpine"
PSQL_APP_NAME = "orthweb-verify"
# Tables every Orthanc PostgreSQL index has (plugin 4.0 to 7.x).
ORTHANC_TABLES = frozenset(
    {"resources", "maindicomtags", "dicomidentifiers", "metadata", "attachedfiles", "changes", "globalproperties"}
)
CLOUD_INIT_LOG = "/var/log/cloud-init-output.log"


@dataclass(frozen=True)
class CommandOutput:
    """What the host command returned; `status` is SSM's (Success, Failed, TimedOut, ...)."""

    status: str
    exit_code: int
    stdout: str
    stderr: str = ""
    refusal: str = ""  # set when the command could not run at all

    @classmethod
    def refused(cls, reason: str) -> CommandOutput:
        return cls(status="Undeliverable", exit_code=-1, stdout="", refusal=reason)


class HostRunner(Protocol):
    def run(self, instance_id: str, script: str, timeout: float) -> CommandOutput: ...


@dataclass(frozen=True)
class HostLayout:
    """Where things are on a host (orthweb.host.layout); tests point it at the harness."""

    app_dir: str = APP_DIR
    secrets_dir: str = SECRETS_DIR
    deployment_file: str = DEPLOYMENT_INFO.path
    compose_project: str = PROJECT
    envoy_admin_port: int = ENVOY_ADMIN_PORT
    psql_image: str = PSQL_IMAGE
    cloudwatch_agent_ctl: str = "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"

    @property
    def compose(self) -> str:
        return f"docker compose -p {self.compose_project} -f {self.app_dir}/docker-compose.yml"


_SQL = (
    "SELECT 'self', ssl, coalesce(version, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    "SELECT 'conn', count(*), count(*) FILTER (WHERE s.ssl), coalesce(string_agg(DISTINCT s.version, ','), '') "
    "FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid "
    "WHERE a.datname = current_database() AND a.usename = current_user AND a.pid <> pg_backend_pid() "
    f"AND a.backend_type = 'client backend' AND a.application_name <> '{PSQL_APP_NAME}'",
    "SELECT 'table', table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 2",
)


def psql_arguments() -> list[str]:
    """psql flags and queries: unaligned, tuples only, '|' between fields, one -c per query."""
    arguments = ["psql", "-X", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1"]
    for query in _SQL:
        arguments += ["-c", query]
    return arguments


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def host_script(layout: HostLayout) -> str:
    """The read-only script run on the host; each section's output is framed by BEGIN/END lines."""
    pg_env = ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGSSLMODE", "PGCONNECT_TIMEOUT", "PGAPPNAME")
    psql = " ".join(_quote(a) for a in psql_arguments())
    secret = f"{layout.secrets_dir}/ORTHANC__POSTGRESQL__"
    sections = {
        "deployment": f"cat {layout.deployment_file}",
        "cloud-init": "cloud-init status --long",
        "compose-ps": f"{layout.compose} ps --all --format json",
        "envoy-clusters": (
            f'pid=$(docker inspect -f "{{{{.State.Pid}}}}" "$({layout.compose} ps -q envoy)") && '
            f'nsenter -t "$pid" -n curl -sS --max-time 5 http://127.0.0.1:{layout.envoy_admin_port}/clusters '
            "| grep -E '::(health_flags|hostname)::'"
        ),
        "database": (
            # The secret files hold JSON values (strings quoted): jq -r gives the plain value.
            f"PGHOST=$(jq -r . {secret}HOST) && PGPORT=$(jq -r . {secret}PORT) && "
            f"PGDATABASE=$(jq -r . {secret}DATABASE) && PGUSER=$(jq -r . {secret}USERNAME) && "
            f"PGPASSWORD=$(jq -r . {secret}PASSWORD) && "
            f"export PGHOST PGPORT PGDATABASE PGUSER PGPASSWORD PGSSLMODE=require PGCONNECT_TIMEOUT=10 "
            f"PGAPPNAME={PSQL_APP_NAME} && "
            f"docker run --rm --quiet --network host {' '.join(f'-e {v}' for v in pg_env)} "
            f"{layout.psql_image} {psql}"
        ),
        # JSON with "status": "running" while the agent publishes (telemetry_checks.check_agent).
        "cloudwatch-agent": f"{layout.cloudwatch_agent_ctl} -a status",
    }
    lines = [
        "#!/bin/bash",
        "# orthweb verify: read-only checks; prints no secret.",
        "export LC_ALL=C",
        "umask 077",
    ]
    for name in SECTIONS:
        lines.append(f"echo '{BEGIN} {name}'")
        lines.append(f"( {sections[name]} ) 2>&1")
        lines.append(f'rc=$?; echo; echo "{END} {name} $rc"')
    lines.append("exit 0")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Section:
    name: str
    text: str
    exit_code: int | None  # None: the section did not finish


def split_sections(stdout: str) -> dict[str, Section]:
    found: dict[str, Section] = {}
    current: str | None = None
    buffer: list[str] = []
    for line in stdout.splitlines():
        if line.startswith(BEGIN + " "):
            current, buffer = line[len(BEGIN) + 1 :].strip(), []
        elif line.startswith(END + " ") and current is not None:
            parts = line[len(END) + 1 :].split()
            code = int(parts[1]) if len(parts) > 1 and parts[1].lstrip("-").isdigit() else None
            found[current] = Section(current, "\n".join(buffer).strip("\n"), code)
            current = None
        elif current is not None:
            buffer.append(line)
    if current is not None:  # SSM truncates output at 24,000 characters
        found[current] = Section(current, "\n".join(buffer), None)
    return found


# --- parsers: each returns a one-line detail or raises CheckFailed ------------------------------


@dataclass(frozen=True)
class DeploymentInfo:
    replicas: int
    orthanc_image: str
    envoy_image: str
    host_role: str = ""
    templates_digest: str = ""


def parse_deployment(section: Section) -> DeploymentInfo:
    try:
        info: dict[str, Any] = json.loads(section.text)
        return DeploymentInfo(
            replicas=int(info["orthanc_replicas"]),
            orthanc_image=str(info["orthanc_image"]),
            envoy_image=str(info["envoy_image"]),
            host_role=str(info.get("host_role", "")),
            templates_digest=str(info.get("templates_digest", "")),
        )
    except (ValueError, KeyError, TypeError):
        raise CheckFailed(
            f"{DEPLOYMENT_INFO.path} unreadable: {_first_line(section.text)}",
            f"cloud-init writes it on first boot: see {CLOUD_INIT_LOG}",
        ) from None


def parse_cloud_init(section: Section) -> str:
    """`cloud-init status --long` (22.x and later): `status: done` and no errors."""
    fields: dict[str, str] = {}
    errors: list[str] = []
    in_errors = False
    for line in section.text.splitlines():
        match = re.match(r"^([a-z_]+):\s*(.*)$", line)
        if match:
            fields[match.group(1)] = match.group(2).strip()
            in_errors = match.group(1) == "errors"
            if in_errors and match.group(2).strip() not in ("", "[]"):
                errors.append(match.group(2).strip())
        elif in_errors and line.strip().startswith("-"):
            errors.append(line.strip().lstrip("- ").strip())
    status = fields.get("status")
    hint = f"read {CLOUD_INIT_LOG} and `journalctl -u cloud-final` on the host"
    if status is None:
        raise CheckFailed(f"no cloud-init status ({_first_line(section.text)})", hint)
    if status != "done" or errors:
        shown = f"; errors: {'; '.join(errors)}" if errors else ""
        detail = fields.get("detail", "")
        raise CheckFailed(f"cloud-init status {status}{shown}{f' ({detail})' if detail else ''}", hint)
    return "cloud-init status done, no errors"


def parse_compose_ps(text: str) -> list[dict[str, Any]]:
    """`docker compose ps --format json`: a JSON array (compose < 2.21) or one object per line."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def check_containers(section: Section, deployment: DeploymentInfo) -> str:
    hint_logs = "`docker logs <name>` and `journalctl -u orthweb.service` on the host"
    try:
        containers = parse_compose_ps(section.text)
    except ValueError:
        raise CheckFailed(f"docker compose ps failed: {_first_line(section.text)}", hint_logs) from None
    by_service = {str(c.get("Service")): c for c in containers}
    expected = {"envoy": deployment.envoy_image} | {
        f"orthanc-{i}": deployment.orthanc_image for i in range(1, deployment.replicas + 1)
    }
    problems: list[str] = []
    for service, image in expected.items():
        container = by_service.get(service)
        if container is None:
            problems.append(f"{service} missing")
            continue
        state, health = str(container.get("State", "")), str(container.get("Health", ""))
        if state != "running":
            problems.append(f"{container.get('Name', service)} {state} ({container.get('Status', '')})")
        elif health not in ("", "healthy"):
            problems.append(f"{container.get('Name', service)} {health}")
        if str(container.get("Image", "")) != image:
            problems.append(f"{service} runs {container.get('Image')}, deployed {image}")
    extra = sorted(set(by_service) - set(expected))
    if extra:
        problems.append(f"unexpected services {', '.join(extra)}")
    if problems:
        raise CheckFailed("; ".join(problems), hint_logs)
    healthy = sum(1 for s in expected if by_service[s].get("Health") == "healthy")
    return (
        f"envoy + {deployment.replicas} Orthanc replicas running ({healthy} with a healthy health check), "
        f"images as deployed"
    )


@dataclass
class ClusterHealth:
    hosts: dict[str, str] = field(default_factory=dict)  # address -> health flags
    names: dict[str, str] = field(default_factory=dict)  # address -> hostname (STRICT_DNS)


def parse_envoy_clusters(text: str) -> dict[str, ClusterHealth]:
    """Envoy admin `/clusters` lines `<cluster>::<address>::health_flags::<flags>` (and ::hostname::)."""
    clusters: dict[str, ClusterHealth] = {}
    for line in text.splitlines():
        parts = line.strip().split("::")
        if len(parts) != 4 or parts[2] not in ("health_flags", "hostname"):
            continue
        cluster = clusters.setdefault(parts[0], ClusterHealth())
        (cluster.hosts if parts[2] == "health_flags" else cluster.names)[parts[1]] = parts[3]
    return clusters


def check_envoy(section: Section, replicas: int) -> str:
    clusters = parse_envoy_clusters(section.text)
    hint = (
        "a replica fails Envoy's health check (GET /changes?last, which reads the database): "
        "`docker compose -p orthweb ps` and `docker logs orthweb-orthanc-<i>-1` on the host"
    )
    if not clusters:
        raise CheckFailed(
            f"no answer from Envoy's admin interface: {_first_line(section.text)}",
            f"is the envoy container running? its admin listens on 127.0.0.1:{ENVOY_ADMIN_PORT} in the container",
        )
    summary: list[str] = []
    problems: list[str] = []
    for name in CLUSTERS:
        cluster = clusters.get(name, ClusterHealth())
        healthy = [a for a, flags in cluster.hosts.items() if flags == "healthy"]
        summary.append(f"{name} {len(healthy)}/{replicas} healthy")
        for address, flags in sorted(cluster.hosts.items()):
            if flags != "healthy":
                service = cluster.names.get(address, "")
                label = f"{service} ({address})" if service and not address.startswith(service + ":") else address
                problems.append(f"{name}: {label} {flags}")
        if len(cluster.hosts) < replicas:
            problems.append(f"{name}: Envoy knows {len(cluster.hosts)} of {replicas} replicas")
    if problems:
        raise CheckFailed(f"{', '.join(summary)} ({'; '.join(problems)})", hint)
    return ", ".join(summary)


@dataclass(frozen=True)
class DatabaseFacts:
    own_ssl: bool
    own_version: str
    connections: int
    ssl_connections: int
    versions: str
    tables: frozenset[str]


def parse_database(section: Section) -> DatabaseFacts:
    own_ssl, own_version, connections, ssl_connections, versions = False, "", -1, 0, ""
    tables: set[str] = set()
    for line in section.text.splitlines():
        parts = line.strip().split("|")
        if parts[0] == "self" and len(parts) == 3:
            own_ssl, own_version = parts[1] == "t", parts[2]
        elif parts[0] == "conn" and len(parts) == 4:
            connections, ssl_connections, versions = int(parts[1]), int(parts[2]), parts[3]
        elif parts[0] == "table" and len(parts) == 2:
            tables.add(parts[1])
    if connections < 0:
        raise CheckFailed(
            f"the database query did not run: {_last_lines(section.text)}",
            "the host reaches RDS on 5432 (database security group) with the credential in "
            f"{SECRETS_DIR}/ORTHANC__POSTGRESQL__*; `journalctl -u orthweb.service` shows the boot wait",
        )
    return DatabaseFacts(own_ssl, own_version, connections, ssl_connections, versions, frozenset(tables))


def check_database_tls(facts: DatabaseFacts) -> str:
    if facts.connections == 0:
        raise CheckFailed(
            "no Orthanc connection to the database",
            "Orthanc is not connected: `docker logs orthweb-orthanc-1-1` on the host",
        )
    if facts.ssl_connections != facts.connections:
        raise CheckFailed(
            f"{facts.connections - facts.ssl_connections} of {facts.connections} Orthanc connections without TLS",
            f"set PostgreSQL.EnableSsl in {APP_DIR}/orthanc.json, and rds.force_ssl=1 in the parameter group",
        )
    return (
        f"{facts.connections} Orthanc connections, all TLS ({facts.versions or '?'}); "
        f"this check's own connection: {'TLS ' + facts.own_version if facts.own_ssl else 'plain'}"
    )


def check_database_tables(facts: DatabaseFacts, expected: Iterable[str] = ORTHANC_TABLES) -> str:
    missing = sorted(set(expected) - facts.tables)
    if missing:
        raise CheckFailed(
            f"Orthanc tables missing: {', '.join(missing)} ({len(facts.tables)} tables found)",
            "Orthanc creates them on first start: `docker logs orthweb-orthanc-1-1` on the host",
        )
    return f"{len(facts.tables)} tables, including {', '.join(sorted(expected))}"


def _first_line(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0][:200] if stripped else "no output"


def _last_lines(text: str, count: int = 2) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:])[:300] if lines else "no output"
