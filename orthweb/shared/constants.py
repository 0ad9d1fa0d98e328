"""Facts several layers share, each defined once: ports, host roles, tag keys, limits, name patterns.

Pure module with no orthweb imports, so the Pulumi program, the host layer, the config checks and
the operator tools can all use it without depending on each other.
"""

from __future__ import annotations

import re
from typing import Final

PROJECT: Final = "orthweb"
# A stack's environment (config `environment`): prod keeps its data and doubles the database.
DEV: Final = "dev"
PROD: Final = "prod"
ENVIRONMENTS: Final = (DEV, PROD)

# Ports: what clients reach on the site, and what the host reaches inside the VPC.
HTTPS_PORT: Final = 443
DICOM_TLS_PORT: Final = 11112
POSTGRES_PORT: Final = 5432

# The two hosts of the failover topology, and the other tagged things failover and verify find.
PRIMARY: Final = "primary"
SECONDARY: Final = "secondary"
HOST_ROLES: Final = (PRIMARY, SECONDARY)
SITE_ROLE: Final = "site"  # the Elastic IP
# On a secondary kept stopped (`secondaryState: stopped`): "stopped", the state it puts itself in
# once its first boot has brought the stack up.
AFTER_FIRST_BOOT_TAG: Final = "orthweb:after-first-boot"
SITE_TLS_ROLE: Final = "site-tls"  # the secret holding the site certificate and key
CREDENTIALS_ROLE: Final = "orthanc-credentials"  # the secret holding the web credentials
# The secret holding each modality's DICOM client certificate and key (dicomClientCertificates).
DICOM_CLIENTS_ROLE: Final = "dicom-client-certificates"
# The secret the hosts read of them: the CA's certificate, each certificate's URI and fingerprint.
DICOM_CLIENT_TRUST_ROLE: Final = "dicom-client-trust"
DICOM_BUCKET_ROLE: Final = "dicom"
# The bucket of the audit trail: CloudTrail's log files, each locked against deletion (S3 Object Lock).
AUDIT_BUCKET_ROLE: Final = "audit"
LOG_BUCKET_ROLE: Final = "logs"
# The bucket of the host bundles: each host's application files, one object per content digest.
HOST_BUNDLE_BUCKET_ROLE: Final = "host-bundles"
# Where the bundles are in that bucket (`bundles/<sha256>.tar`): the hosts may read this prefix only.
BUNDLE_PREFIX: Final = "bundles/"
# On each host (and each group host's launch template): the SHA-256 of the bundle it runs.
BUNDLE_TAG: Final = "orthweb:bundle"

# AWS Backup: the vault holding the stack's recovery points (found by this role tag).
BACKUP_VAULT_ROLE: Final = "backup"
# Days a continuous (point-in-time) backup rule may keep recovery points (AWS Backup Developer Guide,
# "Changing your retention period": minimum 1, maximum 35).
CONTINUOUS_BACKUP_DAYS: Final = (1, 35)
# Storage classes S3 serves at once (milliseconds, no RestoreObject first), so Orthanc's S3 plugin
# reads them as it reads Standard; each with the fewest days S3 lifecycle allows before it.
READABLE_STORAGE_CLASSES: Final = {"STANDARD_IA": 30, "GLACIER_IR": 0}

# Two availability zones, each with one host, one public and one private subnet.
ZONE_SUFFIXES: Final = ("a", "b")

# How the hosts serve (config `topology`): a primary with a standby that `orthweb failover` moves the
# Elastic IP to, or an Auto Scaling group of identical hosts behind a Network Load Balancer.
FAILOVER: Final = "failover"
SCALE_OUT: Final = "scale-out"
TOPOLOGIES: Final = (FAILOVER, SCALE_OUT)
# Where clients' TLS ends: Envoy on each host, or (scale-out with an ACM certificate) the load balancer.
TLS_AT_ENVOY: Final = "envoy"
TLS_AT_LOAD_BALANCER: Final = "load-balancer"
TLS_ENDS: Final = (TLS_AT_ENVOY, TLS_AT_LOAD_BALANCER)
# The role tag of every host of the scale-out topology (they are interchangeable).
GROUP_MEMBER: Final = "member"
LOAD_BALANCER_ROLE: Final = "load-balancer"
VPN_ROLE: Final = "hospital-vpn"  # the Site-to-Site VPN connection to the hospital
# On the VPN connection: where modalities send plain DICOM, "address:port" separated by spaces.
PLAIN_DICOM_TAG: Final = "orthweb:plain-dicom"
SITE_ROUTE_ROLE: Final = "site-route"  # the VPN gateway's route table (failover moves its route)
# Envoy's health endpoint for the load balancer (scale-out only): plain HTTP, reachable from the
# load balancer's security group only; 200 while at least one local Orthanc replica is healthy.
LB_HEALTH_PORT: Final = 8081
LB_HEALTH_PATH: Final = "/orthweb/health"

