"""The AWS side of `verify`: find the stack by its tags, head S3 objects, run host commands via SSM.

The Elastic IP, hosts and site certificate are found with the failover command's own lookups,
so both commands agree on what "the stack" is.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from orthweb.constants import (
    CREDENTIALS_ROLE,
    DICOM_BUCKET_ROLE,
    PROJECT,
    PROJECT_TAG,
    ROLE_TAG,
    SITE_TLS_ROLE,
    STACK_TAG,
)
from orthweb.ops.failover import AwsClients, Failover, FailoverError, Reporter, call_aws, tags_of
from orthweb.ops.verify.host import CommandOutput
from orthweb.ops.verify.model import CheckFailed, Credential, Deployment, StoredObject

SSM_DOCUMENT = "AWS-RunShellScript"
# get_command_invocation right after send_command may not know the invocation yet.
SSM_NOT_YET = "InvocationDoesNotExist"
SSM_RUNNING = frozenset({"Pending", "InProgress", "Delayed"})


@dataclass(frozen=True)
class VerifyClients:
    ec2: Any
    secretsmanager: Any
    s3: Any
    kms: Any
    ssm: Any
    region: str

    @property
    def failover_clients(self) -> AwsClients:
        return AwsClients(ec2=self.ec2, secretsmanager=self.secretsmanager, region=self.region)


def connect(
    *, session: boto3.Session | None = None, region: str | None = None, endpoint_url: str | None = None
) -> VerifyClients:
    """Clients from the user's normal credential chain (or an injected session / endpoint)."""
    session = session or boto3.Session(region_name=region)
    region = region or session.region_name
    if not region:
        raise CheckFailed("no AWS region", "pass --region or set AWS_REGION / a profile region")
    try:
        made = {
            name: session.client(name, region_name=region, endpoint_url=endpoint_url)  # type: ignore[call-overload]
            for name in ("ec2", "secretsmanager", "s3", "kms", "ssm")
        }
    except (BotoCoreError, NoRegionError) as error:
        raise CheckFailed(f"cannot create AWS clients: {error}") from None
    return VerifyClients(region=region, **made)


def _aws(client: Any, operation: str, **kwargs: Any) -> Any:
    """failover.call_aws, with its refusal turned into a check failure."""
    try:
        return call_aws(client, operation, **kwargs)
    except FailoverError as error:
        raise CheckFailed(str(error), "check --stack, --region and your AWS credentials") from None


class AwsStack:
    """`StackBackend` on real AWS (or moto): every lookup is by the stack's orthweb tags."""

    def __init__(self, clients: VerifyClients, stack: str) -> None:
        self.clients = clients
        self.stack = stack
        self._finder = Failover(clients.failover_clients, stack, reporter=Reporter(io.StringIO()))

    def locate(self) -> Deployment:
        try:
            site = self._finder.find_site_address()
            hosts = self._finder.find_hosts()
            certificate = self._finder.read_site_certificate()
        except FailoverError as error:
            raise CheckFailed(
                str(error), "check --stack and --region; `pulumi stack output` shows what was deployed"
            ) from None
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
        credentials_secret, credentials = self._secret(CREDENTIALS_ROLE)
        try:
            admin = credentials["admin"]
            credential = Credential(str(admin["username"]), str(admin["password"]))
        except (KeyError, TypeError):
            raise CheckFailed(
                f"secret {credentials_secret} has no admin username/password",
                "it is written by `pulumi up`; run it again",
            ) from None
        site_tls_secret, _ = self._secret(SITE_TLS_ROLE)
        key_alias = f"alias/orthweb-{self.stack}"
        key = _aws(self.clients.kms, "describe_key", KeyId=key_alias)["KeyMetadata"]
        return Deployment(
            stack=self.stack,
            region=self.clients.region,
            site_address=site.public_ip,
            serving_instance=serving.instance_id,
            serving_role=serving.role,
            certificate_pem=certificate,
            admin=credential,
            credentials_secret=credentials_secret,
            site_tls_secret=site_tls_secret,
            dicom_bucket=self._bucket(DICOM_BUCKET_ROLE),
            key_arn=key["Arn"],
            key_alias=key_alias,
        )

    def _secret(self, role: str) -> tuple[str, Any]:
        wanted = {PROJECT_TAG: PROJECT, STACK_TAG: self.stack, ROLE_TAG: role}
        matches: list[dict[str, Any]] = []
        paging: dict[str, Any] = {}
        while True:
            page = _aws(
                self.clients.secretsmanager,
                "list_secrets",
                Filters=[{"Key": "tag-key", "Values": [ROLE_TAG]}, {"Key": "tag-value", "Values": [role]}],
                **paging,
            )
            matches += [s for s in page.get("SecretList", []) if wanted.items() <= tags_of(s.get("Tags")).items()]
            if not page.get("NextToken"):
                break
            paging = {"NextToken": page["NextToken"]}
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
        wanted = {PROJECT_TAG: PROJECT, STACK_TAG: self.stack, ROLE_TAG: role}
        prefix = f"orthweb-{self.stack}-{role}-"[:37]  # orthweb.storage's bucket_prefix
        found: list[str] = []
        for bucket in _aws(self.clients.s3, "list_buckets").get("Buckets", []):
            name = bucket["Name"]
            if not name.startswith(prefix):
                continue
            try:
                tags = tags_of(self.clients.s3.get_bucket_tagging(Bucket=name).get("TagSet"))
            except ClientError:
                continue  # NoSuchTagSet, or a bucket of another region/account we may not read
            if wanted.items() <= tags.items():
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
