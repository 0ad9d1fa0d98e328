"""The audit trail with the real Envoy and the real Orthanc: who asked comes from the token Envoy
verified and nothing a client sends, and Orthanc names the study each request touched under the
request id Envoy gave it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from orthweb import sso, telemetry
from orthweb.clients.dicom import make_study, to_bytes
from tools.harness import Stack
from tools.harness.oidc import CognitoLike
from tools.harness.processes import LOOPBACK, wait_until

pytestmark = pytest.mark.runtime

# What a client may send to pass for someone else, or hide where it is.
FORGED = {
    sso.USER_HEADER: "mallory@example.org",
    sso.ROLE_HEADER: sso.ADMIN,
    sso.CLIENT_HEADER: "forged-client",
    "X-Request-Id": "forged-request-id",
    "X-Forwarded-For": "203.0.113.9",
    "X-Real-IP": "203.0.113.9",
    "Forwarded": "for=203.0.113.9",
}


def envoy_lines(stack: Stack) -> list[dict[str, Any]]:
    text = stack.envoy_log.read_text(errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"method"' in line]


def orthanc_events(stack: Stack) -> list[dict[str, Any]]:
    events = []
    for index in range(1, stack.replica_total + 1):
        for line in stack.replica(index).log.read_text(errors="replace").splitlines():
            event = telemetry.orthanc_audit_event(line)
            if event is not None:
                events.append(event)
    return events


def lines_for(stack: Stack, path: str, count: int) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]]:
        return [line for line in envoy_lines(stack) if line["path"] == path]

    wait_until(lambda: len(found()) >= count, timeout=15, what=f"{count} access lines for {path}", interval=0.1)
    return found()


@dataclass
class Person:
    """Someone signed in at the provider: each call gives fresh bearer headers of their token."""

    provider: CognitoLike
    name: str
    groups: list[str]
    subject: str = field(default_factory=lambda: f"sub-{uuid.uuid4()}")

    @property
    def user(self) -> str:
        return f"{self.name}@example.org"

    def headers(self, **extra: str) -> dict[str, str]:
        claims: dict[str, Any] = {"sub": self.subject, "username": self.user, "cognito:groups": self.groups}
        return {"Authorization": f"Bearer {self.provider.access_token(**claims)}", **extra}


def test_who_asked_comes_from_the_verified_token_never_from_a_header(
    sso_provider: CognitoLike, sso_stack: Stack
) -> None:
    alice = Person(sso_provider, "alice", [sso.ADMIN])
    bob = Person(sso_provider, "bob", [])
    study = make_study(1, patient_id="AUDIT-FORGERY")[0]
    status, _, body = sso_stack.request("/instances", method="POST", body=to_bytes(study), headers=alice.headers())
    assert status == 200
    path = f"/studies/{json.loads(body)['ParentStudy']}"
    # Alice, pretending to be Mallory from elsewhere; a token signed by someone else; Bob, in no group.
    assert sso_stack.request(path, headers=alice.headers(**FORGED))[0] == 200
    forged_token = sso_provider.forged_token(username="mallory@example.org", **{"cognito:groups": [sso.ADMIN]})
    assert sso_stack.request(path, headers={"Authorization": f"Bearer {forged_token}", **FORGED})[0] == 401
    assert sso_stack.request(path, headers=bob.headers(**FORGED))[0] == 403
    lines = {line["status"]: line for line in lines_for(sso_stack, path, 3)}
    assert set(lines) == {200, 401, 403}

    read = lines[200]
    assert (read["auth"], read["user"], read["subject"]) == (telemetry.AUTH_TOKEN, alice.user, alice.subject)
    assert read["groups"] == [sso.ADMIN] and read["client"] == sso_provider.site_client_id
    # Refused by the roles, still attributed: the token was verified before the refusal.
    assert (lines[403]["user"], lines[403]["subject"]) == (bob.user, bob.subject)
    # A token nobody verified names nobody.
    assert {lines[401][field] for field in telemetry.IDENTITY_FIELDS} == {None}
    for line in lines.values():
        assert line["source"] == LOOPBACK
        assert line["request_id"] != FORGED["X-Request-Id"]
    assert "mallory" not in sso_stack.envoy_log.read_text(errors="replace")

    # Orthanc names the study under the request id Envoy made, and only for what reached it.
    events = {e["request_id"]: e for e in orthanc_events(sso_stack) if e.get("request_id")}
    assert events[read["request_id"]]["study"] == study.StudyInstanceUID
    assert lines[401]["request_id"] not in events and lines[403]["request_id"] not in events
    assert FORGED["X-Request-Id"] not in events


def test_basic_authentication_is_marked_as_nobody_in_particular(stack: Stack) -> None:
    status, _, _ = stack.request("/system", credential=stack.admin, headers=FORGED)
    assert status == 200
    (line, *_) = reversed(lines_for(stack, "/system", 1))
    assert line["auth"] == telemetry.AUTH_SHARED_CREDENTIAL
    assert {line[field] for field in telemetry.IDENTITY_FIELDS if field != "auth"} == {None}
    assert line["source"] == LOOPBACK and line["request_id"] != FORGED["X-Request-Id"]
