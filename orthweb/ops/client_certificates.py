"""The modalities' DICOM client certificates of a deployed stack (`dicomClientCertificates: true`).

`pulumi up` keeps them in one Secrets Manager secret (tag `orthweb:role=dicom-client-certificates`)
that only the stack's administrators may read. This module finds it with the user's credentials,
and writes one modality's certificate and key to a file only its owner can read. A key is never
printed, logged or put in an error message.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from orthweb.ops.aws import OpsError, call_aws
from orthweb.ops.tagged import TaggedStack
from orthweb.shared.constants import DICOM_CLIENTS_ROLE, ROLE_TAG
from orthweb.shared.modalities import certificate_fingerprint

FILE_MODE = 0o600


@dataclass(frozen=True)
class ClientCertificate:
    """One modality's client certificate, its key, and the CA that issued it (PEM)."""

    aet: str
    uri: str
    certificate_pem: str
    ca_certificate_pem: str
    private_key_pem: str = field(repr=False)

    @property
    def sha256(self) -> str:
        return certificate_fingerprint(self.certificate_pem)

    @property
    def not_after(self) -> datetime.datetime:
        return x509.load_pem_x509_certificate(self.certificate_pem.encode()).not_valid_after_utc

    def file_content(self) -> str:
        """What a modality's TLS stack loads: its certificate, the CA, then its private key."""
        return "".join(
            part.strip() + "\n" for part in (self.certificate_pem, self.ca_certificate_pem, self.private_key_pem)
        )


def client_certificates(tagged: TaggedStack) -> dict[str, ClientCertificate] | None:
    """Each modality's certificate by AE title; None when the stack issues none."""
    matches = tagged.secrets(DICOM_CLIENTS_ROLE)
    if not matches:
        return None
    if len(matches) > 1:
        raise OpsError(f"found {len(matches)} secrets tagged {ROLE_TAG}={DICOM_CLIENTS_ROLE} for stack {tagged.stack}")
    name = matches[0]["Name"]
    value = call_aws(tagged.clients.secretsmanager, "get_secret_value", SecretId=matches[0]["ARN"])
    try:
        return _parse(json.loads(value["SecretString"]))
    except (KeyError, TypeError, ValueError, AttributeError):
        # Never the content: it holds private keys.
        raise OpsError(f"secret {name} does not hold the client certificates `pulumi up` writes") from None


def _parse(document: dict[str, Any]) -> dict[str, ClientCertificate]:
    ca = str(document["ca_certificate"])
    return {
        str(aet): ClientCertificate(
            aet=str(aet),
            uri=str(entry["uri"]),
            certificate_pem=str(entry["certificate"]),
            ca_certificate_pem=ca,
            private_key_pem=str(entry["private_key"]),
        )
        for aet, entry in document["modalities"].items()
    }


def pick(certificates: dict[str, ClientCertificate], aet: str) -> ClientCertificate:
    """The certificate of the modality `aet` (AE titles compare without case, as Orthanc's do)."""
    for known, certificate in certificates.items():
        if known.upper() == aet.upper():
            return certificate
    issued = ", ".join(sorted(certificates)) or "none (dicomModalities is empty)"
    raise OpsError(f"no client certificate for modality {aet!r}; issued: {issued}")


def write_private_file(path: Path, content: str, *, replace: bool) -> None:
    """Write `content` to a new file readable by its owner only (0600); an existing file is kept
    unless `replace`, and then replaced by a new one (never left readable by others meanwhile)."""
    try:  # a name the file system refuses (too long, say) fails here already
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as error:
        raise OpsError(f"cannot write {path}: {error.strerror}") from None
    if exists and not replace:
        raise OpsError(f"{path} exists; choose another file, or pass --force to replace it")
    if is_dir:
        raise OpsError(f"{path} is a directory; give a file name")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except OSError as error:
        raise OpsError(f"cannot write {path}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(content)
        os.chmod(temporary, FILE_MODE)  # whatever the umask
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OpsError(f"cannot write {path}: {error.strerror}") from None
