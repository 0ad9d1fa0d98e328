"""Pure checks behind the config's one-line messages: what exactly is wrong, and what was meant.

No Pulumi and no orthweb imports: `orthweb.config` turns each answer into a `ConfigError`.
"""

from __future__ import annotations

import datetime
import difflib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import botocore.loaders
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

# Networks AWS accepts for a VPC besides RFC 1918: the shared address space (RFC 6598).
SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
CERTIFICATE_WARNING_DAYS = 30

# The Terraform orthweb's variable names, and ours (a stack written the old way gets them all).
TERRAFORM_NAMES = {
    "DeploymentOptions": "deploymentOptions",
    "pubkey_data": "pubkeyData",
    "pubkey_path": "pubkeyPath",
    "EnvoyImg": "envoyImage",
    "OrthancImg": "orthancImage",
    "InstanceType": "instanceType",
}


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the nearest candidate, ignoring case, or ''."""
    pool = list(candidates)
    lowered = {candidate.lower(): candidate for candidate in pool}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.75)
    return f" (did you mean '{lowered[close[0]]}'?)" if close else ""


def terraform_renames(names: Iterable[str]) -> str:
    """'OldName -> newName, ...' for the Terraform orthweb names among `names`, or ''."""
    return ", ".join(f"{name} -> {TERRAFORM_NAMES[name]}" for name in names if name in TERRAFORM_NAMES)


@cache
def known_regions() -> dict[str, str]:
    """Every region botocore knows, with its partition (aws, aws-cn, aws-us-gov, ...)."""
    endpoints = botocore.loaders.create_loader().load_data("endpoints")
    return {region: partition["partition"] for partition in endpoints["partitions"] for region in partition["regions"]}


def vpc_cidr_problem(text: str, *, smallest: int, largest: int) -> str | None:
    """Why `text` cannot be this stack's VPC range, or None when it can."""
    network = _network(text)
    if isinstance(network, str):
        return network
    if not (network.is_private or network.subnet_of(SHARED_ADDRESS_SPACE)) or network.is_loopback:
        return f"{network} is not a private range (use 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10)"
    if not largest <= network.prefixlen <= smallest:
        return f"a /{network.prefixlen} is the wrong size: the VPC must be from /{largest} to /{smallest}"
    return None


def cidr_problem(text: str) -> str | None:
    """Why `text` is not an IPv4 network a security-group rule accepts, or None."""
    network = _network(text)
    return network if isinstance(network, str) else None


def _network(text: str) -> ipaddress.IPv4Network | str:
    try:
        return ipaddress.IPv4Network(text, strict=True)
    except ValueError:
        pass
    try:
        loose = ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        return "not an IPv4 network in CIDR notation such as 203.0.113.0/24"
    return f"host bits are set: the network is {loose}"


class KeyProblem(ValueError):
    """The private key itself is unusable (as opposed to the certificate, or the pair)."""


@dataclass(frozen=True)
class CertificateReport:
    names: tuple[str, ...]
    not_after: datetime.datetime
    warnings: tuple[str, ...]


def check_certificate_pair(
    certificate_pem: str, key_pem: str, *, site_domain: str | None, now: datetime.datetime
) -> CertificateReport:
    """Parse the user's certificate and key; ValueError with the reason when they cannot serve."""
    certificates = _certificates(certificate_pem)
    leaf = certificates[0]
    key = _private_key(key_pem)
    if key.public_key().public_bytes(*_SPKI) != leaf.public_key().public_bytes(*_SPKI):
        raise ValueError("the private key does not belong to the (first) certificate")
    if leaf.not_valid_after_utc <= now:
        raise ValueError(f"the certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    if leaf.not_valid_before_utc > now:
        raise ValueError(f"the certificate is not valid before {leaf.not_valid_before_utc:%Y-%m-%d}")
    names = _dns_names(leaf)
    if site_domain and not any(_covers(name, site_domain) for name in names):
        shown = ", ".join(names) or "none"
        raise ValueError(f"the certificate's names ({shown}) do not cover siteDomain {site_domain}")
    warnings = []
    days_left = (leaf.not_valid_after_utc - now).days
    if days_left < CERTIFICATE_WARNING_DAYS:
        warnings.append(f"the site certificate expires in {days_left} days ({leaf.not_valid_after_utc:%Y-%m-%d})")
    return CertificateReport(names=tuple(names), not_after=leaf.not_valid_after_utc, warnings=tuple(warnings))


_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _certificates(pem: str) -> list[x509.Certificate]:
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise ValueError("not a PEM certificate (chain) that can be parsed") from None
    return certificates


def _private_key(pem: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise KeyProblem("not an unencrypted PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC)") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyProblem("an RSA or EC private key (Envoy serves no other kind)")
    return key


def _dns_names(certificate: x509.Certificate) -> list[str]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [name.lower() for name in extension.value.get_values_for_type(x509.DNSName)]


def _covers(pattern: str, domain: str) -> bool:
    # A wildcard covers exactly one leftmost label, as browsers match it.
    if pattern.startswith("*."):
        head, _, rest = domain.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == domain
