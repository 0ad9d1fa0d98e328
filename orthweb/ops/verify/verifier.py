"""The checks, in the order of the seed's validation chapter, and the `Verifier` that runs them."""

from __future__ import annotations

import http.client
import io
import json
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orthweb.constants import DICOM_TLS_PORT as DICOM_PORT
from orthweb.constants import HTTPS_PORT
from orthweb.ops.verify import host
from orthweb.ops.verify.host import CommandOutput, HostLayout, HostRunner, Section
from orthweb.ops.verify.model import CheckFailed, CheckResult, Deployment, Report, StackBackend
from orthweb.ops.verify.site import HOSTNAME_MISMATCH, CertificateInfo, SiteClient

TEST_PATIENT_ID = "ORTHWEB-VERIFY"
EXPECTED_PLUGINS = ("postgresql-index", "aws s3 storage")
MIN_ORTHANC_VERSION = "1.12.0"  # what orthancteam/orthanc 24.x/25.x ship


@dataclass(frozen=True)
class Endpoint:
    """What the site and DICOM checks dial. `address` is the name the certificate must carry
    (default: the Elastic IP); `connect_host` the socket to open instead (a tunnel, a test)."""

    address: str | None = None
    connect_host: str | None = None
    https_port: int = HTTPS_PORT
    dicom_port: int = DICOM_PORT


@dataclass(frozen=True)
class Options:
    keep: bool = False
    expected_plugins: tuple[str, ...] = EXPECTED_PLUGINS
    min_orthanc_version: str = MIN_ORTHANC_VERSION
    layout: HostLayout = field(default_factory=HostLayout)
    host_timeout: float = 180.0
    http_timeout: float = 20.0


@dataclass
class _State:
    deployment: Deployment | None = None
    address: str = ""
    client: SiteClient | None = None
    sent: Any = None  # the pydicom Dataset sent
    orthanc_id: str = ""
    host_output: CommandOutput | None = None
    sections: dict[str, Section] = field(default_factory=dict)
    database: host.DatabaseFacts | None = None
    passed: set[str] = field(default_factory=set)


