"""The checks behind each config key: a value as given -> the value the program uses, or a
`ConfigError` whose Problem says exactly what is wrong and what was meant.

Every check is `check(key, value)`; the ones with parameters are small dataclasses that carry them
(`IntIn(1, 8)`, `CidrList(example=...)`). `orthweb.config.keys` names the check of each key. Pure:
no Pulumi, and only orthweb's pure helpers.
"""

from __future__ import annotations

import datetime
import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, NoReturn

import botocore.loaders
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from orthweb.config.problems import STACK_NAME, ConfigError, Problem
from orthweb.config.topology import HOSTED_ZONE_ID_PATTERN
from orthweb.infra import instance_types
from orthweb.infra.hospital_network import (
    MAX_ASN,
    PLAIN_DICOM_PORT,
    PLAIN_PORT_ALLOWED,
    HospitalNetwork,
    cidrs_reason,
    device_address_reason,
    port_reason,
)
from orthweb.shared import redaction, sso
from orthweb.shared.constants import DOMAIN_PATTERN, REGION_PATTERN, VIEWERS, is_pinned_image
from orthweb.shared.modalities import MAX_MODALITIES, DicomModality, modalities_reason, parse_modality
from orthweb.shared.restore_point import (
    BUCKET,
    BUCKET_NAME_PATTERN,
    DATABASE,
    DB_IDENTIFIER_PATTERN,
    RESTORE_FROM_KEYS,
    TIME,
    RestorePoint,
    parse_moment,
)
from orthweb.shared.sizing import RDS_CLASS_MEMORY_GIB
from orthweb.shared.telemetry import LOG_RETENTION_DAYS

Check = Callable[[str, Any], Any]

