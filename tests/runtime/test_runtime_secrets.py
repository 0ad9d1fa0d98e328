"""The rendered fetch-secrets.sh against moto (Secrets Manager + RDS) with the real AWS CLI.

The session stack already booted from files this script wrote (conftest); here: their modes,
and loud failures when a secret is missing or access is denied.
"""

from __future__ import annotations

import json
import socket
import stat
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orthweb.host.layout import HEALTH_AUTH_PLACEHOLDER, SECRET_FILES
from tools.harness import Credential, SecretInputs, Stack
from tools.harness.aws import LocalAws, ScriptTargets, run_fetch_secrets
from tools.harness.processes import LOOPBACK

pytestmark = pytest.mark.runtime

EXPECTED_FILES = SECRET_FILES


def test_the_stack_booted_from_root_only_secret_files(stack: Stack) -> None:
    directory = stack.secrets_dir
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert {p.name for p in directory.iterdir()} == EXPECTED_FILES  # staging dir removed
    for path in directory.iterdir():
        assert (stat.S_IMODE(path.stat().st_mode), path.stat().st_uid) == (0o400, 0), path.name
    users = json.loads((directory / "ORTHANC__REGISTERED_USERS").read_text())
    assert users == {stack.admin.username: stack.admin.password, stack.health.username: stack.health.password}
    envoy = (directory / "envoy.yaml").read_text()
    assert HEALTH_AUTH_PLACEHOLDER not in envoy and stack.health.header in envoy


@pytest.fixture
def database_port() -> Iterator[int]:
    """Something listening where RDS says the database is (the script waits for it)."""
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.fixture
def inputs(database_port: int, stack: Stack) -> SecretInputs:
    return SecretInputs(
        admin=Credential("admin", "a-password"),
        health=Credential("healthcheck", "h-password"),
        db_host=LOOPBACK,
        db_port=database_port,
        db_name="orthanc",
        db_user="orthanc",
        db_password="db-password",
        site_certificate_pem=(stack.secrets_dir / "site.crt").read_text(),
        site_private_key_pem=(stack.secrets_dir / "site.key").read_text(),
    )


def test_missing_secret_fails_loudly(
    render_for: Callable[..., dict[str, str]], inputs: SecretInputs, tmp_path: Path
) -> None:
    rendered = render_for(stack="nosecret")
    with LocalAws() as aws:
        aws.seed(ScriptTargets.parse(rendered["fetch-secrets.sh"]), inputs, with_credentials=False)
        done = run_fetch_secrets(rendered, aws, tmp_path / "secrets", tmp_path / "work")
    assert done.returncode != 0
    assert "ResourceNotFoundException" in done.stderr, done.stderr
    assert "cannot read secret" in done.stderr and "orthanc-credentials" in done.stderr
    assert not (tmp_path / "secrets" / "ORTHANC__REGISTERED_USERS").exists()


def test_access_denied_fails_loudly(
    render_for: Callable[..., dict[str, str]], inputs: SecretInputs, tmp_path: Path
) -> None:
    rendered = render_for(stack="denied")
    with LocalAws() as aws:
        aws.seed(ScriptTargets.parse(rendered["fetch-secrets.sh"]), inputs)
        iam = aws.client("iam", "us-east-1")
        iam.create_user(UserName="host")
        iam.put_user_policy(
            UserName="host",
            PolicyName="no-secrets",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "rds:DescribeDBInstances", "Resource": "*"},
                        {"Effect": "Deny", "Action": "secretsmanager:GetSecretValue", "Resource": "*"},
                    ],
                }
            ),
        )
        key = iam.create_access_key(UserName="host")["AccessKey"]
        set_auth(aws, "0")  # moto checks IAM from now on
        try:
            done = run_fetch_secrets(
                rendered,
                aws,
                tmp_path / "secrets",
                tmp_path / "work",
                extra_env={"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]},
            )
        finally:
            set_auth(aws, "inf")
    assert done.returncode != 0
    assert "AccessDenied" in done.stderr, done.stderr
    assert "cannot read secret" in done.stderr
    assert not (tmp_path / "secrets" / "ORTHANC__POSTGRESQL__PASSWORD").exists()


def set_auth(aws: LocalAws, count: str) -> None:
    request = urllib.request.Request(
        f"{aws.endpoint}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
