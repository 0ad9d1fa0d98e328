"""`orthweb verify` end to end: moto for AWS, the runtime harness as the serving host.

One harness for the session (~5-40 s to start); every test runs the whole verifier (~1-2 s) and
restores what it changed.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orthweb.commands import verify as verify_command
from orthweb.ops.verify import Endpoint, Options, Report, Verifier, dicom_checks, dicomweb_checks
from orthweb.ops.verify.dicom_checks import DicomChecks
from orthweb.ops.verify.model import StackBackend
from orthweb.ops.verify.storage_checks import StorageChecks
from orthweb.ops.verify.target import Target
from orthweb.ops.verify.telemetry_checks import AwsTelemetry
from tests.verify.conftest import REGION, SITE_NAME, LocalHostRunner, MirroringBackend, SeededStack, set_bucket_key
from tools.harness import Stack
from tools.harness.dicom import CALLING_AE

pytestmark = pytest.mark.runtime


class HarnessStorageChecks(StorageChecks):
    """Debian's Orthanc 1.10.1 has no `/attachments/dicom/info` (1.12): find the stored file by content."""

    def __init__(self, target: Target, backend: StackBackend, dicom: DicomChecks, *, files: Path) -> None:
        super().__init__(target, backend, dicom)
        self.files = files

    def attachment_uuid(self, orthanc_id: str) -> str:
        status, body = self.target.get(f"/instances/{orthanc_id}/file")
        assert status == 200
        matches = [p.name for p in self.files.rglob("*") if p.is_file() and p.read_bytes() == body]
        assert len(matches) == 1, matches
        return matches[0]


@pytest.fixture
def make_verifier(
    harness: Stack, harness_stack: SeededStack, host_runner: LocalHostRunner, harness_telemetry: AwsTelemetry
):
    made: list[MirroringBackend] = []

    def make(
        *, address: str | None = SITE_NAME, keep: bool = False, mirror: bool = True, modality: str | None = None
    ) -> Verifier:
        backend = MirroringBackend(harness_stack.clients, harness_stack.name, harness.work_dir / "storage")
        backend.mirror = mirror
        made.append(backend)
        verifier = Verifier(
            backend,
            host_runner,
            endpoint=Endpoint(
                address=address,
                connect_host="127.0.0.1",
                https_port=harness.https_port,
                dicom_port=harness.dicom_port,
            ),
            # The harness runs Debian's Orthanc 1.10.1 without the S3 plugin (docs/runtime-harness.md).
            options=Options(
                keep=keep,
                dicom_modality=modality,
                expected_plugins=("postgresql-index",),
                min_orthanc_version="1.10.0",
                layout=host_runner.layout,
                host_timeout=60,
            ),
            stack=harness_stack.name,
            region=REGION,
            telemetry=harness_telemetry,
        )
        files = harness.work_dir / "storage"
        verifier.storage = HarnessStorageChecks(verifier.target, backend, verifier.dicom, files=files)
        return verifier

    return make


def by_id(report: Report) -> dict[str, str]:
    return {r.id: r.status for r in report.results}


def result(report: Report, check_id: str):
    return next(r for r in report.results if r.id == check_id)


def verify_patients(harness: Stack) -> dict[str, list[str]]:
    """The Orthanc ids of the patients verify's test instances belong to, by patient ID."""
    found = {}
    for patient in (dicom_checks.TEST_PATIENT_ID, dicomweb_checks.TEST_PATIENT_ID):
        query = {"Level": "Patient", "Query": {"PatientID": patient}}
        status, _, body = harness.request(
            "/tools/find", method="POST", body=json.dumps(query).encode(), credential=harness.admin
        )
        assert status == 200, body
        found[patient] = json.loads(body)
    return found


