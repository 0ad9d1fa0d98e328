"""What each host reports to CloudWatch, named once for the alarms, the dashboard, the host agent and verify.

Pure module (it imports only `orthweb.shared.constants`): the Pulumi components create log groups and
alarms on these names, the host layer renders the CloudWatch agent and Docker logging from them,
and the operator tools look for them in a deployed account. A name that differs between the
sender and the alarm would fail silently in AWS, so there is exactly one place to spell it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Final

from orthweb.shared.constants import DICOMWEB_ROOT, PROJECT

# --- logs --------------------------------------------------------------------------------------

# Container logs (Docker's awslogs driver), one group per component and stack.
ENVOY_LOGS: Final = "envoy"
ORTHANC_LOGS: Final = "orthanc"
# The CloudWatch agent writes scraped Prometheus samples here as embedded-metric-format events;
# CloudWatch turns them into the metrics below.
METRIC_EVENTS_LOGS: Final = "metrics"
LOG_COMPONENTS: Final = (ENVOY_LOGS, ORTHANC_LOGS, METRIC_EVENTS_LOGS)
# The audit lines of both, copied as they arrive and kept `auditRetentionDays` (not a host's group:
# no host writes to it).
AUDIT_LOGS: Final = "audit"
STACK_LOG_GROUPS: Final = (*LOG_COMPONENTS, AUDIT_LOGS)

# Retention values CloudWatch Logs accepts (PutRetentionPolicy); any other number is refused.
LOG_RETENTION_DAYS: Final = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip


# The fields of Envoy's access log lines (templates/envoy.yaml.j2 renders exactly these): an HTTPS
# request's path never carries its query string (QIDO-RS queries name patients), and no header but
# the request id is logged.
# Who asked, for the audit trail: `source` is the TCP peer (never X-Forwarded-For); the others come
# only from the token Envoy verified (sign-in), through the AUDIT_METADATA namespace.
IDENTITY_FIELDS: Final = ("auth", "subject", "user", "groups", "client")
HTTP_ACCESS_LOG_FIELDS: Final = (
    "time", "method", "path", "status", "bytes_sent", "bytes_received", "duration_ms", "upstream", "request_id",
    "source", *IDENTITY_FIELDS, "studies", "stored",
)  # fmt: skip
# One line per DICOM association (a TCP connection through Envoy): who, how long, how much.
# `client_certificate`: the URI of the modality's certificate (dicomClientCertificates), else "-".
DICOM_CONNECTION_LOG_FIELDS: Final = (
    "time",
    "peer",
    "client_certificate",
    "duration_ms",
    "bytes_sent",
    "bytes_received",
    "upstream",
)


# --- the audit trail --------------------------------------------------------------------------

# Envoy's dynamic metadata namespace the sign-in filter writes the verified identity into.
AUDIT_METADATA: Final = "orthweb.audit"
# Each identity field and the access token claims it is taken from, first present wins (Cognito
# access tokens carry `username`; a machine client's token has no user, its `sub` is the client).
IDENTITY_CLAIMS: Final = {
    "subject": ("sub",),
    "user": ("username", "email"),
    "groups": ("cognito:groups",),
    "client": ("client_id",),
}
# `auth`: a token Envoy verified, or basic authentication's one shared credential (nobody in
# particular: such lines are not attributable to a person). Absent: no verified identity.
AUTH_TOKEN: Final = "token"
AUTH_SHARED_CREDENTIAL: Final = "shared-credential"
# Orthanc's audit lines: its Lua `print` writes "Lua says: " and then this mark and one JSON object.
AUDIT_MARK: Final = "orthweb-audit"
# The events Orthanc's Lua callbacks record, and the fields each line may carry (UIDs, never names).
AUDIT_EVENT_HTTP: Final = "http"  # a request naming a resource, with the request id Envoy gave it
AUDIT_EVENT_STORED: Final = "stored"  # an instance stored (REST upload, STOW-RS, C-STORE)
AUDIT_EVENT_FIND: Final = "c-find"  # a DICOM query
AUDIT_EVENTS: Final = (AUDIT_EVENT_HTTP, AUDIT_EVENT_STORED, AUDIT_EVENT_FIND)
AUDIT_UID_FIELDS: Final = ("study", "series", "instance")
# Envoy's own references to what a request touched, comma-separated: the study UIDs a WADO-URI
# query, a STOW-RS answer or a search answer names, and the Orthanc ids of the instances a REST upload stored.
AUDIT_REFERENCE_FIELDS: Final = ("studies", "stored")
# How much of an upload's answer Envoy carries from one chunk to the next (longer than any name).
AUDIT_CARRY_BYTES: Final = 200
# Searches whose answers Envoy reads for the studies they return (QIDO-RS at the three levels, and
# Orthanc's own /tools/find): (method, path). A search inside one study names it in its path already.
AUDIT_SEARCHES: Final = (
    ("GET", f"{DICOMWEB_ROOT}studies"),
    ("GET", f"{DICOMWEB_ROOT}series"),
    ("GET", f"{DICOMWEB_ROOT}instances"),
    ("POST", "/tools/find"),
)
# How many studies a search answer's line names at most (the first ones; a line stays short).
AUDIT_SEARCH_STUDIES: Final = 100
# How many Orthanc ids each replica keeps resolved to UIDs (ids never change; a full cache starts over).
AUDIT_CACHE_ENTRIES: Final = 10000
AUDIT_LINE_FIELDS: Final = (
    "event", "request_id", "orthanc_id", "level", *AUDIT_UID_FIELDS, "origin", "remote_aet", "called_aet",
    "remote_ip",
)  # fmt: skip


# Orthanc's audit lines carry the stack's seal after the mark: 20 lowercase letters and digits drawn
# once per stack (the `orthweb-audit-seal` resource), written into the hosts' Lua filter and into the
# Orthanc group's subscription filter, and nowhere a client can read. Orthanc writes some messages
# with text a client sent; a newline in such text would start a new log line that could look like
# an audit line. Without the seal it is not copied into the audit group.
AUDIT_SEAL_LENGTH: Final = 20
AUDIT_SEAL: Final = re.compile(rf"^[a-z0-9]{{{AUDIT_SEAL_LENGTH}}}$")

# Orthanc's log line for a Lua print (orthanc-server/orthanc 1.12, OrthancFramework/Sources/Logging.cpp
# GetLinePrefix: level, date, time, an optional 16-character thread name, file:line), then the mark
# and a seal. A regex in both Python and Logs Insights (no "/" in it): only Orthanc's Lua prints match it.
ORTHANC_AUDIT_PREFIX: Final = (
    r"^W\d{4} \d\d:\d\d:\d\d\.\d{6} (?:.{16} )?LuaContext\.cpp:\d+\] Lua says: "
    + AUDIT_MARK
    + rf" [a-z0-9]{{{AUDIT_SEAL_LENGTH}}} \{{"
)
_ORTHANC_AUDIT_LINE: Final = re.compile(
    ORTHANC_AUDIT_PREFIX[: -len(rf"[a-z0-9]{{{AUDIT_SEAL_LENGTH}}} \{{")]
    + rf"(?P<seal>[a-z0-9]{{{AUDIT_SEAL_LENGTH}}}) (?P<event>\{{.*\}})$"
)

# Envoy's access lines of HTTPS requests and DICOM associations, as a CloudWatch Logs JSON filter pattern.
ENVOY_AUDIT_PATTERN: Final = "{ ($.method = *) || ($.peer = *) }"


def audit_line_patterns(seal: str) -> dict[str, str]:
    """The CloudWatch Logs filter patterns that pick each group's audit lines for the audit group
    (CloudWatch Logs User Guide, "Filter pattern syntax"): Envoy's as a JSON pattern; Orthanc's, as
    ORTHANC_AUDIT_PREFIX with this stack's seal in the regex dialect of filter patterns, between %
    signs, which knows no parentheses and no space (`.` stands for a space Orthanc wrote and for the
    "]" after the line number, `.{0,17}` for the optional thread name and its space; no backslash,
    so the pattern reads the same in JSON)."""
    if not AUDIT_SEAL.match(seal):
        raise ValueError(f"an audit seal is {AUDIT_SEAL_LENGTH} lowercase letters and digits")
    return {
        ENVOY_LOGS: ENVOY_AUDIT_PATTERN,
        ORTHANC_LOGS: (
            "%^W[0-9]{4}.[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{6}..{0,17}LuaContext[.]cpp:[0-9]+..Lua.says:."
            + AUDIT_MARK
            + "."
            + seal
            + ".[{]%"
        ),
    }


def orthanc_audit_event(line: str, seal: str | None = None) -> dict[str, Any] | None:
    """The event of one of Orthanc's audit lines (with `seal`: only one sealed with it), else None
    (any other line, whatever it contains)."""
    match = _ORTHANC_AUDIT_LINE.match(line.rstrip("\r\n"))
    if match is None or (seal is not None and match.group("seal") != seal):
        return None
    event = json.loads(match.group("event"))
    return event if isinstance(event, dict) else None


def log_group_name(stack: str, component: str) -> str:
    """`/orthweb/<stack>/<component>`: the log group a host writes a component's lines to."""
    if component not in STACK_LOG_GROUPS:
        raise ValueError(f"unknown log component {component!r}; known: {', '.join(STACK_LOG_GROUPS)}")
    return f"/{PROJECT}/{stack}/{component}"


