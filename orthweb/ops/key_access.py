"""Whether the caller may let EC2 use the customer-managed keys of a stopped host's volumes.

Starting an instance whose EBS volumes are encrypted with a customer-managed key makes EC2 use the
key on the caller's behalf: kms:CreateGrant, kms:Decrypt and kms:GenerateDataKeyWithoutPlaintext,
through ec2.<region>.amazonaws.com. Without them StartInstances succeeds and the instance drops
back to stopped a few seconds later. Failover asks IAM's policy simulator before it starts
anything. The stack's key policy leaves the use of the key to IAM, so the caller's own policies
(with their permission boundary) decide, and those are what the simulator evaluates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from orthweb.ops.aws import AwsClients, OpsError, call_aws

START_KEY_ACTIONS = ("kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext")
# What checking needs besides ec2:DescribeInstances (which failover needs anyway).
CHECK_PERMISSIONS = ("ec2:DescribeVolumes", "iam:GetRole", "iam:SimulatePrincipalPolicy")
_SESSION_ARN = re.compile(r"^arn:[\w-]+:sts::\d{12}:assumed-role/(?P<role>[^/]+)/[^/]+$")


@dataclass(frozen=True)
class KeyAccess:
    key_arns: tuple[str, ...]  # the customer-managed keys of the host's volumes; () when none
    principal_arn: str = ""
    missing: dict[str, tuple[str, ...]] | None = None  # key ARN -> actions the caller lacks on it
    unchecked: str = ""  # why the check could not be made ("" when it was)

    @property
    def allowed(self) -> bool:
        return not self.unchecked and not any((self.missing or {}).values())


def check_key_access(clients: AwsClients, keys: tuple[str, ...]) -> KeyAccess:
    """What the caller may do with these keys when EC2 uses them, as IAM would decide it."""
    try:
        if clients.iam is None or clients.sts is None:
            return KeyAccess(keys, unchecked="no IAM or STS client to ask")
        identity = call_aws(clients.sts, "get_caller_identity")
        principal = caller_principal(clients.iam, identity["Arn"])
        missing = {
            key: missing_actions(clients.iam, principal, key, region=clients.region, account=identity["Account"])
            for key in keys
        }
    except OpsError as error:
        return KeyAccess(keys, unchecked=str(error))
    return KeyAccess(keys, principal, missing)


def volume_keys(ec2: Any, instance_id: str) -> tuple[str, ...]:
    """The KMS keys that encrypt the instance's EBS volumes."""
    found = call_aws(ec2, "describe_instances", InstanceIds=[instance_id])
    instance = found["Reservations"][0]["Instances"][0]
    volume_ids = [m["Ebs"]["VolumeId"] for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m]
    if not volume_ids:
        return ()
    volumes = call_aws(ec2, "describe_volumes", VolumeIds=volume_ids)["Volumes"]
    return tuple(sorted({v["KmsKeyId"] for v in volumes if v.get("Encrypted") and v.get("KmsKeyId")}))


def caller_principal(iam: Any, caller_arn: str) -> str:
    """The IAM role (with its path) behind an assumed-role session, or the caller as it is."""
    session = _SESSION_ARN.fullmatch(caller_arn)
    if session is None:
        return caller_arn
    return call_aws(iam, "get_role", RoleName=session.group("role"))["Role"]["Arn"]


def missing_actions(iam: Any, principal: str, key_arn: str, *, region: str, account: str) -> tuple[str, ...]:
    """The start-time key actions the principal's policies do not allow, in EC2's context."""
    result = call_aws(
        iam,
        "simulate_principal_policy",
        PolicySourceArn=principal,
        ActionNames=list(START_KEY_ACTIONS),
        ResourceArns=[key_arn],
        ContextEntries=[
            _context("kms:ViaService", f"ec2.{region}.amazonaws.com"),
            _context("kms:CallerAccount", account),
            _context("kms:GrantIsForAWSResource", "true", kind="boolean"),
        ],
    )
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in result.get("EvaluationResults", [])}
    return tuple(action for action in START_KEY_ACTIONS if decisions.get(action) != "allowed")


def _context(name: str, value: str, kind: str = "string") -> dict[str, Any]:
    return {"ContextKeyName": name, "ContextKeyValues": [value], "ContextKeyType": kind}


def refusal(access: KeyAccess, role: str, instance_id: str, region: str) -> OpsError:
    """Why failover will not start the host: each key and exactly what the caller lacks on it."""
    lacking = "; ".join(f"{', '.join(actions)} on {key}" for key, actions in (access.missing or {}).items() if actions)
    return OpsError(
        f"you ({access.principal_arn}) may not let EC2 use the key of the {role} host {instance_id}'s "
        f"disk: missing {lacking}. Started without them, the host falls back to stopped; ask for these "
        f"actions on the key through ec2.{region}.amazonaws.com and run failover again"
    )