def test_every_check_passes(make_verifier, harness: Stack, harness_stack: SeededStack, host_runner: LocalHostRunner):
    # What another test's failed run left (a refused credential cannot clean up): gone first.
    for ids in verify_patients(harness).values():
        for patient in ids:
            assert harness.request(f"/patients/{patient}", method="DELETE", credential=harness.admin)[0] == 200
    host_runner.docker_log.unlink(missing_ok=True)
    report = make_verifier().run()
    table = report.table()
    print("\n" + table)
    assert report.ok, table
    statuses = by_id(report)
    # The failover topology has no load balancer whose targets could be checked.
    assert statuses.pop("lb.targets") == "skip", table
    # Without sign-in (authentication: basic) the sign-in checks do not apply.
    assert statuses.pop("sso.find") == "pass", table
    assert {statuses.pop(check) for check in ("sso.redirect", "sso.token", "sso.roles")} == {"skip"}, table
    # Without hospitalNetwork there is no VPN (tests/verify/test_vpn_checks.py has one).
    assert {statuses.pop(check) for check in ("vpn.tunnels", "vpn.echo")} == {"skip"}, table
    assert set(statuses.values()) == {"pass"}, table
    assert len(report.results) == 27
    # The host checks ran on the host holding the Elastic IP, and the test instances are gone.
    assert host_runner.calls[-1] == harness_stack.primary
    assert verify_patients(harness) == {dicom_checks.TEST_PATIENT_ID: [], dicomweb_checks.TEST_PATIENT_ID: []}
    # DICOMweb answers name the site by the address verify asked for, with Envoy's port.
    assert (
        f"start with https://{SITE_NAME}:{harness.https_port}/dicom-web/" in result(report, "dicomweb.roundtrip").detail
    )
    # What the checks saw, in their own words.
    assert "all TLS" in result(report, "database.tls").detail
    assert result(report, "host.envoy").detail == "orthanc_http 3/3 healthy, orthanc_dicom 3/3 healthy"
    assert "aws:kms with alias/orthweb-dev" in result(report, "storage.object").detail
    # verify calls as the configured modality, and shows that others are refused.
    assert "as ORTHWEBTEST status 0x0000" in result(report, "dicom.store").detail
    refused = result(report, "dicom.refuse").detail
    assert "an unknown AE title" in refused and "reason 3" in refused and "reason 7" in refused


def test_no_secret_in_any_output(make_verifier, harness: Stack, host_runner: LocalHostRunner):
    host_runner.docker_log.unlink(missing_ok=True)
    report = make_verifier().run()
    db_password = json.loads((harness.secrets_dir / "ORTHANC__POSTGRESQL__PASSWORD").read_text())
    for text in (report.table(), report.dumps(), host_runner.docker_log.read_text()):
        assert harness.admin.password not in text
        assert db_password not in text
    # The psql container gets the credential by environment name only.
    run_line = next(line for line in host_runner.docker_log.read_text().splitlines() if line.startswith("run "))
    assert "--rm" in run_line and "-e PGPASSWORD " in run_line


def test_keep_leaves_the_test_instance(make_verifier, harness: Stack):
    report = make_verifier(keep=True).run()
    assert report.ok
    cleanup = result(report, "dicom.cleanup")
    assert cleanup.status == "skip" and "--keep" in cleanup.detail
    instance = result(report, "dicom.rest").detail.split()[1].rstrip(":")
    status, _, _ = harness.request(f"/instances/{instance}", credential=harness.admin)
    assert status == 200
    assert harness.request(f"/instances/{instance}", method="DELETE", credential=harness.admin)[0] == 200
    kept = result(report, "dicomweb.cleanup")
    assert kept.status == "skip" and "--keep" in kept.detail
    study_uid = kept.detail.split()[3]
    (study,) = json.loads(
        harness.request("/tools/lookup", method="POST", body=study_uid.encode(), credential=harness.admin)[2]
    )
    assert harness.request(f"/studies/{study['ID']}", method="DELETE", credential=harness.admin)[0] == 200


def test_certificate_not_naming_the_site_address(make_verifier, harness_stack: SeededStack):
    # The default address is the Elastic IP, which the harness's certificate does not name.
    report = make_verifier(address=None, modality=CALLING_AE).run()
    assert not report.ok
    tls = result(report, "site.tls")
    assert tls.status == "fail"
    assert harness_stack.site_ip in tls.detail and SITE_NAME in tls.detail
    assert "--address" in tls.hint and "site-tls" in tls.hint
    echo = result(report, "dicom.echo")  # DICOM-TLS checks the name too
    assert echo.status == "fail" and "no DICOM-TLS association" in echo.detail, echo
    assert by_id(report)["site.login"] == "skip"


