"""What a verify run is told: where the site and DICOM checks dial (`Endpoint`) and what the
checks expect (`Options`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from orthweb.ops.verify.host import HostLayout
from orthweb.shared.constants import DICOM_TLS_PORT, HTTPS_PORT

EXPECTED_PLUGINS = ("postgresql-index", "aws s3 storage")
MIN_ORTHANC_VERSION = "1.12.0"  # what orthancteam/orthanc 24.x/25.x ship


@dataclass(frozen=True)
class Endpoint:
    """What the site and DICOM checks dial. `address` is the name the certificate must carry
    (default: the Elastic IP); `connect_host` the socket to open instead (a tunnel, a test)."""

    address: str | None = None
    connect_host: str | None = None
    https_port: int = HTTPS_PORT
    dicom_port: int = DICOM_TLS_PORT


@dataclass(frozen=True)
class Options:
    keep: bool = False
    # The configured modality the DICOM checks call as; None: the first one Orthanc lists.
    dicom_modality: str | None = None
    expected_plugins: tuple[str, ...] = EXPECTED_PLUGINS
    min_orthanc_version: str = MIN_ORTHANC_VERSION
    layout: HostLayout = field(default_factory=HostLayout)
    host_timeout: float = 180.0
    http_timeout: float = 20.0
