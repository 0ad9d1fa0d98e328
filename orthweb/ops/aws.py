"""AWS access shared by the operator commands: clients from the user's credential chain, one call
wrapper that turns credential and permission errors into one clear message, and the tag helpers.

Every refusal or failure is an `OpsError`; `changed` says whether the account was changed first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError
from botocore.parsers import ResponseParserError

from orthweb.infra.tags import stack_tags
from orthweb.shared import redaction
from orthweb.shared.constants import ROLE_TAG

DENIED_CODES = frozenset({"UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "UnauthorizedException"})
REGION_HINT = "pass --region, or set aws:region in Pulumi.<stack>.yaml, AWS_REGION or a profile region"
CREDENTIALS_HINT = "configure a profile (aws configure, AWS_PROFILE) or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"


class OpsError(Exception):
    """A refusal or failure of an operator command, with one message for the user.

    `changed` is False when nothing was changed in the account before the error; `detail` and
    `hint` are the message's two halves when it has a hint (the message joins them with ": ").
    """

    def __init__(self, detail: str, *, changed: bool = False, hint: str = "") -> None:
        super().__init__(f"{detail}: {hint}" if hint else detail)
        self.detail = detail
        self.hint = hint
        self.changed = changed

    def user_message(self) -> str:
        text = str(self)
        return text if self.changed else f"{text}\nNothing was changed."


@dataclass(frozen=True)
class AwsClients:
    """What the stack lookups and the failover need: EC2 and Secrets Manager in one region, and
    STS and IAM for failover's check of the caller's own permissions."""

    ec2: Any
    secretsmanager: Any
    region: str
    iam: Any = None
    sts: Any = None


def open_clients(
    services: tuple[str, ...],
    *,
    session: boto3.Session | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The region and one client per service, from the user's normal credential chain (or an
    injected session / endpoint)."""
    session = session or boto3.Session(region_name=region)
    region = region or session.region_name
    if not region:
        raise OpsError("no AWS region", hint=REGION_HINT)
    # Asked once up front, so a missing credential is one line, not a failure per AWS call.
    if session.get_credentials() is None:
        raise OpsError("no AWS credentials found", hint=CREDENTIALS_HINT)
    try:
        clients = {
            name: session.client(name, region_name=region, endpoint_url=endpoint_url)  # type: ignore[call-overload]
            for name in services
        }
    except (BotoCoreError, NoRegionError) as error:
        raise OpsError(f"cannot create AWS clients: {error}") from None
    if "secretsmanager" in clients:
        clients["secretsmanager"].meta.events.register("after-call.secretsmanager.GetSecretValue", _remember_secret)
    return region, clients


def _remember_secret(parsed: dict[str, Any], **_: Any) -> None:
    """Every secret value a command reads is never printed, not even in part (orthweb.shared.redaction)."""
    for field in ("SecretString", "SecretBinary"):
        value = parsed.get(field)
        if value:
            redaction.register_stored(value)


def connect(
    *,
    session: boto3.Session | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> AwsClients:
    region, clients = open_clients(
        ("ec2", "secretsmanager", "iam", "sts"), session=session, region=region, endpoint_url=endpoint_url
    )
    return AwsClients(region=region, **clients)


def call_aws(client: Any, operation: str, *, changed: bool = False, **kwargs: Any) -> Any:
    """Call one API operation, turning credential and permission errors into one clear message."""
    service = client.meta.service_model.signing_name
    action = client.meta.method_to_api_mapping.get(operation, operation)
    try:
        return getattr(client, operation)(**kwargs)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in DENIED_CODES:
            raise OpsError(
                f"permission denied: your AWS credentials may not call {service}:{action} "
                f"({code}); ask for {service}:{action} on this stack's resources",
                changed=changed,
            ) from None
        message = error.response.get("Error", {}).get("Message", str(error))
        raise OpsError(f"{service}:{action} failed: {code}: {message}", changed=changed) from None
    except NoCredentialsError:
        raise OpsError("no AWS credentials found", hint=CREDENTIALS_HINT) from None
    except (BotoCoreError, ResponseParserError) as error:
        raise OpsError(f"{service}:{action} failed: {error}", changed=changed) from None


def tag_filters(stack: str, roles: tuple[str, ...]) -> list[dict[str, Any]]:
    """EC2 `Filters` for the stack's resources carrying one of `roles` (the tags the program writes)."""
    return [
        *({"Name": f"tag:{key}", "Values": [value]} for key, value in stack_tags(stack).items()),
        {"Name": f"tag:{ROLE_TAG}", "Values": list(roles)},
    ]


def tags_of(items: list[dict[str, str]] | None) -> dict[str, str]:
    """An AWS `[{"Key", "Value"}]` tag list as a dict."""
    return {tag["Key"]: tag["Value"] for tag in items or []}
