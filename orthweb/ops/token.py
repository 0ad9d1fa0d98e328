"""A short-lived access token from the stack's machine client (client-credentials flow).

The machine client's id, secret and token endpoint live in the stack's Secrets Manager secret
tagged `orthweb:role=sso-machine-client`; the secret is read with the operator's own AWS
credentials, sent only to the token endpoint (HTTP Basic, over TLS), and never printed or logged.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orthweb.ops.aws import AwsClients, OpsError, call_aws
from orthweb.ops.tagged import TaggedStack
from orthweb.shared import sso

# Plain HTTP is refused except to a token endpoint on this machine (tests, SSH tunnels).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class MachineClient:
    client_id: str
    token_endpoint: str
    # role -> the scope a token for that role asks for
    scopes: dict[str, str]
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_in: int
    scope: str


def find_machine_client(clients: AwsClients, stack: str) -> MachineClient:
    """The stack's machine client, from its one tagged secret."""
    matches = TaggedStack(clients, stack).secrets(sso.MACHINE_CLIENT_ROLE)
    if len(matches) != 1:
        raise OpsError(
            f"found {len(matches)} secrets tagged orthweb:role={sso.MACHINE_CLIENT_ROLE} for stack {stack} "
            f"in {clients.region}",
            hint="is the stack deployed with authentication = sso, in this region?",
        )
    value = call_aws(clients.secretsmanager, "get_secret_value", SecretId=matches[0]["ARN"])
    return machine_client_from(value.get("SecretString", ""), matches[0].get("Name", "?"))


def machine_client_from(text: str, name: str) -> MachineClient:
    """Parse the secret's JSON; a message about it never quotes its content."""
    try:
        data = json.loads(text)
        client = MachineClient(
            client_id=str(data["client_id"]),
            token_endpoint=str(data["token_endpoint"]),
            scopes={str(role): str(scope) for role, scope in data["scopes"].items()},
            client_secret=str(data["client_secret"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise OpsError(
            f"secret {name} is not the machine client's JSON (client_id, client_secret, token_endpoint, scopes)"
        ) from None
    _check_endpoint(client.token_endpoint)
    return client


def _check_endpoint(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
        return
    raise OpsError(f"the machine client's token endpoint {url!r} is not https")


Opener = Callable[[urllib.request.Request, float], Any]


def _open(request: urllib.request.Request, timeout: float) -> Any:
    return urllib.request.urlopen(request, timeout=timeout)


def request_token(client: MachineClient, role: str, *, opener: Opener = _open) -> AccessToken:
    """Ask the token endpoint for an access token carrying the role's scope."""
    if role not in client.scopes:
        raise OpsError(f"role {role!r} is not one of the machine client's: {', '.join(sorted(client.scopes))}")
    credentials = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": client.scopes[role]}).encode()
    request = urllib.request.Request(
        client.token_endpoint,
        data=body,
        method="POST",
        headers={
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
    )
    try:
        with opener(request, TIMEOUT_SECONDS) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise OpsError(f"the token endpoint refused: HTTP {error.code} {_oauth_error(error)}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise OpsError(f"cannot reach the token endpoint {client.token_endpoint}: {reason}") from None
    except ValueError:
        raise OpsError("the token endpoint answered something that is not JSON") from None
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise OpsError("the token endpoint's answer has no access_token")
    return AccessToken(value=token, expires_in=int(answer.get("expires_in") or 0), scope=str(answer.get("scope", "")))


def _oauth_error(error: urllib.error.HTTPError) -> str:
    """The OAuth `error` code from the body (e.g. invalid_client), never the whole body."""
    try:
        code = json.loads(error.read()).get("error", "")
    except (ValueError, AttributeError, OSError):
        return ""
    return str(code)[:64] if isinstance(code, str) else ""
