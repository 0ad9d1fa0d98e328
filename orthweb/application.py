"""What runs on each host: the render context and the jinja2 rendering of `templates/`.

Pure module (no Pulumi imports): `compute.py` builds a `HostAppContext` from resolved outputs
and passes `render_user_data(ctx)` as the instance user data. Nothing secret is ever part of
the context; the host fetches its secrets from Secrets Manager at boot (see fetch-secrets.sh).
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import jinja2

TEMPLATES_DIR: Final = Path(__file__).resolve().parent.parent / "templates"

# Where things live on the host; the templates and docs/application.md use the same paths.
APP_DIR: Final = "/opt/orthweb"
SECRETS_DIR: Final = "/etc/orthweb/secrets"

# Token left in envoy.yaml for the health-check Authorization header; fetch-secrets.sh
# replaces it at boot, so the credential never appears in user data.
HEALTH_AUTH_PLACEHOLDER: Final = "__ORTHWEB_HEALTH_AUTHORIZATION__"

# What fetch-secrets.sh installs in SECRETS_DIR (mode 0400), for the tests and the harness.
SECRET_FILES: Final = frozenset(
    {
        "ORTHANC__POSTGRESQL__HOST",
        "ORTHANC__POSTGRESQL__PORT",
        "ORTHANC__POSTGRESQL__DATABASE",
        "ORTHANC__POSTGRESQL__USERNAME",
        "ORTHANC__POSTGRESQL__PASSWORD",
        "ORTHANC__REGISTERED_USERS",
        "orthweb-health-user.lua",
        "envoy.yaml",
        "site.crt",
        "site.key",
    }
)

HOST_ROLES: Final = ("primary", "secondary")
MAX_REPLICAS: Final = 10


@dataclass(frozen=True)
class HostFile:
    """One file that user data writes onto the host."""

    name: str
    template: str
    path: str
    mode: str


# Written in this order; `name` is the key in render_host_files().
HOST_FILES: Final = (
    HostFile("envoy.yaml", "envoy.yaml.j2", f"{APP_DIR}/envoy.yaml", "0644"),
    HostFile("orthanc.json", "orthanc.json.j2", f"{APP_DIR}/orthanc.json", "0644"),
    HostFile("orthweb-filter.lua", "orthweb-filter.lua.j2", f"{APP_DIR}/orthweb-filter.lua", "0644"),
    HostFile("docker-compose.yml", "docker-compose.yml.j2", f"{APP_DIR}/docker-compose.yml", "0644"),
    HostFile("fetch-secrets.sh", "fetch-secrets.sh.j2", f"{APP_DIR}/fetch-secrets.sh", "0700"),
    HostFile("install-compose.sh", "install-compose.sh.j2", f"{APP_DIR}/install-compose.sh", "0700"),
    HostFile("start.sh", "start.sh.j2", f"{APP_DIR}/start.sh", "0700"),
    HostFile("docker-daemon.json", "docker-daemon.json.j2", "/etc/docker/daemon.json", "0644"),
    HostFile("orthweb.service", "orthweb.service.j2", "/etc/systemd/system/orthweb.service", "0644"),
    HostFile(
        "orthweb-refresh.service",
        "orthweb-refresh.service.j2",
        "/etc/systemd/system/orthweb-refresh.service",
        "0644",
    ),
    HostFile(
        "orthweb-refresh.timer",
        "orthweb-refresh.timer.j2",
        "/etc/systemd/system/orthweb-refresh.timer",
        "0644",
    ),
)

USER_DATA_NAME: Final = "cloud-init.yaml"

_IMAGE_RE: Final = re.compile(
    r"^[a-z0-9][a-z0-9._-]*(:\d+)?(/[a-z0-9._-]+)*(:[A-Za-z0-9._-]{1,128})?(@sha256:[0-9a-f]{64})?$"
)
_ARN_RE: Final = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
_REGION_RE: Final = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_STACK_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_DIGEST_RE: Final = re.compile(r"^[0-9a-f]{16}$")
_BUCKET_RE: Final = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_DB_ID_RE: Final = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)$")
_VERSION_RE: Final = re.compile(r"^\d+\.\d+\.\d+$")
_SHA256_RE: Final = re.compile(r"^([0-9a-f]{64})?$")
_DNS_RE: Final = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)*$")


@dataclass(frozen=True, kw_only=True)
class HostAppContext:
    """Everything one host needs to come up serving Orthanc; no secret values, only references."""

    host_role: str
    stack: str
    region: str
    templates_digest: str
    orthanc_image: str
    envoy_image: str
    orthanc_replicas: int
    index_connections: int
    dicom_bucket: str
    db_identifier: str
    orthanc_credentials_secret_arn: str
    site_tls_secret_arn: str
    compose_version: str = "2.29.7"
    site_name: str = ""
    # Pinned digests of the compose plugin binaries; empty -> verify against the release's own
    # .sha256 file (integrity only, not a pin).
    compose_sha256_x86_64: str = ""
    compose_sha256_aarch64: str = ""

    def __post_init__(self) -> None:
        checks: tuple[tuple[str, bool], ...] = (
            ("host_role", self.host_role in HOST_ROLES),
            ("stack", bool(_STACK_RE.match(self.stack))),
            ("region", bool(_REGION_RE.match(self.region))),
            ("templates_digest", bool(_DIGEST_RE.match(self.templates_digest))),
            ("orthanc_image", _is_pinned_image(self.orthanc_image)),
            ("envoy_image", _is_pinned_image(self.envoy_image)),
            ("orthanc_replicas", 1 <= self.orthanc_replicas <= MAX_REPLICAS),
            ("index_connections", self.index_connections >= 1),
            ("dicom_bucket", bool(_BUCKET_RE.match(self.dicom_bucket))),
            ("db_identifier", bool(_DB_ID_RE.match(self.db_identifier))),
            ("orthanc_credentials_secret_arn", bool(_ARN_RE.match(self.orthanc_credentials_secret_arn))),
            ("site_tls_secret_arn", bool(_ARN_RE.match(self.site_tls_secret_arn))),
            ("compose_version", bool(_VERSION_RE.match(self.compose_version))),
            ("site_name", len(self.site_name) <= 253 and bool(_DNS_RE.match(self.site_name))),
            ("compose_sha256_x86_64", bool(_SHA256_RE.match(self.compose_sha256_x86_64))),
            ("compose_sha256_aarch64", bool(_SHA256_RE.match(self.compose_sha256_aarch64))),
        )
        for name, ok in checks:
            if not ok:
                raise ValueError(f"HostAppContext.{name}: invalid value {getattr(self, name)!r}")

    @property
    def replica_names(self) -> tuple[str, ...]:
        """Compose service names of the Orthanc replicas (the runtime harness relies on them)."""
        return tuple(f"orthanc-{i}" for i in range(1, self.orthanc_replicas + 1))


def _is_pinned_image(ref: str) -> bool:
    # A tag or digest is required and `latest` is refused: the host must run what was tested.
    if not _IMAGE_RE.match(ref):
        return False
    name_and_tag = ref.split("@", 1)[0]
    last = name_and_tag.rsplit("/", 1)[-1]
    has_tag = ":" in last
    return ("@sha256:" in ref) or (has_tag and not last.endswith(":latest"))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    return env


def _render(env: jinja2.Environment, template: str, ctx: HostAppContext, **extra: object) -> str:
    return env.get_template(template).render(
        ctx=ctx,
        app_dir=APP_DIR,
        secrets_dir=SECRETS_DIR,
        health_auth_placeholder=HEALTH_AUTH_PLACEHOLDER,
        **extra,
    )


def render_host_files(ctx: HostAppContext) -> dict[str, str]:
    """Every file the host gets, by name; `cloud-init.yaml` embeds all the others."""
    env = _environment()
    files = {f.name: _render(env, f.template, ctx) for f in HOST_FILES}
    files[USER_DATA_NAME] = _render(
        env,
        "cloud-init.yaml.j2",
        ctx,
        files=files,
        host_files=HOST_FILES,
        deployment_info=_deployment_info(ctx),
    )
    return files


def _deployment_info(ctx: HostAppContext) -> str:
    # What an operator on the host needs to know which deployment this is.
    info = {
        "stack": ctx.stack,
        "host_role": ctx.host_role,
        "templates_digest": ctx.templates_digest,
        "site_name": ctx.site_name,
        "orthanc_image": ctx.orthanc_image,
        "envoy_image": ctx.envoy_image,
        "orthanc_replicas": ctx.orthanc_replicas,
        "compose_version": ctx.compose_version,
    }
    return json.dumps(info, indent=2) + "\n"


def render_user_data(ctx: HostAppContext) -> str:
    """The `#cloud-config` document (plain text; larger than EC2 accepts, see below)."""
    return render_host_files(ctx)[USER_DATA_NAME]


# EC2 refuses user data over 16 KiB (before base64); cloud-init unpacks gzip by itself.
USER_DATA_LIMIT_BYTES: Final = 16 * 1024


def render_user_data_gzip_base64(ctx: HostAppContext) -> str:
    """User data for `aws.ec2.Instance(user_data_base64=...)`: the cloud-config, gzipped.

    Deterministic (gzip mtime 0), so an unchanged context never shows up as a diff.
    """
    packed = gzip.compress(render_user_data(ctx).encode(), compresslevel=9, mtime=0)
    if len(packed) > USER_DATA_LIMIT_BYTES:
        raise ValueError(f"user data is {len(packed)} bytes gzipped, over EC2's 16 KiB limit")
    return base64.b64encode(packed).decode("ascii")


# --- sizing the PostgreSQL connection pool -------------------------------------------------

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
            f"RDS_CLASS_MEMORY_GIB in orthweb/application.py (known: {known})"
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
        raise ValueError(
            f"RDS class {db_instance_class!r} allows about {available} connections for Orthanc: "
            f"too few for {replicas_per_host} replicas on {hosts} hosts; pick a larger class "
            f"or fewer replicas"
        )
    return min(per_replica, MAX_CONNECTIONS_PER_REPLICA)
