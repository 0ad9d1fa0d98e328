"""The rendered host files with sign-in (authentication: sso), pointed at a real Cognito pool's
addresses: Envoy 1.40 accepts them without a deprecation warning, the roles are checked on the
access token's claims as RBAC's current fields read them, and no secret is in user data."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from orthweb.host.context import HostAppContext
from orthweb.host.layout import HEALTH_AUTH_PLACEHOLDER
from orthweb.host.render import render_host_files
from orthweb.host.sso_context import (
    CLIENT_ID_PLACEHOLDER,
    CLIENT_SECRET_FILE,
    COOKIE_KEY_FILE,
    LOGOUT_URI_PLACEHOLDER,
    ORTHANC_AUTHORIZATION_PLACEHOLDER,
    SITE_ADDRESS_PLACEHOLDER,
    TRUSTED_CA_FILE,
    SsoHostContext,
)
from orthweb.shared import access, sso
from tests.static.static_checks import SiteCertificate, envoy_cluster_references, run, with_local_certificates
from tests.static.static_checks import envoy_binary as static_envoy_binary

POOL_ID = "eu-west-3_Ab12Cd34E"
DOMAIN = "orthweb-dev-12345678.auth.eu-west-3.amazoncognito.com"
MACHINE_ID = "4f1machineclient0000000000"
SITE_ID = "7site0client0id00000000000"


@pytest.fixture(scope="module")
def sso_ctx(app_context: HostAppContext) -> SsoHostContext:
    return SsoHostContext.for_cognito(
        region=app_context.region,
        user_pool_id=POOL_ID,
        domain=DOMAIN,
        machine_client_id=MACHINE_ID,
        site_client_secret_arn=app_context.site_tls_secret_arn.replace("site-tls", "sso-site-client"),
    )


@pytest.fixture(scope="module")
def sso_rendered(app_context: HostAppContext, sso_ctx: SsoHostContext) -> dict[str, str]:
    return render_host_files(dataclasses.replace(app_context, sso=sso_ctx))


@pytest.fixture(scope="module")
def sso_envoy_text(sso_rendered: dict[str, str]) -> str:
    """The template copy as the bundle carries it (the secret's placeholders still in it)."""
    return sso_rendered["envoy.yaml"]


@pytest.fixture(scope="module")
def envoy(sso_envoy_text: str) -> dict[str, Any]:
    return yaml.safe_load(sso_envoy_text)


def _filters(envoy: dict[str, Any]) -> list[dict[str, Any]]:
    (https,) = [x for x in envoy["static_resources"]["listeners"] if x["name"] == "https"]
    (chain,) = https["filter_chains"]
    return chain["filters"][0]["typed_config"]["http_filters"]


def _typed(envoy: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [f["typed_config"] for f in _filters(envoy) if f["name"] == name]
    return found


def live_config(text: str, site_certificate: SiteCertificate, secrets: Path, trusted_ca: str) -> str:
    """What fetch-secrets.sh makes of the template, with the container's files made local
    (`trusted_ca`: the bundle's Amazon Trust Services roots, which compose mounts into Envoy)."""
    secrets.mkdir(exist_ok=True)
    (secrets / "amazon-trust-services.pem").write_text(trusted_ca)
    text = text.replace(TRUSTED_CA_FILE, str(secrets / "amazon-trust-services.pem"))
    for name in (CLIENT_SECRET_FILE, COOKIE_KEY_FILE):
        sds = {"@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret", "name": name}
        sds["generic_secret"] = {"secret": {"inline_string": "x" * 32}}  # type: ignore[assignment]
        (secrets / name).write_text(json.dumps({"resources": [sds]}))
        text = text.replace(f"/run/secrets/{name}", str(secrets / name))
    for placeholder, value in (
        (HEALTH_AUTH_PLACEHOLDER, "Basic aGVhbHRoOnB3"),
        (CLIENT_ID_PLACEHOLDER, SITE_ID),
        (SITE_ADDRESS_PLACEHOLDER, "pacs.example.org"),
        (LOGOUT_URI_PLACEHOLDER, "https%3A%2F%2Fpacs.example.org%2F"),
        (ORTHANC_AUTHORIZATION_PLACEHOLDER, "Basic YWRtaW46cHc="),
    ):
        text = text.replace(placeholder, value)
    return with_local_certificates(text, site_certificate.cert_path, site_certificate.key_path)


def test_envoy_accepts_it_without_a_deprecation_warning(
    sso_envoy_text: str, sso_rendered: dict[str, str], site_certificate: SiteCertificate, tmp_path: Path
) -> None:
    config = tmp_path / "envoy.yaml"
    trusted = sso_rendered["amazon-trust-services.pem"]
    config.write_text(live_config(sso_envoy_text, site_certificate, tmp_path / "secrets", trusted))
    result = run([str(static_envoy_binary()), "--mode", "validate", "-c", str(config)])
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "OK" in output, output[-3000:]
    assert "deprecated" not in output.lower(), output[-3000:]
    # `node.cluster` names this Envoy's own group (SDS needs it), not an upstream cluster.
    document = yaml.safe_load(config.read_text())
    document.pop("node")
    envoy_cluster_references(yaml.safe_dump(document))


def test_basic_rendering_has_no_sign_in(rendered: dict[str, str]) -> None:
    text = rendered["envoy.yaml"]
    for marker in ("oauth2", "jwt_authn", "rbac", "sso_token", "__ORTHWEB_SSO", "node:"):
        assert marker not in text
    assert "sso-" not in rendered["docker-compose.yml"] and "SSO_SECRET" not in rendered["fetch-secrets.sh"]


def test_the_filters_run_in_the_order_that_makes_them_safe(envoy: dict[str, Any]) -> None:
    names = [f["name"] for f in _filters(envoy)]
    assert names == [
        "orthweb.request",
        "orthweb.sso.entry",
        "envoy.filters.http.oauth2",
        "envoy.filters.http.jwt_authn",
        # Before any refusal: a request the roles refuse is attributed too.
        "orthweb.sso.identity",
        "orthweb.sso.clients",
        "envoy.filters.http.rbac",
        "orthweb.sso.upstream",
        "envoy.filters.http.router",
    ]


def test_the_browser_flow_uses_cognitos_endpoints_and_the_sites_fixed_address(envoy: dict[str, Any]) -> None:
    oauth = _typed(envoy, "envoy.filters.http.oauth2")["config"]
    assert oauth["authorization_endpoint"] == f"https://{DOMAIN}/oauth2/authorize"
    assert oauth["token_endpoint"]["uri"] == f"https://{DOMAIN}/oauth2/token"
    assert oauth["redirect_uri"] == f"https://{SITE_ADDRESS_PLACEHOLDER}{sso.CALLBACK_PATH}"
    assert oauth["end_session_endpoint"] == f"https://{SITE_ADDRESS_PLACEHOLDER}{sso.END_SESSION_PATH}"
    assert oauth["auth_scopes"] == list(sso.USER_SCOPES) and oauth["auth_type"] == "BASIC_AUTH"
    assert {c["same_site"] for c in oauth["cookie_configs"].values()} == {"LAX"}
    assert oauth["credentials"]["cookie_names"] == sso.COOKIE_NAMES


def test_tokens_are_checked_against_the_pools_keys(envoy: dict[str, Any], app_context: HostAppContext) -> None:
    provider = _typed(envoy, "envoy.filters.http.jwt_authn")["providers"]["cognito"]
    issuer = f"https://cognito-idp.{app_context.region}.amazonaws.com/{POOL_ID}"
    assert provider["issuer"] == issuer
    assert provider["remote_jwks"]["http_uri"]["uri"] == f"{issuer}/.well-known/jwks.json"
    assert provider["forward"] is False and provider["require_expiration"] is True
    assert "audiences" not in provider  # Cognito's access tokens carry none; RBAC checks client_id


def _principal_leaves(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        if "sourced_metadata" in node or "metadata" in node:
            return [node]
        return [leaf for value in node.values() for leaf in _principal_leaves(value)]
    if isinstance(node, list):
        return [leaf for value in node for leaf in _principal_leaves(value)]
    return []


def _matchers(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    leaves = _principal_leaves(policy["principals"])
    # The deprecated `metadata` principal is never used.
    assert all("metadata" not in leaf for leaf in leaves)
    found: dict[str, dict[str, Any]] = {}
    for leaf in leaves:
        matcher = leaf["sourced_metadata"]["metadata_matcher"]
        assert matcher["filter"] == "envoy.filters.http.jwt_authn"
        found.setdefault(matcher["path"][-1]["key"], {})[json.dumps(matcher["value"])] = matcher["value"]
    return found


def test_only_access_tokens_of_our_two_clients_pass(envoy: dict[str, Any]) -> None:
    (policy,) = _typed(envoy, "orthweb.sso.clients")["rules"]["policies"].values()
    assert policy["permissions"] == [{"any": True}]
    claims = _matchers(policy)
    assert list(claims["token_use"].values()) == [{"string_match": {"exact": "access"}}]
    client_ids = {value["string_match"]["exact"] for value in claims["client_id"].values()}
    assert client_ids == {CLIENT_ID_PLACEHOLDER, MACHINE_ID}


def test_rbac_has_one_policy_per_grant_of_the_role_table(envoy: dict[str, Any]) -> None:
    policies = _typed(envoy, "envoy.filters.http.rbac")["rules"]["policies"]
    assert list(policies) == [grant.name for grant in access.GRANTS]


@pytest.mark.parametrize(
    ("policy", "holders"),
    [("read", "viewer|uploader"), ("questions", "viewer|uploader"), ("upload", "uploader"), ("everything", "admin")],
)
def test_each_role_is_a_group_for_people_and_a_scope_for_scripts(
    envoy: dict[str, Any], policy: str, holders: str
) -> None:
    claims = _matchers(_typed(envoy, "envoy.filters.http.rbac")["rules"]["policies"][policy])
    assert set(claims) == {"cognito:groups", "scope"}
    (groups,) = claims["cognito:groups"].values()
    (scopes,) = claims["scope"].values()
    assert groups["list_match"]["one_of"]["string_match"]["safe_regex"]["regex"] == f"^(?:{holders})$"
    assert scopes["list_match"]["one_of"]["string_match"]["safe_regex"]["regex"] == f"^orthweb/(?:{holders})$"


def test_the_identity_provider_is_reached_over_verified_tls(envoy: dict[str, Any]) -> None:
    clusters = {c["name"]: c for c in envoy["static_resources"]["clusters"]}
    for name, host in (("sso_token", DOMAIN), ("sso_jwks", "cognito-idp.eu-west-3.amazonaws.com")):
        tls = clusters[name]["transport_socket"]["typed_config"]
        assert tls["sni"] == host
        validation = tls["common_tls_context"]["validation_context"]
        assert validation["trusted_ca"]["filename"] == TRUSTED_CA_FILE
        assert validation["match_typed_subject_alt_names"] == [{"san_type": "DNS", "matcher": {"exact": host}}]


def test_only_envoy_mounts_the_sign_in_secrets(sso_rendered: dict[str, str]) -> None:
    compose = yaml.safe_load(sso_rendered["docker-compose.yml"])
    for service, definition in compose["services"].items():
        mounted = set(definition.get("secrets", []))
        expected = {CLIENT_SECRET_FILE, COOKIE_KEY_FILE} <= mounted
        assert expected == (service == "envoy"), service


def test_the_bundle_carries_the_sign_in_configuration_and_names_the_secret(
    sso_rendered: dict[str, str], sso_ctx: SsoHostContext
) -> None:
    # No secret in them: the filters and clusters are pinned with the bundle's digest.
    assert f"SSO_SECRET={sso_ctx.site_client_secret_arn}" in sso_rendered["fetch-secrets.sh"]
    envoy = sso_rendered["envoy.yaml"]
    assert "envoy.filters.http.oauth2" in envoy and "sso_jwks" in envoy and sso_ctx.issuer in envoy
    assert "envoy.filters.http.oauth2" not in sso_rendered["cloud-init.yaml"]
