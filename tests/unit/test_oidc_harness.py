"""The local Cognito stand-in behaves as Cognito does where the sign-in tests rely on it: tokens of
Cognito's shape signed with the published key, PKCE enforced, client credentials per scope, and
`/logout` sending the browser to the client's logout URL."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from orthweb.shared import sso
from tools.harness.oidc import Browser, CognitoLike, query_of

REDIRECT = "https://127.0.0.1:9/orthweb/sso/callback"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CognitoLike]:
    with CognitoLike(tmp_path_factory.mktemp("idp"), machine_clients={"machine": "machine-secret"}) as running:
        running.set_user("viewer@example.org", (sso.VIEWER,))
        yield running


@pytest.fixture
def http(provider: CognitoLike) -> Iterator[httpx.Client]:
    browser = Browser(provider.ca_file)
    yield browser.client
    browser.close()


def published_keys(http: httpx.Client, provider: CognitoLike) -> KeySet:
    return KeySet.import_key_set(http.get(provider.jwks_uri).json())


def test_tokens_verify_with_the_published_key_and_forged_ones_do_not(provider: CognitoLike, http: Any) -> None:
    keys = published_keys(http, provider)
    token = jwt.decode(provider.access_token(**{"cognito:groups": ["admin"]}), keys)
    assert token.claims["token_use"] == "access" and token.claims["iss"] == provider.issuer
    forged = provider.forged_token()
    # Same key id in the header, another key's signature.
    assert forged.split(".")[0] == provider.access_token().split(".")[0]
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, keys)


def _authorize(http: httpx.Client, provider: CognitoLike, challenge: str) -> str:
    query = {
        "client_id": provider.site_client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid email",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    url = f"{provider.authorization_endpoint}?{urlencode(query)}"
    assert 'name="sub"' in http.get(url).text
    answer = http.post(url, data={"sub": "viewer@example.org"})
    assert answer.status_code == 302 and answer.headers["location"].startswith(REDIRECT)
    return query_of(answer.headers["location"])["code"]


def _exchange(http: httpx.Client, provider: CognitoLike, code: str, verifier: str) -> httpx.Response:
    return http.post(
        provider.token_endpoint,
        auth=(provider.site_client_id, provider.site_client_secret),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
    )


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def test_the_code_exchange_needs_the_pkce_verifier(provider: CognitoLike, http: httpx.Client) -> None:
    verifier = secrets.token_urlsafe(48)
    refused = _exchange(http, provider, _authorize(http, provider, _challenge(verifier)), "not-the-verifier")
    assert refused.status_code == 400 and provider.token_requests[-1].pkce == "mismatch"
    answer = _exchange(http, provider, _authorize(http, provider, _challenge(verifier)), verifier)
    assert answer.status_code == 200 and provider.token_requests[-1].pkce == "verified"
    tokens = answer.json()
    keys = published_keys(http, provider)
    access = jwt.decode(tokens["access_token"], keys).claims
    assert access["token_use"] == "access" and access["cognito:groups"] == [sso.VIEWER]
    assert access["client_id"] == provider.site_client_id and access["username"] == "viewer@example.org"
    identity = jwt.decode(tokens["id_token"], keys).claims
    assert identity["token_use"] == "id" and provider.site_client_id in identity["aud"]
    assert tokens["refresh_token"]


def test_client_credentials_give_the_asked_scope_only_to_a_known_client(provider: CognitoLike, http: Any) -> None:
    asked = {"grant_type": "client_credentials", "scope": sso.scope(sso.UPLOADER)}
    answer = http.post(provider.token_endpoint, auth=("machine", "machine-secret"), data=asked)
    claims = jwt.decode(answer.json()["access_token"], published_keys(http, provider)).claims
    assert claims["scope"] == sso.scope(sso.UPLOADER) and claims["client_id"] == "machine"
    assert "cognito:groups" not in claims and "username" not in claims
    assert http.post(provider.token_endpoint, auth=("machine", "wrong"), data=asked).status_code == 401
    unknown_scope = {**asked, "scope": "orthweb/root"}
    assert http.post(provider.token_endpoint, auth=("machine", "machine-secret"), data=unknown_scope).status_code == 400


def test_logout_sends_the_browser_to_the_logout_uri(provider: CognitoLike, http: httpx.Client) -> None:
    back = "https://127.0.0.1:9/"
    query = urlencode({"client_id": provider.site_client_id, "logout_uri": back})
    answer = http.get(f"{provider.logout_endpoint}?{query}")
    assert answer.status_code == 302 and answer.headers["location"] == back
    assert provider.logouts[-1] == {"client_id": provider.site_client_id, "logout_uri": back}
    # Cognito refuses a logout that names another client.
    assert http.get(f"{provider.logout_endpoint}?client_id=other&logout_uri=x").status_code == 400
