"""A user's mistakes get one-line answers that say what was meant; values AWS accepts are accepted."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from orthweb.config.stack_config import ConfigError, load_config

NOW = datetime.datetime(2026, 11, 29, tzinfo=datetime.UTC)
SECRET_KEY = frozenset({"orthweb:siteCertificateKey"})


def make_pair(
    names: list[str], *, key_kind: str = "rsa", not_after: datetime.datetime | None = None
) -> tuple[str, str, object]:
    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if key_kind != "ec"
        else ec.generate_private_key(ec.SECP256R1())
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=60))
        .not_valid_after(not_after or NOW + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_format = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if key_kind in ("pkcs1", "ec")
        else serialization.PrivateFormat.PKCS8
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, key_format, serialization.NoEncryption()).decode()
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem, key


def load_with(cert: str, key: str, home: Path, **extra: str):
    raw = {"orthweb:siteCertificate": cert, "orthweb:siteCertificateKey": key}
    raw.update({f"orthweb:{k}": v for k, v in extra.items()})
    return load_config(raw, stack="t", home=home, secret_keys=SECRET_KEY, now=NOW)


@pytest.mark.parametrize("key_kind", ["pkcs8", "pkcs1", "ec"])
def test_valid_pairs_in_every_common_key_format_are_accepted(key_kind: str, empty_home: Path) -> None:
    cert, key, _ = make_pair(["pacs.example.org"], key_kind=key_kind)
    cfg = load_with(cert, key, empty_home, siteDomain="pacs.example.org")
    assert cfg.site_certificate is not None and cfg.warnings == ()


def test_the_key_must_be_set_as_a_secret_and_is_never_shown(empty_home: Path) -> None:
    cert, key, _ = make_pair(["pacs.example.org"])
    raw = {"orthweb:siteCertificate": cert, "orthweb:siteCertificateKey": key}
    with pytest.raises(ConfigError, match="--secret") as caught:
        load_config(raw, stack="t", home=empty_home, now=NOW)
    assert key.splitlines()[1] not in str(caught.value)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("garbage body", "not a PEM certificate (chain) that can be parsed"),
        ("garbage key", "not an unencrypted PEM private key"),
        ("other key", "the private key does not belong to the (first) certificate"),
        ("expired", "the certificate expired on 2026-11-01"),
        ("wrong name", "the certificate's names (other.example.org) do not cover siteDomain pacs.example.org"),
    ],
)
def test_a_pair_that_cannot_serve_is_refused_with_the_reason(case: str, expected: str, empty_home: Path) -> None:
    expires = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC) if case == "expired" else None
    cert, key, _ = make_pair(["other.example.org" if case == "wrong name" else "pacs.example.org"], not_after=expires)
    if case == "garbage body":
        cert = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    if case == "garbage key":
        key = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
    if case == "other key":
        key = make_pair(["pacs.example.org"])[1]
    with pytest.raises(ConfigError) as caught:
        load_with(cert, key, empty_home, siteDomain="pacs.example.org")
    message = str(caught.value)
    assert expected in message and "\n" not in message
    named = "siteCertificateKey" if case == "garbage key" else "siteCertificate"
    assert message.startswith(f"config orthweb:{named} = ")
    assert "BEGIN" not in message and key.splitlines()[1] not in message


def test_a_wildcard_covers_one_label() -> None:
    cert, key, _ = make_pair(["*.example.org"])
    assert load_with(cert, key, Path("/nonexistent"), siteDomain="pacs.example.org").site_certificate
    with pytest.raises(ConfigError, match="do not cover"):
        load_with(cert, key, Path("/nonexistent"), siteDomain="a.pacs.example.org")


def test_a_certificate_expiring_within_30_days_gives_a_warning(empty_home: Path) -> None:
    cert, key, _ = make_pair(["pacs.example.org"], not_after=NOW + datetime.timedelta(days=12))
    cfg = load_with(cert, key, empty_home, siteDomain="pacs.example.org")
    assert cfg.warnings == ("the site certificate expires in 12 days (2026-12-11)",)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"orthwb:environment": "prod"}, "unknown namespace 'orthwb' (did you mean 'orthweb:environment'?)"),
        ({"Orthweb:environment": "prod"}, "unknown namespace 'Orthweb' (did you mean 'orthweb:environment'?)"),
        ({"aws:region": "us-east1"}, "an AWS region such as us-east-1 (did you mean 'us-east-1'?)"),
        ({"aws:region": "eu-westt-1"}, "(did you mean 'eu-west-1'?)"),
        ({"aws:region": "us-east-9"}, "an AWS region such as us-east-1"),
        ({"aws:region": "cn-north-1"}, "a region of the standard AWS partition (aws-cn is not supported)"),
    ],
)
def test_typos_outside_our_keys_get_an_answer(raw: dict, expected: str, empty_home: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(raw, stack="t", home=empty_home)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("stack", ["Prod", "my_stack", "dev.1", "a" * 21, "1dev", "dev-", "de--v"])
def test_stack_names_that_cannot_name_aws_resources_are_refused(stack: str, empty_home: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({}, stack=stack, home=empty_home)
    assert str(caught.value).startswith(f"stack name = {stack!r} is invalid: lower-case letters")


@pytest.mark.parametrize("stack", ["dev", "prod", "radiology-2", "a" * 20])
def test_ordinary_stack_names_pass(stack: str, empty_home: Path) -> None:
    assert load_config({}, stack=stack, home=empty_home).stack == stack


def test_values_aws_accepts_are_accepted(empty_home: Path) -> None:
    cfg = load_config(
        {
            "orthweb:vpcCidr": "100.64.0.0/16",
            "orthweb:deploymentOptions": {"envoyImage": "registry.example:5000/envoy:v1.40.0"},
        },
        stack="t",
        home=empty_home,
    )
    assert cfg.vpc_cidr == "100.64.0.0/16"
    assert cfg.options.envoy_image == "registry.example:5000/envoy:v1.40.0"


def test_log_retention_is_explicit_per_environment_and_only_what_cloudwatch_accepts(empty_home: Path) -> None:
    assert load_config({}, stack="t", home=empty_home).options.log_retention_days == 365
    prod = load_config({"orthweb:environment": "prod"}, stack="t", home=empty_home)
    assert prod.options.log_retention_days == 731
    chosen = {"orthweb:environment": "prod", "orthweb:deploymentOptions": {"logRetentionDays": 3653}}
    assert load_config(chosen, stack="t", home=empty_home).options.log_retention_days == 3653
    for refused in (730, 3650):
        with pytest.raises(ConfigError, match="CloudWatch Logs retention"):
            load_config({"orthweb:deploymentOptions": {"logRetentionDays": refused}}, stack="t", home=empty_home)


def test_a_certificate_without_site_domain_is_refused_with_the_names_it_covers(empty_home: Path) -> None:
    """Without siteDomain the site's address is a name AWS makes up at deployment (the Elastic IP's
    ec2-...amazonaws.com, or the load balancer's ...elb.amazonaws.com); a browser or DICOM TLS client
    checks the name it connected to against the certificate's subjectAltName dNSName entries (RFC 6125,
    section 6.4), so a user certificate can never match it. Refused at config time with the names the
    certificate does cover, before anything is created."""
    cert, key, _ = make_pair(["pacs.example.org", "*.radiology.example.org"])
    with pytest.raises(ConfigError) as caught:
        load_with(cert, key, empty_home)
    message = str(caught.value)
    assert message.startswith("config orthweb:siteDomain = ") and "\n" not in message
    assert "pacs.example.org, *.radiology.example.org" in message
    assert "BEGIN" not in message and key.splitlines()[1] not in message
