"""Reading a Pulumi.<stack>.yaml the way the engine would, without a Pulumi CLI or passphrase."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from orthweb.config import ConfigError, qualified_key


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
    return values, frozenset(secret_keys)


def _config_section(path: Path) -> dict[str, Any]:
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError("--stack", stack, f"an existing stack file ({path} not found)") from None
    except yaml.YAMLError as error:
        raise ConfigError("--stack", stack, f"valid YAML ({str(error).splitlines()[0]})") from None
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError("--stack", stack, "a `config:` mapping")
    return config


def _offline_secret_placeholder(key: str) -> str:
    if key.endswith("siteCertificateKey"):
        return "-----BEGIN PRIVATE KEY-----\nOFFLINE-PLACEHOLDER\n-----END PRIVATE KEY-----\n"
    if key.endswith("siteCertificate"):
        return "-----BEGIN CERTIFICATE-----\nOFFLINE-PLACEHOLDER\n-----END CERTIFICATE-----\n"
    return "offline-placeholder"