class Verifier:
    def __init__(
        self,
        backend: StackBackend,
        runner: HostRunner,
        *,
        endpoint: Endpoint | None = None,
        options: Options | None = None,
        stack: str = "",
        region: str = "",
        clock: Callable[[], float] = time.monotonic,
        progress: Callable[[CheckResult], None] | None = None,
    ) -> None:
        self.backend = backend
        self.runner = runner
        self.endpoint = endpoint or Endpoint()
        self.options = options or Options()
        self.clock = clock
        self.progress = progress
        self.report = Report(stack=stack, region=region)
        self.state = _State()

    # -- driver ----------------------------------------------------------------------------------
    def run(self) -> Report:
        steps: list[tuple[str, str, tuple[str, ...], Callable[[], str]]] = [
            ("stack.find", "stack found by its tags", (), self.find),
            ("site.tls", "HTTPS with the site certificate", ("stack.find",), self.site_tls),
            ("site.login", "login with the generated credential", ("site.tls",), self.site_login),
            ("site.orthanc", "Orthanc version and plugins", ("site.login",), self.site_orthanc),
            ("dicom.echo", "C-ECHO over DICOM-TLS", ("stack.find",), self.dicom_echo),
            ("dicom.store", "C-STORE of a test instance", ("dicom.echo",), self.dicom_store),
            ("dicom.rest", "test instance back over REST", ("dicom.store", "site.login"), self.dicom_rest),
            ("storage.object", "object in the DICOM bucket, stack key", ("dicom.rest",), self.storage_object),
            ("host.cloud-init", "cloud-init finished", ("stack.find",), self.host_cloud_init),
            ("host.containers", "containers running and healthy", ("stack.find",), self.host_containers),
            ("host.envoy", "Envoy sees every replica healthy", ("stack.find",), self.host_envoy),
            ("database.tls", "Orthanc's database connections use TLS", ("stack.find",), self.database_tls),
            ("database.tables", "Orthanc tables exist", ("stack.find",), self.database_tables),
            ("dicom.cleanup", "test instance deleted", ("dicom.store", "site.login"), self.cleanup),
        ]
        for check_id, title, needs, step in steps:
            self._run_one(check_id, title, needs, step)
        return self.report

    def _run_one(self, check_id: str, title: str, needs: tuple[str, ...], step: Callable[[], str]) -> None:
        missing = [n for n in needs if n not in self.state.passed]
        started = self.clock()
        if missing:
            result = CheckResult(check_id, title, "skip", 0.0, f"not run: {', '.join(missing)} did not pass")
        else:
            try:
                detail = step()
                status = "skip" if detail.startswith("skipped:") else "pass"
                result = CheckResult(check_id, title, status, self.clock() - started, detail)
                if status == "pass":
                    self.state.passed.add(check_id)
            except CheckFailed as failure:
                result = CheckResult(check_id, title, "fail", self.clock() - started, failure.detail, failure.hint)
            except Exception as error:  # a check must never take the others down with it
                result = CheckResult(
                    check_id,
                    title,
                    "fail",
                    self.clock() - started,
                    f"unexpected {error.__class__.__name__}: {error}",
                    "please report this with the --json output",
                )
        self.report.results.append(result)
        if self.progress is not None:
            self.progress(result)

    @property
    def deployment(self) -> Deployment:
        assert self.state.deployment is not None
        return self.state.deployment

    @property
    def client(self) -> SiteClient:
        assert self.state.client is not None
        return self.state.client

    # -- stack -------------------------------------------------------------------------------------
    def find(self) -> str:
        deployment = self.backend.locate()
        self.state.deployment = deployment
        self.state.address = self.endpoint.address or deployment.site_address
        self.report.stack, self.report.region = deployment.stack, deployment.region
        self.report.site_address = self.state.address
        self.report.serving = f"{deployment.serving_role} host {deployment.serving_instance}"
        self.state.client = SiteClient(
            self.state.address,
            self.endpoint.connect_host or self.state.address,
            self.endpoint.https_port,
            deployment.certificate_pem,
            self.options.http_timeout,
        )
        return (
            f"site {deployment.site_address} on the {deployment.serving_role} host {deployment.serving_instance}; "
            f"bucket {deployment.dicom_bucket}; key {deployment.key_alias}"
        )

    # -- site --------------------------------------------------------------------------------------
    def _reach_hint(self, port: int, cidrs: str) -> str:
        return (
            f"is this machine's address in {cidrs} (hosts' security group, port {port})? is the "
            f"{self.deployment.serving_role} host serving? (`journalctl CONTAINER_NAME=orthweb-envoy-1` on it)"
        )

    def _web_hint(self) -> str:
        return self._reach_hint(self.endpoint.https_port, "webAllowedCidrs")

    def site_tls(self) -> str:
        info = CertificateInfo.from_pem(self.deployment.certificate_pem)
        address = self.state.address
        try:
            version, served = self.client.handshake()
        except ssl.SSLCertVerificationError as error:
            if error.verify_code in HOSTNAME_MISMATCH:
                raise CheckFailed(
                    f"the site certificate names {', '.join(info.names) or 'nothing'}, not {address}",
                    f"clients of {address} will refuse it: replace the certificate (secret "
                    f"{self.deployment.site_tls_secret}, stack config siteCertificate) or use a name it covers "
                    f"(--address)",
                ) from None
            raise CheckFailed(
                f"the served certificate is not the site certificate ({error.verify_message})",
                f"the host serves another certificate than secret {self.deployment.site_tls_secret}: "
                f"`systemctl restart orthweb.service` on the host re-reads it",
            ) from None
        except ssl.SSLError as error:
            raise CheckFailed(f"TLS handshake failed: {error}", self._web_hint()) from None
        except OSError as error:
            raise CheckFailed(
                f"no connection to {address}:{self.endpoint.https_port}: {error}",
                self._web_hint(),
            ) from None
        if served != info.der:
            raise CheckFailed(
                "the served certificate verifies but is not the one in the secret",
                f"`systemctl restart orthweb.service` on the host re-reads secret {self.deployment.site_tls_secret}",
            )
        days = (info.not_after - _now()).days
        return f"{version}, site certificate for {', '.join(info.names)}, {days} days left"

    def _get(self, path: str, *, authenticated: bool = True) -> tuple[int, bytes]:
        try:
            response = self.client.request("GET", path, credential=self.deployment.admin if authenticated else None)
        except (OSError, http.client.HTTPException) as error:
            raise CheckFailed(f"GET {path} failed: {error}", self._web_hint()) from None
        return response.status, response.body

    def _status_failure(self, what: str, status: int, body: bytes) -> CheckFailed:
        if status == 401:
            return CheckFailed(
                f"{what}: HTTP 401 with the generated admin credential",
                f"the host's credential differs from secret {self.deployment.credentials_secret}: it re-reads it "
                f"hourly (orthweb-refresh.timer), `systemctl restart orthweb.service` does it now",
            )
        if status == 503:
            return CheckFailed(
                f"{what}: HTTP 503 from Envoy (no healthy Orthanc replica)",
                "see host.envoy and database.*; `journalctl CONTAINER_NAME=orthweb-orthanc-1-1` on the host",
            )
        return CheckFailed(
            f"{what}: HTTP {status} {body[:120]!r}", "`journalctl CONTAINER_NAME=orthweb-envoy-1` on the host"
        )

    def site_login(self) -> str:
        anonymous, _ = self._get("/system", authenticated=False)
        if anonymous != 401:
            raise CheckFailed(
                f"GET /system without credentials answered HTTP {anonymous}, not 401",
                "AuthenticationEnabled must be true in /opt/orthweb/orthanc.json",
            )
        status, body = self._get("/system")
        if status != 200:
            raise self._status_failure("GET /system", status, body)
        system = json.loads(body)
        return (
            f"anonymous 401, {self.deployment.admin.username} 200; /system answers "
            f"(Name {system.get('Name', '?')}, DICOM AET {system.get('DicomAet', '?')})"
        )

    def site_orthanc(self) -> str:
        status, body = self._get("/system")
        if status != 200:
            raise self._status_failure("GET /system", status, body)
        version = str(json.loads(body).get("Version", "?"))
        status, body = self._get("/plugins")
        if status != 200:
            raise self._status_failure("GET /plugins", status, body)
        plugins = sorted(str(p) for p in json.loads(body))
        problems: list[str] = []
        if _version(version) < _version(self.options.min_orthanc_version) and not version.startswith("mainline"):
            problems.append(f"Orthanc {version} older than {self.options.min_orthanc_version}")
        missing = [p for p in self.options.expected_plugins if p.lower() not in {q.lower() for q in plugins}]
        if missing:
            problems.append(f"plugins missing: {', '.join(missing)}")
        if problems:
            raise CheckFailed(
                f"{'; '.join(problems)} (loaded: {', '.join(plugins)})",
                "check orthancImage in deploymentOptions and the Plugins / PostgreSQL / AwsS3Storage sections of "
                "/opt/orthweb/orthanc.json; `journalctl CONTAINER_NAME=orthweb-orthanc-1-1` shows plugin errors",
            )
        return f"Orthanc {version}; plugins {', '.join(plugins)}"

    # -- DICOM -------------------------------------------------------------------------------------
    def _dicom_endpoint(self) -> Any:
        from orthweb.harness.dicom import DicomEndpoint
        from orthweb.ops.verify.site import site_context

        return DicomEndpoint(
            port=self.endpoint.dicom_port,
            tls=site_context(self.deployment.certificate_pem),
            server_hostname=self.state.address,
            host=self.endpoint.connect_host or self.state.address,
        )

    def _dicom_hint(self) -> str:
        return self._reach_hint(self.endpoint.dicom_port, "dicomAllowedCidrs")

    def dicom_echo(self) -> str:
        from orthweb.harness.dicom import SUCCESS, echo

        try:
            status = echo(self._dicom_endpoint())
        except (ConnectionError, OSError) as error:
            raise CheckFailed(f"no DICOM-TLS association: {error}", self._dicom_hint()) from None
        if status != SUCCESS:
            raise CheckFailed(f"C-ECHO status {_hex(status)}", "see host.envoy; Orthanc's log on the host")
        return f"C-ECHO to ORTHANC@{self.state.address}:{self.endpoint.dicom_port} status 0x0000"

    def dicom_store(self) -> str:
        from orthweb.harness.dicom import SUCCESS, make_study, store

        dataset = make_study(1, patient_id=TEST_PATIENT_ID)[0]
        dataset.PatientName = "Orthweb^Verify"
        self.state.sent = dataset
        try:
            statuses = store(self._dicom_endpoint(), [dataset])
        except (ConnectionError, OSError) as error:
            raise CheckFailed(f"no DICOM-TLS association: {error}", self._dicom_hint()) from None
        if statuses != [SUCCESS]:
            raise CheckFailed(
                f"C-STORE status {_hex(statuses[0] if statuses else None)}",
                "Orthanc refused the instance: its log on the host; database.* and storage.* below",
            )
        return f"C-STORE of SOP instance {dataset.SOPInstanceUID} status 0x0000"

    def _lookup(self) -> str:
        uid = str(self.state.sent.SOPInstanceUID)
        try:
            response = self.client.request("POST", "/tools/lookup", credential=self.deployment.admin, body=uid.encode())
        except (OSError, http.client.HTTPException) as error:
            raise CheckFailed(f"POST /tools/lookup failed: {error}") from None
        if response.status != 200:
            raise self._status_failure("POST /tools/lookup", response.status, response.body)
        found = [item["ID"] for item in json.loads(response.body) if item.get("Type") == "Instance"]
        if not found:
            raise CheckFailed(
                f"SOP instance {uid} acknowledged by C-STORE but unknown to REST",
                "replicas must share the PostgreSQL index: see database.*",
            )
        return str(found[0])

    def dicom_rest(self) -> str:
        import pydicom

        self.state.orthanc_id = self._lookup()
        status, body = self._get(f"/instances/{self.state.orthanc_id}/file")
        if status != 200:
            raise self._status_failure("GET /instances/<id>/file", status, body)
        returned = pydicom.dcmread(io.BytesIO(body))
        sent = self.state.sent
        if returned.SOPInstanceUID != sent.SOPInstanceUID or returned.PixelData != sent.PixelData:
            raise CheckFailed(
                "the file Orthanc returned differs from the instance sent",
                "storage.object below; Orthanc's log on the host",
            )
        return f"instance {self.state.orthanc_id}: {len(body)} bytes back, same UID and pixel data"

    # -- storage -------------------------------------------------------------------------------------
    def storage_object(self) -> str:
        uuid = self.attachment_uuid(self.state.orthanc_id)
        bucket = self.deployment.dicom_bucket
        # AwsS3Storage with StorageStructure "flat": <uuid>.dcm at the bucket root.
        found = self.backend.find_object(bucket, [f"{uuid}.dcm", uuid])
        if found is None:
            raise CheckFailed(
                f"no object {uuid}.dcm in s3://{bucket}",
                "Orthanc does not store in S3: AwsS3Storage in /opt/orthweb/orthanc.json, the instance role's "
                "s3:PutObject and kms:GenerateDataKey; `journalctl CONTAINER_NAME=orthweb-orthanc-1-1` on the host",
            )
        key_arn = self.deployment.key_arn
        key_id = key_arn.rsplit("/", 1)[-1]
        if found.encryption != "aws:kms" or found.kms_key_id not in (key_arn, key_id):
            seen = found.encryption or "none"
            if found.kms_key_id:
                seen += f" with {found.kms_key_id}"
            raise CheckFailed(
                f"s3://{bucket}/{found.key} encrypted {seen}, not aws:kms with {self.deployment.key_alias}",
                f"the bucket's default encryption must be SSE-KMS with {self.deployment.key_alias} "
                f"(`aws s3api get-bucket-encryption --bucket {bucket}`); `pulumi up` restores it",
            )
        return f"s3://{bucket}/{found.key} ({found.size} bytes), aws:kms with {self.deployment.key_alias}"

    def attachment_uuid(self, orthanc_id: str) -> str:
        """The storage UUID of the instance's DICOM file (`.../attachments/dicom/info`, Orthanc 1.12)."""
        path = f"/instances/{orthanc_id}/attachments/dicom/info"
        status, body = self._get(path)
        if status == 404:
            raise CheckFailed(
                f"GET {path}: 404; this Orthanc does not report where it stored the file",
                "Orthanc 1.12 or later answers it: check orthancImage in deploymentOptions",
            )
        if status != 200:
            raise self._status_failure(f"GET {path}", status, body)
        info = json.loads(body)
        uuid = info.get("Uuid") if isinstance(info, dict) else None
        if not uuid:
            raise CheckFailed(f"GET {path} has no Uuid: {body[:120]!r}", "please report this with the --json output")
        return str(uuid)

    # -- host (SSM) -------------------------------------------------------------------------------------
    def _section(self, name: str) -> Section:
        if self.state.host_output is None:
            script = host.host_script(self.options.layout)
            self.state.host_output = self.runner.run(
                self.deployment.serving_instance, script, self.options.host_timeout
            )
            self.state.sections = host.split_sections(self.state.host_output.stdout)
        output = self.state.host_output
        hint = "SSM Run Command needs the SSM agent online and ssm:SendCommand / ssm:GetCommandInvocation"
        if output.refusal:
            raise CheckFailed(f"host command not run: {output.refusal}", hint)
        if output.status != "Success":
            raise CheckFailed(
                f"host command {output.status} (exit {output.exit_code}): {output.stderr.strip()[:200]}", hint
            )
        section = self.state.sections.get(name)
        if section is None:
            raise CheckFailed(
                f"the host command's output has no '{name}' section ({len(output.stdout)} characters of output)",
                "run it by hand: `aws ssm start-session`, then the script in docs/verify.md",
            )
        return section

    def _deployment_info(self) -> host.DeploymentInfo:
        return host.parse_deployment(self._section("deployment"))

    def host_cloud_init(self) -> str:
        return host.parse_cloud_init(self._section("cloud-init"))

    def host_containers(self) -> str:
        return host.check_containers(self._section("compose-ps"), self._deployment_info())

    def host_envoy(self) -> str:
        return host.check_envoy(self._section("envoy-clusters"), self._deployment_info().replicas)

    def _database(self) -> host.DatabaseFacts:
        if self.state.database is None:
            self.state.database = host.parse_database(self._section("database"))
        return self.state.database

    def database_tls(self) -> str:
        return host.check_database_tls(self._database())

    def database_tables(self) -> str:
        return host.check_database_tables(self._database())

    # -- cleanup -------------------------------------------------------------------------------------
    def cleanup(self) -> str:
        if not self.state.orthanc_id:
            self.state.orthanc_id = self._lookup()
        if self.options.keep:
            return f"skipped: --keep: instance {self.state.orthanc_id} (patient {TEST_PATIENT_ID}) left in Orthanc"
        try:
            response = self.client.request(
                "DELETE", f"/instances/{self.state.orthanc_id}", credential=self.deployment.admin
            )
        except (OSError, http.client.HTTPException) as error:
            raise CheckFailed(f"DELETE failed: {error}", f"delete patient {TEST_PATIENT_ID} in the web UI") from None
        if response.status != 200:
            raise self._status_failure("DELETE /instances/<id>", response.status, response.body)
        return f"instance {self.state.orthanc_id} deleted"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3]) or (0,)


def _hex(status: int | None) -> str:
    return "none (no answer)" if status is None else f"0x{status:04X}"


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)
