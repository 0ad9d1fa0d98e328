"""The typed render context of one host: names, versions and references, never a secret value."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final

from orthweb.host.sso_context import SsoHostContext
from orthweb.shared.constants import (
    GROUP_MEMBER,
    HOST_ROLES,
    LB_HEALTH_PATH,
    LB_HEALTH_PORT,
    MAX_REPLICAS,
    OHIF,
    REGION_PATTERN,
    SECONDARY,
    STONE,
    VIEWERS,
    is_pinned_image,
)
from orthweb.shared.modalities import DicomModality, modalities_reason
from orthweb.shared.telemetry import AUDIT_SEAL

_ARN_RE: Final = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
_STACK_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_DIGEST_RE: Final = re.compile(r"^[0-9a-f]{16}$")
_BUCKET_RE: Final = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_DB_ID_RE: Final = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)$")
_VERSION_RE: Final = re.compile(r"^\d+\.\d+\.\d+$")
_SHA256_RE: Final = re.compile(r"^([0-9a-f]{64})?$")
# The compose variable holding a group host's instance id (start.sh writes it to .env).
HOST_ID_VARIABLE: Final = "ORTHWEB_HOST_ID"
_DNS_RE: Final = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)*$")

# The orthancteam/orthanc image loads these plugins only when their variable is set
# (orthanc-builder plugins-def.json); Stone even ignores its configuration section without it.
DICOMWEB_SWITCH: Final = "DICOM_WEB_PLUGIN_ENABLED"
VIEWER_SWITCHES: Final = {OHIF: "OHIF_PLUGIN_ENABLED", STONE: "STONE_WEB_VIEWER_PLUGIN_ENABLED"}


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
    # Where the host's bundle is (the object's key and digest come from the bundle itself).
    bundle_bucket: str
    db_identifier: str
    orthanc_credentials_secret_arn: str
    site_tls_secret_arn: str
    # What seals Orthanc's audit lines (orthweb.shared.telemetry.AUDIT_SEAL): drawn once per stack.
    audit_seal: str
    compose_version: str = "2.29.7"
    site_name: str = ""
    # A secondary kept stopped: its first boot brings the stack up once, then powers the host off.
    power_off_after_first_boot: bool = False
    # Pinned digests of the compose plugin binaries; empty -> verify against the release's own
    # .sha256 file (integrity only, not a pin).
    compose_sha256_x86_64: str = ""
    compose_sha256_aarch64: str = ""
    # The only DICOM callers Orthanc accepts, the same in every replica (stack config).
    dicom_modalities: tuple[DicomModality, ...] = ()
    # With client certificates (dicomClientCertificates): the secret of what Envoy trusts (the
    # stack CA, each certificate's URI and fingerprint); None: callers known by AE title only.
    dicom_client_trust_secret_arn: str | None = None
    # DICOMweb and the viewers served beside Orthanc Explorer 2 (deploymentOptions).
    dicom_web: bool = True
    viewers: tuple[str, ...] = VIEWERS
    # Sign-in (authentication: sso): where Cognito is; None for Orthanc's own credential alone.
    sso: SsoHostContext | None = None
    # Plain DICOM from the hospital's ranges through the VPN (hospitalNetwork): its port; None: none.
    plain_dicom_port: int | None = None
    # The host address the plain listener is published on: the failover site's private address
    # (which the VPN gateway routes to the serving host), or 0.0.0.0 behind the internal load balancer.
    plain_dicom_address: str = ""

    def __post_init__(self) -> None:
        checks: tuple[tuple[str, bool], ...] = (
            ("host_role", self.host_role in (*HOST_ROLES, GROUP_MEMBER)),
            # Only the secondary may be kept stopped after its first boot.
            ("power_off_after_first_boot", not self.power_off_after_first_boot or self.host_role == SECONDARY),
            ("stack", bool(_STACK_RE.match(self.stack))),
            ("region", bool(REGION_PATTERN.match(self.region))),
            ("templates_digest", bool(_DIGEST_RE.match(self.templates_digest))),
            ("orthanc_image", is_pinned_image(self.orthanc_image)),
            ("envoy_image", is_pinned_image(self.envoy_image)),
            ("orthanc_replicas", 1 <= self.orthanc_replicas <= MAX_REPLICAS),
            ("index_connections", self.index_connections >= 1),
            ("dicom_bucket", bool(_BUCKET_RE.match(self.dicom_bucket))),
            ("bundle_bucket", bool(_BUCKET_RE.match(self.bundle_bucket))),
            ("db_identifier", bool(_DB_ID_RE.match(self.db_identifier))),
            ("orthanc_credentials_secret_arn", bool(_ARN_RE.match(self.orthanc_credentials_secret_arn))),
            ("site_tls_secret_arn", bool(_ARN_RE.match(self.site_tls_secret_arn))),
            ("audit_seal", bool(AUDIT_SEAL.match(self.audit_seal))),
            ("compose_version", bool(_VERSION_RE.match(self.compose_version))),
            ("site_name", len(self.site_name) <= 253 and bool(_DNS_RE.match(self.site_name))),
            ("compose_sha256_x86_64", bool(_SHA256_RE.match(self.compose_sha256_x86_64))),
            ("compose_sha256_aarch64", bool(_SHA256_RE.match(self.compose_sha256_aarch64))),
            (
                "dicom_modalities",
                all(isinstance(m, DicomModality) for m in self.dicom_modalities)
                and not modalities_reason(self.dicom_modalities),
            ),
            (
                "dicom_client_trust_secret_arn",
                self.dicom_client_trust_secret_arn is None or bool(_ARN_RE.match(self.dicom_client_trust_secret_arn)),
            ),
            ("viewers", set(self.viewers) <= set(VIEWERS) and len(set(self.viewers)) == len(self.viewers)),
            # Each viewer reads its studies over DICOMweb.
            ("dicom_web", self.dicom_web or not self.viewers),
            ("plain_dicom_port", self.plain_dicom_port is None or 1 <= self.plain_dicom_port <= 65535),
            ("plain_dicom_address", _plain_address_ok(self.plain_dicom_port, self.plain_dicom_address)),
        )
        for name, ok in checks:
            if not ok:
                raise ValueError(f"HostAppContext.{name}: invalid value {getattr(self, name)!r}")

    @property
    def site_private_address(self) -> str:
        """The failover site's private address, which the host takes on its loopback so that the
        packets the VPN gateway routes to it are its own; "" when there is none."""
        return "" if self.plain_dicom_address in ("", ANY_ADDRESS) else self.plain_dicom_address

    @property
    def behind_load_balancer(self) -> bool:
        """A host of the scale-out group: Envoy answers the load balancer's health checks."""
        return self.host_role == GROUP_MEMBER

    @property
    def host_id_variable(self) -> str:
        return HOST_ID_VARIABLE

    @property
    def lb_health_port(self) -> int:
        return LB_HEALTH_PORT

    @property
    def lb_health_path(self) -> str:
        return LB_HEALTH_PATH

    @property
    def host_name(self) -> str:
        """What names this host's replicas and log streams: its role, unique in the failover
        topology. The group's hosts share one user data, so theirs is the instance id, which
        start.sh puts in .env for compose to substitute."""
        if self.behind_load_balancer:
            return f"${{{HOST_ID_VARIABLE}:?written to .env by start.sh}}"
        return self.host_role

    @property
    def server_identity(self) -> str:
        """What each replica's DatabaseServerIdentifier starts with: unique per host."""
        return f"{self.stack}-{self.host_name}"

    @property
    def envoy_node(self) -> str:
        """Envoy's node (YAML flow mapping): it reads secrets from files (SDS) only with one."""
        return f"{{ id: orthweb-{self.stack}-{self.host_role}, cluster: orthweb-{self.stack} }}"

    @property
    def replica_names(self) -> tuple[str, ...]:
        """Compose service names of the Orthanc replicas (the runtime harness relies on them)."""
        return tuple(f"orthanc-{i}" for i in range(1, self.orthanc_replicas + 1))

    @property
    def plugin_switches(self) -> tuple[str, ...]:
        """The image's variables that load the optional plugins this host serves."""
        dicom_web = (DICOMWEB_SWITCH,) if self.dicom_web else ()
        return dicom_web + tuple(VIEWER_SWITCHES[viewer] for viewer in self.viewers)


# Every address of the host (behind the internal load balancer, whose security group alone is admitted).
ANY_ADDRESS: Final = "0.0.0.0"


def _plain_address_ok(port: int | None, address: str) -> bool:
    """No address without the listener; with it, every address or one private IPv4 address."""
    if port is None:
        return address == ""
    if address == ANY_ADDRESS:
        return True
    try:
        return ipaddress.IPv4Address(address).is_private
    except ValueError:
        return False
