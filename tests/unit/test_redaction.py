"""orthweb.shared.redaction on its own: the stream a command prints through, what it recognises, and
that it leaves everything a command legitimately prints as it is."""

from __future__ import annotations

import base64
import gzip
import io
import json
import random
import string
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from orthweb.commands.cli import main
from orthweb.shared import redaction


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    redaction.forget_all()
    yield
    redaction.forget_all()


def through_stream(*pieces: str, flushes: bool = False) -> str:
    target = io.StringIO()
    stream = redaction.RedactingStream(target)
    for piece in pieces:
        stream.write(piece)
        if flushes:
            stream.flush()
    stream.close_out()
    return target.getvalue()


SECRET = "Xq7!vR2#pL9zK4&mW8sT"


def test_a_registered_secret_written_in_pieces_is_caught_whole() -> None:
    redaction.register(SECRET)
    printed = through_stream("password: ", SECRET[:7], SECRET[7:13], SECRET[13:], "\n", flushes=True)
    assert printed == f"password: {redaction.REDACTED}\n"


def test_any_sixteen_characters_of_a_registered_secret_are_caught_in_any_printed_form() -> None:
    secret = 'line one of a secret with "quotes" and \\ in it\nand its second line, longer still'
    redaction.register(secret)
    for printed in (secret[5:30], json.dumps(secret), repr(secret), secret.splitlines()[1][3:25]):
        assert redaction.scrub(f"value {printed} end") != f"value {printed} end", printed
    assert redaction.scrub("value " + secret[:15] + " end") == "value " + secret[:15] + " end"


def test_a_short_registered_secret_is_caught_whole() -> None:
    redaction.register("hunter2!x")
    assert redaction.scrub("it was hunter2!x all along") == f"it was {redaction.REDACTED} all along"


def test_a_private_key_waits_for_its_end_line_and_goes_whole() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    lines = pem.splitlines(keepends=True)
    printed = through_stream("error: ", *lines, "is not a certificate\n")
    assert printed == f"error: {redaction.REDACTED}\nis not a certificate\n"
    # Cut short as a message might quote it: the armor and the base64 that follows go.
    cut_short = redaction.scrub(f"value {pem[:60]}... is invalid")
    assert cut_short.startswith(f"value {redaction.REDACTED}") and cut_short.endswith(" is invalid")
    assert "PRIVATE" not in cut_short and pem[28:44] not in cut_short


def test_a_token_is_caught_and_reveal_is_the_one_way_past() -> None:
    claims = base64.urlsafe_b64encode(b'{"sub": "1234567890", "token_use": "access"}').decode()
    token = f"eyJhbGciOiJSUzI1NiJ9.{claims}.c2lnbmF0dXJl"
    assert redaction.scrub(f"Bearer {token}") == f"Bearer {redaction.REDACTED}"
    target = io.StringIO()
    stream = redaction.RedactingStream(target)
    stream.write(f"before {token}\n")
    redaction.reveal(stream, token + "\n")
    assert target.getvalue() == f"before {redaction.REDACTED}\n{token}\n"


def test_a_json_document_stays_json_whatever_is_redacted() -> None:
    redaction.register('{"nested": "' + SECRET + '"}')
    document = {"inputs": {"a": SECRET, "list": [SECRET, "plain"], SECRET: 1}}
    text = json.dumps(redaction.scrub_document(document))
    assert redaction.scrub(text) == text
    assert json.loads(text) == {
        "inputs": {"a": redaction.REDACTED, "list": [redaction.REDACTED, "plain"], redaction.REDACTED: 1}
    }


def _tar_in_base64(content: bytes) -> str:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        member = tarfile.TarInfo("opt/orthweb/start.sh")
        member.size = len(content)
        tar.addfile(member, io.BytesIO(content))
    return base64.b64encode(archive.getvalue()).decode()


def test_public_encodings_are_shown_and_their_content_judged() -> None:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    ssh = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    assert redaction.scrub(f"key {ssh} admin@host") == f"key {ssh} admin@host"
    clean = base64.b64encode(gzip.compress(b"#cloud-config\nwrite_files: []\n" * 50)).decode()
    assert redaction.scrub(clean) == clean
    assert redaction.scrub(_tar_in_base64(b"#!/bin/bash\nset -euo pipefail\n")) == _tar_in_base64(
        b"#!/bin/bash\nset -euo pipefail\n"
    )
    redaction.register(SECRET)
    holding = base64.b64encode(gzip.compress(f"password: {SECRET}\n".encode() * 50)).decode()
    assert redaction.scrub(holding) == redaction.REDACTED
    assert redaction.scrub(_tar_in_base64(f"password: {SECRET}\n".encode())) == redaction.REDACTED
    ids = "o7dx3pgi6apybhixsar6i39gbp"  # a Cognito app client id: random, and public
    assert redaction.scrub(ids) == redaction.REDACTED
    redaction.vouch(ids)
    assert redaction.scrub(ids) == ids


