"""Who may talk DICOM, in the rendered files: Orthanc's settings, and Envoy's client certificates.

Orthanc accepts an association only from a configured modality calling its AE title when every
`DicomAlwaysAllow*` is false and `DicomCheckCalledAet` is true (OrthancServer/Sources/main.cpp,
`OrthancApplicationEntityFilter::IsAllowedConnection`; CommandDispatcher.cpp checks the called AE
title first). With client certificates Envoy's DICOM-TLS listener requires one from the stack CA,
naming a configured modality, with a pinned fingerprint: a validation-context secret (SDS, file)
that fetch-secrets.sh builds from the trust secret (envoy/api/envoy/extensions/transport_sockets/
tls/v3/common.proto and secret.proto).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import socket
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from orthweb.host.context import HostAppContext
from orthweb.host.layout import DICOM_CLIENTS_FILE
from orthweb.host.render import render_host_files
from orthweb.shared.modalities import DicomModality, certificate_uri
from tests.static.static_checks import (
    SiteCertificate,
    envoy_validate,
    require_tool,
    run,
    with_local_certificates,
)
from tools.harness.pki import make_client_ca
from tools.harness.secrets import dicom_client_trust_sds

MODALITIES = (DicomModality("CT_1", "10.20.0.15", 104), DicomModality("MR_1", "10.20.0.16", 11112))
TRUST_ARN = "arn:aws:secretsmanager:eu-west-3:123456789012:secret:orthweb/dev/dicom-client-trust-Gh56Ij"
MASTER_SECRET_ARN = "arn:aws:secretsmanager:eu-west-3:123456789012:secret:rds!db-0a1b2c3d-XyZ012"


def with_certificates(context: HostAppContext, modalities: tuple[DicomModality, ...]) -> HostAppContext:
    return dataclasses.replace(context, dicom_modalities=modalities, dicom_client_trust_secret_arn=TRUST_ARN)


def trust_of(modalities: tuple[DicomModality, ...]) -> dict[str, Any]:
    """What orthweb.infra.dicom_client_certificates puts in the trust secret (random fingerprints)."""
    return {
        "ca_certificate": make_client_ca().certificate_pem,
        "certificates": [
            {
                "aet": m.aet,
                "uri": certificate_uri("dev", m.aet),
                "sha256": hashlib.sha256(secrets.token_bytes(8)).hexdigest(),
            }
            for m in modalities
        ],
    }


@pytest.fixture(scope="module")
def certified(app_context: HostAppContext) -> HostAppContext:
    return with_certificates(app_context, MODALITIES)


def dicom_tls(rendered: dict[str, str]) -> dict[str, Any]:
    envoy = yaml.safe_load(rendered["envoy.yaml"])
    (listener,) = [lst for lst in envoy["static_resources"]["listeners"] if lst["name"] == "dicom_tls"]
    return listener["filter_chains"][0]["transport_socket"]["typed_config"]


def test_orthanc_admits_only_configured_modalities_calling_its_ae_title(rendered: dict[str, str]) -> None:
    orthanc = json.loads(rendered["orthanc.json"])
    always = {key: value for key, value in orthanc.items() if key.startswith("DicomAlwaysAllow")}
    assert set(always) == {f"DicomAlwaysAllow{k}" for k in ("Echo", "Store", "Find", "FindWorklist", "Get", "Move")}
    assert set(always.values()) == {False}
    assert orthanc["DicomCheckCalledAet"] is True and orthanc["DicomAet"] == "ORTHANC"
    assert orthanc["UnknownSopClassAccepted"] is False
    # Every association comes from Envoy's address, never the modality's: a host check would refuse all.
    assert orthanc["DicomCheckModalityHost"] is False


def test_a_configured_modality_may_echo_store_query_and_retrieve(app_context: HostAppContext) -> None:
    files = render_host_files(dataclasses.replace(app_context, dicom_modalities=MODALITIES))
    for entry in json.loads(files["orthanc.json"])["DicomModalities"].values():
        assert all(entry[f"Allow{k}"] for k in ("Echo", "Store", "Find", "Get", "Move")), entry


def test_without_certificates_envoy_asks_for_none(rendered: dict[str, str]) -> None:
    tls = dicom_tls(rendered)
    assert "require_client_certificate" not in tls
    assert "validation_context_sds_secret_config" not in tls["common_tls_context"]
    assert (
        DICOM_CLIENTS_FILE not in rendered["docker-compose.yml"]
        and "DICOM_CLIENTS_SECRET" not in rendered["fetch-secrets.sh"]
    )


def test_with_certificates_envoy_requires_one_it_reads_from_its_secret_file(certified: HostAppContext) -> None:
    rendered = render_host_files(certified)
    tls = dicom_tls(rendered)
    assert tls["require_client_certificate"] is True
    path = tls["common_tls_context"]["validation_context_sds_secret_config"]["sds_config"]["path_config_source"]["path"]
    assert path == f"/run/secrets/{DICOM_CLIENTS_FILE}"
    compose = yaml.safe_load(rendered["docker-compose.yml"])
    assert DICOM_CLIENTS_FILE in compose["services"]["envoy"]["secrets"]
    assert all(DICOM_CLIENTS_FILE not in compose["services"][r].get("secrets", []) for r in certified.replica_names)
    # Only the DICOM listener: HTTPS clients are never asked for a certificate.
    envoy = yaml.safe_load(rendered["envoy.yaml"])
    (https,) = [lst for lst in envoy["static_resources"]["listeners"] if lst["name"] == "https"]
    assert "require_client_certificate" not in json.dumps(https)


@pytest.fixture(scope="module")
def boot_with_trust(
    tmp_path_factory: pytest.TempPathFactory, certified: HostAppContext, site_certificate: SiteCertificate
):
    """The rendered fetch-secrets.sh, run with bash and jq against a stand-in `aws` command."""
    from tests.static.test_fetch_secrets import AWS_STUB

    rendered = render_host_files(certified)
    bash = require_tool("bash", "apt-get install -y bash")
    require_tool("jq", "apt-get install -y jq")
    directory = tmp_path_factory.mktemp("trust")
    (directory / "app").mkdir()
    (directory / "bin").mkdir()
    (directory / "app" / "envoy.yaml").write_text(rendered["envoy.yaml"])
    (directory / "app" / "fetch-secrets.sh").write_text(rendered["fetch-secrets.sh"])
    aws = directory / "bin" / "aws"
    aws.write_text(f"#!{sys.executable} -IS\n{AWS_STUB}")
    aws.chmod(0o755)
    with socket.socket() as database:
        database.bind(("127.0.0.1", 0))
        database.listen(8)

        def boot(trust: object, name: str) -> tuple[int, str, Path]:
            secrets_dir = directory / name
            answers = {
                "instance": {
                    "DBInstanceStatus": "available",
                    "Endpoint": {"Address": "127.0.0.1", "Port": database.getsockname()[1]},
                    "DBName": "orthanc",
                    "MasterUserSecret": {"SecretArn": MASTER_SECRET_ARN},
                },
                "secrets": {
                    MASTER_SECRET_ARN: json.dumps({"username": "u", "password": "p"}),
                    certified.orthanc_credentials_secret_arn: json.dumps(
                        {"admin": {"username": "a", "password": "b"}, "health": {"username": "h", "password": "i"}}
                    ),
                    certified.site_tls_secret_arn: json.dumps(
                        {"certificate": site_certificate.cert_pem, "private_key": site_certificate.key_pem}
                    ),
                    TRUST_ARN: trust if isinstance(trust, str) else json.dumps(trust),
                },
            }
            (directory / "bin" / "describe-calls").write_text("1")  # the database exists already
            (directory / "bin" / "answers.json").write_text(json.dumps(answers))
            env = {
                "PATH": f"{directory / 'bin'}{os.pathsep}{os.environ['PATH']}",
                "ORTHWEB_APP_DIR": str(directory / "app"),
                "ORTHWEB_SECRETS_DIR": str(secrets_dir),
                "ORTHWEB_DB_POLL_SECONDS": "0",
            }
            done = run([bash, str(directory / "app" / "fetch-secrets.sh")], env=env)
            return done.returncode, done.stdout + done.stderr, secrets_dir

        yield boot


def test_the_host_builds_envoys_trust_file_from_the_secret_and_envoy_accepts_it(
    boot_with_trust, site_certificate: SiteCertificate, tmp_path: Path
) -> None:
    trust = trust_of(MODALITIES)
    code, log, secrets_dir = boot_with_trust(trust, "good")
    assert code == 0, log
    written = secrets_dir / DICOM_CLIENTS_FILE
    assert stat.S_IMODE(written.stat().st_mode) == 0o400
    assert json.loads(written.read_text()) == dicom_client_trust_sds(trust)  # what the harness writes too
    live = (secrets_dir / "envoy.yaml").read_text()
    assert "# DICOM client trust: sha256 " in live  # a new trust replaces Envoy at the next refresh
    local = with_local_certificates(live, site_certificate.cert_path, site_certificate.key_path)
    envoy_validate(local.replace(f"/run/secrets/{DICOM_CLIENTS_FILE}", str(written)), tmp_path)


@pytest.mark.parametrize(
    ("broken", "why"),
    [
        ({"certificates": [{"uri": "urn:orthweb:dev:modality:CT_1", "sha256": "ab" * 32}]}, "no CA"),
        ({"ca_certificate": "x", "certificates": []}, "not a PEM CA"),
        ("certificates", "a fingerprint that is not hex"),
        ("uri", "a URI that names no modality"),
        ("not json", "not JSON"),
    ],
)
def test_a_malformed_trust_secret_stops_the_host(boot_with_trust, broken: object, why: str) -> None:
    """Rather than start a DICOM listener that might trust something it should not."""
    trust = trust_of(MODALITIES)
    if broken == "certificates":
        trust["certificates"][0]["sha256"] = "Z" * 64
    elif broken == "uri":
        trust["certificates"][0]["uri"] = "urn:other:CT_1"
    elif isinstance(broken, dict):
        trust = {**trust, **broken} if "ca_certificate" in broken else {"certificates": broken["certificates"]}
    else:
        trust = broken
    code, log, secrets_dir = boot_with_trust(trust, f"broken-{why.replace(' ', '-')}")
    assert code != 0, why
    assert "DICOM client trust secret must hold" in log, log
    assert not (secrets_dir / DICOM_CLIENTS_FILE).exists() and not (secrets_dir / "envoy.yaml").exists()
