"""Sign-in (authentication: sso) with the real Envoy and the rendered config, on 127.0.0.1.

A local OpenID provider (oidc-provider-mock, with Cognito's token shapes) stands in for Cognito,
the rendered fetch-secrets.sh fills in the site client's secret from moto, and a recording stand-in
for Orthanc shows what Envoy lets through. A scripted browser signs in; API clients bring tokens.
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from orthweb.host.render import render_host_files
from orthweb.host.sso_context import SsoHostContext
from orthweb.shared import access, sso
from orthweb.shared.constants import DICOMWEB_ROOT
from tests.runtime.conftest import ACCOUNT, REGION, runtime_context
from tools.harness.envoy import envoy_binary
from tools.harness.oidc import Browser, CognitoLike, sign_in_context
from tools.harness.sso_site import SsoSite

pytestmark = pytest.mark.runtime

MACHINE_ID = "machine0client0id000000000"
MACHINE_SECRET = "machine-client-secret-0123456789"
SITE_SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:orthweb/sso/sso-site-client-Ab12Cd"
USERS = {
    "viewer": (sso.VIEWER,),
    "uploader": (sso.UPLOADER,),
    "admin": (sso.ADMIN,),
    "nobody": (),
}
# (method, path) -> what each role may do; the measured matrix goes into the run's report.
REQUESTS = (("GET", "/system"), ("POST", "/instances"), ("DELETE", "/instances/an-instance"))
EXPECTED = {
    "viewer": (200, 403, 403),
    "uploader": (200, 200, 403),
    "admin": (200, 200, 200),
    "nobody": (403, 403, 403),
}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CognitoLike]:
    with CognitoLike(tmp_path_factory.mktemp("idp"), machine_clients={MACHINE_ID: MACHINE_SECRET}) as running:
        for name, groups in USERS.items():
            running.set_user(f"{name}@example.org", groups)
        yield running


def _sso_ctx(provider: CognitoLike) -> SsoHostContext:
    return sign_in_context(provider, machine_client_id=MACHINE_ID, site_client_secret_arn=SITE_SECRET_ARN)


@pytest.fixture(scope="module")
def site(provider: CognitoLike, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SsoSite]:
    sso_ctx = _sso_ctx(provider)
    rendered = render_host_files(dataclasses.replace(runtime_context(replicas=2, stack="sso"), sso=sso_ctx))
    with SsoSite(rendered, sso_ctx, provider, tmp_path_factory.mktemp("sso-site")) as running:
        yield running


def browser(provider: CognitoLike, site: SsoSite) -> Browser:
    return Browser(provider.ca_file, site.site_ca)


@pytest.fixture
def api(site: SsoSite) -> Iterator[httpx.Client]:
    client = httpx.Client(verify=ssl.create_default_context(cafile=str(site.site_ca)), timeout=30)
    yield client
    client.close()


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json", **headers}


# --- the configuration itself ----------------------------------------------------------------------


def test_the_live_config_validates_without_deprecated_fields(site: SsoSite) -> None:
    assert site.envoy is not None
    done = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(site.envoy.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "deprecated" not in (done.stdout + done.stderr).lower()


# --- browsers ---------------------------------------------------------------------------------------


def test_sign_in_uses_pkce_and_returns_to_the_original_url(provider: CognitoLike, site: SsoSite) -> None:
    people = browser(provider, site)
    original = f"{site.base}/app/explorer.html?tab=studies"
    page = people.sign_in(original, "viewer@example.org")
    assert page.status_code == 200 and str(page.url) == original
    first = urlsplit(people.hops[0].location or "")
    query = parse_qs(first.query)
    assert f"{first.scheme}://{first.netloc}{first.path}" == provider.authorization_endpoint
    assert query["client_id"] == [provider.site_client_id]
    assert query["redirect_uri"] == [f"https://{site.site_address}{sso.CALLBACK_PATH}"]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]
    assert set(query["scope"][0].split()) == set(sso.USER_SCOPES)
    exchange = [r for r in provider.token_requests if r.grant_type == "authorization_code"][-1]
    assert exchange.pkce == "verified"
    assert site.upstream is not None and site.upstream.last("/app/explorer.html").method == "GET"


def test_session_cookies_are_secure_httponly_and_lax(provider: CognitoLike, site: SsoSite) -> None:
    people = browser(provider, site)
    form = people.follow(people.request("GET", f"{site.base}/system"))
    callback = people.request("POST", str(form.url), data={"sub": "viewer@example.org"}).headers["location"]
    answer = people.request("GET", callback)
    session = [c for c in answer.headers.get_list("set-cookie") if "=deleted" not in c]
    names = {cookie.split("=", 1)[0] for cookie in session}
    assert {sso.COOKIE_NAMES[k] for k in ("bearer_token", "oauth_hmac", "oauth_expires", "refresh_token")} <= names
    for cookie in session:
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite=lax"} <= attributes, cookie
        assert cookie.startswith(sso.COOKIE_PREFIX) and "domain=" not in cookie.lower()
    # Only the access token's cookie is needed; no ID token is kept in the browser.
    assert sso.COOKIE_NAMES["id_token"] not in names


@pytest.mark.parametrize("headers", [{"X-Requested-With": "XMLHttpRequest", "Accept": "text/html"}, {}])
def test_scripts_without_a_session_get_401_not_a_redirect(api: httpx.Client, site: SsoSite, headers: Any) -> None:
    answer = api.get(f"{site.base}/system", headers={"Accept": "application/json", **headers})
    assert answer.status_code == 401
    assert api.get(f"{site.base}/system", headers={"Accept": "text/html"}).status_code == 302


def test_roles_matrix(provider: CognitoLike, site: SsoSite, runtime_report: dict[str, object]) -> None:
    measured: dict[str, tuple[int, ...]] = {}
    for role in USERS:
        people = browser(provider, site)
        people.sign_in(f"{site.base}/system", f"{role}@example.org")
        statuses = []
        for method, path in REQUESTS:
            statuses.append(people.client.request(method, f"{site.base}{path}", headers={"Accept": "*/*"}).status_code)
        measured[role] = tuple(statuses)
    runtime_report["sso roles matrix (GET /system, POST /instances, DELETE /instances/x)"] = measured
    assert measured == EXPECTED


def test_viewers_may_ask_orthanc_explorer_questions_and_uploaders_may_stow(
    api: httpx.Client, provider: CognitoLike, site: SsoSite
) -> None:
    viewer = provider.access_token(**{"cognito:groups": [sso.VIEWER]})
    uploader = provider.access_token(**{"cognito:groups": [sso.UPLOADER]})
    assert access.QUESTIONS.routes is not None
    for route in access.QUESTIONS.routes:
        assert api.post(f"{site.base}/{route.path}", headers=bearer(viewer), content=b"{}").status_code == 200, route
    stow = f"{site.base}{DICOMWEB_ROOT}studies"
    assert api.post(stow, headers=bearer(viewer)).status_code == 403
    assert api.post(stow, headers=bearer(uploader)).status_code == 200
    assert api.post(f"{stow}/1.2.3", headers=bearer(uploader)).status_code == 200
    assert api.post(f"{site.base}/modalities/x/store", headers=bearer(uploader)).status_code == 403


# --- bearer tokens -----------------------------------------------------------------------------------


def _id_token(provider: CognitoLike, site: SsoSite) -> str:
    """A real ID token from the provider's code flow (an admin's, with the groups in it)."""
    people = browser(provider, site)
    verifier = "v" * 64
    challenge = _s256(verifier)
    query = {
        "client_id": provider.site_client_id,
        "response_type": "code",
        "redirect_uri": f"https://{site.site_address}{sso.CALLBACK_PATH}",
        "scope": "openid email",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    url = f"{provider.authorization_endpoint}?{urlencode(query)}"
    code = parse_qs(urlsplit(people.client.post(url, data={"sub": "admin@example.org"}).headers["location"]).query)
    tokens = people.client.post(
        provider.token_endpoint,
        auth=(provider.site_client_id, provider.site_client_secret),
        data={
            "grant_type": "authorization_code",
            "code": code["code"][0],
            "redirect_uri": query["redirect_uri"],
            "code_verifier": verifier,
        },
    ).json()
    return tokens["id_token"]


def _s256(verifier: str) -> str:
    import base64
    import hashlib

    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _machine_token(provider: CognitoLike, role: str) -> str:
    answer = httpx.post(
        provider.token_endpoint,
        auth=(MACHINE_ID, MACHINE_SECRET),
        data={"grant_type": "client_credentials", "scope": sso.scope(role)},
        verify=ssl.create_default_context(cafile=str(provider.ca_file)),
    )
    return answer.json()["access_token"]


def test_bearer_tokens(
    api: httpx.Client, provider: CognitoLike, site: SsoSite, runtime_report: dict[str, object]
) -> None:
    admin = {"cognito:groups": [sso.ADMIN]}
    cases = {
        "valid viewer access token": (provider.access_token(**{"cognito:groups": [sso.VIEWER]}), 200),
        "garbage": ("not-a-jwt", 401),
        "signed with a key the pool never published": (provider.forged_token(**admin), 401),
        "expired": (provider.access_token(exp=int(time.time()) - 120, **admin), 401),
        "ID token (of an admin)": (_id_token(provider, site), 403),
        "access token with token_use id": (provider.access_token(token_use="id", **admin), 403),
        "another client's access token": (provider.access_token(client_id="someone-else", **admin), 403),
        "machine token, viewer scope": (_machine_token(provider, sso.VIEWER), 200),
    }
    measured = {
        name: api.get(f"{site.base}/system", headers=bearer(token)).status_code for name, (token, _) in cases.items()
    }
    runtime_report["sso bearer GET /system"] = measured
    assert measured == {name: expected for name, (_, expected) in cases.items()}
    scoped = _machine_token(provider, sso.VIEWER)
    assert api.post(f"{site.base}/instances", headers=bearer(scoped)).status_code == 403
    admin_machine = _machine_token(provider, sso.ADMIN)
    assert api.delete(f"{site.base}/instances/x", headers=bearer(admin_machine)).status_code == 200


def test_spoofed_identity_headers_are_dropped_or_overwritten(
    api: httpx.Client, provider: CognitoLike, site: SsoSite
) -> None:
    assert site.upstream is not None
    spoofed = {sso.USER_HEADER: "admin@example.org", sso.CLIENT_HEADER: provider.site_client_id}
    machine = _machine_token(provider, sso.VIEWER)
    assert api.get(f"{site.base}/spoof-machine", headers=bearer(machine, **spoofed)).status_code == 200
    seen = site.upstream.last("/spoof-machine").headers
    # A machine token has no username: the spoofed one must not survive.
    assert sso.USER_HEADER not in seen and seen[sso.CLIENT_HEADER] == MACHINE_ID
    person = provider.access_token(username="viewer@example.org", **{"cognito:groups": [sso.VIEWER]})
    assert api.get(f"{site.base}/spoof-person", headers=bearer(person, **spoofed)).status_code == 200
    seen = site.upstream.last("/spoof-person").headers
    assert seen[sso.USER_HEADER] == "viewer@example.org" and seen[sso.CLIENT_HEADER] == provider.site_client_id


def test_orthanc_sees_only_the_internal_credential_and_no_session_cookie(provider: CognitoLike, site: SsoSite) -> None:
    assert site.upstream is not None
    people = browser(provider, site)
    people.sign_in(f"{site.base}/system", "admin@example.org")
    people.client.cookies.set("theme", "dark", domain="127.0.0.1")
    assert people.client.get(f"{site.base}/cookies-upstream").status_code == 200
    seen = site.upstream.last("/cookies-upstream").headers
    assert sso.COOKIE_PREFIX not in seen["cookie"] and "theme=dark" in seen["cookie"]
    assert seen["authorization"] == site.admin.header
    # Every request that reached "Orthanc" through Envoy (which gives each its id) carried the
    # internal credential, none a token; another test calls the upstream directly, without one.
    through_envoy = [r for r in site.upstream.seen if "x-request-id" in r.headers]
    assert {r.headers.get("authorization") for r in through_envoy} == {site.admin.header}


def test_an_expired_session_is_renewed_with_the_refresh_token(provider: CognitoLike, site: SsoSite) -> None:
    people = browser(provider, site)
    provider.access_token_seconds = 2
    try:
        people.sign_in(f"{site.base}/system", "viewer@example.org")
    finally:
        provider.access_token_seconds = 3600
    refreshes = sum(1 for r in provider.token_requests if r.grant_type == "refresh_token")
    time.sleep(3)  # the session's access token expires; nothing is measured
    answer = people.request("GET", f"{site.base}/system")
    assert answer.status_code == 200
    assert sum(1 for r in provider.token_requests if r.grant_type == "refresh_token") == refreshes + 1
    assert any(c.startswith(sso.COOKIE_NAMES["bearer_token"]) for c in answer.headers.get_list("set-cookie"))


def test_sign_out_ends_at_cognitos_logout_and_the_next_visit_signs_in_again(
    provider: CognitoLike, site: SsoSite
) -> None:
    people = browser(provider, site)
    people.sign_in(f"{site.base}/system", "viewer@example.org")
    people.hops.clear()
    page = people.follow(people.request("GET", f"{site.base}{sso.SIGN_OUT_PATH}"))
    logout = next(h for h in people.hops if h.url.startswith(provider.logout_endpoint))
    assert parse_qs(urlsplit(logout.url).query) == {
        "client_id": [provider.site_client_id],
        "logout_uri": [f"https://{site.site_address}/"],
    }
    assert logout.location == f"https://{site.site_address}/"
    # Back at the site without a session: off to sign in again (the provider's form).
    assert 'name="sub"' in page.text
    assert not {sso.COOKIE_NAMES[k] for k in ("bearer_token", "oauth_hmac", "refresh_token")} & people.cookie_names()


# --- what sign-in must not touch ----------------------------------------------------------------


def test_dicom_tls_is_a_plain_tcp_proxy_still(site: SsoSite) -> None:
    context = ssl.create_default_context(cafile=str(site.site_ca))
    with (
        socket.create_connection(("127.0.0.1", site.dicom_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"\x01\x00association-request")
        assert tls.recv(64) == b"\x01\x00association-request"


def test_envoy_health_checks_still_reach_orthanc(site: SsoSite) -> None:
    assert site.envoy is not None and site.upstream is not None
    health = site.envoy.host_health()
    assert set(health["orthanc_http"].values()) == {"healthy"}
    assert set(health["orthanc_dicom"].values()) == {"healthy"}


def test_the_upstream_refuses_requests_without_the_internal_credential(site: SsoSite) -> None:
    assert site.upstream is not None
    direct = httpx.get(f"http://127.0.0.1:{site.upstream.http_port}/system")
    assert direct.status_code == 401


# --- the boot-time secret step ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "refusal"),
    [
        ("client_id", "abc\n      evil: true", "client_id must match"),
        ("site_address", "pacs.example.org/\nnode: {}", "site_address must be a DNS name"),
        ("client_secret", "short", "no client_secret of 16 characters or more"),
        ("hmac_secret", "", "no hmac_secret of 16 characters or more"),
    ],
)
def test_a_malformed_sign_in_secret_stops_the_host(
    tmp_path: Path, provider: CognitoLike, field: str, value: str, refusal: str
) -> None:
    from orthweb.host.credentials import Credential
    from tools.harness.aws import SCRIPT_NAME, LocalAws, ScriptTargets, run_fetch_secrets
    from tools.harness.pki import make_site_certificate
    from tools.harness.secrets import SecretInputs

    # moto keeps its state for the whole process: each case is a stack of its own.
    stack = f"bad-{field.replace('_', '-')}"
    arn = SITE_SECRET_ARN.replace("orthweb/sso/", f"orthweb/{stack}/")
    sso_ctx = dataclasses.replace(_sso_ctx(provider), site_client_secret_arn=arn)
    rendered = render_host_files(dataclasses.replace(runtime_context(replicas=1, stack=stack), sso=sso_ctx))
    certificate = make_site_certificate(tmp_path / "site", "orthweb.test")
    good = {
        "client_id": "7site0client",
        "client_secret": "s" * 40,
        "hmac_secret": "k" * 32,
        "site_address": "a.b",
    }
    with socket.create_server(("127.0.0.1", 0)) as database, LocalAws() as aws:
        inputs = SecretInputs(
            admin=Credential("admin", "a" * 24),
            health=Credential("healthcheck", "h" * 24),
            db_host="127.0.0.1",
            db_port=database.getsockname()[1],
            db_name="orthanc",
            db_user="orthanc",
            db_password="p" * 24,
            site_certificate_pem=certificate.cert.read_text(),
            site_private_key_pem=certificate.key.read_text(),
            sso_site_secret={**good, field: value},
        )
        aws.seed(ScriptTargets.parse(rendered[SCRIPT_NAME]), inputs)
        done = run_fetch_secrets(rendered, aws, tmp_path / "secrets", tmp_path / "fetch")
    assert done.returncode != 0 and refusal in done.stderr
    # Nothing was installed: the host keeps what it had (here: nothing).
    assert not (tmp_path / "secrets" / "envoy.yaml").exists()


# --- `orthweb verify` against this site ----------------------------------------------------------


def test_verify_checks_sign_in(provider: CognitoLike, site: SsoSite, monkeypatch: pytest.MonkeyPatch) -> None:
    from orthweb.ops.token import MachineClient, request_token
    from orthweb.ops.verify.model import Deployment
    from orthweb.ops.verify.settings import Endpoint, Options
    from orthweb.ops.verify.sso_checks import BearerCredential, SsoChecks
    from orthweb.ops.verify.target import Target

    # The token endpoint is checked against the local provider's CA, as against Cognito's.
    monkeypatch.setenv("SSL_CERT_FILE", str(provider.ca_file))
    machine = MachineClient(
        client_id=MACHINE_ID,
        token_endpoint=provider.token_endpoint,
        scopes={role: sso.scope(role) for role in sso.ROLES},
        client_secret=MACHINE_SECRET,
    )

    class LocalSignIn:
        def machine_client(self) -> MachineClient:
            return machine

        def token(self, client: MachineClient, role: str) -> str:
            return request_token(client, role).value

    class LocalStack:
        def locate(self) -> Deployment:
            return Deployment(
                stack="sso",
                region=REGION,
                site_address=site.site_address,
                serving_instance="i-0",
                serving_role="primary",
                certificate_pem=site.site_ca.read_text(),
                admin=site.admin,
                credentials_secret="orthweb/sso/orthanc-credentials",
                site_tls_secret="orthweb/sso/site-tls",
                dicom_bucket="orthweb-sso-dicom",
                key_arn="arn:aws:kms:eu-west-1:123456789012:key/0",
                key_alias="alias/orthweb-sso",
            )

        def find_object(self, bucket: str, keys: list[str]) -> None:
            return None

        def client_certificates(self) -> None:
            return None

        def vpn_connection(self) -> None:
            return None

    target = Target(Endpoint(address="127.0.0.1", https_port=site.https_port), Options())
    target.locate(LocalStack())
    checks = SsoChecks(target, LocalSignIn())
    assert checks.find().startswith(f"machine client {MACHINE_ID}")
    # From now on the other REST checks carry the admin token, not Orthanc's password.
    assert isinstance(target.deployment.admin, BearerCredential)
    assert target.admin_request("GET", "/system").status == 200
    assert checks.redirect().startswith(f"302 to {urlsplit(provider.issuer).netloc}")
    assert checks.machine_token() == "viewer token: GET /system 200"
    assert checks.roles() == "viewer token DELETE 403; Orthanc's password alone HTTP 401"
