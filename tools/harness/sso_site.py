"""Envoy's sign-in, run for real on 127.0.0.1 in front of a recording stand-in for Orthanc.

`SsoSite` takes one host's rendered files (authentication: sso, Cognito's addresses pointed at a
`CognitoLike` provider; or basic), runs the rendered fetch-secrets.sh against moto holding the
stack's secrets, rewires the live envoy.yaml to local ports and files, and starts the real Envoy. The
stand-in answers like Orthanc with its own authentication on: 401 unless the request carries the
internal credential, and 200 for the health check's account on /changes; it records every request
it sees, so a test can tell what reached "Orthanc". DICOM-TLS goes to an echo server.
"""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from orthweb.host.credentials import Credential
from orthweb.host.layout import APP_DIR
from orthweb.shared import telemetry
from orthweb.shared.constants import DICOM_TLS_PORT, HTTPS_PORT
from tools.harness import envoy as envoy_mod
from tools.harness.aws import SCRIPT_NAME, LocalAws, ScriptTargets, run_fetch_secrets
from tools.harness.compose_replicas import compose_services, service_files
from tools.harness.envoy import EnvoyProxy, ReplicaPorts
from tools.harness.oidc import CognitoLike
from tools.harness.pki import make_site_certificate
from tools.harness.processes import LOOPBACK, HarnessError, free_port
from tools.harness.secrets import SecretInputs


@dataclass
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body_bytes: int


