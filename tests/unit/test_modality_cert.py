"""`orthweb modality-cert` against moto's Secrets Manager: it finds the stack's client certificates
by their secret's tags and writes one modality's certificate, CA and key to a file only its owner
can read; it refuses to overwrite, and no key ever reaches what it prints."""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from orthweb.commands import modality_cert
from orthweb.commands.cli import build_parser
from orthweb.infra.tags import with_role
from orthweb.ops.aws import AwsClients, OpsError
from orthweb.ops.client_certificates import write_private_file
from orthweb.shared.constants import DICOM_CLIENTS_ROLE
from orthweb.shared.modalities import certificate_fingerprint, certificate_uri
from tools.harness.pki import issue_client_certificate, make_client_ca

REGION = "eu-west-1"
_stacks = itertools.count(1)


@pytest.fixture(scope="module")
def secretsmanager() -> Iterator[Any]:
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    yield session.client("secretsmanager", endpoint_url=f"http://{host}:{port}")
    server.stop()


@pytest.fixture(scope="module")
def issued() -> dict[str, Any]:
    """What `pulumi up` puts in the secret (orthweb.infra.dicom_client_certificates), made here."""
    ca = make_client_ca()
    modalities = {}
    for aet in ("CT_1", "MR_1"):
        certificate, key = issue_client_certificate(ca, aet, certificate_uri("cert", aet))
        modalities[aet] = {"uri": certificate_uri("cert", aet), "certificate": certificate, "private_key": key}
    return {"ca_certificate": ca.certificate_pem, "modalities": modalities}


def deploy(secretsmanager: Any, value: dict[str, Any] | str | None) -> str:
    """A fresh stack name, holding the certificates' secret unless `value` is None."""
    stack = f"cert{next(_stacks)}"
    if value is not None:
        secretsmanager.create_secret(
            Name=f"orthweb/{stack}/{DICOM_CLIENTS_ROLE}-abc",
            SecretString=value if isinstance(value, str) else json.dumps(value),
            Tags=[{"Key": k, "Value": v} for k, v in with_role(stack, DICOM_CLIENTS_ROLE).items()],
        )
    return stack


@pytest.fixture
def run(secretsmanager: Any, capsys: pytest.CaptureFixture[str]):
    """(exit status, what it printed, what it wrote to stderr) of one modality-cert run."""

    def command(stack: str, out: Path, *extra: str) -> tuple[int, str, str]:
        args = build_parser().parse_args(["modality-cert", "--stack", stack, "--out", str(out), *extra])
        clients = AwsClients(ec2=None, secretsmanager=secretsmanager, region=REGION)
        stdout = io.StringIO()
        capsys.readouterr()
        code = modality_cert.run(args, clients=clients, out=stdout)
        captured = capsys.readouterr()
        return code, stdout.getvalue() + captured.out, captured.err

    return command


def key_bodies(issued: dict[str, Any]) -> list[str]:
    """Every 16-character run of every private key: none may be printed."""
    bodies = []
    for entry in issued["modalities"].values():
        text = "".join(entry["private_key"].splitlines()[1:-1])
        bodies += [text[i : i + 16] for i in range(0, len(text) - 16, 16)]
    return bodies


def test_writes_the_modalitys_file_readable_by_its_owner_only(
    run: Any, secretsmanager: Any, issued: dict[str, Any], tmp_path: Path
) -> None:
    stack = deploy(secretsmanager, issued)
    out = tmp_path / "ct1.pem"
    code, printed, errors = run(stack, out, "--modality", "ct_1")  # any case, as Orthanc
    assert (code, errors) == (0, "")
    assert out.stat().st_mode & 0o777 == 0o600
    content = out.read_text()
    entry = issued["modalities"]["CT_1"]
    assert content.startswith(entry["certificate"].strip())
    assert issued["ca_certificate"].strip() in content and entry["private_key"].strip() in content
    assert issued["modalities"]["MR_1"]["private_key"].strip() not in content
    assert certificate_fingerprint(entry["certificate"]) in printed and entry["uri"] in printed
    assert not any(body in printed + errors for body in key_bodies(issued))


def test_refuses_to_overwrite_a_file_unless_forced(
    run: Any, secretsmanager: Any, issued: dict[str, Any], tmp_path: Path
) -> None:
    stack = deploy(secretsmanager, issued)
    out = tmp_path / "existing.pem"
    out.write_text("the administrator's other file\n")
    code, printed, errors = run(stack, out, "--modality", "CT_1")
    assert code == 1 and printed == "" and errors.count("\n") == 1 and "--force" in errors
    assert out.read_text() == "the administrator's other file\n"
    out.chmod(0o644)
    assert run(stack, out, "--modality", "CT_1", "--force")[0] == 0
    assert out.stat().st_mode & 0o777 == 0o600 and "PRIVATE KEY" in out.read_text()


@pytest.mark.parametrize(
    ("value", "modality", "message"),
    [
        ("issued", "US_9", "no client certificate for modality 'US_9'; issued: CT_1, MR_1"),
        (None, "CT_1", "issues no DICOM client certificates: set dicomClientCertificates to true"),
        ("not json", "CT_1", "does not hold the client certificates `pulumi up` writes"),
        ({"modalities": "x"}, "CT_1", "does not hold the client certificates `pulumi up` writes"),
    ],
)
def test_what_cannot_be_done_is_one_line_and_writes_nothing(
    run: Any, secretsmanager: Any, issued: dict[str, Any], tmp_path: Path, value: Any, modality: str, message: str
) -> None:
    stack = deploy(secretsmanager, issued if value == "issued" else value)
    out = tmp_path / "never.pem"
    code, printed, errors = run(stack, out, "--modality", modality)
    assert code == 1 and printed == ""
    assert errors.startswith("orthweb modality-cert: ") and message in errors and errors.count("\n") == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert not any(body in errors for body in key_bodies(issued))


def test_the_command_is_registered() -> None:
    args = build_parser().parse_args(["modality-cert", "--modality", "CT_1", "--out", "x.pem"])
    assert isinstance(args, argparse.Namespace) and args.func is modality_cert.run


def test_a_name_the_file_system_refuses_is_one_line(tmp_path: Path) -> None:
    """A file name longer than the file system allows (255 bytes on Linux) is refused as any
    unwritable path is, not as an internal error (found by the secrets-in-flags property test)."""
    with pytest.raises(OpsError, match=r"^cannot write .*: File name too long$"):
        write_private_file(tmp_path / ("x" * 300), "content", replace=False)
    assert list(tmp_path.iterdir()) == []
