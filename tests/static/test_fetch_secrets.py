"""fetch-secrets.sh run for real (bash, jq, openssl) against a stand-in `aws` command.

Proves what the host does at boot: waits for the database, writes every secret as a root-only
file in the format the Orthanc image reads, fills Envoy's health-check header, refuses a
certificate that does not match its key, and keeps secret values out of every other file.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from orthweb.host.context import HostAppContext
from orthweb.host.layout import HEALTH_AUTH_PLACEHOLDER, SECRET_FILES
from tests.static.static_checks import (
    FakeSecrets,
    SiteCertificate,
    envoy_validate,
    make_site_certificate,
    require_tool,
    run,
    with_local_certificates,
)

MASTER_SECRET_ARN = "arn:aws:secretsmanager:eu-west-3:123456789012:secret:rds!db-0a1b2c3d-XyZ012"

# Answers `aws ... rds describe-db-instances` (no endpoint on the first call, as while RDS is
# being created) and `aws ... secretsmanager get-secret-value`; logs every argv.
AWS_STUB = """\
import json, pathlib, sys
state = pathlib.Path(sys.argv[0]).parent
args = sys.argv[1:]
with open(state / "aws-calls.log", "a") as log:
    log.write(json.dumps(args) + "\\n")
answers = json.loads((state / "answers.json").read_text())
if "describe-db-instances" in args:
    calls = state / "describe-calls"
    n = int(calls.read_text()) if calls.exists() else 0
    calls.write_text(str(n + 1))
    if not n and answers.get("first_describe_error"):
        sys.exit(answers["first_describe_error"])
    print(json.dumps(answers["instance"] if n else {"DBInstanceStatus": "creating"}))
elif "get-secret-value" in args:
    print(answers["secrets"][args[args.index("--secret-id") + 1]])
else:
    sys.exit("unexpected aws call: " + " ".join(args))