def test_wrong_credential_is_401_with_a_hint(make_verifier, harness_stack: SeededStack):
    secrets = harness_stack.clients.secretsmanager
    good = secrets.get_secret_value(SecretId=harness_stack.credentials_secret)["SecretString"]
    wrong = json.loads(good)
    wrong["admin"]["password"] = "not-the-password"
    secrets.put_secret_value(SecretId=harness_stack.credentials_secret, SecretString=json.dumps(wrong))
    try:
        report = make_verifier().run()
        # Named on the command line, the modality needs no REST call to be found.
        named = make_verifier(modality=CALLING_AE).run()
    finally:
        secrets.put_secret_value(SecretId=harness_stack.credentials_secret, SecretString=good)
    login = result(report, "site.login")
    assert login.status == "fail" and "401" in login.detail
    assert harness_stack.credentials_secret in login.hint
    assert "not-the-password" not in report.table() + report.dumps()
    # Which modality to call as comes from Orthanc's REST API, which refuses the credential.
    echo = result(report, "dicom.echo")
    assert echo.status == "fail" and "401" in echo.detail and "--modality" in echo.hint
    assert by_id(named)["dicom.store"] == "pass"  # DICOM itself needs no web credential
    assert by_id(named)["dicom.rest"] == "skip"


@pytest.fixture
def replica_down(harness: Stack) -> Iterator[int]:
    assert harness.envoy is not None
    replica = harness.replicas[1]
    replica.kill()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        flags = harness.envoy.host_health()["orthanc_http"]
        if flags.get(replica.http_port) != "healthy":
            break
        time.sleep(0.5)
    try:
        yield replica.index
    finally:
        replica.start()
        harness.wait_replicas_healthy()


def test_replica_down(make_verifier, replica_down: int):
    report = make_verifier().run()
    print("\n" + report.table())
    assert not report.ok
    envoy = result(report, "host.envoy")
    assert envoy.status == "fail"
    assert "orthanc_http 2/3 healthy" in envoy.detail and "/failed" in envoy.detail
    assert "docker logs" in envoy.hint
    containers = result(report, "host.containers")
    assert containers.status == "fail" and f"orthweb-orthanc-{replica_down}-1 exited" in containers.detail
    # Envoy routes around the dead replica: users still get service.
    for check in ("site.login", "dicom.store", "dicom.rest", "storage.object"):
        assert by_id(report)[check] == "pass", report.table()


def test_object_missing_from_the_bucket(make_verifier, harness_stack: SeededStack):
    report = make_verifier(mirror=False).run()
    storage = result(report, "storage.object")
    assert storage.status == "fail" and f"s3://{harness_stack.bucket}" in storage.detail
    assert "AwsS3Storage" in storage.hint
    assert [r.id for r in report.results if r.status == "fail"] == ["storage.object"]


@pytest.mark.parametrize("key", ["other", None], ids=["other-kms-key", "sse-s3"])
def test_bucket_not_encrypted_with_the_stack_key(make_verifier, harness_stack: SeededStack, key: str | None):
    set_bucket_key(harness_stack.clients, harness_stack.bucket, harness_stack.other_key_arn if key else None)
    try:
        report = make_verifier().run()
    finally:
        set_bucket_key(harness_stack.clients, harness_stack.bucket, harness_stack.key_arn)
    storage = result(report, "storage.object")
    assert storage.status == "fail"
    assert "not aws:kms with alias/orthweb-dev" in storage.detail
    assert (harness_stack.other_key_arn if key else "AES256") in storage.detail
    assert "get-bucket-encryption" in storage.hint


def test_command_json_and_exit_status(make_verifier):
    args = argparse.Namespace(json=True)
    out = io.StringIO()
    assert verify_command.run(args, verifier=make_verifier(), out=out) == 0, out.getvalue()
    document = json.loads(out.getvalue())
    # Skipped: lb.targets (the failover topology has no load balancer), the three sign-in checks and
    # the two of the hospital's VPN (none here).
    assert document["ok"] is True and document["counts"] == {"pass": 21, "fail": 0, "skip": 6}
    assert {c["id"] for c in document["checks"]} >= {"site.tls", "dicom.store", "database.tls", "storage.object"}

    out = io.StringIO()
    assert verify_command.run(argparse.Namespace(json=False), verifier=make_verifier(mirror=False), out=out) == 1
    assert "✘ storage.object" in out.getvalue() and "1 check(s) failed" in out.getvalue(), out.getvalue()
