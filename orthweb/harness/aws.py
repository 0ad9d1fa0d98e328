"""A local stand-in for AWS (moto on 127.0.0.1) and a runner for the rendered fetch-secrets.sh."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from orthweb.harness.processes import LOOPBACK, HarnessError
from orthweb.harness.secrets import SecretInputs, SecretsProvider

SCRIPT_NAME = "fetch-secrets.sh"
SCRIPT_TIMEOUT = 120
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_ASSIGNMENT = re.compile(r"^(REGION|DB_IDENTIFIER|CREDENTIALS_SECRET|SITE_TLS_SECRET|SSO_SECRET)=(\S+)$", re.M)


@dataclass(frozen=True)
class ScriptTargets:
    """The AWS names baked into a rendered fetch-secrets.sh."""

    region: str
    db_identifier: str
    credentials_secret: str
    site_tls_secret: str
    # The site client's secret (authentication: sso only).
    sso_secret: str | None = None

    @classmethod
    def parse(cls, script: str) -> ScriptTargets:
        found = dict(_ASSIGNMENT.findall(script))
        keys = ("REGION", "DB_IDENTIFIER", "CREDENTIALS_SECRET", "SITE_TLS_SECRET")
        missing = [k for k in keys if k not in found]
        if missing:
            raise HarnessError(f"{SCRIPT_NAME}: assignments not found: {missing}")
        return cls(*(found[k] for k in keys), sso_secret=found.get("SSO_SECRET"))


def secret_name(arn: str) -> str:
    """Secrets Manager accepts a partial ARN; moto resolves it to the name after `secret:`."""
    return arn.split(":")[-1]


class LocalAws:
    """ThreadedMotoServer on a free loopback port, the RDS endpoint pointed at a local address."""

    def __init__(self, db_address: str = LOOPBACK) -> None:
        from moto.rds.models import DBInstance
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
        # moto invents `<id>.aaaaaaaaaa.<region>.rds.amazonaws.com`; the script must reach our server.
        self._patch = mock.patch.object(DBInstance, "address", property(lambda _self: db_address))
        self.endpoint = ""

    def __enter__(self) -> LocalAws:
        self._patch.start()
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
        self._patch.stop()

    def client(self, service: str, region: str):
        import boto3

        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            **{
                "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            },
        )

    def seed(self, targets: ScriptTargets, inputs: SecretInputs, *, with_credentials: bool = True) -> None:
        """Create what `pulumi up` creates: the two app secrets and the RDS-managed master secret."""
        secrets = self.client("secretsmanager", targets.region)
        if with_credentials:
            secrets.create_secret(
                Name=secret_name(targets.credentials_secret),
                SecretString=json.dumps(
                    {
                        "admin": {"username": inputs.admin.username, "password": inputs.admin.password},
                        "health": {"username": inputs.health.username, "password": inputs.health.password},
                    }
                ),
            )
        secrets.create_secret(
            Name=secret_name(targets.site_tls_secret),
            SecretString=json.dumps(
                {
                    "certificate": inputs.site_certificate_pem,
                    "private_key": inputs.site_private_key_pem,
                }
            ),
        )
        if targets.sso_secret is not None:
            if inputs.sso_site_secret is None:
                raise HarnessError(f"{SCRIPT_NAME} reads a sign-in secret; SecretInputs.sso_site_secret is not set")
            secrets.create_secret(Name=secret_name(targets.sso_secret), SecretString=json.dumps(inputs.sso_site_secret))
        instance = self.client("rds", targets.region).create_db_instance(
            DBInstanceIdentifier=targets.db_identifier,
            Engine="postgres",
            EngineVersion="17",
            DBInstanceClass="db.t3.micro",
            AllocatedStorage=20,
            DBName=inputs.db_name,
            MasterUsername=inputs.db_user,
            ManageMasterUserPassword=True,
            Port=inputs.db_port,
        )["DBInstance"]
        secrets.put_secret_value(
            SecretId=instance["MasterUserSecret"]["SecretArn"],
            SecretString=json.dumps({"username": inputs.db_user, "password": inputs.db_password}),
        )

    def script_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for the AWS CLI: this endpoint, fake keys, no instance metadata, no ~/.aws."""
        venv_bin = str(Path(sys.executable).parent)
        return {
            "PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": os.environ.get("HOME", "/root"),
            # The script's own hook: AWS_ENDPOINT_URL is ignored by Debian's awscli 2.9 (SPEC §6)
            # and, by AWS CLI v1 1.45, for RDS in us-east-1.
            "ORTHWEB_AWS_ENDPOINT_URL": self.endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            **FAKE_CREDENTIALS,
            **(extra or {}),
        }


def aws_cli() -> str:
    found = shutil.which("aws", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if found is None:
        raise HarnessError("aws CLI not found: apt-get install awscli (scripts/setup --all does)")
    return found


def run_fetch_secrets(
    rendered: Mapping[str, str],
    aws: LocalAws,
    secrets_dir: Path,
    work_dir: Path,
    *,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the rendered fetch-secrets.sh (bash, as on the host) with app and secrets dirs local."""
    aws_cli()  # a missing AWS CLI is a set-up problem: say so, not a failure of the script
    app_dir = work_dir / "app"
    app_dir.mkdir(parents=True, exist_ok=True)
    for name in ("envoy.yaml", SCRIPT_NAME):
        (app_dir / name).write_text(rendered[name])
    env = aws.script_env(
        {
            "ORTHWEB_APP_DIR": str(app_dir),
            "ORTHWEB_SECRETS_DIR": str(secrets_dir),
            "ORTHWEB_DB_WAIT_SECONDS": "20",
            "ORTHWEB_DB_POLL_SECONDS": "1",
            **(extra_env or {}),
        }
    )
    try:
        return subprocess.run(
            ["bash", str(app_dir / SCRIPT_NAME)],
            env=env,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"{SCRIPT_NAME} did not finish in {SCRIPT_TIMEOUT}s") from exc


@contextlib.contextmanager
def fetch_secrets_provider() -> Iterator[SecretsProvider]:
    """A SecretsProvider that runs the real script against moto (for `Stack(secrets=...)`)."""
    with LocalAws() as aws:

        def provide(inputs: SecretInputs, rendered: Mapping[str, str], out: Path) -> None:
            aws.seed(ScriptTargets.parse(rendered[SCRIPT_NAME]), inputs)
            done = run_fetch_secrets(rendered, aws, out, out.parent / "fetch-secrets")
            if done.returncode != 0:
                raise HarnessError(f"{SCRIPT_NAME} failed ({done.returncode}):\n{done.stderr[-3000:]}")

        yield provide