def audit_copy_function_name(stack: str) -> str:
    """The Lambda function that copies the audit lines into the audit group."""
    return f"{PROJECT}-{stack}-audit-copy"


def audit_copy_failed_queue_name(stack: str) -> str:
    """The dead-letter queue of the batches the copy function could not write (an alarm watches it)."""
    return f"{PROJECT}-{stack}-audit-copy-failed"


def lambda_log_group_name(function_name: str) -> str:
    """Where Lambda writes a function's own log (its default group, created by the stack)."""
    return f"/aws/lambda/{function_name}"


def audit_log_retention_days(audit_retention_days: int, log_retention_days: int) -> int:
    """The audit group's retention: the shortest CloudWatch Logs accepts that keeps a line at least
    `audit_retention_days`, and never less than the hosts' groups keep it (so no line leaves the
    audit group first); 0 (never expire) past the longest, ten years."""
    wanted = max(audit_retention_days, log_retention_days)
    return next((days for days in LOG_RETENTION_DAYS if days >= wanted), 0)


def rds_log_group_name(db_identifier: str, export: str) -> str:
    """The log group RDS exports a database log to (`export`: postgresql, upgrade, ...)."""
    return f"/aws/rds/instance/{db_identifier}/{export}"


# --- metrics -----------------------------------------------------------------------------------


