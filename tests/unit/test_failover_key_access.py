"""Failover checks, before it starts a stopped host, that the caller may let EC2 use the key of the
host's disk (kms:CreateGrant, kms:Decrypt, kms:GenerateDataKeyWithoutPlaintext): without them the
host falls back to stopped right after StartInstances.

EC2, STS and IAM are a moto server; IAM's policy simulator (which moto lacks) is a stand-in that
allows what a test grants, and only in EC2's context (kms:ViaService).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from orthweb.ops.aws import AwsClients, OpsError, connect
from orthweb.ops.failover import Failover
from orthweb.ops.key_access import START_KEY_ACTIONS
from orthweb.ops.progress import Reporter
from tests.unit.test_failover import (  # noqa: F401  (fixtures)
    FAST,
    REGION,
    Deployed,
    FakeEnvoy,
    _session,
    deployed,
    envoy,
    moto_endpoint,
)

SSO_PATH = "/aws-reserved/sso.amazonaws.com/eu-west-1/"
SSO_ROLE = "AWSReservedSSO_Operator_0123456789abcdef"


class Simulator:
    """IAM's policy simulator for one principal: `granted` actions are allowed in EC2's context."""

    def __init__(self, granted: tuple[str, ...], *, denied: bool = False) -> None:
        self.granted = granted
        self.denied = denied
        self.calls: list[dict[str, Any]] = []

    def record(self, params: dict[str, Any], **_kwargs: Any) -> None:
        """The call's parameters, as the caller gave them (before botocore serialises them)."""
        self.calls.append(dict(params))

    def __call__(self, **_kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """IAM's answer, instead of sending the request."""
        params = self.calls[-1]
        if self.denied:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "SimulatePrincipalPolicy")
        context = {entry["ContextKeyName"]: entry["ContextKeyValues"] for entry in params.get("ContextEntries", [])}
        via_ec2 = context.get("kms:ViaService") == [f"ec2.{REGION}.amazonaws.com"]
        results = [
            {
                "EvalActionName": action,
                "EvalDecision": "allowed" if via_ec2 and action in self.granted else "implicitDeny",
            }
            for action in params["ActionNames"]
        ]
        return _Http(), {"EvaluationResults": results, "IsTruncated": False}


class _Http:
    status_code = 200


def _encrypted_secondary(stack: Deployed) -> str:
    """Replace the stack's secondary by a stopped one whose disk a customer-managed key encrypts."""
    session = _session()
    key = session.client("kms", endpoint_url=stack.endpoint).create_key()["KeyMetadata"]["Arn"]
    ec2 = stack.ec2
    old = ec2.describe_instances(InstanceIds=[stack.secondary])["Reservations"][0]["Instances"][0]
    ec2.terminate_instances(InstanceIds=[stack.secondary])
    tags = [{"ResourceType": "instance", "Tags": old["Tags"]}]
    new = ec2.run_instances(
        ImageId="ami-12c6146b",
        InstanceType="t4g.medium",
        MinCount=1,
        MaxCount=1,
        SubnetId=old["SubnetId"],
        TagSpecifications=tags,
        BlockDeviceMappings=[
            {"DeviceName": "/dev/xvda", "Ebs": {"Encrypted": True, "KmsKeyId": key, "VolumeSize": 30}}
        ],
    )["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[new])
    stack.secondary = new
    return key


@pytest.fixture
def operator_session(moto_endpoint: str) -> Iterator[boto3.Session]:  # noqa: F811
    """Credentials of an IAM Identity Center user: a session of a role whose ARN has a path."""
    iam = _session().client("iam", endpoint_url=moto_endpoint)
    role = iam.create_role(RoleName=SSO_ROLE, Path=SSO_PATH, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sts = _session().client("sts", endpoint_url=moto_endpoint)
    credentials = sts.assume_role(RoleArn=role, RoleSessionName="alice@example.org")["Credentials"]
    yield boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=REGION,
    )
    iam.delete_role(RoleName=SSO_ROLE)


def _failover(deployed: Deployed, envoy: FakeEnvoy, session: boto3.Session, simulator: Simulator) -> Failover:  # noqa: F811
    clients: AwsClients = connect(session=session, region=REGION, endpoint_url=deployed.endpoint)
    clients.iam.meta.events.register("before-parameter-build.iam.SimulatePrincipalPolicy", simulator.record)
    clients.iam.meta.events.register("before-call.iam.SimulatePrincipalPolicy", simulator)
    reporter = Reporter(io.StringIO(), interactive=False)
    return Failover(clients, deployed.stack, probe_factory=envoy.probe_factory, reporter=reporter, timeouts=FAST)


def test_a_caller_with_the_key_permissions_starts_the_host(
    deployed: Deployed,  # noqa: F811
    envoy: FakeEnvoy,  # noqa: F811
    operator_session: boto3.Session,
) -> None:
    key = _encrypted_secondary(deployed)
    simulator = Simulator(granted=START_KEY_ACTIONS)
    failover = _failover(deployed, envoy, operator_session, simulator)
    result = failover.execute(failover.plan())
    assert result.started_target and deployed.holder() == deployed.secondary
    # Asked about the role with its path (what IAM evaluates), not the session, for this key.
    (call,) = simulator.calls
    assert call["PolicySourceArn"] == f"arn:aws:iam::123456789012:role{SSO_PATH}{SSO_ROLE}"
    assert call["ResourceArns"] == [key] and sorted(call["ActionNames"]) == sorted(START_KEY_ACTIONS)


def test_missing_key_permissions_refuse_before_anything_starts(
    deployed: Deployed,  # noqa: F811
    envoy: FakeEnvoy,  # noqa: F811
    operator_session: boto3.Session,
) -> None:
    key = _encrypted_secondary(deployed)
    failover = _failover(deployed, envoy, operator_session, Simulator(granted=("kms:Decrypt",)))
    with pytest.raises(OpsError) as caught:
        failover.plan()
    message = caught.value.user_message()
    assert "kms:CreateGrant, kms:GenerateDataKeyWithoutPlaintext on " + key in message
    assert "kms:Decrypt," not in message and "Nothing was changed." in message
    assert deployed.state(deployed.secondary) == "stopped" and deployed.holder() == deployed.primary


def test_a_running_target_needs_no_key_check(
    deployed: Deployed,  # noqa: F811
    envoy: FakeEnvoy,  # noqa: F811
    operator_session: boto3.Session,
) -> None:
    simulator = Simulator(granted=())
    failover = _failover(deployed, envoy, operator_session, simulator)
    failover.execute(failover.plan())
    assert simulator.calls == [] and deployed.holder() == deployed.secondary


def test_without_the_simulator_the_check_says_so_and_failover_goes_on(
    deployed: Deployed,  # noqa: F811
    envoy: FakeEnvoy,  # noqa: F811
    operator_session: boto3.Session,
) -> None:
    _encrypted_secondary(deployed)
    out = io.StringIO()
    failover = _failover(deployed, envoy, operator_session, Simulator(granted=(), denied=True))
    failover.reporter = Reporter(out, interactive=False)
    failover.execute(failover.plan())
    assert "not checked" in out.getvalue() and "iam:SimulatePrincipalPolicy" in out.getvalue()
    assert deployed.holder() == deployed.secondary
