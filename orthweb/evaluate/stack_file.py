"""Reading a Pulumi.<stack>.yaml the way the engine would, without a Pulumi CLI or passphrase."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from orthweb import redaction
from orthweb.problems import ConfigError, qualified_key

# What a Pulumi.<stack>.yaml may hold at its top level (the CLI's stack settings file).
STACK_FILE_KEYS = frozenset({"config", "encryptionsalt", "secretsprovider", "encryptedkey", "environment"})


def read_stack_file(path: Path) -> tuple[dict[str, Any], frozenset[str]]:
    """The `config:` of a Pulumi.<stack>.yaml. Encrypted values cannot be read offline: they
    become placeholders of the right shape, still marked secret."""
    config = _config_section(path)
    values: dict[str, Any] = {}
    secret_keys: set[str] = set()
    for key, value in config.items():
        full_key = qualified_key(key)
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret_keys.add(full_key)
            value = _offline_secret_placeholder(full_key)
        values[full_key] = value
    _replace_certificate_placeholders(values, secret_keys)
    return values, frozenset(secret_keys)


def _replace_certificate_placeholders(values: dict[str, Any], secret_keys: set[str]) -> None:
    """An encrypted certificate pair is evaluated with a real stand-in pair for the same names."""
    cert_key, key_key = qualified_key("siteCertificate"), qualified_key("siteCertificateKey")
    if cert_key in secret_keys and key_key in secret_keys:
        domain = values.get(qualified_key("siteDomain")) or "offline.invalid"
        values[cert_key], values[key_key] = stand_in_certificate(str(domain))


def _config_section(path: Path) -> dict[str, Any]:
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError.of("--stack", stack, f"an existing stack file ({path} not found)") from None
    except (OSError, UnicodeDecodeError) as error:
        # A name too long for a file, a folder of that name, a file that is not text: one line.
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigError.of("--stack", stack, f"a readable stack file Pulumi.<stack>.yaml ({reason})") from None
    except yaml.YAMLError as error:
        raise ConfigError.of("--stack", stack, f"valid YAML in {path.name} ({_yaml_problem(error)})") from None
    if not isinstance(document, dict):
        raise ConfigError.of(
            "--stack", stack, f"a stack file whose top level is a mapping with `config:` ({path.name})"
        )
    unknown = sorted(set(document) - STACK_FILE_KEYS)
    if unknown:
        raise ConfigError.of(
            "--stack",
            stack,
            f"{path.name} has top-level {', '.join(map(repr, unknown))}: settings go under `config:` "
            f"(a stack file's top level holds only {', '.join(sorted(STACK_FILE_KEYS))})",
        )
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError.of("--stack", stack, f"a `config:` mapping of key: value in {path.name}")
    return config


def _yaml_problem(error: yaml.YAMLError) -> str:
    """Where the YAML breaks and how, never quoting the file: it may hold a secret."""
    mark = getattr(error, "problem_mark", None)
    problem = str(getattr(error, "problem", None) or "it cannot be parsed")
    if redaction.kind_of_secret(problem) is not None or not redaction.plainly_benign(problem):
        problem = "a syntax error"
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else problem


def _offline_secret_placeholder(key: str) -> str:
    if key.endswith("siteCertificateKey"):
        return "-----BEGIN PRIVATE KEY-----\nOFFLINE-PLACEHOLDER\n-----END PRIVATE KEY-----\n"
    if key.endswith("siteCertificate"):
        return "-----BEGIN CERTIFICATE-----\nOFFLINE-PLACEHOLDER\n-----END CERTIFICATE-----\n"
    return "offline-placeholder"


def stand_in_certificate(domain: str) -> tuple[str, str]:
    """A self-signed pair for `domain`, valid for a year: what an encrypted pair looks like offline."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem
