"""A local stand-in for AWS (moto on 127.0.0.1) and a runner for the rendered fetch-secrets.sh."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

from tools.harness.processes import LOOPBACK, HarnessError, run_script
from tools.harness.secrets import SecretInputs

if TYPE_CHECKING:
    from tools.harness.stack import Stack

SCRIPT_NAME = "fetch-secrets.sh"
SCRIPT_TIMEOUT = 120
# A refresh replaces every replica, each drained first; a busy machine makes it slower.
REFRESH_TIMEOUT = 600
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_ASSIGNMENT = re.compile(
    r"^(REGION|DB_IDENTIFIER|CREDENTIALS_SECRET|SITE_TLS_SECRET|SSO_SECRET|DICOM_CLIENTS_SECRET)=(\S+)$", re.M
)


@dataclass(frozen=True)
class ScriptTargets:
    """The AWS names baked into a rendered fetch-secrets.sh."""

    region: str
    db_identifier: str
    credentials_secret: str
    site_tls_secret: str
    # The site client's secret (authentication: sso only).
    sso_secret: str | None = None
    # What DICOM-TLS trusts of the modalities' certificates (dicomClientCertificates only).
    dicom_clients_secret: str | None = None

    @classmethod
    def parse(cls, script: str) -> ScriptTargets:
        found = dict(_ASSIGNMENT.findall(script))
        keys = ("REGION", "DB_IDENTIFIER", "CREDENTIALS_SECRET", "SITE_TLS_SECRET")
        missing = [k for k in keys if k not in found]
        if missing:
            raise HarnessError(f"{SCRIPT_NAME}: assignments not found: {missing}")
        return cls(
            *(found[k] for k in keys),
            sso_secret=found.get("SSO_SECRET"),
            dicom_clients_secret=found.get("DICOM_CLIENTS_SECRET"),
        )


def make_locked_bucket(s3: Any, name: str, *, days: int = 7) -> None:
    """A bucket as the stack makes its audit bucket: Object Lock on, every new object retained `days`."""
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=name,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": days}},
        },
    )


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
        if targets.dicom_clients_secret is not None:
            if inputs.dicom_client_trust is None:
                raise HarnessError(
                    f"{SCRIPT_NAME} reads DICOM client trust; SecretInputs.dicom_client_trust is not set"
                )
            secrets.create_secret(
                Name=secret_name(targets.dicom_clients_secret), SecretString=json.dumps(inputs.dicom_client_trust)
            )
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
            # The script's own hook: AWS_ENDPOINT_URL is ignored by Debian's awscli 2.9
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
    args: Sequence[str] = (),
    timeout: float = SCRIPT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run the rendered fetch-secrets.sh (bash, as on the host) with app and secrets dirs local."""
    aws_cli()  # a missing AWS CLI is a set-up problem: say so, not a failure of the script
    app_dir = work_dir / "app"
    app_dir.mkdir(parents=True, exist_ok=True)
    # What the script reads and, for a refresh, the start.sh it runs (mode 0700 as on a host).
    for name in ("envoy.yaml", SCRIPT_NAME, "start.sh", "docker-compose.yml"):
        (app_dir / name).write_text(rendered[name])
        (app_dir / name).chmod(0o700 if name.endswith(".sh") else 0o644)
    env = aws.script_env(
        {
            "ORTHWEB_APP_DIR": str(app_dir),
            "ORTHWEB_SECRETS_DIR": str(secrets_dir),
            "ORTHWEB_DB_WAIT_SECONDS": "20",
            "ORTHWEB_DB_POLL_SECONDS": "1",
            **(extra_env or {}),
        }
    )
    return run_script(app_dir / SCRIPT_NAME, args, env=env, timeout=timeout)


class FetchSecrets:
    """The real fetch-secrets.sh against moto: the boot-time secret step of a Stack
    (`Stack(secrets=...)`), and later the refresh of that same Stack."""

    def __init__(self, aws: LocalAws) -> None:
        self.aws = aws
        self.targets: ScriptTargets | None = None

    def __call__(self, inputs: SecretInputs, rendered: Mapping[str, str], out: Path) -> None:
        self.targets = ScriptTargets.parse(rendered[SCRIPT_NAME])
        self.aws.seed(self.targets, inputs)
        done = run_fetch_secrets(rendered, self.aws, out, out.parent / "fetch-secrets")
        if done.returncode != 0:
            raise HarnessError(f"{SCRIPT_NAME} failed ({done.returncode}):\n{done.stderr[-3000:]}")

    def set_database_password(self, password: str) -> None:
        """What RDS does to its managed master secret when it rotates the password."""
        if self.targets is None:
            raise HarnessError("no stack was started with these secrets")
        region = self.targets.region
        instance = self.aws.client("rds", region).describe_db_instances(
            DBInstanceIdentifier=self.targets.db_identifier
        )["DBInstances"][0]
        secrets = self.aws.client("secretsmanager", region)
        arn = instance["MasterUserSecret"]["SecretArn"]
        current = json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])
        secrets.put_secret_value(SecretId=arn, SecretString=json.dumps({**current, "password": password}))

    def refresh(self, stack: Stack, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`fetch-secrets.sh --rolling-restart-if-changed`, as orthweb-refresh.service runs it,
        replacing the Stack's containers through the compose shim."""
        from tools.harness.compose import compose_shim

        with compose_shim(stack, stack.work_dir / "compose") as shim_env:
            return run_fetch_secrets(
                stack.rendered,
                self.aws,
                stack.secrets_dir,
                stack.work_dir / "refresh",
                extra_env={**shim_env, **(env or {})},
                args=("--rolling-restart-if-changed",),
                timeout=REFRESH_TIMEOUT,
            )


@contextlib.contextmanager
def fetch_secrets_provider() -> Iterator[FetchSecrets]:
    """A SecretsProvider that runs the real script against moto (for `Stack(secrets=...)`)."""
    with LocalAws() as aws:
        yield FetchSecrets(aws)
