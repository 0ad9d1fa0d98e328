"""The boot-time secret step: what fetch-secrets.sh writes, and how the containers consume it.

A `SecretsProvider` fills a directory with the files fetch-secrets.sh installs on a host:
`ORTHANC__*` (JSON values the Orthanc image turns into configuration keys),
`orthweb-health-user.lua`, `orthweb-probe-authorization`, the live `envoy.yaml`, `site.crt` and `site.key`.
`write_like_fetch_secrets` does it in Python; `tools.harness.aws.run_fetch_secrets` runs
the rendered script itself against a local moto server.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from orthweb.host import sso_context
from orthweb.host.credentials import Credential
from orthweb.host.layout import DICOM_CLIENTS_FILE, DICOM_CLIENTS_SDS_NAME, HEALTH_AUTH_PLACEHOLDER

SETTING_FILE = re.compile(r"^ORTHANC__[A-Z0-9_]+$")
SDS_SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
# The orthancteam/orthanc image spells these words its own way when it maps ORTHANC__A_B names.
_SPECIAL_WORDS = {"POSTGRESQL": "PostgreSQL", "DICOM": "Dicom", "AWS": "Aws"}


@dataclass(frozen=True)
class SecretInputs:
    """What Secrets Manager and RDS hold for one deployment, as the harness made them."""

    admin: Credential
    health: Credential
    db_host: str
    db_port: int
    db_name: str
    db_user: str
    db_password: str
    site_certificate_pem: str
    site_private_key_pem: str
    # What the site client's secret holds (authentication: sso): client_id, client_secret,
    # hmac_secret, site_address.
    sso_site_secret: Mapping[str, str] | None = None
    # What the DICOM client trust secret holds (dicomClientCertificates): ca_certificate, and
    # certificates: [{aet, uri, sha256}].
    dicom_client_trust: Mapping[str, Any] | None = None


# (inputs, rendered files, output directory) -> None; must leave the files fetch-secrets.sh leaves.
SecretsProvider = Callable[[SecretInputs, Mapping[str, str], Path], None]


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o400)


def write_like_fetch_secrets(inputs: SecretInputs, rendered: Mapping[str, str], out: Path) -> None:
    """The same files fetch-secrets.sh writes, made in Python (no AWS CLI, no moto)."""
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "ORTHANC__POSTGRESQL__HOST": inputs.db_host,
        "ORTHANC__POSTGRESQL__PORT": inputs.db_port,
        "ORTHANC__POSTGRESQL__DATABASE": inputs.db_name,
        "ORTHANC__POSTGRESQL__USERNAME": inputs.db_user,
        "ORTHANC__POSTGRESQL__PASSWORD": inputs.db_password,
        "ORTHANC__POSTGRESQL__CONNECTION_URI": connection_uri(inputs),
        "ORTHANC__REGISTERED_USERS": {
            inputs.admin.username: inputs.admin.password,
            inputs.health.username: inputs.health.password,
        },
    }
    for name, value in values.items():
        _write(out / name, json.dumps(value) + "\n")
    _write(out / "orthweb-health-user.lua", f'ORTHWEB_HEALTH_USER = "{inputs.health.username}"\n')
    _write(out / "orthweb-probe-authorization", inputs.admin.header)
    envoy_live = rendered["envoy.yaml"].replace(HEALTH_AUTH_PLACEHOLDER, inputs.health.header)
    if inputs.sso_site_secret is not None:
        envoy_live = write_sso_secrets(inputs.sso_site_secret, inputs.admin, envoy_live, out)
    if inputs.dicom_client_trust is not None:
        envoy_live += write_dicom_client_trust(inputs.dicom_client_trust, out)
    _write(out / "envoy.yaml", envoy_live)
    _write(out / "site.crt", inputs.site_certificate_pem)
    _write(out / "site.key", inputs.site_private_key_pem)


def write_sso_secrets(sso_site_secret: Mapping[str, str], admin: Credential, envoy_template: str, out: Path) -> str:
    """Sign-in, as fetch-secrets.sh does it: Envoy's two secret files; returns envoy.yaml filled in."""
    for file_name, name, field in (
        (sso_context.CLIENT_SECRET_FILE, "sso-client-secret", "client_secret"),
        (sso_context.COOKIE_KEY_FILE, "sso-cookie-key", "hmac_secret"),
    ):
        secret = {
            "@type": SDS_SECRET_TYPE,
            "name": name,
            "generic_secret": {"secret": {"inline_string": sso_site_secret[field]}},
        }
        _write(out / file_name, json.dumps({"resources": [secret]}))
    site = sso_site_secret["site_address"]
    for placeholder, value in (
        (sso_context.CLIENT_ID_PLACEHOLDER, sso_site_secret["client_id"]),
        (sso_context.SITE_ADDRESS_PLACEHOLDER, site),
        (sso_context.LOGOUT_URI_PLACEHOLDER, quote(f"https://{site}/", safe="")),
        (sso_context.ORTHANC_AUTHORIZATION_PLACEHOLDER, admin.header),
    ):
        envoy_template = envoy_template.replace(placeholder, value)
    return envoy_template


def dicom_client_trust_sds(trust: Mapping[str, Any]) -> dict[str, Any]:
    """Envoy's validation-context secret (SDS) as fetch-secrets-dicom-clients.sh.j2 builds it."""
    certificates = trust["certificates"]
    context = {
        "trusted_ca": {"inline_string": trust["ca_certificate"]},
        "match_typed_subject_alt_names": [{"san_type": "URI", "matcher": {"exact": c["uri"]}} for c in certificates],
        "verify_certificate_hash": [c["sha256"] for c in certificates],
    }
    return {"resources": [{"@type": SDS_SECRET_TYPE, "name": DICOM_CLIENTS_SDS_NAME, "validation_context": context}]}


def write_dicom_client_trust(trust: Mapping[str, Any], out: Path) -> str:
    """The SDS file, as fetch-secrets.sh writes it; returns the line it appends to envoy.yaml."""
    text = json.dumps(dicom_client_trust_sds(trust), separators=(",", ":")) + "\n"
    _write(out / DICOM_CLIENTS_FILE, text)
    return f"\n# DICOM client trust: sha256 {hashlib.sha256(text.encode()).hexdigest()}"


def connection_uri(inputs: SecretInputs) -> str:
    """What fetch-secrets.sh builds with jq's @uri: every part percent-encoded, TLS required."""
    user, password, database = (quote(part, safe="") for part in (inputs.db_user, inputs.db_password, inputs.db_name))
    return f"postgresql://{user}:{password}@{inputs.db_host}:{inputs.db_port}/{database}?sslmode=require"


def setting_path(name: str) -> list[str]:
    """`ORTHANC__POSTGRESQL__HOST` -> ["PostgreSQL", "Host"] (the image's naming rule)."""
    parts = name.split("__")[1:]
    return ["".join(_SPECIAL_WORDS.get(word, word.capitalize()) for word in part.split("_")) for part in parts]


def settings_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """Configuration from `ORTHANC__*` variables or secret files (JSON values, else strings)."""
    config: dict[str, Any] = {}
    for name, raw in env.items():
        if not SETTING_FILE.match(name):
            continue
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = config
        *parents, leaf = setting_path(name)
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return config


def settings_from_secret_files(directory: Path, names: list[str]) -> dict[str, Any]:
    missing = [n for n in names if not (directory / n).is_file()]
    if missing:
        raise FileNotFoundError(f"secret files missing in {directory}: {missing}")
    return settings_from_env({n: (directory / n).read_text() for n in names if SETTING_FILE.match(n)})
