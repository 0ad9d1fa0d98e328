"""A local stand-in for Amazon Cognito's endpoints, and a scripted browser (runtime tests only).

`CognitoLike` runs PyPI `oidc-provider-mock` (authorization code, refresh, `/jwks`, a login form
that takes a subject) on 127.0.0.1 over TLS, with what Cognito does that the mock does not:
- access tokens are RS256 JWTs shaped like Cognito's (`token_use`, `client_id`, `scope`,
  `username`, `cognito:groups`); ID tokens carry `token_use: id` and the groups too;
- the client-credentials grant for registered machine clients (scope `orthweb/<role>`);
- PKCE (S256) is enforced on the code exchange (the mock does not check it);
- Cognito's `/logout?client_id=&logout_uri=` answers with a redirect to `logout_uri`;
- every token request is recorded, and the access-token lifetime can be shortened at any time.

`Browser` is an httpx client with a cookie jar that follows redirects one hop at a time, so a
test sees each step of the sign-in (site -> provider -> callback -> original URL).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import authlib.deprecate
import flask
import httpx
import werkzeug.serving
from joserfc import jwt
from joserfc.jwk import RSAKey

from orthweb.host.sso_context import SsoHostContext
from orthweb.shared import sso
from tools.harness.pki import make_ca_and_server
from tools.harness.processes import LOOPBACK

# oidc-provider-mock 0.3.4 imports authlib modules that authlib has since deprecated; authlib's own
# import turns its warnings to "always", which the block below also undoes.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    import oidc_provider_mock

GROUPS_CLAIM = "cognito:groups"


@dataclass
class TokenRequest:
    grant_type: str
    client_id: str
    scope: str
    pkce: str  # "verified", "missing" or "mismatch" (authorization_code only)


@dataclass
class CognitoLike:
    """The provider; use as a context manager. `ca_file` is what a client must trust."""

    work_dir: Path
    # Shaped like Cognito's (fetch-secrets.sh checks the id; Envoy wants a secret of some length).
    site_client_id: str = "1example0site0client0id000"
    site_client_secret: str = "site-client-secret-0123456789"
    # client id -> secret, for the client-credentials grant.
    machine_clients: dict[str, str] = field(default_factory=dict)
    access_token_seconds: int = 3600
    token_requests: list[TokenRequest] = field(default_factory=list)
    logouts: list[dict[str, str]] = field(default_factory=list)
    port: int = 0
    ca_file: Path = field(init=False)
    _challenges: dict[str, str] = field(default_factory=dict, init=False)
    _key: RSAKey | None = field(default=None, init=False)
    _kid: str = field(default="", init=False)
    _app: flask.Flask | None = field(default=None, init=False)
    _server: werkzeug.serving.BaseWSGIServer | None = field(default=None, init=False)

    # -- addresses (what Envoy's config and the token command are given) -----------------------
    @property
    def issuer(self) -> str:
        return f"https://{LOOPBACK}:{self.port}"

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.issuer}/oauth2/authorize"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/oauth2/token"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    @property
    def logout_endpoint(self) -> str:
        return f"{self.issuer}/logout"

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> CognitoLike:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        # One line per request on stderr would drown the test output.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.ca_file, server_cert = make_ca_and_server(self.work_dir / "idp-tls", LOOPBACK)
        self._app = self._build_app()
        self._key, self._kid = _signing_key(self._app)
        self._server = werkzeug.serving.make_server(
            LOOPBACK,
            self.port,
            self._app,
            threaded=True,
            ssl_context=(str(server_cert.cert), str(server_cert.key)),
        )
        self.port = int(self._server.server_port)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -- users and tokens ------------------------------------------------------------------------
    def set_user(self, username: str, groups: tuple[str, ...] = ()) -> None:
        """A person who can sign in with `username` at the form; their groups go into the tokens."""
        claims: dict[str, Any] = {"email": username, "cognito:username": username, "token_use": "id"}
        if groups:
            claims[GROUPS_CLAIM] = list(groups)
        assert self._app is not None
        answer = self._app.test_client().put(f"/users/{username}", json=claims)
        assert answer.status_code == 204, answer.data

    def access_token(self, **claims: Any) -> str:
        """A Cognito-shaped access token signed with the provider's key (claims: None drops one)."""
        assert self._key is not None, "start the provider first"
        return self._sign(self._key, self._access_claims(**claims))

    def forged_token(self, **claims: Any) -> str:
        """The same shape and key id, signed with a key the provider never published."""
        return self._sign(RSAKey.generate_key(2048, private=True), self._access_claims(**claims))

    def unsigned_token(self, **claims: Any) -> str:
        """The same claims with `alg: none` and no signature."""
        header = {"alg": "none", "kid": self._kid, "typ": "JWT"}
        return f"{_b64json(header)}.{_b64json(self._access_claims(**claims))}."

    def public_key_hmac_token(self, **claims: Any) -> str:
        """HS256 with the provider's public key (PEM) as the HMAC secret: the algorithm confusion
        a verifier that trusts the token's `alg` would accept."""
        assert self._key is not None, "start the provider first"
        header = {"alg": "HS256", "kid": self._kid, "typ": "JWT"}
        signed = f"{_b64json(header)}.{_b64json(self._access_claims(**claims))}"
        mac = hmac.new(self._key.as_pem(private=False), signed.encode(), hashlib.sha256).digest()
        return f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    def _access_claims(self, **claims: Any) -> dict[str, Any]:
        now = int(time.time())
        base: dict[str, Any] = {
            "sub": str(uuid.uuid4()),
            "iss": self.issuer,
            "client_id": self.site_client_id,
            "token_use": "access",
            "scope": " ".join(sso.USER_SCOPES),
            "auth_time": now,
            "iat": now,
            "exp": now + self.access_token_seconds,
            "jti": str(uuid.uuid4()),
            "version": 2,
        }
        base.update(claims)
        return {key: value for key, value in base.items() if value is not None}

    def _sign(self, key: RSAKey, claims: Mapping[str, Any]) -> str:
        return jwt.encode({"alg": "RS256", "kid": self._kid, "typ": "JWT"}, dict(claims), key)

    # -- the Flask app: the mock plus what Cognito does ----------------------------------------
    def _build_app(self) -> flask.Flask:
        # The mock's pages (the sign-in form) are templates inside its package.
        templates = Path(oidc_provider_mock.__file__).parent / "templates"
        app = flask.Flask("orthweb-cognito-like", template_folder=str(templates))
        app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = self._generate_access_token
        oidc_provider_mock.init_app(app, require_client_registration=False, issue_refresh_token=True)
        app.before_request(self._before_request)
        app.after_request(self._after_request)
        app.add_url_rule("/logout", "cognito-logout", self._logout)
        return app

    def _generate_access_token(self, client: Any, grant_type: str, user: Any, scope: str) -> str:
        claims = getattr(user, "claims", {}) or {}
        return self.access_token(
            sub=getattr(user, "sub", None),
            client_id=client.get_client_id(),
            scope=scope,
            username=claims.get("cognito:username"),
            **({GROUPS_CLAIM: claims[GROUPS_CLAIM]} if GROUPS_CLAIM in claims else {}),
        )

    def _before_request(self) -> flask.Response | None:
        request = flask.request
        if request.path != "/oauth2/token" or request.method != "POST":
            return None
        grant = request.form.get("grant_type", "")
        client_id = _basic_client_id(request) or request.form.get("client_id", "")
        if grant == "client_credentials":
            return self._client_credentials(client_id)
        pkce = ""
        if grant == "authorization_code":
            pkce = self._check_pkce(request.form.get("code", ""), request.form.get("code_verifier"))
            if pkce != "verified":
                self.token_requests.append(TokenRequest(grant, client_id, "", pkce))
                return flask.make_response({"error": "invalid_grant"}, 400)
        self.token_requests.append(TokenRequest(grant, client_id, request.form.get("scope", ""), pkce))
        return None

    def _after_request(self, response: flask.Response) -> flask.Response:
        request = flask.request
        if request.path == "/oauth2/authorize" and request.method == "POST" and response.status_code == 302:
            # Remember each code's PKCE challenge, as Cognito does.
            code = parse_qs(urlsplit(response.headers.get("Location", "")).query).get("code", [""])[0]
            self._challenges[code] = request.args.get("code_challenge", "")
        if request.path == "/oauth2/token" and response.is_json and response.status_code == 200:
            body = response.get_json()
            if isinstance(body, dict) and "expires_in" in body:
                body["expires_in"] = self.access_token_seconds
                response.set_data(flask.json.dumps(body))
        return response

    def _check_pkce(self, code: str, verifier: str | None) -> str:
        challenge = self._challenges.pop(code, "")
        if not challenge or not verifier:
            return "missing"
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        return "verified" if digest == challenge else "mismatch"

    def _client_credentials(self, client_id: str) -> flask.Response:
        request = flask.request
        secret = _basic_client_secret(request)
        scope = request.form.get("scope", "")
        allowed = {sso.scope(role) for role in sso.ROLES}
        if client_id not in self.machine_clients or self.machine_clients[client_id] != secret:
            return flask.make_response({"error": "invalid_client"}, 401)
        if not scope or not set(scope.split()) <= allowed:
            return flask.make_response({"error": "invalid_scope"}, 400)
        self.token_requests.append(TokenRequest("client_credentials", client_id, scope, ""))
        token = self.access_token(sub=client_id, client_id=client_id, scope=scope, auth_time=None)
        return flask.make_response(
            {"access_token": token, "expires_in": self.access_token_seconds, "token_type": "Bearer"}, 200
        )

    def _logout(self) -> flask.Response:
        """Cognito's logout endpoint: the client and its registered logout URL, else an error."""
        query = {key: values[0] for key, values in parse_qs(flask.request.query_string.decode()).items()}
        self.logouts.append(query)
        if query.get("client_id") != self.site_client_id or not query.get("logout_uri"):
            return flask.make_response("Required String parameter 'redirect_uri' is not present", 400)
        return flask.make_response("", 302, {"Location": query["logout_uri"]})


