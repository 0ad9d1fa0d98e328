"""No secret is ever printed: key material, passwords, client secrets and tokens, fed into every
config key and every flag of every command (as `--set`, `--set-file`, a stack file, a flag's
value, the environment), never reach stdout or stderr, not even 16 characters of them.

The commands run in-process through `orthweb.commands.cli.main`, which is what a user runs: everything they
print passes `orthweb.shared.redaction`. `check` runs a stand-in checkov that fails by echoing the whole
plan it was given (so any value that reached the plan would be printed back); `verify`,
`failover`, `token` and `modality-cert` run against moto's AWS, with the secret in the environment's credentials
and in the stack's own Secrets Manager values, and with a token endpoint that echoes the client
secret it is sent in its error.

The examples are drawn once (derandomized): where no secret channel marks a value, secret-shaped
words are recognised by heuristics (orthweb/shared/redaction.py), so a fixed draw keeps the run
reproducible; tests/unit/test_redaction.py measures those heuristics on their own.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import random
import shutil
import string
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from moto.server import ThreadedMotoServer

from orthweb.commands.cli import main
from orthweb.config.keys import KEYS, OPTIONS
from orthweb.config.problems import qualified_key
from orthweb.evaluate import PROJECT_ROOT
from orthweb.infra.tags import with_role
from orthweb.shared import redaction, sso
from tools.bench.__main__ import main as bench_main

WINDOW = redaction.WINDOW
# For a longer search by hand: ORTHWEB_SECRET_EXAMPLES=20 multiplies the examples, and
# ORTHWEB_SECRET_FRESH_DRAW=1 draws new ones on each run.
SCALE = int(os.environ.get("ORTHWEB_SECRET_EXAMPLES", "1"))
FRESH_DRAW = bool(os.environ.get("ORTHWEB_SECRET_FRESH_DRAW"))
REGION = "eu-west-1"
STACK = "ptest"
PASSWORD_SYMBOLS = "!#$%&*+-=?@^_~"


# --- the secrets ---------------------------------------------------------------------------------


def _key_forms() -> list[tuple[str, str]]:
    """(name, text) of private keys as a user might hold them: PEM (PKCS#8, traditional,
    encrypted), OpenSSH, and DER in base64 on one line."""
    keys = {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }
    forms = []
    for name, key in keys.items():
        pem, der = serialization.Encoding.PEM, serialization.Encoding.DER
        none = serialization.NoEncryption()
        pkcs8 = serialization.PrivateFormat.PKCS8
        forms.append((f"{name}-pkcs8", key.private_bytes(pem, pkcs8, none).decode()))
        forms.append((f"{name}-openssh", key.private_bytes(pem, serialization.PrivateFormat.OpenSSH, none).decode()))
        forms.append((f"{name}-der-base64", base64.b64encode(key.private_bytes(der, pkcs8, none)).decode()))
        encrypted = serialization.BestAvailableEncryption(b"correct horse")
        forms.append((f"{name}-encrypted", key.private_bytes(pem, pkcs8, encrypted).decode()))
        if name != "ed25519":
            traditional = serialization.PrivateFormat.TraditionalOpenSSL
            forms.append((f"{name}-traditional", key.private_bytes(pem, traditional, none).decode()))
    return forms


KEY_FORMS = _key_forms()


def _password(rng: random.Random) -> str:
    """A password manager's: 20 to 40 of letters, digits and symbols, each kind at least once."""
    alphabet = string.ascii_letters + string.digits + PASSWORD_SYMBOLS
    while True:
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(20, 40)))
        kinds = (string.ascii_lowercase, string.ascii_uppercase, string.digits, PASSWORD_SYMBOLS)
        if all(any(ch in kind for ch in text) for kind in kinds):
            return text


def _jwt(rng: random.Random) -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    header = json.dumps({"alg": "RS256", "kid": part(rng.randbytes(16))}).encode()
    claims = {"sub": str(rng.getrandbits(64)), "cognito:groups": ["admin"], "exp": 1900000000}
    return ".".join((part(header), part(json.dumps(claims).encode()), part(rng.randbytes(256))))


