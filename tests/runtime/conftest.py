"""One running stack for the whole runtime session: PostgreSQL, N Orthanc replicas, Envoy.

The host files are what the rendered bootstrap.sh installs from the host's bundle, served by moto's
S3 and checked against its digest as on a host (or, with `$ORTHWEB_RENDERED_DIR/primary`, a
`python -m orthweb plan --out` folder); the secret files come from the rendered fetch-secrets.sh run
against moto. Measurements go to `runtime_report` (tests/conftest.py), printed at the end of the run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orthweb.clients.dicom import DicomEndpoint
from orthweb.config.keys import BY_NAME
from orthweb.host.context import HostAppContext
from orthweb.host.render import render_host, render_host_files
from orthweb.infra.hospital_network import site_address
from orthweb.shared.modalities import DicomModality
from tools.harness import Stack, load_rendered
from tools.harness.aws import FetchSecrets, fetch_secrets_provider
from tools.harness.bundle import boot_from_bundle
from tools.harness.dicom import CALLING_AE, local_endpoint, tls_context
from tools.harness.oidc import CognitoLike, sign_in_context
from tools.harness.processes import LOOPBACK, free_port

ACCOUNT = "123456789012"
REGION = "eu-west-1"
# What seals Orthanc's audit lines on these hosts (a stack draws its own).
AUDIT_SEAL = "runtimeseal000000001"


# Orthanc accepts only configured modalities: every stack the tests run knows the harness's AE
# title (the port matters only where a test receives C-MOVE: see `test_modality`).
HARNESS_MODALITY = DicomModality(CALLING_AE, LOOPBACK, 104)
# The session's host has the plain-DICOM listener too (hospitalNetwork), beside DICOM-TLS.
PLAIN_DICOM_PORT = 104
PLAIN_DICOM_SITE_ADDRESS = site_address(BY_NAME["vpcCidr"].default)


def runtime_context(
    replicas: int = 3,
    host_role: str = "primary",
    stack: str = "dev",
    dicom_modalities: tuple[DicomModality, ...] = (HARNESS_MODALITY,),
    plain_dicom_port: int | None = None,
) -> HostAppContext:
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:orthweb/{stack}"
    return HostAppContext(
        host_role=host_role,
        stack=stack,
        region=REGION,
        templates_digest="0123456789abcdef",
        orthanc_image="orthancteam/orthanc:25.1.1",
        envoy_image="envoyproxy/envoy:v1.40.0",
        orthanc_replicas=replicas,
        index_connections=5,
        dicom_bucket="orthweb-dev-dicom",
        bundle_bucket=f"orthweb-{stack}-host-bundles",
        db_identifier=f"orthweb-{stack}-db",
        orthanc_credentials_secret_arn=f"{arn}/orthanc-credentials-Ab12Cd",
        site_tls_secret_arn=f"{arn}/site-tls-Ef34Gh",
        audit_seal=AUDIT_SEAL,
        site_name="orthweb.test",
        dicom_modalities=dicom_modalities,
        # hospitalNetwork's plain listener on the failover site's private address (the default VPC's).
        plain_dicom_port=plain_dicom_port,
        plain_dicom_address=PLAIN_DICOM_SITE_ADDRESS if plain_dicom_port else "",
    )


@pytest.fixture(scope="session")
def test_modality() -> DicomModality:
    """The tests' own DICOM node as the stack config registers it: AE title, and where it
    listens for what Orthanc sends it (C-MOVE)."""
    return DicomModality(CALLING_AE, LOOPBACK, free_port())


@pytest.fixture(scope="session")
def secrets_source() -> Iterator[FetchSecrets]:
    """moto's Secrets Manager, RDS and S3: read by the rendered fetch-secrets.sh (boot and refresh)
    and the rendered bootstrap.sh."""
    with fetch_secrets_provider() as provider:
        yield provider


@pytest.fixture(scope="session")
def rendered(
    test_modality: DicomModality, secrets_source: FetchSecrets, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """What the session's host installed at first boot: its bundle, fetched and checked by the
    rendered bootstrap.sh."""
    out = os.environ.get("ORTHWEB_RENDERED_DIR")
    if out:
        return load_rendered(Path(out) / "primary")
    host = render_host(runtime_context(dicom_modalities=(test_modality,), plain_dicom_port=PLAIN_DICOM_PORT))
    return boot_from_bundle(host, secrets_source.aws, tmp_path_factory.mktemp("host") / "root")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def stack(rendered: dict[str, str], secrets_source: FetchSecrets, runtime_report: dict[str, object]) -> Iterator[Stack]:
    keep = os.environ.get("ORTHWEB_KEEP_HARNESS") == "1"
    # A terminated run (CI timeout, `timeout`) still unwinds the fixtures and stops every server.
    signal.signal(signal.SIGTERM, _interrupt)
    start = time.monotonic()
    with Stack(rendered, secrets=secrets_source, keep_work_dir=keep) as running:
        runtime_report["stack start (incl. fetch-secrets.sh via moto), s"] = round(time.monotonic() - start, 1)
        runtime_report["replicas"] = running.replica_total
        yield running


# Sign-in stacks: the machine client's id and the site client's secret as the harness names them.
MACHINE_ID = "machine0client0id000000000"


def site_secret_arn(stack: str) -> str:
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:orthweb/{stack}/sso-site-client-Ab12Cd"


@pytest.fixture(scope="session")
def sso_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CognitoLike]:
    """The local stand-in for Cognito that the sign-in stack trusts."""
    with CognitoLike(tmp_path_factory.mktemp("idp")) as running:
        yield running


@pytest.fixture(scope="session")
def sso_stack(sso_provider: CognitoLike) -> Iterator[Stack]:
    """One host with sign-in in front of the real Orthanc (one replica): Envoy with the sign-in
    filters from the site client's secret, Orthanc with the role filter."""
    # moto keeps its state for the whole process: each stack of the session has a name of its own.
    name = "ssoorthanc"
    sso_ctx = sign_in_context(sso_provider, machine_client_id=MACHINE_ID, site_client_secret_arn=site_secret_arn(name))
    context = dataclasses.replace(runtime_context(replicas=1, stack=name), sso=sso_ctx)
    site_secret = {
        "client_id": sso_provider.site_client_id,
        "client_secret": sso_provider.site_client_secret,
        "hmac_secret": "cookie-key-" + "k" * 24,
    }
    with (
        fetch_secrets_provider() as secrets,
        Stack(
            render_host_files(context),
            secrets=secrets,
            sso_site_secret=site_secret,
            envoy_files={sso_ctx.trusted_ca_file: sso_provider.ca_file},
        ) as running,
    ):
        yield running