"""


@dataclass
class BootRun:
    returncode: int
    log: str
    secrets_dir: Path
    stub_dir: Path
    aws_calls: list[list[str]]  # this run's calls of the AWS CLI, in order (the log holds every run's)


@pytest.fixture(scope="module")
def database_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.fixture(scope="module")
def boot(
    tmp_path_factory: pytest.TempPathFactory,
    rendered: dict[str, str],
    app_context: HostAppContext,
    fake_secrets: FakeSecrets,
    site_certificate: SiteCertificate,
    database_port: int,
):
    for tool, package in (("jq", "jq"), ("openssl", "openssl"), ("timeout", "coreutils")):
        require_tool(tool, f"apt-get install -y {package}")
    bash = require_tool("bash", "apt-get install -y bash")
    tmp_path = tmp_path_factory.mktemp("host")
    app_dir, stub_dir = tmp_path / "app", tmp_path / "bin"
    for directory in (app_dir, stub_dir):
        directory.mkdir()
    (app_dir / "envoy.yaml").write_text(rendered["envoy.yaml"])
    script = app_dir / "fetch-secrets.sh"
    script.write_text(rendered["fetch-secrets.sh"])
    aws = stub_dir / "aws"
    aws.write_text(f"#!{sys.executable} -IS\n{AWS_STUB}")  # -IS: start fast
    aws.chmod(0o755)
    # start.sh as the refresh calls it: records its arguments.
    start = app_dir / "start.sh"
    start.write_text(f'#!/bin/bash\necho "$@" >>{stub_dir}/start-calls.log\n')
    start.chmod(0o755)

    def run_boot(
        certificate: SiteCertificate | None = None,
        secrets: str = "secrets",
        *args: str,
        first_describe_error: str = "",
        db_password: str = fake_secrets.db_password,
    ) -> BootRun:
        certificate = certificate or site_certificate
        secrets_dir = tmp_path / secrets
        (stub_dir / "describe-calls").unlink(missing_ok=True)
        answers = {
            "first_describe_error": first_describe_error,
            "instance": {
                "DBInstanceStatus": "available",
                "Endpoint": {"Address": "127.0.0.1", "Port": database_port},
                "DBName": "orthanc",
                "MasterUserSecret": {"SecretArn": MASTER_SECRET_ARN},
            },
            "secrets": {
                MASTER_SECRET_ARN: json.dumps({"username": fake_secrets.db_username, "password": db_password}),
                app_context.orthanc_credentials_secret_arn: json.dumps(
                    {
                        "admin": {
                            "username": fake_secrets.admin_username,
                            "password": fake_secrets.admin_password,
                        },
                        "health": {
                            "username": fake_secrets.health_username,
                            "password": fake_secrets.health_password,
                        },
                    }
                ),
                app_context.site_tls_secret_arn: json.dumps(
                    {"certificate": certificate.cert_pem, "private_key": certificate.key_pem}
                ),
            },
        }
        (stub_dir / "answers.json").write_text(json.dumps(answers))
        env = {
            "PATH": f"{stub_dir}{os.pathsep}{os.environ['PATH']}",
            "ORTHWEB_APP_DIR": str(app_dir),
            "ORTHWEB_SECRETS_DIR": str(secrets_dir),
            "ORTHWEB_DB_POLL_SECONDS": "0",
            "ORTHWEB_DB_WAIT_SECONDS": "30",
        }
        calls_log = stub_dir / "aws-calls.log"
        earlier = len(calls_log.read_text().splitlines()) if calls_log.exists() else 0
        result = run([bash, str(script), *args], env=env)
        calls = (
            [json.loads(line) for line in calls_log.read_text().splitlines()[earlier:]] if calls_log.exists() else []
        )
        return BootRun(result.returncode, result.stdout + result.stderr, secrets_dir, stub_dir, calls)

    return run_boot


@pytest.fixture(scope="module")
def first_boot(boot) -> BootRun:
    return boot(secrets="first-boot")


def test_boot_writes_root_only_secret_files_orthanc_can_read(first_boot: BootRun, fake_secrets: FakeSecrets) -> None:
    result = first_boot
    assert result.returncode == 0, result.log
    assert "waiting for database" in result.log  # the first answer had no endpoint yet
    directory = result.secrets_dir
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = {p.name: p for p in directory.iterdir() if not p.name.startswith(".")}
    assert set(files) == SECRET_FILES
    for path in files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o400, path.name

    def value(name: str) -> object:
        return json.loads(files[name].read_text())  # how the orthancteam image reads them

    assert value("ORTHANC__POSTGRESQL__HOST") == "127.0.0.1"
    assert isinstance(value("ORTHANC__POSTGRESQL__PORT"), int)
    assert value("ORTHANC__POSTGRESQL__DATABASE") == "orthanc"
    assert value("ORTHANC__POSTGRESQL__USERNAME") == fake_secrets.db_username
    assert value("ORTHANC__POSTGRESQL__PASSWORD") == fake_secrets.db_password
    assert value("ORTHANC__REGISTERED_USERS") == {
        fake_secrets.admin_username: fake_secrets.admin_password,
        fake_secrets.health_username: fake_secrets.health_password,
    }
    assert files["orthweb-health-user.lua"].read_text() == (f'ORTHWEB_HEALTH_USER = "{fake_secrets.health_username}"\n')


def test_live_envoy_config_carries_the_health_credential_and_validates(
    first_boot: BootRun, fake_secrets: FakeSecrets, site_certificate: SiteCertificate, tmp_path: Path
) -> None:
    result = first_boot
    assert result.returncode == 0, result.log
    live = (result.secrets_dir / "envoy.yaml").read_text()
    credential = f"{fake_secrets.health_username}:{fake_secrets.health_password}"
    expected = "Basic " + base64.b64encode(credential.encode()).decode()
    assert HEALTH_AUTH_PLACEHOLDER not in live
    # Both clusters' health checks, and the metrics listener's route to Orthanc's metrics.
    assert live.count(f'value: "{expected}"') == 3
    assert fake_secrets.admin_password not in live
    local = with_local_certificates(live, site_certificate.cert_path, site_certificate.key_path)
    envoy_validate(local, tmp_path)


def test_secret_values_stay_in_their_own_files(
    first_boot: BootRun,
    rendered: dict[str, str],
    fake_secrets: FakeSecrets,
    site_certificate: SiteCertificate,
) -> None:
    result = first_boot
    assert result.returncode == 0, result.log
    key_body = site_certificate.key_pem.splitlines()[1]
    health_basic = base64.b64encode(f"{fake_secrets.health_username}:{fake_secrets.health_password}".encode()).decode()
    allowed = {
        fake_secrets.db_password: {"ORTHANC__POSTGRESQL__PASSWORD", "ORTHANC__POSTGRESQL__CONNECTION_URI"},
        fake_secrets.admin_password: {"ORTHANC__REGISTERED_USERS"},
        fake_secrets.health_password: {"ORTHANC__REGISTERED_USERS"},
        health_basic: {"envoy.yaml"},
        key_body: {"site.key"},
    }
    written = {p.name: p.read_text() for p in result.secrets_dir.iterdir() if p.is_file()}
    for secret, homes in allowed.items():
        assert {name for name, text in written.items() if secret in text} == homes
        for name, text in rendered.items():  # user data and every file it carries
            assert secret not in text, name
        assert secret not in result.log
        assert secret not in (result.stub_dir / "aws-calls.log").read_text()


def test_secret_reads_take_the_regional_name_and_come_after_the_database_answers(
    first_boot: BootRun, app_context: HostAppContext
) -> None:
    """With a Secrets Manager interface endpoint (private DNS on), the regional name resolves to it
    inside the VPC, and the hosts' role may read secrets only through it (docs.aws.amazon.com/
    secretsmanager/latest/userguide/vpc-endpoint-overview.html). So no call may name another
    endpoint, and none may come early: only after the database answers, minutes into the first
    `pulumi up`, long after the endpoint (which never waits for the database) is available."""
    assert first_boot.returncode == 0, first_boot.log
    calls = first_boot.aws_calls
    reads = [i for i, args in enumerate(calls) if "secretsmanager" in args]
    lookups = [i for i, args in enumerate(calls) if "describe-db-instances" in args]
    assert len(reads) >= 3 and len(lookups) >= 2
    assert min(reads) > max(lookups)
    for index in reads:
        args = calls[index]
        assert args[:2] == ["--region", app_context.region] and "get-secret-value" in args
        assert not any(arg.startswith("--endpoint") for arg in args), args


def test_second_run_changes_nothing(first_boot: BootRun, boot) -> None:
    assert first_boot.returncode == 0
    again = boot(secrets="first-boot")
    assert again.returncode == 0, again.log
    assert "updated" not in again.log


def test_a_certificate_that_does_not_match_its_key_is_refused(boot, tmp_path: Path) -> None:
    one = make_site_certificate(tmp_path / "one")
    other = make_site_certificate(tmp_path / "other")
    mismatched = SiteCertificate(one.cert_pem, other.key_pem, one.cert_path, other.key_path)
    result = boot(mismatched, secrets="mismatched")
    assert result.returncode != 0
    assert "site certificate and private key do not match" in result.log
    assert not (result.secrets_dir / "site.key").exists()  # nothing half-installed


def _start_calls(result: BootRun) -> list[list[str]]:
    log = result.stub_dir / "start-calls.log"
    calls = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
    log.unlink(missing_ok=True)
    return calls


def test_a_refresh_replaces_only_the_containers_whose_files_changed(boot, fake_secrets: FakeSecrets, tmp_path) -> None:
    """Envoy is recreated only when its own files change: a rotated database password (the
    weekly case) replaces the replicas one by one and leaves Envoy and its connections alone."""
    first = boot(None, "refreshed", "--rolling-restart-if-changed")
    assert first.returncode == 0, first.log
    assert _start_calls(first) == [["--rolling", "--envoy", "--orthanc"]]  # nothing was there yet
    same = boot(None, "refreshed", "--rolling-restart-if-changed")
    assert same.returncode == 0 and _start_calls(same) == [], same.log
    rotated = boot(None, "refreshed", "--rolling-restart-if-changed", db_password="Rotated-7c1e")
    assert rotated.returncode == 0, rotated.log
    assert _start_calls(rotated) == [["--rolling", "--orthanc"]]
    other = make_site_certificate(tmp_path / "renewed")
    renewed = boot(other, "refreshed", "--rolling-restart-if-changed", db_password="Rotated-7c1e")
    assert renewed.returncode == 0, renewed.log
    assert _start_calls(renewed) == [["--rolling", "--envoy"]]
    # Neither the staging copies nor the previous values stay behind.
    leftovers = [p.name for p in renewed.secrets_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == [], leftovers


def test_a_database_lookup_error_is_logged_not_taken_for_absent(boot) -> None:
    denied = (
        "An error occurred (AccessDenied) when calling the DescribeDBInstances operation: "
        "not authorized to perform rds:DescribeDBInstances"
    )
    result = boot(None, "denied-once", first_describe_error=denied)
    assert result.returncode == 0, result.log  # the next attempt succeeded
    assert "AccessDenied" in result.log and "rds:DescribeDBInstances" in result.log


def test_the_connection_uri_carries_any_password_intact(boot, fake_secrets: FakeSecrets) -> None:
    """libpq gets a URI with each part percent-encoded: quotes, backslash, space, @ : / ? % survive."""
    password = "'" + "\\'\" %@:/?" + "x'"
    result = boot(None, "awkward", db_password=password)
    assert result.returncode == 0, result.log
    uri = json.loads((result.secrets_dir / "ORTHANC__POSTGRESQL__CONNECTION_URI").read_text())
    parts = urlsplit(uri)
    assert (parts.scheme, parts.hostname, parts.path, parts.query) == (
        "postgresql",
        "127.0.0.1",
        "/orthanc",
        "sslmode=require",  # RDS has rds.force_ssl=1
    )
    assert unquote(parts.username or "") == fake_secrets.db_username
    assert unquote(parts.password or "") == password
    assert password not in uri