GENERATORS = {
    "password": _password,
    # Cognito's app client secrets: 51 or 52 lower-case letters and digits.
    "cognito-client-secret": lambda rng: "".join(
        rng.choice(string.ascii_lowercase + string.digits) for _ in range(rng.choice((51, 52)))
    ),
    "oauth-client-secret": lambda rng: base64.urlsafe_b64encode(rng.randbytes(32)).decode().rstrip("="),
    "aws-secret-access-key": lambda rng: base64.b64encode(rng.randbytes(30)).decode(),
    "jwt": _jwt,
}


@dataclass(frozen=True)
class Secret:
    kind: str
    text: str

    def runs(self) -> set[str]:
        """Every WINDOW-long run of the secret part (a PEM's base64 body, not its armor lines)."""
        lines = [line for line in self.text.splitlines() if line and not line.startswith("-----")]
        pieces = [*lines, "".join(lines)]
        return {piece[i : i + WINDOW] for piece in pieces for i in range(len(piece) - WINDOW + 1)}


@st.composite
def secrets(draw: st.DrawFn) -> Secret:
    kind = draw(st.sampled_from(["key", *GENERATORS]))
    if kind == "key":
        name, text = draw(st.sampled_from(KEY_FORMS))
        return Secret(name, text)
    return Secret(kind, GENERATORS[kind](draw(st.randoms(use_true_random=True))))


def run_cli(arguments: list[str]) -> int:
    """`python -m orthweb ...` in-process: its exit status, also when argparse exits. `bench` is the
    development tool's (`python -m tools.bench`), which prints through the same redaction."""
    try:
        if arguments[:1] == ["bench"]:
            return bench_main(arguments[1:])
        return main(arguments)
    except SystemExit as exit:
        return int(exit.code or 0)


def assert_not_shown(secret: Secret, *streams: str) -> None:
    printed = "".join(streams)
    leaked = sorted(run for run in secret.runs() if run in printed)
    assert not leaked, f"{secret.kind}: {leaked[:3]} printed in:\n{printed[-2000:]}"
    assert "Traceback" not in printed


# --- where a user can put them -------------------------------------------------------------------

CONFIG_KEYS = [*(row.path for row in (*KEYS, *OPTIONS)), "aws:region"]
PLACEMENTS = ["set", "set-list", "set-file", "stack-file", "key-name", "stack-name", "inside", "inside-file"]
SSO = {"orthweb:authentication": "sso", "orthweb:ssoAdminEmails": ["pacs-admin@example.org"]}
# Where a secret can sit inside a value that is otherwise valid, so the stack evaluates with it.
INSIDE: dict[str, Any] = {
    "alarmEmails": lambda text: [f"{text}@example.org"],
    "ssoAdminEmails": lambda text: [f"{text}@example.org"],
    "adminPrincipalArns": lambda text: [f"arn:aws:iam::123456789012:role/{text}"],
    "ssoDomainPrefix": lambda text: text,
    "deploymentOptions.orthancImage": lambda text: f"orthancteam/orthanc:{text}",
    "deploymentOptions.envoyImage": lambda text: f"envoyproxy/envoy:{text}",
}
OFFLINE_COMMANDS = [["plan"], ["plan", "--json"], ["check"], ["check", "--json"]]


