"""HTTPS to the site: trust exactly the site certificate and check its name against the site address,
while dialing whatever host/port the caller says (a tunnel, or the test harness on 127.0.0.1)."""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography import x509

from orthweb.ops.verify.model import Credential

HOSTNAME_MISMATCH = (62, 64)  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH


def site_context(certificate_pem: str | None) -> ssl.SSLContext:
    """Trust only the site certificate (as a leaf anchor), check the name, TLS 1.2 or later.

    None: trust the system's certificate authorities (a load balancer with a public certificate).
    """
    context = ssl.create_default_context(cadata=certificate_pem) if certificate_pem else ssl.create_default_context()
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # A user-supplied certificate issued by a CA is trusted as the leaf itself, like a self-signed one.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


@dataclass(frozen=True)
class CertificateInfo:
    names: tuple[str, ...]
    not_after: dt.datetime
    der: bytes

    @classmethod
    def from_pem(cls, pem: str) -> CertificateInfo:
        certificate = x509.load_pem_x509_certificate(pem.encode())
        try:
            san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = tuple(
                [str(n) for n in san.get_values_for_type(x509.DNSName)]
                + [str(n) for n in san.get_values_for_type(x509.IPAddress)]
            )
        except x509.ExtensionNotFound:
            names = ()
        from cryptography.hazmat.primitives.serialization import Encoding

        return cls(names, certificate.not_valid_after_utc, certificate.public_bytes(Encoding.DER))

    def covers(self, address: str) -> bool:
        try:
            wanted = str(ipaddress.ip_address(address))
        except ValueError:
            wanted = address.lower().rstrip(".")
        return any(name.lower() == wanted for name in self.names)


class SiteConnection(http.client.HTTPSConnection):
    """HTTPS to `address` (Host header, SNI, name check) over a socket to `dial_host`."""

    def __init__(self, address: str, dial_host: str, port: int, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout, context=context)
        self._dial_host = dial_host
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._dial_host, self.port), self.timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class SiteClient:
    def __init__(
        self, address: str, dial_host: str, port: int, certificate_pem: str | None, timeout: float = 20.0
    ) -> None:
        self.address = address
        self.dial_host = dial_host
        self.port = port
        self.context = site_context(certificate_pem)
        self.timeout = timeout

    def _connection(self) -> SiteConnection:
        return SiteConnection(self.address, self.dial_host, self.port, self.context, self.timeout)

    def handshake(self) -> tuple[str, bytes]:
        """TLS version and the served leaf certificate (DER); raises ssl/OS errors."""
        connection = self._connection()
        try:
            connection.connect()
            assert isinstance(connection.sock, ssl.SSLSocket)
            return connection.sock.version() or "?", connection.sock.getpeercert(binary_form=True) or b""
        finally:
            connection.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        credential: Credential | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        connection = self._connection()
        sent = {"User-Agent": "orthweb-verify", "Accept": "application/json, */*", **(headers or {})}
        if credential is not None:
            sent["Authorization"] = credential.header
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            return Response(response.status, response.read(), dict(response.getheaders()))
        finally:
            connection.close()