# How long a transfer may go without a byte: Orthanc sends nothing of a ZIP until its archive job
# gets a slot (ConcurrentJobs) and has written the whole archive to a temporary file. Envoy's stream
# idle timeout (default 300 s) and the load balancer's TCP idle timeout (default 350 s) are set to it.
TRANSFER_IDLE_TIMEOUT_SECONDS: Final = 3600
# Envoy's client connections send a TCP keepalive after this long without data, so a silent one
# survives whatever drops idle flows on the way (the load balancer's TLS listener: 350 s, fixed).
TCP_KEEPALIVE_SECONDS: Final = 60

# Where the log bucket receives each kind of log; its policy admits each writer to its prefix only.
ACCESS_LOGS_PREFIX: Final = "s3-access/"
FLOW_LOGS_PREFIX: Final = "vpc-flow-logs/"
# Where the audit bucket keeps the batches of audit lines the copy function writes (one file each).
AUDIT_LINES_PREFIX: Final = "audit-lines/"
# The load balancer adds "/AWSLogs/<account>/..." itself and refuses a prefix that contains it.
LOAD_BALANCER_LOGS_PREFIX: Final = "load-balancer"
# The AWS provider refuses a longer bucket_prefix (its unique suffix fills the name up to 63 characters).
BUCKET_PREFIX_MAX_LENGTH: Final = 37

# Tags every taggable resource carries; failover and verify find resources by them.
PROJECT_TAG: Final = "orthweb:project"
STACK_TAG: Final = "orthweb:stack"
ROLE_TAG: Final = "orthweb:role"

# Orthanc replicas per host (each is a container with its own memory and database connections).
MAX_REPLICAS: Final = 8

# DICOMweb on the site (the plugin's default roots) and the web viewers a user may turn on; each
# viewer reads studies over DICOMweb. Paths are where the image's plugins serve them.
DICOMWEB_ROOT: Final = "/dicom-web/"
WADO_URI_ROOT: Final = "/wado"
OHIF: Final = "ohif"
STONE: Final = "stone"
VIEWER_PATHS: Final = {OHIF: "/ohif/", STONE: "/stone-webviewer/"}
VIEWERS: Final = tuple(VIEWER_PATHS)

# SHA-256 of the docker compose plugin binaries per release and machine (as `uname -m` names it);
# the hosts refuse a download that differs. 2.29.7: the digests docker-library's docker:27 image pins.
COMPOSE_SHA256: Final[dict[str, dict[str, str]]] = {
    "2.29.7": {
        "x86_64": "383ce6698cd5d5bbf958d2c8489ed75094e34a77d340404d9f32c4ae9e12baf0",
        "aarch64": "6e9fbd5daa20dca5d7d89145081ae8155d68ef2928b497d9f85b54fe0f9dbb2c",
    },
}

# The user-data document: a small bootstrap that fetches the host's bundle (the other host files).
USER_DATA_NAME: Final = "cloud-init.yaml"

# A container image reference: optional registry host (with port), path, then a tag or digest.
IMAGE_PATTERN: Final = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::\d{1,5})?/)?"
    r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
# A DNS name a user gives for the site (lower case, at least two labels).
DOMAIN_PATTERN: Final = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
# The shape of an AWS region name (whether it exists is checked against botocore's data).
REGION_PATTERN: Final = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


def aws_name(stack: str, *parts: str) -> str:
    """The name AWS shows for one of a stack's resources: `orthweb-dev`, `orthweb-dev-primary`."""
    return "-".join((PROJECT, stack, *parts))


def bucket_prefix(stack: str, role: str) -> str:
    """What the name of the stack's bucket with this role starts with (S3 adds a unique suffix)."""
    return f"{aws_name(stack, role)}-"[:BUCKET_PREFIX_MAX_LENGTH]


def key_alias(stack: str) -> str:
    """The alias of the stack's KMS key."""
    return f"alias/{aws_name(stack)}"


def data_key_alias(stack: str) -> str:
    """A restored stack's alias of the key its data is encrypted with (its source stack's key)."""
    return f"alias/{aws_name(stack, 'data')}"


def is_pinned_image(reference: str) -> bool:
    """A tag (not `latest`) or a digest: a host must run the image that was tested."""
    if not IMAGE_PATTERN.fullmatch(reference):
        return False
    if "@sha256:" in reference:
        return True
    last = reference.rsplit("/", 1)[-1]
    return ":" in last and not last.endswith(":latest")
