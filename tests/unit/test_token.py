"""`orthweb token` against moto's Secrets Manager and a local token endpoint (client credentials).

The command finds the stack's machine client by its secret's tags, asks for the role's scope and
prints the access token alone; the client secret appears nowhere in what it prints.
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from orthweb.commands import token as token_command
from orthweb.commands.cli import build_parser
from orthweb.infra.tags import with_role
from orthweb.ops.aws import AwsClients, OpsError
from orthweb.ops.token import MachineClient, machine_client_from
from orthweb.shared import sso
from tools.harness.oidc import CognitoLike

REGION = "eu-west-1"
CLIENT_ID = "4f1machineclient0000000000"
CLIENT_SECRET = "machine-secret-that-must-never-be-printed-0123456789"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CognitoLike]:
    with CognitoLike(tmp_path_factory.mktemp("idp"), machine_clients={CLIENT_ID: CLIENT_SECRET}) as running:
        yield running


@pytest.fixture(scope="module")
def secretsmanager() -> Iterator[Any]:
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    yield session.client("secretsmanager", endpoint_url=f"http://{host}:{port}")
    server.stop()


_stacks = itertools.count(1)


def deploy_machine_client(secretsmanager: Any, value: dict[str, Any] | str) -> str:
    """A fresh stack name holding a machine-client secret tagged as the program tags it."""
    stack = f"sso{next(_stacks)}"
    tags = with_role(stack, sso.MACHINE_CLIENT_ROLE)
    secretsmanager.create_secret(
        Name=f"orthweb/{stack}/{sso.MACHINE_CLIENT_ROLE}-x",
        SecretString=value if isinstance(value, str) else json.dumps(value),
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    return stack


def machine_secret(provider: CognitoLike, secret: str = CLIENT_SECRET) -> dict[str, Any]:
    return {
        "client_id": CLIENT_ID,
        "client_secret": secret,
        "token_endpoint": provider.token_endpoint,
        "scopes": {role: sso.scope(role) for role in sso.ROLES},
    }


def run_token(
    secretsmanager: Any, provider: CognitoLike, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> tuple[int, str, str]:
    # The token endpoint's TLS is checked against the local provider's CA, as against Cognito's.
    monkeypatch.setenv("SSL_CERT_FILE", str(provider.ca_file))
    args = build_parser().parse_args(["token", *argv])
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    clients = AwsClients(ec2=None, secretsmanager=secretsmanager, region=REGION)
    code = token_command.run(args, clients=clients, out=out)
    return code, out.getvalue(), err.getvalue()


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.mark.parametrize("role", sso.ROLES)
def test_prints_only_an_access_token_with_the_role_scope(
    secretsmanager: Any, provider: CognitoLike, monkeypatch: pytest.MonkeyPatch, role: str
) -> None:
    stack = deploy_machine_client(secretsmanager, machine_secret(provider))
    code, out, err = run_token(secretsmanager, provider, monkeypatch, ["--stack", stack, "--role", role])
    assert code == 0, err
    token = out.strip()
    assert out == token + "\n"  # one line, nothing else: `$(orthweb token ...)` is the header value
    claims = claims_of(token)
    assert claims["scope"] == sso.scope(role) and claims["token_use"] == "access"
    assert claims["client_id"] == CLIENT_ID
    assert CLIENT_SECRET not in out + err
    assert provider.token_requests[-1].grant_type == "client_credentials"


def test_the_default_role_is_the_least_one(secretsmanager: Any, provider: CognitoLike, monkeypatch: Any) -> None:
    stack = deploy_machine_client(secretsmanager, machine_secret(provider))
    code, out, _ = run_token(secretsmanager, provider, monkeypatch, ["--stack", stack])
    assert code == 0 and claims_of(out.strip())["scope"] == sso.scope(sso.VIEWER)


def test_a_refused_client_is_one_line_without_the_secret(
    secretsmanager: Any, provider: CognitoLike, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "a-wrong-secret-that-must-not-be-printed-either"
    stack = deploy_machine_client(secretsmanager, machine_secret(provider, secret=wrong))
    code, out, err = run_token(secretsmanager, provider, monkeypatch, ["--stack", stack])
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "HTTP 401 invalid_client" in err
    assert wrong not in err and CLIENT_SECRET not in err


def test_a_stack_without_sign_in_says_so(secretsmanager: Any, provider: CognitoLike, monkeypatch: Any) -> None:
    code, out, err = run_token(secretsmanager, provider, monkeypatch, ["--stack", "nosso"])
    assert code == 1 and out == ""
    assert "found 0 secrets tagged orthweb:role=sso-machine-client for stack nosso" in err
    assert "authentication = sso" in err


def test_a_malformed_secret_is_named_but_not_shown(
    secretsmanager: Any, provider: CognitoLike, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = deploy_machine_client(secretsmanager, json.dumps({"client_secret": CLIENT_SECRET}))
    code, _, err = run_token(secretsmanager, provider, monkeypatch, ["--stack", stack])
    assert code == 1 and f"orthweb/{stack}/{sso.MACHINE_CLIENT_ROLE}-x is not the machine client's JSON" in err
    assert CLIENT_SECRET not in err


@pytest.mark.parametrize(
    ("endpoint", "accepted"),
    [
        ("https://pacs-x.auth.eu-west-1.amazoncognito.com/oauth2/token", True),
        ("http://127.0.0.1:8443/oauth2/token", True),
        ("http://pacs-x.auth.eu-west-1.amazoncognito.com/oauth2/token", False),
        ("file:///etc/passwd", False),
    ],
)
def test_the_secret_is_only_ever_sent_over_tls_or_to_this_machine(endpoint: str, accepted: bool) -> None:
    text = json.dumps({"client_id": "c", "client_secret": "s", "token_endpoint": endpoint, "scopes": {}})
    if accepted:
        assert machine_client_from(text, "n").token_endpoint == endpoint
    else:
        with pytest.raises(OpsError, match="is not https"):
            machine_client_from(text, "n")


def test_no_representation_of_the_client_shows_its_secret() -> None:
    client = MachineClient(client_id="c", token_endpoint="https://x/oauth2/token", scopes={}, client_secret="hidden")
    assert "hidden" not in repr(client) and "hidden" not in str(client)


def test_token_is_a_cli_command(tmp_path: Path) -> None:
    args = build_parser().parse_args(["token", "--stack", "prod", "--role", "uploader"])
    assert isinstance(args, argparse.Namespace) and args.role == "uploader" and args.func is token_command.run
    with pytest.raises(SystemExit):
        build_parser().parse_args(["token", "--role", "superuser"])
