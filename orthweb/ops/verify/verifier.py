"""The `Verifier`: runs the checks in the order of a manual validation (find the stack, the site as a
user sees it, DICOM, storage, the host as its administrator sees it, cleanup), skips a check whose
prerequisite did not pass, and collects the results in a `Report`. The checks live in groups:
`SiteChecks`, `DicomChecks`, `StorageChecks`, `HostChecks`, `VpnChecks`."""

from __future__ import annotations

import time
from collections.abc import Callable

from orthweb.ops.verify.dicom_checks import DicomChecks
from orthweb.ops.verify.dicomweb_checks import DicomWebChecks
from orthweb.ops.verify.host import HostRunner
from orthweb.ops.verify.host_checks import HostChecks
from orthweb.ops.verify.model import CheckFailed, CheckResult, Report, StackBackend
from orthweb.ops.verify.scale_out import check_targets
from orthweb.ops.verify.settings import Endpoint, Options
from orthweb.ops.verify.site_checks import SiteChecks
from orthweb.ops.verify.sso_checks import SignInSource, SsoChecks
from orthweb.ops.verify.storage_checks import StorageChecks
from orthweb.ops.verify.target import Target
from orthweb.ops.verify.telemetry_checks import TelemetryBackend, TelemetryChecks
from orthweb.ops.verify.vpn_checks import VpnChecks

# One check: its id, title, the ids that must have passed before it runs, and what runs it.
Check = tuple[str, str, tuple[str, ...], Callable[[], str]]


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
        telemetry: TelemetryBackend | None = None,
        sign_in: SignInSource | None = None,
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.progress = progress
        self.report = Report(stack=stack, region=region)
        self.target = Target(endpoint or Endpoint(), options or Options())
        self.site = SiteChecks(self.target)
        self.dicom = DicomChecks(self.target, backend)
        self.dicomweb = DicomWebChecks(self.target)
        self.storage = StorageChecks(self.target, backend, self.dicom)
        self.host = HostChecks(self.target, runner)
        self.telemetry = TelemetryChecks(telemetry)
        self.sso = SsoChecks(self.target, sign_in)
        self.vpn = VpnChecks(self.target, backend, runner, self.dicom)
        self._passed: set[str] = set()

    def checks(self) -> list[Check]:
        site, dicom, storage, host = self.site, self.dicom, self.storage, self.host
        return [
            ("stack.find", "stack found by its tags", (), self.find),
            ("lb.targets", "every host in service is a healthy target", ("stack.find",), self.targets),
            ("site.tls", "HTTPS with the site certificate", ("stack.find",), site.tls),
            ("sso.find", "sign-in: machine client and its tokens", ("stack.find",), self.sso.find),
            ("sso.redirect", "sign-in: a browser is sent to Cognito", ("sso.find", "site.tls"), self.sso.redirect),
            ("sso.token", "sign-in: a machine token reads /system", ("sso.find", "site.tls"), self.sso.machine_token),
            ("sso.roles", "sign-in: a token without the role is refused", ("sso.find", "site.tls"), self.sso.roles),
            ("site.login", "login with the generated credential", ("site.tls",), site.login),
            ("site.orthanc", "Orthanc version and plugins", ("site.login",), site.orthanc),
            ("dicom.refuse", "DICOM refuses callers that are not modalities", ("stack.find",), dicom.refuse),
            ("dicom.echo", "C-ECHO over DICOM-TLS as a modality", ("stack.find",), dicom.echo),
            ("dicom.store", "C-STORE of a test instance", ("dicom.echo",), dicom.store),
            ("dicom.rest", "test instance back over REST", ("dicom.store", "site.login"), dicom.rest),
            ("vpn.tunnels", "VPN to the hospital: a tunnel up", ("stack.find",), self.vpn.tunnels),
            ("vpn.echo", "C-ECHO in plain DICOM inside the VPC (SSM)", ("stack.find",), self.vpn.echo),
            ("storage.object", "object in the DICOM bucket, stack key", ("dicom.rest",), storage.object),
            ("dicomweb.roundtrip", "DICOMweb: STOW-RS, QIDO-RS, WADO-RS", ("site.login",), self.dicomweb.roundtrip),
            ("host.cloud-init", "cloud-init finished", ("stack.find",), host.cloud_init),
            ("host.containers", "containers running and healthy", ("stack.find",), host.containers),
            ("host.envoy", "Envoy sees every replica healthy", ("stack.find",), host.envoy),
            ("database.tls", "Orthanc's database connections use TLS", ("stack.find",), host.database_tls),
            ("database.tables", "Orthanc tables exist", ("stack.find",), host.database_tables),
            ("telemetry.agent", "CloudWatch agent running", ("stack.find",), host.cloudwatch_agent),
            ("telemetry.logs", "recent events in every log group", ("stack.find",), self.telemetry_logs),
            ("telemetry.metrics", "every alarm's metric has data", ("stack.find",), self.telemetry_metrics),
            ("dicom.cleanup", "test instance deleted", ("dicom.store", "site.login"), dicom.cleanup),
            ("dicomweb.cleanup", "DICOMweb test study deleted", ("site.login",), self.dicomweb.cleanup),
        ]

    def run(self) -> Report:
        for check in self.checks():
            result = self._run_one(*check)
            self.report.results.append(result)
            if self.progress is not None:
                self.progress(result)
        return self.report

    def find(self) -> str:
        """`stack.find`: locate the stack's resources; the report's header says what was found."""
        deployment = self.target.locate(self.backend)
        self.report.stack, self.report.region = deployment.stack, deployment.region
        self.report.site_address = self.target.address
        group = deployment.group
        if group is not None:
            self.report.serving = f"{len(group.in_service)} hosts of {group.name} behind {group.load_balancer_name}"
            return (
                f"site {deployment.site_address} on load balancer {group.load_balancer_name}; group {group.name} "
                f"with {len(group.in_service)} hosts in service ({', '.join(group.in_service) or 'none'}); "
                f"bucket {deployment.dicom_bucket}; key {deployment.key_alias}"
            )
        self.report.serving = f"{deployment.serving_role} host {deployment.serving_instance}"
        return (
            f"site {deployment.site_address} on the {deployment.serving_role} host {deployment.serving_instance}; "
            f"bucket {deployment.dicom_bucket}; key {deployment.key_alias}"
        )

    def telemetry_logs(self) -> str:
        return self.telemetry.logs(self.target.deployment)

    def telemetry_metrics(self) -> str:
        return self.telemetry.metrics(self.target.deployment)

    def targets(self) -> str:
        """`lb.targets`: the load balancer sends clients to every host in service."""
        group = self.target.deployment.group
        if group is None:
            return "skipped: the failover topology has no load balancer"
        return check_targets(group)

    def _run_one(self, check_id: str, title: str, needs: tuple[str, ...], check: Callable[[], str]) -> CheckResult:
        missing = [n for n in needs if n not in self._passed]
        started = self.clock()
        if missing:
            return CheckResult(check_id, title, "skip", 0.0, f"not run: {', '.join(missing)} did not pass")
        try:
            detail = check()
        except CheckFailed as failure:
            return CheckResult(check_id, title, "fail", self.clock() - started, failure.detail, failure.hint)
        except Exception as error:  # a check must never take the others down with it
            return CheckResult(
                check_id,
                title,
                "fail",
                self.clock() - started,
                f"unexpected {error.__class__.__name__}: {error}",
                "please report this with the --json output",
            )
        status = "skip" if detail.startswith("skipped:") else "pass"
        if status == "pass":
            self._passed.add(check_id)
        return CheckResult(check_id, title, status, self.clock() - started, detail)