def metric_namespace(stack: str) -> str:
    """The stack's own CloudWatch namespace; the hosts' role may publish into it and nowhere else."""
    return f"{PROJECT}/{stack}"


# Every host metric carries the host's role (primary/secondary): known when user data is
# rendered, and stable when an instance is replaced, so alarms never point at a gone instance.
HOST_DIMENSION: Final = "Host"

# The Envoy names the scraped series are filtered on (they must match templates/envoy.yaml.j2).
HTTPS_STAT_PREFIX: Final = "https"
HTTP_CLUSTER: Final = "orthanc_http"
DICOM_CLUSTER: Final = "orthanc_dicom"

# Where the agent scrapes, on the host's loopback: Envoy's metrics-only listener (the admin
# interface itself stays inside the container).
METRICS_PORT: Final = 9902
ENVOY_STATS_PATH: Final = "/stats/prometheus"
# Served by the same listener from one Orthanc replica, with the health-check credential.
ORTHANC_METRICS_PATH: Final = "/orthanc/metrics"
ORTHANC_METRICS_UPSTREAM_PATH: Final = "/tools/metrics-prometheus"
SCRAPE_INTERVAL_SECONDS: Final = 60

ENVOY: Final = "envoy"
ORTHANC: Final = "orthanc"


@dataclass(frozen=True)
class ScrapedMetric:
    """A Prometheus series the agent keeps and CloudWatch stores under the same name."""

    name: str
    source: str  # ENVOY or ORTHANC
    # Label -> regular expression of the values kept; every other series of the name is dropped.
    labels: dict[str, str] = field(default_factory=dict)
    # CloudWatch dimensions besides HOST_DIMENSION (each one a Prometheus label).
    dimensions: tuple[str, ...] = ()
    purpose: str = ""


