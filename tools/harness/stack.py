"""`Stack`: one host's rendered application (Envoy + N Orthanc + PostgreSQL) running on 127.0.0.1.

Inputs are the rendered files of one host (`render_host_files(ctx)` or a `plan --out` folder).
What docker compose does on the host is done here by hand, from the rendered compose file:
each service's environment, its secrets (`/run/secrets/<name>`) and its bind mounts (for the
Orthanc services, in tools.harness.compose_replicas).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import ssl
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from orthweb.shared.constants import DICOM_TLS_PORT, HTTPS_PORT, LB_HEALTH_PORT
from orthweb.shared.telemetry import HTTP_CLUSTER, METRICS_PORT
from tools.harness import envoy as envoy_mod
from tools.harness.compose_replicas import (
    UNSUPPORTED_BY_DEBIAN,
    ComposeReplicas,
    compose_services,
    service_files,
)
from tools.harness.envoy import EnvoyProxy, ReplicaPorts
from tools.harness.orthanc import ORTHANC_USER, OVERLAY_KEYS, OrthancReplica
from tools.harness.pki import make_site_certificate
from tools.harness.postgres import PostgresServer
from tools.harness.processes import LOOPBACK, HarnessError, free_port, wait_until
from tools.harness.secrets import Credential, SecretInputs, SecretsProvider, write_like_fetch_secrets

REPLICA_SERVICE = re.compile(r"^orthanc-(\d+)$")
DEFAULT_SITE_NAME = "orthweb.test"
# Like orthweb.database (RDS DBName and master user); the secret step reports them to Orthanc.
DB_NAME = "orthanc"
DB_USER = "orthanc"
ADMIN_USER = "admin"
HEALTH_USER = "healthcheck"


def load_rendered(directory: Path) -> dict[str, str]:
    """The files `python -m orthweb plan --out DIR` wrote for one host (DIR/<host>/)."""
    files = {p.name: p.read_text() for p in sorted(directory.iterdir()) if p.is_file()}
    if not files:
        raise HarnessError(f"no rendered files in {directory}")
    return files


def replica_count(rendered: Mapping[str, str]) -> int:
    """N from the rendered docker-compose.yml services `orthanc-1..N` (checked for gaps)."""
    indices = sorted(int(m.group(1)) for s in compose_services(rendered) if (m := REPLICA_SERVICE.match(s)))
    if not indices or indices != list(range(1, len(indices) + 1)):
        raise HarnessError(f"docker-compose.yml replica services are not orthanc-1..N: {indices}")
    return len(indices)


class Stack:
    """Context manager: start everything on enter, stop every process it started on exit.

    `secrets` makes the boot-time secret files (default: the Python equivalent of
    fetch-secrets.sh; `tools.harness.aws.fetch_secrets_provider()` runs the real script).
    """

    def __init__(
        self,
        rendered: Mapping[str, str],
        *,
        work_dir: Path | None = None,
        secrets: SecretsProvider = write_like_fetch_secrets,
        site_name: str = DEFAULT_SITE_NAME,
        keep_work_dir: bool = False,
        envoy_concurrency: int = 2,
        postgres: PostgresServer | None = None,
        storage_dir: Path | None = None,
        host_id: str = "harness-host",
        sso_site_secret: Mapping[str, str] | None = None,
        envoy_files: Mapping[str, Path] | None = None,
        dicom_client_trust: Mapping[str, Any] | None = None,
    ) -> None:
        self.rendered = dict(rendered)
        # Sign-in: the site client's secret (its site_address becomes this Envoy's), and files
        # Envoy reads that compose does not mount (the identity provider's CA for the image's).
        self.sso_site_secret = sso_site_secret
        # With client certificates on DICOM-TLS: what their trust secret holds.
        self.dicom_client_trust = dicom_client_trust
        self.envoy_files = dict(envoy_files or {})
        self.envoy_concurrency = envoy_concurrency
        # Another host's database and storage (two hosts of the scale-out group share both).
        self._shared_postgres = postgres
        self._storage_dir = storage_dir
        # What start.sh writes to .env on a group host (its instance id).
        self.host_id = host_id
        self.lb_health_port = 0
        self.replica_total = replica_count(self.rendered)
        self.site_name = site_name
        self._secrets_provider = secrets
        self._own_work_dir = work_dir is None
        self._keep = keep_work_dir
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="orthweb-harness-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir.chmod(0o711)  # the postgres and orthanc users must traverse it
        self.admin = Credential(ADMIN_USER, secrets_token())
        self.health = Credential(HEALTH_USER, secrets_token())
        self.replicas: list[OrthancReplica] = []
        self.postgres: PostgresServer | None = None
        self.envoy: EnvoyProxy | None = None
        self._variant_envoys: list[EnvoyProxy] = []
        self.https_port = 0
        self.dicom_port = 0
        self.secrets_dir = self.work_dir / "secrets"
        self.rendered_dir = self.work_dir / "rendered"
        # Stands for DRAIN_DIR on the host (start.sh --rolling marks replicas there).
        self.drain_dir = self.work_dir / "drain"
        self.envoy_admin_port = 0
        # Envoy's metrics-only listener, where the host's CloudWatch agent scrapes.
        self.metrics_port = 0
        # Plain DICOM from the hospital (hospitalNetwork), when the rendered Envoy has the listener.
        self.plain_dicom_port = 0

    # -- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self.rendered_dir.mkdir(exist_ok=True)
        for name, text in self.rendered.items():
            (self.rendered_dir / name).write_text(text)
        site = make_site_certificate(self.work_dir / "site", self.site_name)
        if self.sso_site_secret is not None:
            # With sign-in, Envoy's address is in the site client's secret: choose it first.
            self.https_port = free_port()
        self.postgres = (
            self._shared_postgres
            or PostgresServer(self.work_dir / "postgres", free_port(), DB_NAME, DB_USER, database_password()).start()
        )
        self._secrets_provider(
            SecretInputs(
                admin=self.admin,
                health=self.health,
                db_host=LOOPBACK,
                db_port=self.postgres.port,
                db_name=DB_NAME,
                db_user=DB_USER,
                db_password=self.postgres.password,
                site_certificate_pem=site.cert.read_text(),
                site_private_key_pem=site.key.read_text(),
                sso_site_secret=(
                    {**self.sso_site_secret, "site_address": f"{LOOPBACK}:{self.https_port}"}
                    if self.sso_site_secret is not None
                    else None
                ),
                dicom_client_trust=self.dicom_client_trust,
            ),
            self.rendered,
            self.secrets_dir,
        )
        self._prepare_replicas()
        # Replicas race on schema creation exactly as on a host (Lock false): start them together.
        for replica in self.replicas:
            replica.launch()
        for replica in self.replicas:
            replica.wait_ready()
        self._start_envoy()

    def close(self) -> None:
        """Stop Envoy, the replicas (in parallel) and PostgreSQL; safe to call more than once."""
        for proxy in [*self._variant_envoys, *([self.envoy] if self.envoy is not None else [])]:
            proxy.stop()
        for replica in self.replicas:
            if replica.process is not None:
                replica.process.terminate()
        for replica in self.replicas:
            replica.stop()
        if self.postgres is not None and self.postgres is not self._shared_postgres:
            self.postgres.stop()
        if self._own_work_dir and not self._keep:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # -- orthanc -------------------------------------------------------------------------------
    def _prepare_replicas(self) -> None:
        storage = self._compose_replicas().storage_dir
        storage.mkdir(exist_ok=True)
        shutil.chown(storage, ORTHANC_USER, ORTHANC_USER)
        for index in range(1, self.replica_total + 1):
            replica = self._replica(index, free_port(), free_port())
            replica.prepare()
            self.replicas.append(replica)

    def _replica(self, index: int, http_port: int, dicom_port: int) -> OrthancReplica:
        """Replica `index` as compose creates it now: the secret files and mounts of this moment."""
        return self._compose_replicas().replica(index, http_port, dicom_port)

    def _compose_replicas(self) -> ComposeReplicas:
        return ComposeReplicas(
            rendered=self.rendered,
            work_dir=self.work_dir,
            rendered_dir=self.rendered_dir,
            secrets_dir=self.secrets_dir,
            drain_dir=self.drain_dir,
            host_id=self.host_id,
            shared_storage_dir=self._storage_dir,
        )

    def probe(self, replica: OrthancReplica) -> bool:
        """What each replica's docker health probe asks: GET /changes (reads the database)."""
        try:
            return self.request("/changes?last", credential=self.admin, base=replica.base_url, timeout=5)[0] == 200
        except OSError:
            return False

    def recreate_replica(self, index: int, wait_seconds: float | None) -> bool:
        """`compose up --force-recreate [--wait] orthanc-<index>`: stop it, start it with the secret
        files installed now, on the same ports; True once its probe answers within `wait_seconds`
        (None: once it runs, without waiting)."""
        old = self.replica(index)
        old.stop()
        new = self._replica(index, old.http_port, old.dicom_port)
        new.prepare()
        new.launch()
        self.replicas[index - 1] = new
        if wait_seconds is None:
            return True
        try:
            wait_until(lambda: self.probe(new), timeout=wait_seconds, what=new.name, interval=0.2)
        except HarnessError:
            return False
        return True

    # -- envoy ---------------------------------------------------------------------------------
    def _start_envoy(self, *, wait: bool = True) -> None:
        if not self.envoy_admin_port:
            self.https_port = self.https_port or free_port()
            self.dicom_port, self.envoy_admin_port = free_port(), free_port()
        # The live config is the one the secret step wrote (health credential filled in).
        live = yaml.safe_load((self.secrets_dir / "envoy.yaml").read_text())
        self.envoy = self._launch_envoy(live, self._listener_ports(), self.envoy_admin_port, "envoy", wait=wait)
        if wait:
            self.wait_replicas_healthy()

    def _launch_envoy(
        self,
        live: dict[str, Any],
        listener_ports: Mapping[int, int],
        admin_port: int,
        name: str,
        *,
        wait: bool = True,
        concurrency: int | None = None,
    ) -> EnvoyProxy:
        from orthweb.host.layout import APP_DIR

        service = compose_services(self.rendered)["envoy"]
        config = envoy_mod.rewire(
            live,
            replicas={r.index: ReplicaPorts(r.http_port, r.dicom_port) for r in self.replicas},
            listener_ports=listener_ports,
            admin_port=admin_port,
            files={**service_files(service, self.rendered_dir, self.secrets_dir, APP_DIR), **self.envoy_files},
        )
        directory = self.work_dir / name
        directory.mkdir(exist_ok=True)
        path = directory / "envoy.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        workers = concurrency or self.envoy_concurrency
        return EnvoyProxy(path, admin_port, listener_ports, directory / "envoy.log", concurrency=workers).start(
            wait=wait
        )

    def start_variant_envoy(
        self, name: str, change: Callable[[dict[str, Any]], dict[str, Any]], *, concurrency: int | None = None
    ) -> int:
        """Another Envoy in front of the same replicas, from the live config as `change` returns it
        (a layer of the access rules taken out, say), on ports of its own, with `concurrency`
        workers (default: the stack's Envoy's); its HTTPS port. Stopped with the stack."""
        live = change(yaml.safe_load((self.secrets_dir / "envoy.yaml").read_text()))
        ports = {rendered: free_port() for rendered in self._listener_ports()}
        proxy = self._launch_envoy(live, ports, free_port(), name, concurrency=concurrency)
        self._variant_envoys.append(proxy)
        ready = {r.http_port for r in self.replicas if r.alive()}
        proxy.wait_all_healthy({HTTP_CLUSTER: ready})
        return ports[HTTPS_PORT]

    def recreate_envoy(self, *, wait: bool = True) -> None:
        """`compose up --force-recreate envoy`: the same ports, the live config of this moment;
        without `wait`, back as soon as the process runs (what compose does without --wait)."""
        if self.envoy is not None:
            self.envoy.stop()
        self._start_envoy(wait=wait)

    def _listener_ports(self) -> dict[int, int]:
        """Rendered listener port -> local port, with the load balancer's health port on a group host."""
        ports = {HTTPS_PORT: self.https_port, DICOM_TLS_PORT: self.dicom_port}
        if "load_balancer_health" in self.rendered["envoy.yaml"]:
            self.lb_health_port = self.lb_health_port or free_port()
            ports[LB_HEALTH_PORT] = self.lb_health_port
        self.metrics_port = self.metrics_port or free_port()
        ports[METRICS_PORT] = self.metrics_port
        rendered_plain = envoy_mod.plain_dicom_port(self.rendered["envoy.yaml"])
        if rendered_plain is not None:
            self.plain_dicom_port = self.plain_dicom_port or free_port()
            ports[rendered_plain] = self.plain_dicom_port
        return ports

    def wait_replicas_healthy(self, timeout: float = 30.0) -> float:
        """Until Envoy's active health checks mark every running replica healthy in all clusters."""
        assert self.envoy is not None
        ports = {p for r in self.replicas if r.alive() for p in (r.http_port, r.dicom_port)}
        expected = {name: ports & set(hosts) for name, hosts in self.envoy.host_health().items()}
        return self.envoy.wait_all_healthy(expected, timeout)

    # -- conveniences for tests, benchmarks and `verify` ----------------------------------------
    @property
    def envoy_log(self) -> Path:
        """Envoy's output: its own messages and the access log lines (what the awslogs driver ships)."""
        return self.work_dir / "envoy" / "envoy.log"

    @property
    def site_ca(self) -> Path:
        """The file a client trusts: the site certificate the secret step installed."""
        return self.secrets_dir / "site.crt"

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.site_ca))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    @property
    def https_base(self) -> str:
        return f"https://{LOOPBACK}:{self.https_port}"

    def replica(self, index: int) -> OrthancReplica:
        return self.replicas[index - 1]

    def restart_replica(self, index: int) -> None:
        replica = self.replica(index)
        replica.stop()
        replica.start()
        self.wait_replicas_healthy()

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        body: bytes | None = None,
        credential: Credential | None = None,
        headers: Mapping[str, str] | None = None,
        base: str | None = None,
        timeout: float = 30,
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP(S) request, through Envoy unless `base` is a replica's URL; 4xx/5xx returned."""
        url = (base or self.https_base) + path
        request = urllib.request.Request(url, data=body, method=method)
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        if credential is not None:
            request.add_header("Authorization", credential.header)
        context = self.ssl_context() if url.startswith("https") else None
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                return response.status, dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as error:
            with contextlib.closing(error):
                return error.code, dict(error.headers.items()), error.read()


def secrets_token() -> str:
    return secrets.token_urlsafe(24)


# Every character that breaks an unquoted libpq keyword string or a URI that is not
# percent-encoded: the harness database's password holds them all, so the host must cope.
AWKWARD_PASSWORD_CHARACTERS = "\\'\" %@:/?"


def database_password() -> str:
    """A fresh password that starts with a quote and holds every awkward character."""
    token = secrets_token()
    return f"'{token[:12]}{AWKWARD_PASSWORD_CHARACTERS}{token[12:]}"


__all__ = ["OVERLAY_KEYS", "UNSUPPORTED_BY_DEBIAN", "Credential", "Stack", "load_rendered"]
