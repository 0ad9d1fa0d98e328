"""DICOM client certificates (`dicomClientCertificates: true`) under compliance as code: every
pulumi-tls type is mapped, checkov fails nothing on such a stack, and the one skip that names the
certificates' secret is expected only where that secret exists."""

from __future__ import annotations

from pathlib import Path

import pytest

from orthweb.evaluate import Evaluation, evaluate
from orthweb.ops.compliance.scan import Report, scan
from orthweb.ops.compliance.skips import SkipsFileError, load_skips
from orthweb.ops.compliance.types import EXCLUDED_TYPES, TERRAFORM_TYPES, is_component
from orthweb.shared.modalities import AE_TITLE, CLIENT_CERTIFICATE
from orthweb.shared.sso import BASIC
from tests.compliance.expected_skips import EXPECTED_SKIPS, skipped

pytestmark = pytest.mark.compliance

CERTIFICATES_SECRET = "aws_secretsmanager_secret.orthweb_dicom_clients"


@pytest.fixture(scope="module")
def certificates_dev(empty_home: Path) -> Evaluation:
    overrides = {"dicomClientCertificates": True, "dicomModalities": ["CT_1@10.20.0.15:104", "MR_1@10.20.0.16:104"]}
    return evaluate("dev", overrides, home=empty_home)


@pytest.fixture(scope="module")
def certificates_report(checkov: Path, certificates_dev: Evaluation) -> Report:
    return scan(certificates_dev, checkov=checkov)


def test_every_certificate_type_is_mapped(certificates_dev: Evaluation) -> None:
    used = {r.type for r in certificates_dev.resources if not is_component(r.type)}
    assert {"tls:index/certRequest:CertRequest", "tls:index/locallySignedCert:LocallySignedCert"} <= used
    assert "aws:secretsmanager/secretPolicy:SecretPolicy" in used
    assert sorted(used - TERRAFORM_TYPES.keys() - EXCLUDED_TYPES.keys()) == []


def test_a_stack_with_client_certificates_fails_nothing(certificates_report: Report) -> None:
    assert [f"{r.id} {r.resource}" for r in certificates_report.failed] == []
    assert certificates_report.unused_skips == []
    assert skipped(certificates_report) == EXPECTED_SKIPS["dev, client certificates"]
    assert CERTIFICATES_SECRET in {r.result.resource for r in certificates_report.skipped}


def test_the_certificates_skip_is_expected_only_where_the_secret_exists() -> None:
    (entry,) = [s for s in load_skips() if CERTIFICATES_SECRET in s.resources]
    assert entry.expected("dev", "failover", BASIC, callers=CLIENT_CERTIFICATE)
    assert not entry.expected("dev", "failover", BASIC, callers=AE_TITLE)


def test_an_unknown_caller_mode_in_the_skips_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "skips.yaml"
    path.write_text(
        "skips:\n  - {id: CKV_AWS_88, resources: [aws_instance.a], reason: why, callers: [password]}\n",
        encoding="utf-8",
    )
    with pytest.raises(SkipsFileError, match="callers must be a list drawn from"):
        load_skips(path)
