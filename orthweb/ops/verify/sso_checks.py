"""Sign-in (`authentication: sso`) as a user and a script meet it: an unauthenticated browser is
sent to the stack's Cognito domain, a machine token reads /system, a token without the role is
refused and Orthanc's own password does not open the site.

With sign-in, the other REST checks (login, DICOM back over REST, DICOMweb, cleanup) carry an
admin-scope machine token instead of the generated password, which Envoy never lets through.
"""

from __future__ import annotations

import http.client
import urllib.parse
from dataclasses import dataclass, field
from typing import Protocol

from orthweb.host.credentials import Credential
from orthweb.host.layout import SECRETS_DIR
from orthweb.ops.aws import AwsClients, OpsError
from orthweb.ops.tagged import TaggedStack
from orthweb.ops.token import MachineClient, machine_client_from, request_token
from orthweb.ops.verify.model import CheckFailed
from orthweb.ops.verify.site import SiteConnection
from orthweb.ops.verify.target import Target
from orthweb.shared import sso

# An instance id no Orthanc has: a refused DELETE must never depend on Orthanc refusing it.
NO_SUCH_INSTANCE = "/instances/orthweb-verify-no-such-instance"
BASIC_HINT = "skipped: authentication is basic (no sign-in to check)"


@dataclass(frozen=True)
class BearerCredential(Credential):
    """An access token where the checks expect a credential (`password` holds the token)."""

    password: str = field(repr=False)

    @property
    def header(self) -> str:
        return f"Bearer {self.password}"


class SignInSource(Protocol):
    """Where the stack's machine client and its tokens come from (tests use a local provider)."""

    def machine_client(self) -> MachineClient | None:
        """The machine client, or None when the stack has no sign-in."""
        ...

    def token(self, client: MachineClient, role: str) -> str: ...


class AwsSignIn:
    """The machine client from its tagged secret; tokens from the stack's Cognito domain."""

    def __init__(self, clients: AwsClients, stack: str) -> None:
        self._tagged = TaggedStack(clients, stack)
        self._clients = clients

    def machine_client(self) -> MachineClient | None:
        try:
            matches = self._tagged.secrets(sso.MACHINE_CLIENT_ROLE)
            if not matches:
                return None
            if len(matches) > 1:
                raise OpsError(f"found {len(matches)} secrets tagged orthweb:role={sso.MACHINE_CLIENT_ROLE}")
            value = self._clients.secretsmanager.get_secret_value(SecretId=matches[0]["ARN"])
            return machine_client_from(value.get("SecretString", ""), matches[0].get("Name", "?"))
        except OpsError as error:
            raise CheckFailed(str(error), "check --stack, --region and your AWS credentials") from None

    def token(self, client: MachineClient, role: str) -> str:
        return request_token(client, role).value


class SsoChecks:
    def __init__(self, target: Target, source: SignInSource | None) -> None:
        self.target = target
        self.source = source
        self.client: MachineClient | None = None
        self._tokens: dict[str, str] = {}

    def find(self) -> str:
        """`sso.find`: the machine client, and admin and viewer tokens from the stack's domain."""
        self.client = self.source.machine_client() if self.source is not None else None
        if self.client is None:
            return "authentication is basic: the generated credential opens the site"
        for role in (sso.ADMIN, sso.VIEWER):
            try:
                self._tokens[role] = self.source.token(self.client, role) if self.source else ""
            except OpsError as error:
                raise CheckFailed(
                    f"no {role} token from {self.client.token_endpoint}: {error}",
                    "the machine client's secret may be stale: `pulumi up` rewrites it",
                ) from None
        self.target.use_credential(BearerCredential("machine client (admin scope)", self._tokens[sso.ADMIN]))
        return f"machine client {self.client.client_id}; admin and viewer tokens from {self.domain}"

    @property
    def domain(self) -> str:
        assert self.client is not None
        return urllib.parse.urlsplit(self.client.token_endpoint).netloc

    def redirect(self) -> str:
        """`sso.redirect`: a browser without a session is sent to sign in at the stack's domain."""
        if self.client is None:
            return BASIC_HINT
        status, location = self._browser_get("/")
        target = urllib.parse.urlsplit(location)
        query = dict(urllib.parse.parse_qsl(target.query))
        callback = urllib.parse.urlsplit(query.get("redirect_uri", ""))
        if status != 302 or target.netloc != self.domain or target.path != "/oauth2/authorize":
            raise CheckFailed(
                f"GET / without a session answered HTTP {status} {location[:120]!r}, "
                f"not a redirect to https://{self.domain}/oauth2/authorize",
                "Envoy's sign-in is not in place: `docker logs orthweb-envoy-1` on the host",
            )
        if callback.scheme != "https" or callback.path != sso.CALLBACK_PATH or "code_challenge" not in query:
            raise CheckFailed(
                f"the sign-in request names callback {query.get('redirect_uri')!r}, PKCE "
                f"{'present' if 'code_challenge' in query else 'missing'}",
                "the site client's secret on the host may be stale: `systemctl restart orthweb.service`",
            )
        return f"302 to {self.domain} (client {query.get('client_id', '?')}, back to {callback.netloc}, PKCE)"

    def _browser_get(self, path: str) -> tuple[int, str]:
        """GET as a browser asks for a page (Accept: text/html): the status and any Location."""
        client = self.target.client
        connection = SiteConnection(client.address, client.dial_host, client.port, client.context, client.timeout)
        try:
            connection.request("GET", path, headers={"User-Agent": "orthweb-verify", "Accept": "text/html"})
            response = connection.getresponse()
            response.read()
            return response.status, response.getheader("Location") or ""
        except (OSError, http.client.HTTPException) as error:
            raise CheckFailed(f"GET {path} failed: {error}", self.target.web_hint()) from None
        finally:
            connection.close()

    def machine_token(self) -> str:
        """`sso.token`: a viewer token of the machine client reads /system."""
        if self.client is None:
            return BASIC_HINT
        response = self.target.client.request("GET", "/system", credential=self._bearer(sso.VIEWER))
        if response.status != 200:
            raise CheckFailed(
                f"GET /system with a viewer token answered HTTP {response.status} {response.body[:120]!r}",
                "Envoy checks the token against the pool's keys: can the host reach cognito-idp "
                "(HTTPS out)? `docker logs orthweb-envoy-1` on the host",
            )
        return "viewer token: GET /system 200"

    def roles(self) -> str:
        """`sso.roles`: a token without the role is refused; Orthanc's own password opens nothing."""
        if self.client is None:
            return BASIC_HINT
        refused = self.target.client.request("DELETE", NO_SUCH_INSTANCE, credential=self._bearer(sso.VIEWER))
        if refused.status != 403:
            raise CheckFailed(
                f"DELETE with a viewer token answered HTTP {refused.status}, not 403",
                f"Envoy's roles (RBAC) are not enforced: check {SECRETS_DIR}/envoy.yaml on the host",
            )
        password = self.target.client.request("GET", "/system", credential=self._generated_password())
        if password.status == 200:
            raise CheckFailed(
                "the generated Orthanc password opens the site past sign-in",
                "Envoy must drop a client's Authorization header: check the oauth2 filter on the host",
            )
        return f"viewer token DELETE 403; Orthanc's password alone HTTP {password.status}"

    def _bearer(self, role: str) -> Credential:
        return BearerCredential(f"machine client ({role} scope)", self._tokens[role])

    def _generated_password(self) -> Credential:
        return self.target.generated_admin or self.target.deployment.admin
