"""Test certificates made with `cryptography`: a PostgreSQL CA + server cert, and a site cert."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=30)


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, data: bytes, mode: int = 0o644) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name) -> x509.CertificateBuilder:
    """A certificate of `subject` signed by `issuer`, valid from five minutes ago for VALIDITY."""
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def _server_builder(subject: x509.Name, issuer: x509.Name, san: list[str]) -> x509.CertificateBuilder:
    names: list[x509.GeneralName] = []
    for entry in san:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(entry)))
        except ValueError:
            names.append(x509.DNSName(entry))
    return (
        _builder(subject, issuer)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )


def _self_signed_ca(common_name: str, path_length: int | None) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    name = _name(common_name)
    certificate = (
        _builder(name, name)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def site_certificate_pem(site_name: str, san: tuple[str, ...] = ("127.0.0.1",)) -> tuple[str, str]:
    """(certificate, key) PEM like the program's pulumi-tls cert: self-signed RSA 2048, SHA-256,
    not a CA, SAN = site name + `san`, digitalSignature + keyEncipherment, serverAuth."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, site_name[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "orthweb"),
        ]
    )
    cert = (
        _server_builder(name, name, [site_name, *san])
        .public_key(key.public_key())
        .add_extension(_usage(digital_signature=True, key_encipherment=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key).decode()


def make_site_certificate(directory: Path, site_name: str) -> CertFiles:
    """The site certificate of `site_certificate_pem`, written as site.crt and site.key."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_pem, key_pem = site_certificate_pem(site_name)
    return CertFiles(
        cert=_write(directory / "site.crt", cert_pem.encode()),
        key=_write(directory / "site.key", key_pem.encode(), 0o600),
    )


def make_ca_and_server(directory: Path, server_name: str) -> tuple[Path, CertFiles]:
    """A throwaway CA and a server cert it signs (stands in for the RDS CA + endpoint cert)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = _self_signed_ca("orthweb test CA", path_length=0)
    ca_name = ca.subject
    key = _key()
    cert = (
        _server_builder(_name(server_name), ca_name, [server_name, "127.0.0.1"])
        .public_key(key.public_key())
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = _write(directory / "ca.crt", ca.public_bytes(serialization.Encoding.PEM))
    return ca_path, CertFiles(
        cert=_write(directory / "server.crt", cert.public_bytes(serialization.Encoding.PEM)),
        key=_write(directory / "server.key", _key_pem(key), 0o600),
    )


@dataclass(frozen=True)
class ClientCa:
    """A CA like the stack's DICOM client CA (pulumi-tls: ECDSA P-256, signs client certificates)."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()


def make_client_ca(common_name: str = "orthweb test DICOM clients CA") -> ClientCa:
    return ClientCa(*_self_signed_ca(common_name, path_length=None))


def issue_client_certificate(ca: ClientCa, common_name: str, uri: str) -> tuple[str, str]:
    """(certificate, key) PEM of a modality's client certificate, as the stack issues it: RSA 2048,
    the URI as subject alternative name, clientAuth."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = (
        _builder(_name(common_name), ca.certificate.subject)
        .public_key(key.public_key())
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(_usage(digital_signature=True, key_encipherment=True), critical=True)
        .sign(ca.key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), _key_pem(key).decode()


def _usage(**allowed: bool) -> x509.KeyUsage:
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{name: allowed.get(name, False) for name in names})