@pytest.fixture(scope="session")
def dicom(stack: Stack) -> DicomEndpoint:
    """Envoy's DICOM-TLS listener, trusting the site certificate like a configured modality."""
    return local_endpoint(port=stack.dicom_port, tls=tls_context(str(stack.site_ca)), server_hostname=LOOPBACK)


@pytest.fixture(scope="session")
def plain_dicom(stack: Stack) -> DicomEndpoint:
    """Envoy's plain-DICOM listener (what the hospital's modalities reach through the VPN): no TLS."""
    if not stack.plain_dicom_port:
        pytest.fail("the session's rendered envoy.yaml has no plain-DICOM listener")
    return local_endpoint(port=stack.plain_dicom_port)


@pytest.fixture(scope="session")
def render_for(secrets_source: FetchSecrets, tmp_path_factory: pytest.TempPathFactory):
    """Another host's files as its bootstrap installs them from its bundle (e.g. a second stack
    name, so moto state does not collide)."""
    return lambda **kwargs: boot_from_bundle(
        render_host(runtime_context(**kwargs)), secrets_source.aws, tmp_path_factory.mktemp("host") / "root"
    )


@pytest.fixture(scope="session")
def find_allowed(rendered: dict[str, str], test_modality: DicomModality) -> str:
    """C-FIND is refused to AE titles that are not configured modalities: ours must be one."""
    modalities = json.loads(rendered["orthanc.json"]).get("DicomModalities", {})
    entry = modalities.get(test_modality.aet)
    if entry is None:
        pytest.fail(f"the rendered orthanc.json has no modality {test_modality.aet}: set dicomModalities")
    return test_modality.aet


def stored_instances(stack: Stack, uids: list[str]) -> list[str]:
    """The SOP instance UIDs among `uids` that Orthanc's index knows (shared by every replica)."""
    found = []
    for uid in uids:
        status, _, body = stack.request("/tools/lookup", method="POST", body=uid.encode(), credential=stack.admin)
        assert status == 200, body
        found += [uid for hit in json.loads(body) if hit["Type"] == "Instance"]
    return found


def instance_count(stack: Stack) -> int:
    status, _, body = stack.request("/statistics", credential=stack.admin)
    assert status == 200, body
    return int(json.loads(body)["CountInstances"])
