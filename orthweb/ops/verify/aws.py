"""The AWS side of `verify`: find the stack by its tags, head S3 objects, run host commands via SSM.

The Elastic IP, hosts and site certificate are found with the lookups failover uses
(`orthweb.ops.tagged`), so both commands agree on what "the stack" is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from orthweb.host.credentials import Credential
from orthweb.infra.tags import with_role
from orthweb.ops.aws import AwsClients, OpsError, call_aws, open_clients, tags_of
from orthweb.ops.client_certificates import ClientCertificate, client_certificates
from orthweb.ops.tagged import Host, TaggedStack
from orthweb.ops.verify.host import CommandOutput
from orthweb.ops.verify.model import CheckFailed, Deployment, LoadBalancedGroup, StoredObject
from orthweb.ops.verify.scale_out import find_group
from orthweb.ops.verify.site import CertificateInfo
from orthweb.ops.vpn import vpn_connection
from orthweb.shared.constants import (
    CREDENTIALS_ROLE,
    DICOM_BUCKET_ROLE,
    GROUP_MEMBER,
    ROLE_TAG,
    SITE_TLS_ROLE,
    bucket_prefix,
    data_key_alias,
    key_alias,
)

SSM_DOCUMENT = "AWS-RunShellScript"
# get_command_invocation right after send_command may not know the invocation yet.
SSM_NOT_YET = "InvocationDoesNotExist"
SSM_RUNNING = frozenset({"Pending", "InProgress", "Delayed"})
# What to look at when a lookup of the stack's resources fails.
AWS_HINT = "check --stack, --region and your AWS credentials"
LOCATE_HINT = "check --stack and --region; `pulumi stack output` shows what was deployed"


@dataclass(frozen=True)
class VerifyClients:
    ec2: Any
    secretsmanager: Any
    s3: Any
    kms: Any
    ssm: Any
    region: str
    # The scale-out topology's group and load balancer.
    autoscaling: Any = None
    elbv2: Any = None

    @property
    def stack_clients(self) -> AwsClients:
        """The clients the shared stack lookups (`TaggedStack`) use."""
        return AwsClients(ec2=self.ec2, secretsmanager=self.secretsmanager, region=self.region)


def connect(
    *, session: boto3.Session | None = None, region: str | None = None, endpoint_url: str | None = None
) -> VerifyClients:
    """Clients from the user's normal credential chain (or an injected session / endpoint)."""
    try:
        region, made = open_clients(
            ("ec2", "secretsmanager", "s3", "kms", "ssm", "autoscaling", "elbv2"),
            session=session,
            region=region,
            endpoint_url=endpoint_url,
        )
    except OpsError as error:
        raise CheckFailed(error.detail, error.hint) from None
    return VerifyClients(region=region, **made)


def _aws(client: Any, operation: str, **kwargs: Any) -> Any:
    """`call_aws`, with its refusal turned into a check failure."""
    try:
        return call_aws(client, operation, **kwargs)
    except OpsError as error:
        raise CheckFailed(str(error), AWS_HINT) from None


