"""Fixtures for `orthweb verify`: moto on 127.0.0.1 seeded like a deployed stack, the runtime
harness as the serving host, and a host runner that runs the real host script locally.

What stands in for what:
- AWS (EC2 lookups, Secrets Manager, KMS, S3): a moto server, seeded with what `pulumi up` tags.
- The serving host's HTTPS and DICOM-TLS: the harness (real Envoy, Orthanc, PostgreSQL over TLS).
- SSM Run Command: `LocalHostRunner` runs the host script with bash here. moto's SSM accepts the
  command but never runs it (empty output), see test_aws.py. Shims replace what this machine lacks:
  `docker` (compose ps from the harness's replica states; `docker run ... psql` runs the local psql
  against the harness's PostgreSQL with the secret files' credential), `nsenter` (the harness's
  Envoy admin is already in our namespace) and `cloud-init` (a recorded status).
- The S3 storage plugin: `MirroringBackend` copies the file Orthanc wrote to its storage directory
  into the moto bucket (key `<uuid>.dcm`, the bucket's default encryption applies), as the plugin
  would have.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from orthweb.config.keys import BY_NAME
from orthweb.host.context import HostAppContext
from orthweb.host.render import render_host_files
from orthweb.infra.alarm_plan import HostToWatch, stack_rules
from orthweb.infra.hospital_network import PLAIN_DICOM_PORT, site_address
from orthweb.infra.tags import with_role
from orthweb.ops.verify.aws import AwsStack, VerifyClients, connect
from orthweb.ops.verify.host import CommandOutput, HostLayout
from orthweb.ops.verify.model import StoredObject
from orthweb.ops.verify.telemetry_checks import AwsTelemetry
from orthweb.shared import telemetry
from orthweb.shared.constants import aws_name
from orthweb.shared.modalities import DicomModality
from tools.harness import Stack
from tools.harness.aws import FAKE_CREDENTIALS, LocalAws
from tools.harness.dicom import CALLING_AE
from tools.harness.pki import make_site_certificate
from tools.harness.processes import LOOPBACK

REGION = "eu-west-1"
# What seals Orthanc's audit lines on these hosts (a stack draws its own).
AUDIT_SEAL = "verifyseal0000000001"
ACCOUNT = "123456789012"
SITE_NAME = "orthweb.test"
ORTHANC_IMAGE = "orthancteam/orthanc:25.12.3"
ENVOY_IMAGE = "envoyproxy/envoy:v1.40.0"

CLOUD_INIT_DONE = """\
status: done
boot_status_code: enabled-by-generator
last_update: Tue, 10 Jun 2025 09:12:31 +0000
detail:
DataSourceEc2Local
errors: []
"""

SHIMS = {
    "docker": """#!/bin/bash