# Networks AWS accepts for a VPC besides RFC 1918: the shared address space (RFC 6598).
SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
CERTIFICATE_WARNING_DAYS = 30
# RDS PostgreSQL majors that AWS offers for new instances (give the major only: AWS picks a
# current minor, so a retired minor can never break `pulumi up`).
POSTGRES_MAJORS = (14, 15, 16, 17)
COMPOSE_VERSION_PATTERN = re.compile(r"^\d+\.\d+\.\d+$")
# The stack name becomes part of AWS names (RDS identifier, bucket prefixes, load balancer names),
# which allow lower-case letters, digits and single hyphens; 20 keeps the longest within limits.
STACK_NAME_PATTERN = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,19}$")
# Only the standard partition: ARNs and service names of the others differ (arn:aws-cn, ...).
SUPPORTED_PARTITION = "aws"
# An address SNS can deliver to: no spaces, one @, a dotted domain (SNS confirms it by mail).
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")
# An IAM role or user as aws:PrincipalArn names it: with its path, never a session or a wildcard.
PRINCIPAL_ARN_PATTERN = re.compile(r"^arn:aws:iam::\d{12}:(?:role|user)/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
ASSUMED_ROLE_ARN_PATTERN = re.compile(r"^arn:aws:sts::\d{12}:assumed-role/.+$")
AMI_ID_PATTERN = re.compile(r"^ami-[0-9a-f]{8,17}$")


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the nearest candidate, ignoring case, or ''."""
    pool = list(candidates)
    lowered = {candidate.lower(): candidate for candidate in pool}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.75)
    return f" (did you mean '{lowered[close[0]]}'?)" if close else ""


@cache
def known_regions() -> dict[str, str]:
    """Every region botocore knows, with its partition (aws, aws-cn, aws-us-gov, ...)."""
    endpoints = botocore.loaders.create_loader().load_data("endpoints")
    return {region: partition["partition"] for partition in endpoints["partitions"] for region in partition["regions"]}


def check_region(region: Any, key: str = "aws:region") -> str:
    """A region of the standard partition that botocore knows."""
    regions = known_regions()
    if not isinstance(region, str) or not REGION_PATTERN.fullmatch(region) or region not in regions:
        hint = did_you_mean(region, regions) if isinstance(region, str) else ""
        raise ConfigError.of(key, region, f"an AWS region such as us-east-1{hint}")
    if regions[region] != SUPPORTED_PARTITION:
        raise ConfigError.of(
            key, region, f"a region of the standard AWS partition ({regions[region]} is not supported)"
        )
    return region


def optional_region(key: str, value: Any) -> str | None:
    """A region as `check_region` takes it; empty means unset."""
    return check_region(value, key) if value else None


def check_stack_name(stack: str) -> None:
    if not STACK_NAME_PATTERN.fullmatch(stack):
        raise ConfigError.of(
            STACK_NAME,
            stack,
            "lower-case letters, digits and single hyphens, starting with a letter, at most 20 characters "
            "(it becomes part of AWS names such as the database identifier and the bucket names)",
        )


# --- scalars -------------------------------------------------------------------------------


def as_int(key: str, value: Any, allowed: str) -> int:
    if isinstance(value, bool):
        raise ConfigError.of(key, value, allowed)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d{1,9}", value.strip()):
        return int(value)
    raise ConfigError.of(key, value, allowed)


@dataclass(frozen=True)
class IntIn:
    """An integer from `low` to `high`."""

    low: int
    high: int
    allowed: str = ""

    def __call__(self, key: str, value: Any) -> int:
        allowed = self.allowed or f"an integer from {self.low} to {self.high}"
        number = as_int(key, value, allowed)
        if not self.low <= number <= self.high:
            raise ConfigError.of(key, value, allowed)
        return number


def int_among(choices: tuple[int, ...], allowed: str) -> Check:
    """An integer that must be one of `choices` (PostgreSQL majors, CloudWatch retentions)."""

    def check(key: str, value: Any) -> int:
        number = as_int(key, value, allowed)
        if number not in choices:
            raise ConfigError.of(key, value, allowed)
        return number

    return check


def one_of(choices: tuple[str, ...], *, empty: str | None = None) -> Check:
    """One of `choices`; `empty` (when given) is what an empty or unset value means."""

    def check(key: str, value: Any) -> str:
        if empty is not None and not value:
            value = empty
        if value not in choices:
            raise ConfigError.of(key, value, "one of " + ", ".join(choices))
        return str(value)

    return check


def flag(key: str, value: Any) -> bool:
    # `pulumi config set --path` may hand a boolean over as text.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConfigError.of(key, value, "true or false")


def text(key: str, value: Any) -> str | None:
    """Any string; empty means unset (what a stack gets when a default of "" is applied)."""
    if value is not None and not isinstance(value, str):
        raise ConfigError.of(key, value, "a string")
    return value or None


def image(key: str, value: Any) -> str:
    if isinstance(value, str) and value.endswith(":latest"):
        raise ConfigError.of(key, value, "a pinned tag or digest, not ':latest'")
    if not isinstance(value, str) or not is_pinned_image(value):
        raise ConfigError.of(key, value, "a container image pinned by tag or digest, e.g. repo/name:1.2.3")
    return value


def instance_type(key: str, value: Any) -> str:
    if not isinstance(value, str) or not instance_types.is_known(value):
        raise ConfigError.of(key, value, "an EC2 instance type botocore knows, e.g. t4g.medium or t3.medium")
    if not instance_types.supports_al2023(value):
        raise ConfigError.of(key, value, "an x86_64 or arm64 instance type (no Mac, no previous-generation Xen types)")
    return value


def db_class(key: str, value: Any) -> str:
    # Only classes whose memory we know: Orthanc's connection pool is sized from it.
    if not isinstance(value, str) or value not in RDS_CLASS_MEMORY_GIB:
        raise ConfigError.of(key, value, "an RDS PostgreSQL class among " + ", ".join(sorted(RDS_CLASS_MEMORY_GIB)))
    return value


db_major = int_among(POSTGRES_MAJORS, "a PostgreSQL major version, one of " + ", ".join(map(str, POSTGRES_MAJORS)))
# CloudWatch Logs refuses any other number of days.
retention_days = int_among(
    LOG_RETENTION_DAYS, "a CloudWatch Logs retention: one of " + ", ".join(map(str, LOG_RETENTION_DAYS))
)


def compose_version(key: str, value: Any) -> str:
    if not isinstance(value, str) or not COMPOSE_VERSION_PATTERN.fullmatch(value):
        raise ConfigError.of(key, value, "a docker compose release such as 2.29.7")
    return value


def ami_id(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not AMI_ID_PATTERN.fullmatch(value):
        raise ConfigError.of(key, value, "an AMI id such as ami-0123456789abcdef0 (ami- and 8 to 17 hex digits)")
    return value


def domain(key: str, value: Any) -> str | None:
    if not value:
        return None
    if not isinstance(value, str) or not DOMAIN_PATTERN.fullmatch(value):
        raise ConfigError.of(key, value, "a lower-case DNS name such as pacs.example.org")
    return value


def domain_prefix(key: str, value: Any) -> str | None:
    if not value:
        return None
    reason = sso.domain_prefix_reason(value) if isinstance(value, str) else "a string"
    if reason is not None:
        raise ConfigError.of(key, value, reason)
    return value


def hosted_zone_id(key: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not HOSTED_ZONE_ID_PATTERN.fullmatch(value):
        raise ConfigError.of(key, value, "a Route53 hosted zone id such as Z0123456789ABCDEFGHIJ")
    return value


def pem(marker: str) -> Check:
    """A PEM block of `marker` (never quoted: a private key may sit under the wrong key)."""

    def check(key: str, value: Any) -> str | None:
        if not value:
            return None
        # PKCS#8 ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") and SEC1 ("EC PRIVATE KEY") all qualify.
        if not isinstance(value, str) or "-----BEGIN " not in value or marker not in value:
            allowed = f"a PEM block ({marker})"
            if marker == "CERTIFICATE" and isinstance(value, str) and "PRIVATE KEY-----" in value:
                allowed += "; this is a private key, which goes in siteCertificateKey (as a secret)"
            raise ConfigError.of(key, redaction.NOT_SHOWN, allowed)
        return value

    return check


def vpc_cidr(smallest: int, largest: int) -> Check:
    def check(key: str, value: Any) -> str:
        network = _network(value) if isinstance(value, str) else None
        if network is None:
            reason = f"a private IPv4 network from /{largest} to /{smallest}, e.g. 172.27.0.0/16"
        elif isinstance(network, str):
            reason = network
        elif not (network.is_private or network.subnet_of(SHARED_ADDRESS_SPACE)) or network.is_loopback:
            reason = (
                f"{network} is not a private range (use 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 100.64.0.0/10)"
            )
        elif not largest <= network.prefixlen <= smallest:
            reason = f"a /{network.prefixlen} is the wrong size: the VPC must be from /{largest} to /{smallest}"
        else:
            return value
        raise ConfigError.of(key, value, reason)

    return check


def _network(given: str) -> ipaddress.IPv4Network | str:
    try:
        return ipaddress.IPv4Network(given, strict=True)
    except ValueError:
        pass
    try:
        loose = ipaddress.IPv4Network(given, strict=False)
    except ValueError:
        return "not an IPv4 network in CIDR notation such as 203.0.113.0/24"
    return f"host bits are set: the network is {loose}"


# --- lists and objects ---------------------------------------------------------------------


@dataclass(frozen=True)
class Structured:
    """A list or an object, as JSON text (how the engine hands them over) or parsed (from a file);
    `example` is a value that passes, shown with the problems of its shape."""

    example: Any
    kind: ClassVar[type] = list
    allowed: ClassVar[str] = ""

    def __call__(self, key: str, value: Any) -> Any:
        return self.parsed(key, value)

    def parsed(self, key: str, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise self.refused(key, value) from None
        if not isinstance(value, self.kind):
            raise self.refused(key, value)
        return value

    def refused(self, key: str, value: Any) -> ConfigError:
        return ConfigError(Problem(key, value, self.rule(), example=self.example))

    def rule(self) -> str:
        return self.allowed


@dataclass(frozen=True)
class JsonObject(Structured):
    keys: tuple[str, ...] = ()
    kind = dict

    def rule(self) -> str:
        return f"an object with keys among {', '.join(self.keys)}"


class CidrList(Structured):
    allowed = "a non-empty list of IPv4 networks"

    def __call__(self, key: str, value: Any) -> tuple[str, ...]:
        items = self.parsed(key, value)
        if not items:
            raise self.refused(key, value)
        for item in items:
            if not isinstance(item, str):
                raise self.refused(key, item)
            network = _network(item)
            if isinstance(network, str):
                raise ConfigError.of(key, item, network)
        return tuple(dict.fromkeys(items))


class EmailList(Structured):
    allowed = "a list of e-mail addresses (or [] for none)"

    def __call__(self, key: str, value: Any) -> tuple[str, ...]:
        items = self.parsed(key, value)
        for item in items:
            if not isinstance(item, str) or not EMAIL_PATTERN.fullmatch(item):
                raise self.refused(key, item)
        return tuple(dict.fromkeys(items))


class PrincipalArnList(Structured):
    allowed = "a list of IAM role or user ARNs with their paths"

    def __call__(self, key: str, value: Any) -> tuple[str, ...]:
        items = self.parsed(key, value)
        for item in items:
            if isinstance(item, str) and ASSUMED_ROLE_ARN_PATTERN.fullmatch(item):
                raise ConfigError.of(
                    key, item, "the role's ARN (arn:aws:iam::<account>:role/<path>/<name>), not an assumed-role session"
                )
            if not isinstance(item, str) or not PRINCIPAL_ARN_PATTERN.fullmatch(item):
                raise self.refused(key, item)
        return tuple(dict.fromkeys(items))


class ViewerList(Structured):
    allowed = f"a list of distinct viewers among {', '.join(VIEWERS)} (may be empty)"

    def __call__(self, key: str, value: Any) -> tuple[str, ...]:
        items = self.parsed(key, value)
        if any(item not in VIEWERS for item in items) or len(set(items)) != len(items):
            raise self.refused(key, value)
        return tuple(items)


class ModalityList(Structured):
    allowed = f'a list of at most {MAX_MODALITIES} "AET@host:port" strings'

    def __call__(self, key: str, value: Any) -> tuple[DicomModality, ...]:
        modalities = []
        for index, item in enumerate(self.parsed(key, value)):
            try:
                modalities.append(parse_modality(item if isinstance(item, str) else ""))
            except ValueError as error:
                raise ConfigError.of(f"{key}[{index}]", item, str(error)) from None
        reason = modalities_reason(tuple(modalities))
        if reason:
            raise ConfigError.of(key, value, reason)
        return tuple(modalities)


class RestoreFrom(Structured):
    """`restoreFrom`: every one of its keys, each of its shape; empty means a stack of its own data."""

    kind = dict

    def rule(self) -> str:
        return f"an object with exactly the keys {', '.join(RESTORE_FROM_KEYS)}"

    def __call__(self, key: str, value: Any) -> RestorePoint | None:
        if value in (None, "", {}):
            return None
        given = self.parsed(key, value)
        unknown = [name for name in given if name not in RESTORE_FROM_KEYS]
        if unknown:
            hint = did_you_mean(str(unknown[0]), RESTORE_FROM_KEYS)
            raise ConfigError.of(f"{key}.{unknown[0]}", given[unknown[0]], f"{self.rule()}{hint}")
        missing = [name for name in RESTORE_FROM_KEYS if name not in given]
        if missing:
            raise ConfigError(Problem(f"{key}.{missing[0]}", None, self._allowed(missing[0]), example=self.example))
        for name, pattern in ((DATABASE, DB_IDENTIFIER_PATTERN), (BUCKET, BUCKET_NAME_PATTERN)):
            if not isinstance(given[name], str) or not pattern.fullmatch(given[name]):
                raise ConfigError.of(f"{key}.{name}", given[name], self._allowed(name))
        moment = parse_moment(given[TIME]) if isinstance(given[TIME], str) else None
        if moment is None:
            raise ConfigError.of(f"{key}.{TIME}", given[TIME], self._allowed(TIME))
        return RestorePoint(database=given[DATABASE], moment=moment, bucket=given[BUCKET])

    @staticmethod
    def _allowed(name: str) -> str:
        return {
            DATABASE: "the identifier of the RDS instance to restore from (a letter, then letters, digits and "
            "single hyphens, at most 63)",
            TIME: "the moment to restore to, ISO 8601 with its zone, e.g. 2026-12-06T12:30:00Z",
            BUCKET: "the name of the bucket `orthweb restore` filled (lower-case letters, digits and hyphens, 3 to 63)",
        }[name]


@dataclass(frozen=True)
class HospitalNetworkObject(Structured):
    """`hospitalNetwork`: {} (or unset) for none, else the hospital's ranges, its VPN device's public
    address, and optionally its BGP ASN and the plain DICOM port. Checks of each field alone; how
    they fit the VPC and the region is `orthweb.config`'s."""

    kind = dict
    allowed = "an object with cidrs, vpnDeviceAddress and optionally bgpAsn and dicomPort (or {} for none)"
    FIELDS: ClassVar[tuple[str, ...]] = ("cidrs", "vpnDeviceAddress", "bgpAsn", "dicomPort")

    def __call__(self, key: str, value: Any) -> HospitalNetwork | None:
        given = self.parsed(key, value if value not in (None, "") else {})
        if not given:
            return None
        for name in given:
            if name not in self.FIELDS:
                raise ConfigError.of(
                    f"{key}.{name}",
                    given[name],
                    f"unknown field{did_you_mean(name, self.FIELDS)}; one of {', '.join(self.FIELDS)}",
                )
        for name in ("cidrs", "vpnDeviceAddress"):
            if name not in given:
                raise ConfigError(Problem(f"{key}.{name}", None, f"required in {key}", example=self.example))
        asn = given.get("bgpAsn")
        return HospitalNetwork(
            cidrs=self._cidrs(f"{key}.cidrs", given["cidrs"]),
            vpn_device_address=self._device(f"{key}.vpnDeviceAddress", given["vpnDeviceAddress"]),
            bgp_asn=None if asn in (None, "") else self._asn(f"{key}.bgpAsn", asn),
            dicom_port=self._port(f"{key}.dicomPort", given.get("dicomPort", PLAIN_DICOM_PORT)),
        )

    @staticmethod
    def _cidrs(key: str, value: Any) -> tuple[str, ...]:
        cidrs = CidrList(example=["10.20.0.0/16"])(key, value)
        reason = cidrs_reason(cidrs)
        if reason:
            raise ConfigError.of(key, list(cidrs), reason)
        return cidrs

    @staticmethod
    def _device(key: str, value: Any) -> str:
        reason = device_address_reason(value) if isinstance(value, str) else device_address_reason("")
        if reason:
            raise ConfigError.of(key, value, reason)
        return value

    @staticmethod
    def _port(key: str, value: Any) -> int:
        """A TCP port the hosts do not already serve (or use) for something else."""
        port = IntIn(1, 65535, allowed=PLAIN_PORT_ALLOWED)(key, value)
        reason = port_reason(port)
        if reason:
            raise ConfigError.of(key, value, reason)
        return port

    @staticmethod
    def _asn(key: str, value: Any) -> int:
        """An ASN in AWS's range; the ones AWS reserves in the stack's region are refused with it."""
        allowed = f"a BGP ASN from 1 to {MAX_ASN:,}, or leave it out for static routing"
        return IntIn(1, MAX_ASN, allowed=allowed)(key, value)


# --- the user's certificate ----------------------------------------------------------------


@dataclass(frozen=True)
class CertificateReport:
    names: tuple[str, ...]
    not_after: datetime.datetime
    warnings: tuple[str, ...]


def check_certificate_pair(
    certificate_pem: str, key_pem: str, *, site_domain: str | None, now: datetime.datetime
) -> CertificateReport:
    """Parse the user's certificate and key; ConfigError (never quoting either) when they cannot serve."""
    leaf = _certificates(certificate_pem)[0]
    key = _private_key(key_pem)
    if key.public_key().public_bytes(*_SPKI) != leaf.public_key().public_bytes(*_SPKI):
        _refuse_certificate("the private key does not belong to the (first) certificate")
    if leaf.not_valid_after_utc <= now:
        _refuse_certificate(f"the certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    if leaf.not_valid_before_utc > now:
        _refuse_certificate(f"the certificate is not valid before {leaf.not_valid_before_utc:%Y-%m-%d}")
    names = _dns_names(leaf)
    if site_domain and not any(_covers(name, site_domain) for name in names):
        shown = ", ".join(names) or "none"
        _refuse_certificate(f"the certificate's names ({shown}) do not cover siteDomain {site_domain}")
    warnings = []
    days_left = (leaf.not_valid_after_utc - now).days
    if days_left < CERTIFICATE_WARNING_DAYS:
        warnings.append(f"the site certificate expires in {days_left} days ({leaf.not_valid_after_utc:%Y-%m-%d})")
    return CertificateReport(names=tuple(names), not_after=leaf.not_valid_after_utc, warnings=tuple(warnings))


_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _refuse_certificate(reason: str, key: str = "siteCertificate") -> NoReturn:
    raise ConfigError.of(key, redaction.NOT_SHOWN, reason)


def _certificates(pem_text: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem_text.encode())
    except ValueError:
        _refuse_certificate("not a PEM certificate (chain) that can be parsed")


def _private_key(pem_text: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem_text.encode(), password=None)
    except (ValueError, TypeError):
        _refuse_certificate("not an unencrypted PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC)", "siteCertificateKey")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        _refuse_certificate("an RSA or EC private key (Envoy serves no other kind)", "siteCertificateKey")
    return key


def _dns_names(certificate: x509.Certificate) -> list[str]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [name.lower() for name in extension.value.get_values_for_type(x509.DNSName)]


def _covers(pattern: str, name: str) -> bool:
    # A wildcard covers exactly one leftmost label, as browsers match it.
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name
