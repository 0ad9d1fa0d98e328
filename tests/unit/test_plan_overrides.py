"""`plan --set` changes one field and keeps the rest; `--set-file` tries a certificate offline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from orthweb.config.stack_config import ConfigError
from orthweb.evaluate.overrides import apply_overrides
from orthweb.evaluate.stack_file import read_stack_file, stand_in_certificate

ROOT = Path(__file__).resolve().parents[2]
PROD = {
    "orthweb:environment": "prod",
    "orthweb:deploymentOptions": {"instanceType": "t4g.large", "dbInstanceClass": "db.t4g.medium", "dbStorageGb": 50},
}


@pytest.mark.parametrize(
    "override",
    [
        {"deploymentOptions.orthancReplicas": 5},
        {"deploymentOptions": {"orthancReplicas": 5}},
        {"deploymentOptions": json.dumps({"orthancReplicas": 5})},
    ],
)
def test_one_option_changes_and_the_others_stay(override: dict) -> None:
    merged = apply_overrides(PROD, override)
    options = merged["orthweb:deploymentOptions"]
    options = json.loads(options) if isinstance(options, str) else options
    assert options == {**PROD["orthweb:deploymentOptions"], "orthancReplicas": 5}
    assert PROD["orthweb:deploymentOptions"].get("orthancReplicas") is None  # the stack is not modified


def test_a_path_into_a_scalar_is_refused() -> None:
    with pytest.raises(ConfigError, match="an object, to set one of its fields with a dotted path"):
        apply_overrides({"orthweb:environment": "prod"}, {"environment.name": "x"})


def run_plan(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orthweb", "plan", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=180
    )


def test_plan_set_on_prod_keeps_the_stack_sizes() -> None:
    done = run_plan("--stack", "prod", "--json", "--set", "deploymentOptions.orthancReplicas=5")
    assert done.returncode == 0, done.stderr
    resources = json.loads(done.stdout)["resources"]
    database = next(r for r in resources if r["type"] == "aws:rds/instance:Instance")
    host = next(r for r in resources if r["type"] == "aws:ec2/instance:Instance")
    assert database["inputs"]["instanceClass"] == "db.t4g.medium" and host["inputs"]["instanceType"] == "t4g.large"


def write_pair(directory: Path, domain: str) -> tuple[Path, Path]:
    certificate_pem, key_pem = stand_in_certificate(domain)
    cert_path, key_path = directory / "site.crt", directory / "site.key"
    cert_path.write_text(certificate_pem)
    key_path.write_text(key_pem)
    return cert_path, key_path


def test_set_file_tries_a_users_certificate_without_printing_the_key(tmp_path: Path) -> None:
    cert_path, key_path = write_pair(tmp_path, "pacs.example.org")
    key_line = key_path.read_text().splitlines()[1]
    common = ("--set", "siteDomain=pacs.example.org", "--set-file", f"siteCertificate={cert_path}")
    done = run_plan(*common, "--set-file", f"siteCertificateKey={key_path}", "--json")
    assert done.returncode == 0, done.stderr
    assert key_line not in done.stdout + done.stderr
    refused = run_plan(
        "--set",
        "siteDomain=other.example.org",
        "--set-file",
        f"siteCertificate={cert_path}",
        "--set-file",
        f"siteCertificateKey={key_path}",
    )
    assert refused.returncode != 0
    assert "do not cover siteDomain other.example.org" in refused.stderr and key_line not in refused.stderr


def test_encrypted_certificates_in_a_stack_file_evaluate_with_a_real_stand_in(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.t.yaml"
    stack.write_text(
        "config:\n  orthweb:siteDomain: pacs.example.org\n"
        "  orthweb:siteCertificate:\n    secure: v1:AAA\n  orthweb:siteCertificateKey:\n    secure: v1:BBB\n"
    )
    values, secret_keys = read_stack_file(stack)
    assert "orthweb:siteCertificateKey" in secret_keys
    certificate = x509.load_pem_x509_certificate(values["orthweb:siteCertificate"].encode())
    assert certificate.subject.rfc4514_string() == "CN=pacs.example.org"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("orthweb:environment: prod\n", "top-level 'orthweb:environment': settings go under `config:`"),
        ("config: [a, b]\n", "a `config:` mapping"),
        ("- config\n", "top level is a mapping"),
    ],
)
def test_a_stack_file_of_the_wrong_shape_gets_one_line(tmp_path: Path, text: str, expected: str) -> None:
    stack = tmp_path / "Pulumi.t.yaml"
    stack.write_text(text)
    with pytest.raises(ConfigError) as caught:
        read_stack_file(stack)
    assert expected in str(caught.value) and "\n" not in str(caught.value)
