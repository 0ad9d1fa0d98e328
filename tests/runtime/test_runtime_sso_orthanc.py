"""Sign-in in front of the real Orthanc (Debian's, with PostgreSQL): the roles decide what reaches
it, Orthanc itself still demands the internal credential Envoy adds, and DICOM-TLS and Envoy's
health checks work as without sign-in."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from orthweb import sso
from orthweb.harness import Stack
from orthweb.harness.aws import fetch_secrets_provider
from orthweb.harness.dicom import SUCCESS, DicomEndpoint, echo, make_study, tls_context, to_bytes
from orthweb.harness.oidc import CognitoLike, sign_in_context
from orthweb.harness.processes import LOOPBACK
from orthweb.host.render import render_host_files
from tests.runtime.conftest import ACCOUNT, REGION, runtime_context

pytestmark = pytest.mark.runtime

MACHINE_ID = "machine0client0id000000000"
SITE_SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:orthweb/ssoorthanc/sso-site-client-Ab12Cd"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CognitoLike]:
    with CognitoLike(tmp_path_factory.mktemp("idp")) as running:
        yield running


@pytest.fixture(scope="module")
def sso_stack(provider: CognitoLike) -> Iterator[Stack]:
    sso_ctx = sign_in_context(provider, machine_client_id=MACHINE_ID, site_client_secret_arn=SITE_SECRET_ARN)
    context = dataclasses.replace(runtime_context(replicas=1, stack="ssoorthanc"), sso=sso_ctx)
    site_secret = {
        "client_id": provider.site_client_id,
        "client_secret": provider.site_client_secret,
        "hmac_secret": "cookie-key-" + "k" * 24,
    }
    with (
        fetch_secrets_provider() as secrets,
        Stack(
            render_host_files(context),
            secrets=secrets,
            sso_site_secret=site_secret,
            envoy_files={sso_ctx.trusted_ca_file: provider.ca_file},
        ) as running,
    ):
        yield running


def token(provider: CognitoLike, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {provider.access_token(**{'cognito:groups': [role]})}"}


def test_roles_decide_what_reaches_orthanc(provider: CognitoLike, sso_stack: Stack) -> None:
    status, _, body = sso_stack.request("/system", headers=token(provider, sso.VIEWER))
    assert status == 200 and json.loads(body)["DicomAet"] == "ORTHANC"
    instance = to_bytes(make_study(1, patient_id="ORTHWEB-SSO")[0])
    assert sso_stack.request("/instances", method="POST", body=instance, headers=token(provider, sso.VIEWER))[0] == 403
    status, _, body = sso_stack.request(
        "/instances", method="POST", body=instance, headers=token(provider, sso.UPLOADER)
    )
    assert status == 200
    instance_id = json.loads(body)["ID"]
    path = f"/instances/{instance_id}"
    assert sso_stack.request(path, method="DELETE", headers=token(provider, sso.UPLOADER))[0] == 403
    assert sso_stack.request(path, method="DELETE", headers=token(provider, sso.ADMIN))[0] == 200
    assert sso_stack.request(path, headers=token(provider, sso.ADMIN))[0] == 404


def test_orthanc_itself_still_demands_the_internal_credential(provider: CognitoLike, sso_stack: Stack) -> None:
    replica = sso_stack.replica(1).base_url
    assert sso_stack.request("/system", base=replica)[0] == 401
    # A token means nothing to Orthanc: only Envoy, after checking it, lets a request through.
    assert sso_stack.request("/system", base=replica, headers=token(provider, sso.ADMIN))[0] == 401
    assert sso_stack.request("/system", base=replica, credential=sso_stack.admin)[0] == 200
    # Orthanc's password from outside opens nothing: Envoy drops the header and asks for sign-in.
    status, _, _ = sso_stack.request("/system", credential=sso_stack.admin, headers={"Accept": "application/json"})
    assert status == 401


def test_dicom_tls_and_health_checks_work_as_without_sign_in(sso_stack: Stack) -> None:
    endpoint = DicomEndpoint(
        port=sso_stack.dicom_port, tls=tls_context(str(sso_stack.site_ca)), server_hostname=LOOPBACK
    )
    assert echo(endpoint) == SUCCESS
    assert sso_stack.envoy is not None
    health: dict[str, Any] = sso_stack.envoy.host_health()
    assert {flags for cluster in health.values() for flags in cluster.values()} == {"healthy"}
