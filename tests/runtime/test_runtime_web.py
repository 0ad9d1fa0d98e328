"""HTTPS through Envoy's 443: credentials, upload/download, the health account, affinity."""

from __future__ import annotations

import json

import pytest

from orthweb.clients.dicom import make_study, to_bytes
from tools.harness import Credential, Stack

pytestmark = pytest.mark.runtime

AFFINITY_COOKIE = "orthweb-affinity"


def upload(stack: Stack, data: bytes, *, base: str | None = None) -> str:
    status, _, body = stack.request("/instances", method="POST", body=data, credential=stack.admin, base=base)
    assert status == 200, body
    answer = json.loads(body)
    assert answer["Status"] == "Success"
    return answer["ID"]


def test_system_with_the_admin_credential(stack: Stack) -> None:
    status, _, body = stack.request("/system", credential=stack.admin)
    assert status == 200
    system = json.loads(body)
    assert system["DicomAet"] == "ORTHANC"
    assert system["DatabaseBackendPlugin"]  # the PostgreSQL index, not SQLite


def test_upload_then_download_the_same_bytes(stack: Stack) -> None:
    data = to_bytes(make_study(1, patient_id="WEB")[0])
    instance = upload(stack, data)
    status, _, body = stack.request(f"/instances/{instance}/file", credential=stack.admin)
    assert status == 200
    assert body == data


def test_no_or_wrong_credentials_get_401(stack: Stack) -> None:
    assert stack.request("/system")[0] == 401
    wrong = Credential(stack.admin.username, stack.admin.password + "x")
    assert stack.request("/system", credential=wrong)[0] == 401
    assert stack.request("/instances", method="POST", body=b"x", credential=wrong)[0] == 401


def test_health_credential_reads_changes_only(stack: Stack) -> None:
    instance = upload(stack, to_bytes(make_study(1, patient_id="HEALTH")[0]))
    assert stack.request("/changes?last", credential=stack.health)[0] == 200
    data = to_bytes(make_study(1, patient_id="HEALTH")[0])
    refused = {
        "POST": stack.request("/instances", method="POST", body=data, credential=stack.health)[0],
        "DELETE": stack.request(f"/instances/{instance}", method="DELETE", credential=stack.health)[0],
        "GET": stack.request(f"/instances/{instance}", credential=stack.health)[0],
    }
    assert all(status in (401, 403) for status in refused.values()), refused
    assert stack.request(f"/instances/{instance}", credential=stack.admin)[0] == 200


def _replica_name(stack: Stack, cookie: str | None) -> tuple[str, str | None]:
    headers = {"Cookie": cookie} if cookie else None
    status, response_headers, body = stack.request("/system", credential=stack.admin, headers=headers)
    assert status == 200
    issued = next(
        (v for k, v in response_headers.items() if k.lower() == "set-cookie" and v.startswith(AFFINITY_COOKIE)), None
    )
    return json.loads(body)["Name"], issued


def test_affinity_cookie_keeps_a_client_on_one_replica(stack: Stack) -> None:
    first, issued = _replica_name(stack, None)
    assert issued is not None, "Envoy did not issue the affinity cookie"
    cookie = issued.split(";", 1)[0]
    assert {_replica_name(stack, cookie)[0] for _ in range(10)} == {first}
    # Control: fresh clients (new cookies) are spread over the replicas.
    spread = {_replica_name(stack, None)[0] for _ in range(20)}
    assert len(spread) > 1, spread


def test_affinity_cookie_attributes_appear_once(stack: Stack) -> None:
    """Envoy adds HttpOnly to the cookies it issues itself; the template must not add it again."""
    _, issued = _replica_name(stack, None)
    assert issued is not None
    attributes = [part.strip().split("=", 1)[0].lower() for part in issued.split(";")[1:]]
    assert sorted(attributes) == sorted(set(attributes)), issued
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= set(attributes), issued
