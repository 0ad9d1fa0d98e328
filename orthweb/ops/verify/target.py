"""The stack `stack.find` located and how the other checks reach its site: the HTTPS client, the
REST calls with the admin credential, and the hints for when the site does not answer."""

from __future__ import annotations

import dataclasses
import http.client

from orthweb.host.credentials import Credential
from orthweb.ops.verify.model import CheckFailed, Deployment, StackBackend
from orthweb.ops.verify.settings import Endpoint, Options
from orthweb.ops.verify.site import Response, SiteClient


class Target:
    """Empty until `locate()`; every other check depends on `stack.find`, so they may read it."""

    def __init__(self, endpoint: Endpoint, options: Options) -> None:
        self.endpoint = endpoint
        self.options = options
        self.address = ""
        self._deployment: Deployment | None = None
        self._client: SiteClient | None = None
        # With sign-in: the generated password, once REST calls carry a token instead.
        self.generated_admin: Credential | None = None

    def locate(self, backend: StackBackend) -> Deployment:
        deployment = backend.locate()
        self._deployment = deployment
        self.address = self.endpoint.address or deployment.site_address
        self._client = SiteClient(
            self.address,
            self.endpoint.connect_host or self.address,
            self.endpoint.https_port,
            deployment.trusted_pem,
            self.options.http_timeout,
        )
        return deployment

    def use_credential(self, credential: Credential) -> None:
        """REST calls carry `credential` from now on (with sign-in, an admin token)."""
        self.generated_admin = self.deployment.admin
        self._deployment = dataclasses.replace(self.deployment, admin=credential)

    @property
    def deployment(self) -> Deployment:
        assert self._deployment is not None
        return self._deployment

    @property
    def client(self) -> SiteClient:
        assert self._client is not None
        return self._client

    def admin_request(self, method: str, path: str, body: bytes | None = None) -> Response:
        """One REST call with the generated admin credential; raises OS/HTTP errors."""
        return self.client.request(method, path, credential=self.deployment.admin, body=body)

    def get(self, path: str, *, authenticated: bool = True) -> tuple[int, bytes]:
        try:
            response = self.client.request("GET", path, credential=self.deployment.admin if authenticated else None)
        except (OSError, http.client.HTTPException) as error:
            raise CheckFailed(f"GET {path} failed: {error}", self.web_hint()) from None
        return response.status, response.body

    def status_failure(self, what: str, status: int, body: bytes) -> CheckFailed:
        """The verdict on an unexpected HTTP status, with where to look."""
        if status == 401:
            return CheckFailed(
                f"{what}: HTTP 401 with the generated admin credential",
                f"the host's credential differs from secret {self.deployment.credentials_secret}: it re-reads it "
                f"hourly (orthweb-refresh.timer), `systemctl restart orthweb.service` does it now",
            )
        if status == 503:
            return CheckFailed(
                f"{what}: HTTP 503 from Envoy (no healthy Orthanc replica)",
                "see host.envoy and database.*; `docker logs orthweb-orthanc-1-1` on the host",
            )
        return CheckFailed(f"{what}: HTTP {status} {body[:120]!r}", "`docker logs orthweb-envoy-1` on the host")

    def reach_hint(self, port: int, cidrs: str) -> str:
        """Where to look when nothing answers on `port` (`cidrs`: the stack config key admitting us)."""
        return (
            f"is this machine's address in {cidrs} (the {self._front} security group, port {port})? is the "
            f"{self.deployment.serving_role} host serving? (`docker logs orthweb-envoy-1` on it)"
        )

    @property
    def _front(self) -> str:
        return "load balancer's" if self.deployment.group is not None else "hosts'"

    def web_hint(self) -> str:
        return self.reach_hint(self.endpoint.https_port, "webAllowedCidrs")
