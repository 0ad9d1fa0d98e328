"""The DICOM modalities, the only callers Orthanc accepts (C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET):
stack configuration.

Orthanc keeps modalities registered over REST per `DatabaseServerIdentifier`, and every replica
has its own: such a registration reached one replica only. So modalities are configuration,
the same in every replica's orthanc.json on both hosts, written `AET@host:port` (the notation of
dcm4che's tools); the hosts' firewall lets Orthanc reach exactly these addresses for C-MOVE.

Pure module (standard library only): the config, the host layer and the infrastructure use it.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from dataclasses import dataclass
from typing import Final

# Characters Orthanc accepts in a modality's name (OrthancConfiguration.cpp CheckAlphanumeric),
# which is the AE title here; DICOM allows up to 16 characters.
AET_PATTERN: Final = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
OWN_AET: Final = "ORTHANC"
# One egress rule per modality; EC2 allows 60 rules per direction in a security group.
MAX_MODALITIES: Final = 20
# How Orthanc's callers are told apart: by AE title (and the networks in dicomAllowedCidrs), or
# also by the client certificate the stack issued each modality (dicomClientCertificates).
AE_TITLE: Final = "ae-title"
CLIENT_CERTIFICATE: Final = "client-certificate"
CALLER_CHECKS: Final = (AE_TITLE, CLIENT_CERTIFICATE)
_SPEC: Final = re.compile(r"^(?P<aet>[^@]*)@(?P<host>[^:]*):(?P<port>\d{1,5})$")
FORMAT: Final = "AET@host:port with AET of 1-16 letters, digits, _ or -, host an IPv4 address, port 1-65534"


@dataclass(frozen=True, order=True)
class DicomModality:
    aet: str
    host: str
    port: int

    def __post_init__(self) -> None:
        reason = modality_reason(self.aet, self.host, self.port)
        if reason:
            raise ValueError(f"DICOM modality {self.spec!r}: {reason}")

    @property
    def spec(self) -> str:
        return f"{self.aet}@{self.host}:{self.port}"

    @property
    def network(self) -> str:
        """The address as a one-host network (for the firewall)."""
        return f"{self.host}/32"

    def orthanc_entry(self) -> dict[str, object]:
        """The modality as Orthanc's `DicomModalities` reads it (RemoteModalityParameters.cpp)."""
        return {
            "AET": self.aet,
            "Host": self.host,
            "Port": self.port,
            "AllowEcho": True,
            "AllowStore": True,
            "AllowFind": True,
            "AllowGet": True,
            "AllowMove": True,
            "AllowFindWorklist": False,
            "AllowStorageCommitment": False,
        }


def modality_reason(aet: str, host: str, port: int) -> str:
    """What is wrong with one modality, or "" (loopback is allowed here: the harness uses it)."""
    if not AET_PATTERN.fullmatch(aet):
        return "the AE title must be 1-16 letters, digits, _ or -"
    if aet.upper() == OWN_AET:
        return f"{OWN_AET} is the server's own AE title"
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return "the host must be an IPv4 address (the firewall opens exactly that address)"
    if not 1 <= port <= 65534:
        # Orthanc's RemoteModalityParameters.cpp (CheckPortNumber) refuses 0 and 65535.
        return "the port must be from 1 to 65534: Orthanc refuses any other for a modality and would not start"
    return ""


def parse_modality(spec: str) -> DicomModality:
    """`AET@host:port` -> DicomModality; ValueError saying what is wrong (without repeating spec)."""
    match = _SPEC.fullmatch(spec.strip())
    if match is None:
        raise ValueError(f"expected {FORMAT}")
    aet, host, port = match["aet"], match["host"], int(match["port"])
    reason = modality_reason(aet, host, port) or unreachable_reason(host)
    if reason:
        raise ValueError(reason)
    return DicomModality(aet, host, port)


def unreachable_reason(host: str) -> str:
    """Addresses no host could send DICOM to (stack config only; the harness uses loopback)."""
    address = ipaddress.IPv4Address(host)
    if address.is_loopback or address.is_unspecified or address.is_multicast or address.is_link_local:
        return f"{host} is not an address a host can send DICOM to"
    return ""


def modalities_reason(modalities: tuple[DicomModality, ...]) -> str:
    """What is wrong with the list as a whole, or "" (Orthanc tells callers apart by AE title)."""
    if len(modalities) > MAX_MODALITIES:
        return f"at most {MAX_MODALITIES} modalities (one firewall rule each)"
    seen: set[str] = set()
    for modality in modalities:
        # StrictAetComparison is false: Orthanc compares AE titles without case.
        key = modality.aet.upper()
        if key in seen:
            return f"each AE title once; {modality.aet} is given twice"
        seen.add(key)
    return ""


# What a modality certificate's URI looks like; hosts check it again before Envoy trusts one.
CERTIFICATE_URI_PATTERN: Final = r"^urn:orthweb:[A-Za-z0-9_.-]+:modality:[A-Za-z0-9_-]{1,16}$"


def certificate_uri(stack: str, aet: str) -> str:
    """The URI subject alternative name of a modality's client certificate, which Envoy requires."""
    uri = f"urn:orthweb:{stack}:modality:{aet}"
    if not re.fullmatch(CERTIFICATE_URI_PATTERN, uri):
        raise ValueError(f"no certificate URI for stack {stack!r} and AE title {aet!r}")
    return uri


def certificate_fingerprint(pem: str) -> str:
    """SHA-256 of a PEM certificate's DER bytes, in lower-case hex: what Envoy's
    `verify_certificate_hash` pins (its colons are optional)."""
    body = pem.split("-----BEGIN CERTIFICATE-----", 1)[1].split("-----END CERTIFICATE-----", 1)[0]
    return hashlib.sha256(base64.b64decode("".join(body.split()), validate=True)).hexdigest()
