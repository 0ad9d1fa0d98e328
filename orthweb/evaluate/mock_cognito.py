"""The mock engine's answers for the Cognito resources of sign-in (`authentication: sso`).

Values have the shapes AWS gives them (pool ids `<region>_<9 alphanumerics>`, 26-character client
ids, a client secret only when one is generated), so the host files and checks see real shapes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from orthweb.evaluate.mock_account import MOCK_ACCOUNT


class NewCognitoResource(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def region(self) -> str: ...

    @property
    def inputs(self) -> Mapping[str, Any]: ...


Fabricated = tuple[str, dict[str, Any]]
_ALPHANUMERIC = "abcdefghijklmnopqrstuvwxyz0123456789"


def _token(*parts: str, length: int, alphabet: str = _ALPHANUMERIC) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    while len(digest) < length:
        digest += hashlib.sha256(digest).digest()
    return "".join(alphabet[byte % len(alphabet)] for byte in digest[:length])


def user_pool(r: NewCognitoResource) -> Fabricated:
    pool_id = f"{r.region}_{_token(r.name, length=9, alphabet=_ALPHANUMERIC + 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')}"
    return pool_id, {
        "arn": f"arn:aws:cognito-idp:{r.region}:{MOCK_ACCOUNT}:userpool/{pool_id}",
        "endpoint": f"cognito-idp.{r.region}.amazonaws.com/{pool_id}",
        "estimatedNumberOfUsers": 0,
    }


def user_pool_client(r: NewCognitoResource) -> Fabricated:
    client_id = _token(r.name, "client", length=26)
    secret = _token(r.name, "secret", length=51) if r.inputs.get("generateSecret") else ""
    return client_id, {"clientSecret": secret}


def resource_server(r: NewCognitoResource) -> Fabricated:
    identifier = str(r.inputs.get("identifier", ""))
    scopes = [f"{identifier}/{scope.get('scopeName')}" for scope in r.inputs.get("scopes") or []]
    return f"{r.inputs.get('userPoolId')}|{identifier}", {"scopeIdentifiers": scopes}


def user(r: NewCognitoResource) -> Fabricated:
    groups = enumerate((8, 4, 4, 4, 12))
    sub = "-".join(_token(r.name, str(i), length=n, alphabet="0123456789abcdef") for i, n in groups)
    return f"{r.inputs.get('userPoolId')}/{r.inputs.get('username')}", {"sub": sub, "status": "FORCE_CHANGE_PASSWORD"}


def user_pool_domain(r: NewCognitoResource) -> Fabricated:
    return str(r.inputs.get("domain", r.name)), {
        "cloudfrontDistribution": f"d{_token(r.name, length=13)}.cloudfront.net",
        "awsAccountId": MOCK_ACCOUNT,
    }


COGNITO_RESOURCES: dict[str, Callable[[Any], Fabricated]] = {
    "aws:cognito/userPool:UserPool": user_pool,
    "aws:cognito/userPoolClient:UserPoolClient": user_pool_client,
    "aws:cognito/resourceServer:ResourceServer": resource_server,
    "aws:cognito/user:User": user,
    "aws:cognito/userPoolDomain:UserPoolDomain": user_pool_domain,
}