def test_a_rejected_value_is_quoted_only_when_nothing_of_it_looks_secret() -> None:
    assert redaction.shown("172.27.0.0/8") == "'172.27.0.0/8'"
    assert redaction.shown("orthancteam/orthanc:latest") == "'orthancteam/orthanc:latest'"
    assert redaction.shown(["CT_1@10.20.0.15:104"]) == '["CT_1@10.20.0.15:104"]'
    assert redaction.shown(SECRET) == redaction.NOT_SHOWN
    assert redaction.shown("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE") == redaction.NOT_SHOWN


# What users put in config and on command lines: all of it must read as plainly benign, so none of
# it is withheld from what plan prints.
REALISTIC_VALUES = [
    "orthancteam/orthanc:25.12.3",
    "envoyproxy/envoy:v1.40.0",
    "orthancteam/orthanc@sha256:" + "0123456789abcdef" * 4,
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orthanc:1.12.10-custom",
    "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_5b2a7f3c9e1d4a60",
    "arn:aws:iam::123456789012:role/OrganizationAccountAccessRole",
    "arn:aws:iam::123456789012:role/service-role/PulumiDeployerRole",
    "arn:aws:iam::123456789012:user/deploy-bot",
    "radiology.oncall@hospital.example.org",
    "imaging.radiology.university-hospital.org",
    "orthweb-prod-pacs",
    "MR_SIEMENS_3T@10.20.30.40:11112",
    "Z08395271NNP8ZKBBB6HF",
    "ami-0123456789abcdef0",
    "/home/pacsadmin/.ssh/id_ed25519.pub",
    "deploymentOptions.secretsManagerEndpoint",
    "hospital-imaging-archive",
]


@pytest.mark.parametrize("value", REALISTIC_VALUES)
def test_realistic_config_values_read_as_plainly_benign(value: str) -> None:
    assert redaction.plainly_benign(value) and redaction.kind_of_secret(value) is None


def _family(alphabet: str) -> Callable[[random.Random, int], str]:
    return lambda rng, length: "".join(rng.choice(alphabet) for _ in range(length))


FAMILIES = {
    "password": _family(string.ascii_letters + string.digits + "!#$%&*+-=?@^_~"),
    "letters and digits": _family(string.ascii_letters + string.digits),
    "lower-case and digits": _family(string.ascii_lowercase + string.digits),
    "base64": _family(string.ascii_letters + string.digits + "+/"),
    "base64url": _family(string.ascii_letters + string.digits + "-_"),
}
# Random strings that read as benign AND pass the stream's check, out of SAMPLES per family and
# length, as measured (seed 1): a few short ones look like names (at most 5 in 1000 at 16
# characters, lower-case and digits the worst); from 24 characters on, none does.
SAMPLES = 1000
MISSED_AT_MOST = {16: 5, 20: 3, 24: 0, 32: 0, 48: 0}


@pytest.mark.parametrize("length", sorted(MISSED_AT_MOST))
def test_random_secrets_are_recognised_at_the_measured_rate(length: int) -> None:
    """What the heuristics are worth where no registry helps (a secret typed where a name goes):
    the measured count of random strings that would pass for names, per family and length."""
    rng = random.Random(1)
    for name, family in FAMILIES.items():
        samples = [family(rng, length) for _ in range(SAMPLES)]
        missed = [text for text in samples if redaction.plainly_benign(text) and redaction.scrub(text) == text]
        assert len(missed) <= MISSED_AT_MOST[length], (name, missed[:5])


# --- nothing a command legitimately prints is touched ----------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        ["plan", "--json"],
        ["plan", "--stack", "prod", "--json"],
        ["plan", "--stack", "prod"],
        ["plan", "--json", "--set", "topology=scale-out"],
        ["plan", "--json", "--set", "authentication=sso", "--set", 'ssoAdminEmails=["pacs-admin@example.org"]'],
    ],
)
def test_plan_prints_exactly_what_it_would_without_the_redaction(
    arguments: list[str],
    empty_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    replaced: list[str] = []
    original = redaction._replace  # pyright: ignore[reportPrivateUsage]

    def recording(text: str, spans: object) -> str:
        replaced.append(text)
        return original(text, spans)  # type: ignore[arg-type]

    monkeypatch.setattr(redaction, "_replace", recording)
    monkeypatch.setenv("HOME", str(empty_home))
    assert main(arguments) == 0
    out, _ = capsys.readouterr()
    assert replaced == [], replaced[:1]
    if "--json" in arguments:
        assert json.loads(out)["resources"]
