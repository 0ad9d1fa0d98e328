"""What the benchmarks talk to: Envoy of a harness stack, one of its replicas, or a stock Orthanc.

The stock Orthanc ("defaults") is Debian's Orthanc with its built-in configuration and SQLite
index; only what it needs to run here is set (ports, storage directory, one account).
"""

from __future__ import annotations

import secrets
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orthweb.clients.dicom import DicomEndpoint
from tools.harness import Credential, Stack
from tools.harness.dicom import local_endpoint, tls_context
from tools.harness.orthanc import ORTHANC_USER, OrthancReplica
from tools.harness.processes import LOOPBACK, free_port

ENVOY = "envoy-tls"
DIRECT = "direct"
DEFAULTS = "defaults"


@dataclass(frozen=True)
class Target:
    """One place to send DICOM and HTTP requests to, and how (TLS or not, which account)."""

    name: str
    dicom: DicomEndpoint
    http_port: int
    credential: Credential
    tls: ssl.SSLContext | None = None
    host: str = LOOPBACK


def envoy_target(stack: Stack) -> Target:
    """Envoy's listeners: DICOM-TLS and HTTPS, trusting the site certificate."""
    context = tls_context(str(stack.site_ca))
    return Target(ENVOY, local_endpoint(port=stack.dicom_port, tls=context), stack.https_port, stack.admin, context)


def direct_target(stack: Stack, index: int = 1) -> Target:
    """Replica `index` on its own ports: plain DICOM and plain HTTP, as Envoy reaches it."""
    replica = stack.replica(index)
    return Target(DIRECT, local_endpoint(port=replica.dicom_port), replica.http_port, stack.admin)


def default_config(http_port: int, dicom_port: int, storage: Path, admin: Credential) -> dict[str, Any]:
    """Orthanc's built-in defaults, except what running it here needs."""
    return {
        "Name": "orthanc-defaults",
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        # The same account as the stack's admin, so requests carry the same headers.
        "AuthenticationEnabled": True,
        "RegisteredUsers": {admin.username: admin.password},
    }


class DefaultOrthanc:
    """A stock Debian Orthanc (SQLite index, default settings) on free local ports."""

    def __init__(self) -> None:
        self.work_dir = Path(tempfile.mkdtemp(prefix="orthweb-bench-defaults-"))
        self.work_dir.chmod(0o711)
        self.admin = Credential("admin", secrets.token_urlsafe(24))
        storage = self.work_dir / "storage"
        storage.mkdir()
        shutil.chown(storage, ORTHANC_USER, ORTHANC_USER)
        http_port, dicom_port = free_port(), free_port()
        self.replica = OrthancReplica(
            index=0,
            directory=self.work_dir / "orthanc",
            config=default_config(http_port, dicom_port, storage, self.admin),
            env={},
            http_port=http_port,
            dicom_port=dicom_port,
        )

    def __enter__(self) -> DefaultOrthanc:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def start(self) -> None:
        self.replica.prepare()
        self.replica.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.replica.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    @property
    def target(self) -> Target:
        return Target(DEFAULTS, local_endpoint(port=self.replica.dicom_port), self.replica.http_port, self.admin)
