"""Sign-in in front of the real Orthanc (Debian's, with PostgreSQL): the roles decide what reaches
it, Orthanc itself still demands the internal credential and the role Envoy adds, and DICOM-TLS and
Envoy's health checks work as without sign-in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orthweb.clients.dicom import SUCCESS, echo, make_study, to_bytes
from orthweb.shared import sso
from tools.harness import Stack
from tools.harness.dicom import local_endpoint, tls_context
from tools.harness.oidc import CognitoLike
from tools.harness.processes import LOOPBACK

pytestmark = pytest.mark.runtime


def token(provider: CognitoLike, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {provider.access_token(**{'cognito:groups': [role]})}"}


def test_roles_decide_what_reaches_orthanc(sso_provider: CognitoLike, sso_stack: Stack) -> None:
    status, _, body = sso_stack.request("/system", headers=token(sso_provider, sso.VIEWER))
    assert status == 200 and json.loads(body)["DicomAet"] == "ORTHANC"
    instance = to_bytes(make_study(1, patient_id="ORTHWEB-SSO")[0])
    assert (
        sso_stack.request("/instances", method="POST", body=instance, headers=token(sso_provider, sso.VIEWER))[0] == 403
    )
    status, _, body = sso_stack.request(
        "/instances", method="POST", body=instance, headers=token(sso_provider, sso.UPLOADER)
    )
    assert status == 200
    instance_id = json.loads(body)["ID"]
    path = f"/instances/{instance_id}"
    assert sso_stack.request(path, method="DELETE", headers=token(sso_provider, sso.UPLOADER))[0] == 403
    assert sso_stack.request(path, method="DELETE", headers=token(sso_provider, sso.ADMIN))[0] == 200
    assert sso_stack.request(path, headers=token(sso_provider, sso.ADMIN))[0] == 404


def test_orthanc_itself_still_demands_the_internal_credential(sso_provider: CognitoLike, sso_stack: Stack) -> None:
    replica = sso_stack.replica(1).base_url
    assert sso_stack.request("/system", base=replica)[0] == 401
    # A token means nothing to Orthanc: only Envoy, after checking it, lets a request through.
    assert sso_stack.request("/system", base=replica, headers=token(sso_provider, sso.ADMIN))[0] == 401
    # The internal credential alone is not enough either: Orthanc's filter wants the role Envoy names.
    assert sso_stack.request("/system", base=replica, credential=sso_stack.admin)[0] == 403
    role = {sso.ROLE_HEADER: sso.VIEWER}
    assert sso_stack.request("/system", base=replica, credential=sso_stack.admin, headers=role)[0] == 200
    # Orthanc's password from outside opens nothing: Envoy drops the header and asks for sign-in.
    status, _, _ = sso_stack.request("/system", credential=sso_stack.admin, headers={"Accept": "application/json"})
    assert status == 401


def test_dicom_tls_and_health_checks_work_as_without_sign_in(sso_stack: Stack) -> None:
    endpoint = local_endpoint(
        port=sso_stack.dicom_port, tls=tls_context(str(sso_stack.site_ca)), server_hostname=LOOPBACK
    )
    assert echo(endpoint) == SUCCESS
    assert sso_stack.envoy is not None
    health: dict[str, Any] = sso_stack.envoy.host_health()
    assert {flags for cluster in health.values() for flags in cluster.values()} == {"healthy"}