# Stand-in for docker (no Docker engine here), for orthweb verify tests only.
printf '%s\\n' "$*" >>"$FAKE_DOCKER_LOG"
case "$1" in
  compose)
    case " $* " in
      *" ps --all --format json "*) cat "$FAKE_COMPOSE_PS"; exit 0 ;;
      *" ps -q envoy "*) echo fake-envoy-container; exit 0 ;;
    esac ;;
  inspect) echo $$; exit 0 ;;
  run)
    shift
    while [ $# -gt 0 ] && [ "$1" != psql ]; do shift; done
    exec "$@" ;;
esac
echo "fake docker: unsupported: $*" >&2
exit 1
""",
    "nsenter": """#!/bin/bash
# Stand-in for nsenter: the harness's Envoy admin listens in our own network namespace.
while [ $# -gt 0 ] && [ "$1" != curl ]; do shift; done
exec "$@"
""",
    "cloud-init": """#!/bin/bash
cat "$FAKE_CLOUD_INIT"
exit "${FAKE_CLOUD_INIT_RC:-0}"
""",
    # What `amazon-cloudwatch-agent-ctl -a status` prints while the agent runs its configuration.
    "amazon-cloudwatch-agent-ctl": """#!/bin/bash
[ "$*" = "-a status" ] || { echo "fake agent ctl: unsupported: $*" >&2; exit 1; }
printf '%s\n' '{' '  "status": "running",' '  "starttime": "2026-11-29T10:00:00+00:00",' \
  '  "configstatus": "configured",' '  "version": "1.300057.0"' '}'
""",
}


def verify_context(replicas: int = 3, stack: str = "dev") -> HostAppContext:
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:orthweb/{stack}"
    return HostAppContext(
        host_role="primary",
        stack=stack,
        region=REGION,
        templates_digest="0123456789abcdef",
        orthanc_image=ORTHANC_IMAGE,
        envoy_image=ENVOY_IMAGE,
        orthanc_replicas=replicas,
        index_connections=5,
        dicom_bucket=f"orthweb-{stack}-dicom",
        bundle_bucket=f"orthweb-{stack}-host-bundles",
        db_identifier=f"orthweb-{stack}-db",
        orthanc_credentials_secret_arn=f"{arn}/orthanc-credentials-Ab12Cd",
        site_tls_secret_arn=f"{arn}/site-tls-Ef34Gh",
        audit_seal=AUDIT_SEAL,
        site_name=SITE_NAME,
        # Orthanc accepts only configured modalities: verify calls as this one.
        dicom_modalities=(DicomModality(CALLING_AE, LOOPBACK, 104),),
        # hospitalNetwork's plain-DICOM listener (vpn.echo), at the default VPC's site address.
        plain_dicom_port=PLAIN_DICOM_PORT,
        plain_dicom_address=site_address(BY_NAME["vpcCidr"].default),
    )


# --- moto --------------------------------------------------------------------------------------


@dataclass
class SeededStack:
    """What `pulumi up` would have created for one stack, in moto."""

    name: str
    clients: VerifyClients
    primary: str
    secondary: str
    site_ip: str
    bucket: str
    key_arn: str
    other_key_arn: str
    credentials_secret: str
    admin: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    with LocalAws() as aws:
        yield aws


def moto_clients(aws: LocalAws) -> VerifyClients:
    session = boto3.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    )
    return connect(session=session, endpoint_url=aws.endpoint)


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def seed_stack(
    aws: LocalAws, name: str, *, certificate_pem: str, private_key_pem: str, admin: tuple[str, str]
) -> SeededStack:
    clients = moto_clients(aws)
    ec2 = clients.ec2
    hosts: dict[str, str] = {}
    for role in ("primary", "secondary"):
        instance = ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            InstanceType="t4g.medium",
            TagSpecifications=[{"ResourceType": "instance", "Tags": _tag_list(with_role(name, role))}],
        )["Instances"][0]
        hosts[role] = instance["InstanceId"]
    address = ec2.allocate_address(
        Domain="vpc", TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": _tag_list(with_role(name, "site"))}]
    )
    ec2.associate_address(AllocationId=address["AllocationId"], InstanceId=hosts["primary"])
    secrets = clients.secretsmanager
    credentials_name = f"orthweb/{name}/orthanc-credentials"
    secrets.create_secret(
        Name=credentials_name,
        SecretString=json.dumps(
            {"admin": {"username": admin[0], "password": admin[1]}, "health": {"username": "h", "password": "p"}}
        ),
        Tags=_tag_list(with_role(name, "orthanc-credentials")),
    )
    secrets.create_secret(
        Name=f"orthweb/{name}/site-tls",
        SecretString=json.dumps({"certificate": certificate_pem, "private_key": private_key_pem}),
        Tags=_tag_list(with_role(name, "site-tls")),
    )
    key = clients.kms.create_key(Description=f"orthweb {name}")["KeyMetadata"]
    clients.kms.create_alias(AliasName=f"alias/orthweb-{name}", TargetKeyId=key["KeyId"])
    other = clients.kms.create_key(Description="not the stack's key")["KeyMetadata"]
    bucket = f"orthweb-{name}-dicom-20250101abcdef"
    clients.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    clients.s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": _tag_list(with_role(name, "dicom"))})
    set_bucket_key(clients, bucket, key["Arn"])
    return SeededStack(
        name=name,
        clients=clients,
        primary=hosts["primary"],
        secondary=hosts["secondary"],
        site_ip=address["PublicIp"],
        bucket=bucket,
        key_arn=key["Arn"],
        other_key_arn=other["Arn"],
        credentials_secret=credentials_name,
        admin={"username": admin[0], "password": admin[1]},
    )


def set_bucket_key(clients: VerifyClients, bucket: str, key_arn: str | None) -> None:
    """Default encryption: SSE-KMS with `key_arn`, or SSE-S3 when None."""
    default: dict[str, Any] = (
        {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn} if key_arn else {"SSEAlgorithm": "AES256"}
    )
    clients.s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": default}]},
    )


@pytest.fixture(scope="session")
def site_pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    files = make_site_certificate(tmp_path_factory.mktemp("site"), SITE_NAME)
    return files.cert.read_text(), files.key.read_text()


@pytest.fixture(scope="session")
def moto_stack(local_aws: LocalAws, site_pem: tuple[str, str]) -> SeededStack:
    """A seeded stack without a harness behind it (for the AWS-only tests)."""
    return seed_stack(local_aws, "awsonly", certificate_pem=site_pem[0], private_key_pem=site_pem[1], admin=("a", "b"))


# --- harness ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def harness() -> Iterator[Stack]:
    keep = os.environ.get("ORTHWEB_KEEP_HARNESS") == "1"
    with Stack(render_host_files(verify_context()), site_name=SITE_NAME, keep_work_dir=keep) as running:
        yield running


@pytest.fixture(scope="session")
def harness_stack(local_aws: LocalAws, harness: Stack) -> SeededStack:
    """The stack `dev` in moto, holding the harness's own certificate and admin credential."""
    return seed_stack(
        local_aws,
        "dev",
        certificate_pem=harness.site_ca.read_text(),
        private_key_pem=(harness.secrets_dir / "site.key").read_text(),
        admin=(harness.admin.username, harness.admin.password),
    )


class MirroringBackend(AwsStack):
    """AwsStack on moto, with the S3 storage plugin played by copying the harness's stored file."""

    def __init__(self, clients: VerifyClients, stack: str, storage: Path) -> None:
        super().__init__(clients, stack)
        self.storage = storage
        self.mirror = True

    def find_object(self, bucket: str, keys: list[str]) -> StoredObject | None:
        if self.mirror:
            uuid = keys[-1]
            stored = self.storage / uuid[:2] / uuid[2:4] / uuid
            self.clients.s3.put_object(Bucket=bucket, Key=f"{uuid}.dcm", Body=stored.read_bytes())
        return super().find_object(bucket, keys)


class LocalHostRunner:
    """`HostRunner` that runs the host script here, with shims for docker, nsenter and cloud-init."""

    def __init__(self, harness: Stack, directory: Path) -> None:
        self.harness = harness
        self.directory = directory
        self.shims = directory / "bin"
        self.shims.mkdir(parents=True, exist_ok=True)
        for name, text in SHIMS.items():
            path = self.shims / name
            path.write_text(text)
            path.chmod(0o755)
        self.cloud_init = CLOUD_INIT_DONE
        self.cloud_init_rc = 0
        self.calls: list[str] = []
        self.deployment = directory / "deployment.json"
        context = verify_context()
        self.deployment.write_text(
            json.dumps(
                {
                    "stack": context.stack,
                    "host_role": context.host_role,
                    "templates_digest": context.templates_digest,
                    "site_name": context.site_name,
                    "orthanc_image": context.orthanc_image,
                    "envoy_image": context.envoy_image,
                    "orthanc_replicas": context.orthanc_replicas,
                    "compose_version": context.compose_version,
                }
            )
        )

    @property
    def layout(self) -> HostLayout:
        assert self.harness.envoy is not None
        return HostLayout(
            app_dir=str(self.harness.rendered_dir),
            secrets_dir=str(self.harness.secrets_dir),
            deployment_file=str(self.deployment),
            envoy_admin_port=self.harness.envoy.admin_port,
            cloudwatch_agent_ctl=str(self.shims / "amazon-cloudwatch-agent-ctl"),
        )

    def compose_ps(self) -> str:
        """What compose v2.29 prints (one JSON object per line), from the harness's processes."""
        lines = [_container("envoy", ENVOY_IMAGE, running=True, health="")]
        for replica in self.harness.replicas:
            alive = replica.alive()
            lines.append(_container(f"orthanc-{replica.index}", ORTHANC_IMAGE, running=alive, health="healthy"))
        return "\n".join(json.dumps(line) for line in lines) + "\n"

    @property
    def docker_log(self) -> Path:
        return self.directory / "docker.log"

    def run(self, instance_id: str, script: str, timeout: float) -> CommandOutput:
        self.calls.append(instance_id)
        (self.directory / "cloud-init.txt").write_text(self.cloud_init)
        (self.directory / "compose-ps.json").write_text(self.compose_ps())
        env = {
            **os.environ,
            "PATH": f"{self.shims}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "FAKE_CLOUD_INIT": str(self.directory / "cloud-init.txt"),
            "FAKE_CLOUD_INIT_RC": str(self.cloud_init_rc),
            "FAKE_COMPOSE_PS": str(self.directory / "compose-ps.json"),
            "FAKE_DOCKER_LOG": str(self.docker_log),
        }
        done = subprocess.run(
            ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        return CommandOutput("Success" if done.returncode == 0 else "Failed", done.returncode, done.stdout, done.stderr)


def _container(service: str, image: str, *, running: bool, health: str) -> dict[str, Any]:
    name = f"orthweb-{service}-1"
    return {
        "Command": '"/docker-entrypoint.sh"',
        "CreatedAt": "2025-06-10 09:12:40 +0000 UTC",
        "ExitCode": 0 if running else 137,
        "Health": health if running else "",
        "ID": f"{abs(hash(name)):x}"[:12],
        "Image": image,
        "Labels": "com.docker.compose.project=orthweb",
        "LocalVolumes": "0",
        "Mounts": "",
        "Name": name,
        "Names": name,
        "Networks": "orthweb_default",
        "Ports": "",
        "Project": "orthweb",
        "Publishers": [],
        "RunningFor": "2 hours ago",
        "Service": service,
        "Size": "0B",
        "State": "running" if running else "exited",
        "Status": ("Up 2 hours" + (f" ({health})" if health else "")) if running else "Exited (137) 3 seconds ago",
    }


@pytest.fixture(scope="session")
def host_runner(harness: Stack, tmp_path_factory: pytest.TempPathFactory) -> LocalHostRunner:
    return LocalHostRunner(harness, tmp_path_factory.mktemp("host"))


# --- CloudWatch as the hosts and the alarms leave it (telemetry checks) ---------------------------


def seed_log_events(cloud: AwsTelemetry, stack: str, *, silent: str | None = None, missing: str | None = None) -> None:
    """One event a minute old in each of the stack's log groups (an hour old in `silent`)."""
    now_ms = int(time.time() * 1000)
    for component in telemetry.STACK_LOG_GROUPS:
        if component == missing:
            continue
        group = telemetry.log_group_name(stack, component)
        cloud.logs.create_log_group(logGroupName=group)
        cloud.logs.create_log_stream(logGroupName=group, logStreamName="primary/x")
        stamp = now_ms - (3_600_000 if component == silent else 60_000)
        cloud.logs.put_log_events(
            logGroupName=group, logStreamName="primary/x", logEvents=[{"timestamp": stamp, "message": "line"}]
        )


def seed_alarms(cloud: AwsTelemetry, stack: str, hosts: dict[str, str], *, running: tuple[str, ...]) -> list[Any]:
    """The stack's alarms exactly as the program plans them (`hosts`: role -> instance id)."""
    rules = stack_rules(
        stack=stack,
        hosts=[HostToWatch(role, instance, role in running) for role, instance in hosts.items()],
        replicas=3,
        recover_hosts=True,
        db_identifier=f"orthweb-{stack}-abc123",
        db_instance_class="db.t4g.small",
        db_storage_gb=20,
    )
    for rule in rules:
        cloud.cloudwatch.put_metric_alarm(
            AlarmName=aws_name(stack, rule.key),
            Namespace=rule.namespace,
            MetricName=rule.metric,
            Dimensions=[{"Name": k, "Value": v} for k, v in rule.dimensions.items()],
            Statistic=rule.statistic,
            Period=rule.period_seconds,
            EvaluationPeriods=rule.evaluation_periods,
            Threshold=rule.threshold,
            ComparisonOperator=rule.comparison,
        )
    return rules


def publish(cloud: AwsTelemetry, namespace: str, metric: str, dimensions: dict[str, Any]) -> None:
    cloud.cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": metric, "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()], "Value": 1}
        ],
    )


@pytest.fixture(scope="session")
def harness_telemetry(local_aws: LocalAws, harness_stack: SeededStack) -> AwsTelemetry:
    """The harness stack's log groups with recent events, and data for every alarm of the serving
    primary host and of the database, as a deployed stack has them."""
    cloud = AwsTelemetry(local_aws.client("logs", REGION), local_aws.client("cloudwatch", REGION))
    seed_log_events(cloud, harness_stack.name)
    hosts = {"primary": harness_stack.primary, "secondary": harness_stack.secondary}
    for rule in seed_alarms(cloud, harness_stack.name, hosts, running=("primary",)):
        if (
            rule.dimensions.get("Host", "primary") == "primary"
            and rule.dimensions.get("InstanceId", harness_stack.primary) == harness_stack.primary
        ):
            publish(cloud, rule.namespace, rule.metric, dict(rule.dimensions))
    return cloud
