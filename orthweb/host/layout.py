"""Where the host application lives on a host, and the files it gets: the bundle's and user data's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Where things live on the host; the templates and docs/application.md use the same paths.
APP_DIR: Final = "/opt/orthweb"
SECRETS_DIR: Final = "/etc/orthweb/secrets"

# Token left in envoy.yaml for the health-check Authorization header; fetch-secrets.sh
# replaces it at boot, so the credential never appears in user data.
HEALTH_AUTH_PLACEHOLDER: Final = "__ORTHWEB_HEALTH_AUTHORIZATION__"

# Kept-alive HTTP between Envoy and Orthanc: Envoy closes an idle connection first, always.
# Orthanc's own default is 1 s (the harness's Orthanc cannot change it); Envoy's default 1 h.
UPSTREAM_IDLE_TIMEOUT: Final = "0.5s"
ORTHANC_KEEP_ALIVE_SECONDS: Final = 5

# Envoy's answer to PUT/DELETE /modalities/<name> or /peers/<name>.
REGISTRATION_REFUSED: Final = (
    "orthweb: DICOM modalities are stack configuration, identical in every Orthanc replica:"
    " pulumi config set --path 'dicomModalities[0]' 'AET@10.0.0.5:104', then pulumi up."
    " Peers are not supported."
)

# What fetch-secrets.sh installs in SECRETS_DIR (mode 0400), by who reads it: a change to a
# replica's file makes the refresh replace the replicas one by one, to Envoy's recreates Envoy.
ORTHANC_SECRET_FILES: Final = (
    "ORTHANC__POSTGRESQL__CONNECTION_URI",
    "ORTHANC__REGISTERED_USERS",
    "orthweb-health-user.lua",
    # The admin account's Authorization header, for each replica's own docker health probe.
    "orthweb-probe-authorization",
)
ENVOY_SECRET_FILES: Final = ("envoy.yaml", "site.crt", "site.key")
# With client certificates on DICOM-TLS: what Envoy trusts (the stack CA, each modality's URI and
# pinned fingerprint), an SDS file fetch-secrets.sh builds from its secret at every refresh, so a
# certificate issued again reaches the hosts without replacing them.
DICOM_CLIENTS_FILE: Final = "dicom-clients.json"
DICOM_CLIENTS_SDS_NAME: Final = "dicom-clients"
# The database credential one value per file, for operators (psql) and `orthweb verify`.
OPERATOR_SECRET_FILES: Final = (
    "ORTHANC__POSTGRESQL__HOST",
    "ORTHANC__POSTGRESQL__PORT",
    "ORTHANC__POSTGRESQL__DATABASE",
    "ORTHANC__POSTGRESQL__USERNAME",
    "ORTHANC__POSTGRESQL__PASSWORD",
)
SECRET_FILES: Final = frozenset(ORTHANC_SECRET_FILES + ENVOY_SECRET_FILES + OPERATOR_SECRET_FILES)

# A replica being replaced is drained first: while DRAIN_DIR/<replica>/draining exists, its
# health check fails (orthweb-filter.lua), so Envoy stops sending it work. Under /run: a
# reboot clears it.
DRAIN_DIR: Final = "/run/orthweb/drain"
DRAIN_MOUNT: Final = "/run/orthweb-drain"
ENVOY_ADMIN_PORT: Final = 9901
# Each Orthanc replica's ports on the compose network (orthanc.json), reached through Envoy only.
ORTHANC_HTTP_PORT: Final = 8042
ORTHANC_DICOM_PORT: Final = 4242


@dataclass(frozen=True)
class HostFile:
    """One file a host gets: from its bundle (HOST_FILES) or from user data (USER_DATA_FILES)."""

    name: str
    template: str
    path: str
    mode: str


# The host application: every file a host runs, shipped in its content-addressed bundle (an S3
# object the host fetches and checks at first boot). `name` is the key in render_host_files().
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
    # The CloudWatch agent's configuration and the Prometheus scrape it reads.
    HostFile("cloudwatch-agent.json", "cloudwatch-agent.json.j2", f"{APP_DIR}/cloudwatch-agent.json", "0644"),
    HostFile("prometheus.yaml", "prometheus.yaml.j2", f"{APP_DIR}/prometheus.yaml", "0644"),
    # The only CAs Envoy trusts for Amazon Cognito's endpoints (sign-in); mounted into Envoy.
    HostFile(
        "amazon-trust-services.pem",
        "amazon-trust-services.pem.j2",
        f"{APP_DIR}/amazon-trust-services.pem",
        "0644",
    ),
    # What bootstrap.sh runs once the bundle is in place: enable and start the units.
    HostFile("activate.sh", "activate.sh.j2", f"{APP_DIR}/activate.sh", "0700"),
)

# What user data itself writes: which deployment and bundle this host runs (read by operators and
# `orthweb verify`), and the script that fetches the bundle, checks its SHA-256 against the digest
# user data names, unpacks it and runs activate.sh.
DEPLOYMENT_INFO: Final = HostFile("deployment.json", "deployment.json.j2", "/etc/orthweb/deployment.json", "0644")
BOOTSTRAP: Final = HostFile("bootstrap.sh", "bootstrap.sh.j2", f"{APP_DIR}/bootstrap.sh", "0700")
USER_DATA_FILES: Final = (DEPLOYMENT_INFO, BOOTSTRAP)