class RecordingOrthanc:
    """HTTP like Orthanc with authentication on, recording what reaches it; DICOM port echoes."""

    def __init__(self, admin: Credential, health: Credential) -> None:
        self.admin = admin
        self.health = health
        self.seen: list[SeenRequest] = []
        self._http = ThreadingHTTPServer((LOOPBACK, 0), self._handler())
        self._dicom = socketserver.ThreadingTCPServer((LOOPBACK, 0), _Echo)
        self._dicom.daemon_threads = True

    @property
    def http_port(self) -> int:
        return int(self._http.server_address[1])

    @property
    def dicom_port(self) -> int:
        return int(self._dicom.server_address[1])

    def start(self) -> RecordingOrthanc:
        for server in (self._http, self._dicom):
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def stop(self) -> None:
        for server in (self._http, self._dicom):
            server.shutdown()
            server.server_close()

    def last(self, path: str) -> SeenRequest:
        found = [r for r in self.seen if r.path.split("?")[0] == path]
        if not found:
            raise HarnessError(f"no request for {path} reached the upstream")
        return found[-1]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return None

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                authorization = self.headers.get("authorization")
                if authorization == upstream.health.header and self.path.startswith("/changes"):
                    self._send(200, {"Changes": [], "Done": True, "Last": 0})
                    return
                headers = {key.lower(): value for key, value in self.headers.items()}
                upstream.seen.append(SeenRequest(self.command, self.path, headers, len(body)))
                if authorization != upstream.admin.header:
                    self._send(401, {"error": "Unauthorized"}, {"WWW-Authenticate": 'Basic realm="Orthanc"'})
                    return
                self._send(200, {"method": self.command, "path": self.path})

            def _send(self, status: int, document: Any, headers: Mapping[str, str] | None = None) -> None:
                payload = json.dumps(document).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def __getattr__(self, name: str) -> Any:
                # Every method is recorded (TRACE, PROPFIND, ...), so none reaches "Orthanc" unseen.
                if name.startswith("do_"):
                    return self._answer
                raise AttributeError(name)

        return Handler


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@dataclass
class SsoSite:
    """Context manager: the recording upstream and Envoy with the rendered config, with sign-in
    (`sso_ctx` and `provider`) or without (both None: basic authentication)."""

    rendered: Mapping[str, str]
    sso_ctx: Any
    provider: CognitoLike | None
    work_dir: Path
    site_name: str = "orthweb.test"
    admin: Credential = field(default_factory=lambda: Credential("admin", _token()))
    health: Credential = field(default_factory=lambda: Credential("healthcheck", _token()))
    cookie_key: str = field(default_factory=lambda: _token())
    https_port: int = 0
    dicom_port: int = 0
    upstream: RecordingOrthanc | None = None
    envoy: EnvoyProxy | None = None

    @property
    def site_ca(self) -> Path:
        """What a client trusts: the site certificate the secret step installed."""
        return self.work_dir / "secrets" / "site.crt"

    @property
    def base(self) -> str:
        return f"https://{self.site_address}"

    @property
    def site_address(self) -> str:
        return f"{LOOPBACK}:{self.https_port}"

    def __enter__(self) -> SsoSite:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.upstream = RecordingOrthanc(self.admin, self.health).start()
        self.https_port, self.dicom_port = free_port(), free_port()
        secrets = self.work_dir / "secrets"
        self._fetch_secrets(secrets)
        self._start_envoy((secrets / "envoy.yaml").read_text(), secrets)

    def _fetch_secrets(self, secrets: Path) -> None:
        """The rendered fetch-secrets.sh itself, against moto holding what `pulumi up` stores."""
        assert self.upstream is not None
        certificate = make_site_certificate(self.work_dir / "site", self.site_name)
        inputs = SecretInputs(
            admin=self.admin,
            health=self.health,
            # The script waits until something answers at the database's address; nothing more.
            db_host=LOOPBACK,
            db_port=self.upstream.http_port,
            db_name="orthanc",
            db_user="orthanc",
            db_password=_token(),
            site_certificate_pem=certificate.cert.read_text(),
            site_private_key_pem=certificate.key.read_text(),
            sso_site_secret=self._sign_in_secret(),
        )
        with LocalAws() as aws:
            aws.seed(ScriptTargets.parse(self.rendered[SCRIPT_NAME]), inputs)
            done = run_fetch_secrets(self.rendered, aws, secrets, self.work_dir / "fetch-secrets")
        if done.returncode != 0:
            raise HarnessError(f"{SCRIPT_NAME} failed ({done.returncode}):\n{done.stderr[-3000:]}")

    def _sign_in_secret(self) -> dict[str, str] | None:
        if self.provider is None:
            return None
        return {
            "client_id": self.provider.site_client_id,
            "client_secret": self.provider.site_client_secret,
            "hmac_secret": self.cookie_key,
            "site_address": self.site_address,
        }

    def _start_envoy(self, live: str, secrets: Path) -> None:
        assert self.upstream is not None
        admin_port = free_port()
        # What compose mounts into Envoy (certificate, sign-in secret files), and the provider's CA
        # where the image's CA bundle would be.
        service = compose_services(self.rendered)["envoy"]
        files = service_files(service, self.work_dir, secrets, APP_DIR)
        if self.provider is not None:
            files[self.sso_ctx.trusted_ca_file] = self.provider.ca_file
        ports = ReplicaPorts(self.upstream.http_port, self.upstream.dicom_port)
        replicas = {i: ports for i in range(1, _replica_count(live) + 1)}
        listeners = {HTTPS_PORT: self.https_port, DICOM_TLS_PORT: self.dicom_port}
        extra = {port: free_port() for port in _listener_ports(live) if port not in listeners}
        config = envoy_mod.rewire(
            yaml.safe_load(live),
            replicas=replicas,
            listener_ports={**listeners, **extra},
            admin_port=admin_port,
            files=files,
        )
        directory = self.work_dir / "envoy"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "envoy.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.envoy = EnvoyProxy(path, admin_port, listeners, directory / "envoy.log").start()
        self.envoy.wait_all_healthy(
            {telemetry.HTTP_CLUSTER: {self.upstream.http_port}, telemetry.DICOM_CLUSTER: {self.upstream.dicom_port}}
        )

    def stop(self) -> None:
        if self.envoy is not None:
            self.envoy.stop()
        if self.upstream is not None:
            self.upstream.stop()


def _replica_count(live: str) -> int:
    addresses = {
        str(node["socket_address"].get("address"))
        for node in envoy_mod._walk(yaml.safe_load(live))  # pyright: ignore[reportPrivateUsage]
        if isinstance(node, dict) and isinstance(node.get("socket_address"), dict)
    }
    return sum(1 for address in addresses if envoy_mod.REPLICA_HOST.match(address))


def _listener_ports(live: str) -> list[int]:
    document = yaml.safe_load(live)
    listeners = document["static_resources"]["listeners"]
    return [int(listener["address"]["socket_address"]["port_value"]) for listener in listeners]


def _token() -> str:
    import secrets

    return secrets.token_urlsafe(24)