def _b64json(document: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()


def _signing_key(app: flask.Flask) -> tuple[RSAKey, str]:
    """The private key the provider signs ID tokens with and publishes at /jwks, and its key id."""
    from oidc_provider_mock._storage import storage  # set per request by the mock's before_request

    with app.test_request_context("/"):
        app.preprocess_request()
        public = storage.jwk.as_dict()
        return RSAKey.import_key(storage.jwk.as_dict(is_private=True)), str(public["kid"])


def _basic_credentials(request: flask.Request) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return "", ""
    decoded = base64.b64decode(header[6:]).decode()
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


def _basic_client_id(request: flask.Request) -> str:
    return _basic_credentials(request)[0]


def _basic_client_secret(request: flask.Request) -> str:
    return _basic_credentials(request)[1] or request.form.get("client_secret", "")


# --- the scripted browser --------------------------------------------------------------------


@dataclass
class Hop:
    method: str
    url: str
    status: int
    location: str | None


class Browser:
    """A cookie jar and one-hop-at-a-time redirects; trusts the given CA files."""

    def __init__(self, *ca_files: Path) -> None:
        import ssl

        context = ssl.create_default_context()
        for ca in ca_files:
            context.load_verify_locations(cafile=str(ca))
        self.client = httpx.Client(verify=context, follow_redirects=False, timeout=30)
        self.hops: list[Hop] = []

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {"Accept": "text/html,application/xhtml+xml", **kwargs.pop("headers", {})}
        response = self.client.request(method, url, headers=headers, **kwargs)
        self.hops.append(Hop(method, url, response.status_code, response.headers.get("location")))
        return response

    def follow(self, response: httpx.Response, limit: int = 10) -> httpx.Response:
        """Follow redirects (GET), one hop at a time, until a page answers."""
        for _ in range(limit):
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            target = str(response.url.join(response.headers["location"]))
            response = self.request("GET", target)
        raise AssertionError(f"more than {limit} redirects: {self.hops[-limit:]}")

    def sign_in(self, url: str, username: str) -> httpx.Response:
        """Open `url`, sign in at the provider's form as `username`, and follow back to the site."""
        form = self.follow(self.request("GET", url))
        if 'name="sub"' not in form.text:
            raise AssertionError(f"no sign-in form after {self.hops}")
        answer = self.request("POST", str(form.url), data={"sub": username})
        return self.follow(answer)

    def cookie_names(self) -> set[str]:
        return {cookie.name for cookie in self.client.cookies.jar}


@contextmanager
def browser(*ca_files: Path) -> Iterator[Browser]:
    session = Browser(*ca_files)
    try:
        yield session
    finally:
        session.close()


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def form_body(**fields: str) -> str:
    return urlencode(fields)


def sign_in_context(provider: CognitoLike, *, machine_client_id: str, site_client_secret_arn: str) -> SsoHostContext:
    """The host's sign-in context with Cognito's addresses replaced by the local provider's."""
    return SsoHostContext(
        issuer=provider.issuer,
        jwks_uri=provider.jwks_uri,
        authorization_endpoint=provider.authorization_endpoint,
        token_endpoint=provider.token_endpoint,
        logout_endpoint=provider.logout_endpoint,
        machine_client_id=machine_client_id,
        site_client_secret_arn=site_client_secret_arn,
    )