class AwsStack:
    """`StackBackend` on real AWS (or moto): every lookup is by the stack's orthweb tags."""

    def __init__(self, clients: VerifyClients, stack: str) -> None:
        self.clients = clients
        self.stack = stack
        self._tagged = TaggedStack(clients.stack_clients, stack)

    def locate(self) -> Deployment:
        group = self._group()
        if group is None:
            serving, site_address, certificate = self._serving_host()
            serving_role, serving_instance = serving.role, serving.instance_id
        else:
            site_address, certificate = self._load_balanced_site(group)
            serving_role, serving_instance = GROUP_MEMBER, group.in_service[0] if group.in_service else ""
        credentials_secret, credentials = self._secret(CREDENTIALS_ROLE)
        admin = _admin_credential(credentials_secret, credentials)
        site_tls_secret, _ = self._secret(SITE_TLS_ROLE)
        alias, key = self._data_key()
        return Deployment(
            stack=self.stack,
            region=self.clients.region,
            site_address=site_address,
            serving_instance=serving_instance,
            serving_role=serving_role,
            certificate_pem=certificate,
            admin=admin,
            credentials_secret=credentials_secret,
            site_tls_secret=site_tls_secret,
            dicom_bucket=self._bucket(DICOM_BUCKET_ROLE),
            key_arn=key["Arn"],
            key_alias=alias,
            group=group,
        )

    def _data_key(self) -> tuple[str, dict[str, Any]]:
        """The key DICOM objects are encrypted with: a restored stack's data key (its source's) where
        its alias exists, else the stack key."""
        restored = data_key_alias(self.stack)
        try:
            return restored, self.clients.kms.describe_key(KeyId=restored)["KeyMetadata"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NotFoundException":
                raise CheckFailed(f"kms describe_key {restored}: {error}", AWS_HINT) from None
        alias = key_alias(self.stack)
        return alias, _aws(self.clients.kms, "describe_key", KeyId=alias)["KeyMetadata"]

    def client_certificates(self) -> dict[str, ClientCertificate] | None:
        try:
            return client_certificates(self._tagged)
        except OpsError as error:
            raise CheckFailed(
                str(error), "only the stack's administrators (adminPrincipalArns) may read its client certificates"
            ) from None

    def vpn_connection(self) -> dict[str, Any] | None:
        try:
            return vpn_connection(self._tagged)
        except OpsError as error:
            raise CheckFailed(str(error), "your credentials need ec2:DescribeVpnConnections") from None

    def _group(self) -> LoadBalancedGroup | None:
        """The scale-out topology's group and load balancer; None for a failover stack."""
        if self.clients.autoscaling is None or self.clients.elbv2 is None:
            return None
        return find_group(self.clients.autoscaling, self.clients.elbv2, self.stack)

    def _load_balanced_site(self, group: LoadBalancedGroup) -> tuple[str, str]:
        """The address clients use and the site certificate. With TLS at the load balancer its ACM
        certificate names only the site's domain: the first name of the site certificate."""
        try:
            certificate = self._tagged.site_certificate()
        except OpsError as error:
            raise CheckFailed(str(error), LOCATE_HINT) from None
        names = CertificateInfo.from_pem(certificate).names
        address = names[0] if group.tls_at_load_balancer and names else group.load_balancer_dns
        return address, certificate

    def _serving_host(self) -> tuple[Host, str, str]:
        """The running host holding the Elastic IP, the Elastic IP and the site certificate."""
        try:
            site = self._tagged.site_address()
            hosts = self._tagged.hosts()
            certificate = self._tagged.site_certificate()
        except OpsError as error:
            raise CheckFailed(str(error), LOCATE_HINT) from None
        serving = next((h for h in hosts.values() if h.instance_id == site.instance_id), None)
        if serving is None:
            raise CheckFailed(
                f"the site address {site.public_ip} is not associated with either host",
                "associate it with `python -m orthweb failover --to primary`",
            )
        if serving.state != "running":
            raise CheckFailed(
                f"the {serving.role} host {serving.instance_id} holding the site address is {serving.state}",
                f"start it (`aws ec2 start-instances --instance-ids {serving.instance_id}`) or fail over",
            )
        return serving, site.public_ip, certificate

    def _secret(self, role: str) -> tuple[str, Any]:
        """The name and JSON value of the stack's one secret tagged with `role`."""
        try:
            matches = self._tagged.secrets(role)
        except OpsError as error:
            raise CheckFailed(str(error), AWS_HINT) from None
        if len(matches) != 1:
            raise CheckFailed(
                f"found {len(matches)} secrets tagged {ROLE_TAG}={role} for stack {self.stack}",
                "check --stack and --region",
            )
        value = _aws(self.clients.secretsmanager, "get_secret_value", SecretId=matches[0]["ARN"])
        try:
            return matches[0]["Name"], json.loads(value["SecretString"])
        except (KeyError, ValueError):
            raise CheckFailed(f"secret {matches[0]['Name']} is not JSON", "it is written by `pulumi up`") from None

    def _bucket(self, role: str) -> str:
        wanted = with_role(self.stack, role).items()
        prefix = bucket_prefix(self.stack, role)
        found: list[str] = []
        for bucket in _aws(self.clients.s3, "list_buckets").get("Buckets", []):
            name = bucket["Name"]
            if not name.startswith(prefix):
                continue
            try:
                tags = tags_of(self.clients.s3.get_bucket_tagging(Bucket=name).get("TagSet"))
            except ClientError:
                continue  # NoSuchTagSet, or a bucket of another region/account we may not read
            if wanted <= tags.items():
                found.append(name)
        if len(found) != 1:
            raise CheckFailed(
                f"found {len(found)} S3 buckets named {prefix}* tagged {ROLE_TAG}={role}",
                "check --stack and your s3:ListAllMyBuckets / s3:GetBucketTagging permissions",
            )
        return found[0]

    def find_object(self, bucket: str, keys: list[str]) -> StoredObject | None:
        for key in keys:
            try:
                head = self.clients.s3.head_object(Bucket=bucket, Key=key)
            except ClientError as error:
                code = str(error.response.get("Error", {}).get("Code", ""))
                if code in ("404", "NoSuchKey", "NotFound"):
                    continue
                raise CheckFailed(
                    f"s3:HeadObject on {bucket}/{key} failed: {code}",
                    "your credentials need s3:GetObject on the DICOM bucket and kms:Decrypt on the stack key",
                ) from None
            return StoredObject(
                bucket=bucket,
                key=key,
                size=int(head.get("ContentLength", 0)),
                encryption=head.get("ServerSideEncryption"),
                kms_key_id=head.get("SSEKMSKeyId"),
            )
        return None


def _admin_credential(secret_name: str, credentials: Any) -> Credential:
    try:
        admin = credentials["admin"]
        return Credential(str(admin["username"]), str(admin["password"]))
    except (KeyError, TypeError):
        raise CheckFailed(
            f"secret {secret_name} has no admin username/password", "it is written by `pulumi up`; run it again"
        ) from None


class SsmRunner:
    """`HostRunner` through SSM Run Command (`AWS-RunShellScript`): no SSH, no open port."""

    def __init__(
        self,
        ssm: Any,
        *,
        poll: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ssm = ssm
        self.poll = poll
        self.sleep = sleep
        self.clock = clock

    def run(self, instance_id: str, script: str, timeout: float) -> CommandOutput:
        seconds = max(30, int(timeout))
        try:
            command = self.ssm.send_command(
                InstanceIds=[instance_id],
                DocumentName=SSM_DOCUMENT,
                Comment="orthweb verify (read-only checks)",
                Parameters={"commands": [script], "executionTimeout": [str(seconds)]},
                TimeoutSeconds=seconds,
            )["Command"]
        except ClientError as error:
            return CommandOutput.refused(_ssm_reason(error, instance_id))
        except (BotoCoreError, NoCredentialsError) as error:
            return CommandOutput.refused(f"ssm:SendCommand failed: {error}")
        began = self.clock()
        while True:
            try:
                found = self.ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=instance_id)
                status = str(found.get("Status", ""))
                if status not in SSM_RUNNING:
                    return CommandOutput(
                        status=status,
                        exit_code=int(found.get("ResponseCode", -1)),
                        stdout=str(found.get("StandardOutputContent", "")),
                        stderr=str(found.get("StandardErrorContent", "")),
                    )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != SSM_NOT_YET:
                    return CommandOutput.refused(_ssm_reason(error, instance_id))
            if self.clock() - began >= timeout:
                return CommandOutput.refused(
                    f"SSM command {command['CommandId']} did not finish within {timeout:.0f} s"
                )
            self.sleep(self.poll)


def _ssm_reason(error: ClientError, instance_id: str) -> str:
    code = str(error.response.get("Error", {}).get("Code", ""))
    message = str(error.response.get("Error", {}).get("Message", ""))
    if code in ("InvalidInstanceId", "InvalidInstanceInformationFilterValue"):
        return (
            f"{instance_id} is not an online SSM managed instance ({code}): is the SSM agent running and "
            f"does the instance role have AmazonSSMManagedInstanceCore? (`aws ssm describe-instance-information`)"
        )
    return f"SSM refused the command: {code}: {message}"