HEALTHY_REPLICAS = ScrapedMetric(
    "envoy_cluster_membership_healthy",
    ENVOY,
    labels={"envoy_cluster_name": f"{HTTP_CLUSTER}|{DICOM_CLUSTER}"},
    dimensions=("envoy_cluster_name",),
    purpose="Orthanc replicas passing Envoy's health check, per cluster",
)
SERVER_ERRORS = ScrapedMetric(
    "envoy_http_downstream_rq_xx",
    ENVOY,
    labels={"envoy_http_conn_manager_prefix": HTTPS_STAT_PREFIX, "envoy_response_code_class": "5"},
    dimensions=("envoy_response_code_class",),
    purpose="HTTPS responses with a 5xx status (Envoy's own 503s included)",
)
REQUESTS = ScrapedMetric(
    "envoy_http_downstream_rq_total",
    ENVOY,
    labels={"envoy_http_conn_manager_prefix": HTTPS_STAT_PREFIX},
    purpose="HTTPS requests",
)
DICOM_CONNECTIONS = ScrapedMetric(
    "envoy_cluster_upstream_cx_active",
    ENVOY,
    labels={"envoy_cluster_name": DICOM_CLUSTER},
    dimensions=("envoy_cluster_name",),
    purpose="open DICOM associations proxied to Orthanc",
)
CERTIFICATE_DAYS = ScrapedMetric(
    "envoy_server_days_until_first_cert_expiring",
    ENVOY,
    purpose="days until the certificate Envoy serves expires",
)
STORED_INSTANCES = ScrapedMetric(
    "orthanc_count_instances",
    ORTHANC,
    purpose="DICOM instances in the shared index",
)
SCRAPED_METRICS: Final = (
    HEALTHY_REPLICAS,
    SERVER_ERRORS,
    REQUESTS,
    DICOM_CONNECTIONS,
    CERTIFICATE_DAYS,
    STORED_INSTANCES,
)


@dataclass(frozen=True)
class HostMetric:
    """A metric the agent measures on the host itself (published with PutMetricData)."""

    name: str
    plugin: str
    # Fixed dimensions besides HOST_DIMENSION that the agent adds for this plugin.
    dimensions: dict[str, str] = field(default_factory=dict)
    purpose: str = ""


MEMORY_USED = HostMetric("mem_used_percent", "mem", purpose="memory in use, percent")
# The agent tags disk metrics with the mount point and file system type; the root volume of
# Amazon Linux 2023 is XFS (orthweb verify checks that the alarm's series exists).
ROOT_DISK_USED = HostMetric(
    "disk_used_percent", "disk", dimensions={"path": "/", "fstype": "xfs"}, purpose="root volume in use, percent"
)
HOST_METRICS: Final = (MEMORY_USED, ROOT_DISK_USED)


def custom_metrics_per_host() -> int:
    """How many billed custom metrics one host publishes (each scraped series kept, each host metric)."""
    series = 0
    for metric in SCRAPED_METRICS:
        # An alternation in a kept label value yields one series per alternative.
        series += max((value.count("|") + 1 for value in metric.labels.values()), default=1)
    return series + len(HOST_METRICS)