@dataclass
class Sandbox:
    """A project folder of its own (stack files to write), a HOME without ~/.ssh, a working directory."""

    project: Path
    home: Path
    work: Path

    def stack_file(self, values: dict[str, Any]) -> None:
        document = {"config": {"aws:region": "us-east-1"} | values}
        (self.project / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    project = tmp_path_factory.mktemp("project")
    for name in ("Pulumi.yaml", "__main__.py", "Pulumi.dev.yaml"):
        shutil.copy(PROJECT_ROOT / name, project / name)
    # A checkov that fails by printing back the plan it was given.
    checkov = project / "checkov"
    checkov.write_text(
        f"#!{sys.executable} -IS\nimport sys\n"
        "plan = sys.argv[sys.argv.index('-f') + 1]\n"
        "sys.stderr.write(open(plan).read().replace(',', ',\\n'))\nsys.exit(1)\n"
    )
    checkov.chmod(0o755)
    return Sandbox(project, tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("work"))


@pytest.fixture
def isolated(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    from orthweb.commands import common
    from orthweb.evaluate import run

    monkeypatch.setattr(run, "PROJECT_ROOT", sandbox.project)
    monkeypatch.setattr(common, "PROJECT_ROOT", sandbox.project)
    monkeypatch.setenv("HOME", str(sandbox.home))
    monkeypatch.setenv("ORTHWEB_CHECKOV", str(sandbox.project / "checkov"))
    monkeypatch.chdir(sandbox.work)
    return sandbox


def offline_arguments(sandbox: Sandbox, secret: Secret, placement: str, key: str) -> list[str]:
    """The command line (and stack file) that puts `secret` at `key` the way `placement` says."""
    sandbox.stack_file({"orthweb:environment": "dev", **(SSO if key.startswith("sso") else {})})
    if placement.startswith("inside"):
        value = INSIDE.get(key, lambda text: text)(secret.text)
        if placement == "inside":
            return ["--stack", STACK, "--set", f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
        path = sandbox.work / "value.txt"
        path.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")
        return ["--stack", STACK, "--set-file", f"{key}={path}"]
    if placement == "set":
        return ["--stack", STACK, "--set", f"{key}={secret.text}"]
    if placement == "set-list":
        return ["--stack", STACK, "--set", f"{key}={json.dumps([secret.text])}"]
    if placement == "set-file":
        path = sandbox.work / "value.txt"
        path.write_text(secret.text, encoding="utf-8")
        return ["--stack", STACK, "--set-file", f"{key}={path}"]
    if placement == "stack-file":
        top, _, option = key.partition(".")
        value: Any = {option: secret.text} if option else secret.text
        sandbox.stack_file({"orthweb:environment": "dev", qualified_key(top): value})
        return ["--stack", STACK]
    if placement == "key-name":
        return ["--stack", STACK, "--set", f"{key.partition('.')[0]}.{secret.text}=1"]
    return [f"--stack={secret.text}"]


@settings(
    max_examples=90 * SCALE,
    derandomize=not FRESH_DRAW,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    secret=secrets(),
    placement=st.sampled_from(PLACEMENTS),
    key=st.one_of(st.sampled_from(CONFIG_KEYS), st.sampled_from(sorted(INSIDE))),
    command=st.sampled_from(OFFLINE_COMMANDS),
)
def test_plan_and_check_never_print_a_secret_put_anywhere(
    isolated: Sandbox, capsys: pytest.CaptureFixture[str], secret: Secret, placement: str, key: str, command: list[str]
) -> None:
    code = run_cli([*command, *offline_arguments(isolated, secret, placement, key)])
    out, err = capsys.readouterr()
    event(f"{command[0]} exit {code}")
    assert code in (0, 1, 2), err
    assert_not_shown(secret, out, err)


# --- the operator commands, against moto --------------------------------------------------------


ISSUED_TOKEN = _jwt(random.Random(7))


class EchoingTokenEndpoint(http.server.BaseHTTPRequestHandler):
    """A token endpoint that refuses every client and puts what it was sent in its error."""

    def do_POST(self) -> None:
        credentials = base64.b64decode(self.headers.get("Authorization", "Basic ").split()[-1] or b"").decode()
        if self.path.startswith("/issuing/"):
            # ... except on this path, where it issues a token.
            answer, status = {"access_token": ISSUED_TOKEN, "expires_in": 3600}, 200
        else:
            answer, status = {"error": credentials.partition(":")[2], "error_description": credentials}, 400
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Cloud:
    endpoint: str
    secretsmanager: Any
    token_endpoint: str

    def store(self, role: str, value: dict[str, Any]) -> None:
        """The stack's secret tagged `role` now holds `value`."""
        name = f"orthweb/{STACK}/{role}"
        text = json.dumps(value)
        try:
            self.secretsmanager.put_secret_value(SecretId=name, SecretString=text)
        except self.secretsmanager.exceptions.ResourceNotFoundException:
            tags = [{"Key": k, "Value": v} for k, v in with_role(STACK, role).items()]
            self.secretsmanager.create_secret(Name=name, SecretString=text, Tags=tags)


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    tokens = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoingTokenEndpoint)
    threading.Thread(target=tokens.serve_forever, daemon=True).start()
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    secretsmanager = session.client("secretsmanager", endpoint_url=endpoint)
    yield Cloud(endpoint, secretsmanager, f"http://127.0.0.1:{tokens.server_address[1]}/oauth2/token")
    tokens.shutdown()
    server.stop()


@pytest.fixture
def operator(cloud: Cloud, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Cloud:
    """The operator's machine: AWS is moto, reached with credentials from the environment."""
    from orthweb.commands import common

    monkeypatch.setattr(common, "PROJECT_ROOT", sandbox.project)
    sandbox.stack_file({"aws:region": REGION})
    monkeypatch.chdir(sandbox.work)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", cloud.endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(sandbox.work / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(sandbox.work / "no-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return cloud


OPERATOR_FLAGS = {
    "verify": ["--stack", "--region", "--address", "--connect-to", "--https-port", "--dicom-port", "--host-timeout"],
    "failover": ["--stack", "--region", "--to"],
    "token": ["--stack", "--region", "--role"],
    "modality-cert": ["--stack", "--region", "--modality", "--out"],
    "vpn": ["--stack", "--region", "--out"],
    "bench": ["--variant"],
}
# Where else the secret can be: the operator's own AWS credentials, or the stack's stored secrets.
ELSEWHERE = ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "stored"]


def operator_arguments(cloud: Cloud, secret: Secret, command: str, where: str, monkeypatch: Any) -> list[str]:
    cloud.store(
        sso.MACHINE_CLIENT_ROLE,
        {
            "client_id": "4f1machineclient0000000000",
            "client_secret": secret.text if where == "stored" else "not-the-secret-0123456789abcdef",
            "token_endpoint": cloud.token_endpoint,
            "scopes": {role: sso.scope(role) for role in sso.ROLES},
        },
    )
    cloud.store("orthanc-credentials", {"admin": {"username": "admin", "password": secret.text}})
    if where.startswith("AWS_"):
        monkeypatch.setenv(where, secret.text)
    base = {
        "verify": ["--stack", STACK],
        "failover": ["--stack", STACK, "--yes"],
        "token": ["--stack", STACK],
        "modality-cert": ["--stack", STACK, "--modality", "CT_1", "--out", "modality.pem"],
        "vpn": ["--stack", STACK, "--out", "device.conf"],
    }
    arguments = [command, *base.get(command, [])]
    if where in OPERATOR_FLAGS[command]:
        arguments.append(f"{where}={secret.text}")
    return arguments


@st.composite
def operator_runs(draw: st.DrawFn) -> tuple[str, str]:
    command = draw(st.sampled_from(sorted(OPERATOR_FLAGS)))
    places = [*OPERATOR_FLAGS[command], *(ELSEWHERE if command != "bench" else [])]
    return command, draw(st.sampled_from(places))


@settings(
    max_examples=40 * SCALE,
    derandomize=not FRESH_DRAW,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(secret=secrets(), run=operator_runs())
def test_operator_commands_never_print_a_secret_from_a_flag_the_environment_or_aws(
    operator: Cloud, capsys: pytest.CaptureFixture[str], secret: Secret, run: tuple[str, str]
) -> None:
    command, where = run
    with pytest.MonkeyPatch.context() as patch:
        arguments = operator_arguments(operator, secret, command, where, patch)
        code = run_cli(arguments)
    out, err = capsys.readouterr()
    event(f"{command} exit {code}")
    assert code in (0, 1, 2), err
    assert_not_shown(secret, out, err)


# --- the paths where a secret is used as intended ---------------------------------------------


def test_the_reported_case_a_private_key_given_as_the_certificate_is_named_never_shown(
    isolated: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    name, key_pem = next(form for form in KEY_FORMS if form[0] == "ec-traditional")
    path = isolated.work / "site.key"
    path.write_text(key_pem, encoding="utf-8")
    isolated.stack_file({"orthweb:environment": "dev"})
    code = run_cli(
        ["plan", "--stack", STACK, "--set-file", f"siteCertificate={path}", "--set-file", f"siteCertificateKey={path}"]
    )
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "orthweb:siteCertificate = [not shown]" in err and "private key, which goes in siteCertificateKey" in err
    assert_not_shown(Secret(name, key_pem), out, err)


def test_a_certificate_pair_and_a_secret_prefix_are_used_and_never_shown(
    isolated: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    from orthweb.evaluate.stack_file import stand_in_certificate

    certificate, key_pem = stand_in_certificate("pacs.example.org")
    prefix = GENERATORS["cognito-client-secret"](random.Random(3))
    files = {"siteCertificate": certificate, "siteCertificateKey": key_pem, "ssoDomainPrefix": prefix}
    for name, text in files.items():
        (isolated.work / name).write_text(text, encoding="utf-8")
    isolated.stack_file({"orthweb:environment": "dev", "orthweb:siteDomain": "pacs.example.org", **SSO})
    arguments = ["--stack", STACK, *(f"--set-file={name}={isolated.work / name}" for name in files)]
    assert run_cli(["plan", *arguments]) == 0
    planned, warnings = capsys.readouterr()
    assert "user-supplied" in planned
    # The stand-in checkov prints back the whole plan it was given, and fails.
    assert run_cli(["check", "--json", *arguments]) == 2
    checked, failed = capsys.readouterr()
    assert "checkov exited with 1" in failed
    for secret in (Secret("ec-pkcs8", key_pem), Secret("prefix", prefix)):
        assert_not_shown(secret, planned, warnings, checked, failed)


def test_token_prints_the_token_alone_and_nothing_of_the_client_secret(
    operator: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    client_secret = GENERATORS["cognito-client-secret"](random.Random(5))
    operator.store(
        sso.MACHINE_CLIENT_ROLE,
        {
            "client_id": "4f1machineclient0000000000",
            "client_secret": client_secret,
            "token_endpoint": operator.token_endpoint.replace("/oauth2/", "/issuing/"),
            "scopes": {role: sso.scope(role) for role in sso.ROLES},
        },
    )
    assert run_cli(["token", "--stack", STACK, "--role", sso.ADMIN]) == 0
    out, err = capsys.readouterr()
    assert out == ISSUED_TOKEN + "\n"
    assert_not_shown(Secret("client secret", client_secret), out, err)
    assert_not_shown(Secret("token", ISSUED_TOKEN), err)


def test_the_check_catches_a_printed_secret_when_the_redaction_is_off(
    operator: Cloud, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The property tests' assertion has teeth: without the redaction, these print the secret."""
    monkeypatch.setattr(redaction, "scrub", lambda text: text)
    secret = Secret("password", _password(random.Random(9)))
    run_cli(["token", f"--role={secret.text}"])
    out, err = capsys.readouterr()
    with pytest.raises(AssertionError):
        assert_not_shown(secret, out, err)


def test_modality_cert_prints_its_summary_whole_and_nothing_of_the_key(
    operator: Cloud, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the stored secret's secret fields are withheld: the summary's name and fingerprint,
    from the same stored value, print as they are."""
    from orthweb.shared.constants import DICOM_CLIENTS_ROLE
    from orthweb.shared.modalities import certificate_fingerprint, certificate_uri
    from tools.harness.pki import issue_client_certificate, make_client_ca

    ca = make_client_ca()
    uri = certificate_uri("cert", "CT_1")
    certificate, key_pem = issue_client_certificate(ca, "CT_1", uri)
    modalities = {"CT_1": {"uri": uri, "certificate": certificate, "private_key": key_pem}}
    operator.store(DICOM_CLIENTS_ROLE, {"ca_certificate": ca.certificate_pem, "modalities": modalities})
    path = sandbox.work / "ct1.pem"
    path.unlink(missing_ok=True)
    assert run_cli(["modality-cert", "--stack", STACK, "--modality", "CT_1", "--out", str(path)]) == 0
    out, err = capsys.readouterr()
    assert uri in out and certificate_fingerprint(certificate) in out and redaction.REDACTED not in out
    assert key_pem.strip() in path.read_text()
    assert_not_shown(Secret("modality key", key_pem), out, err)
