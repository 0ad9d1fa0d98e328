"""The stack key's policy lets every AWS service that handles stack-key-encrypted data on the
stack's behalf do exactly that, under the conditions AWS documents, and names only principals that
exist when KMS receives the policy."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest
from parliament import analyze_policy_string

from orthweb.evaluate import Evaluation, evaluate

KEY = "aws:kms/key:Key"
GROUP = "aws:autoscaling/group:Group"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
SERVICE_LINKED_ROLE = "aws:iam/serviceLinkedRole:ServiceLinkedRole"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ACCOUNT = "123456789012"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


@pytest.fixture(scope="module")
def scaled(empty_home: Path) -> Evaluation:
    return evaluate("dev", {"topology": "scale-out"}, home=empty_home)


@pytest.fixture(scope="module")
def scaled_prod(empty_home: Path) -> Evaluation:
    return evaluate("prod", {"topology": "scale-out"}, home=empty_home)


@pytest.fixture(scope="module")
def signed_in(empty_home: Path) -> Evaluation:
    return evaluate("dev", {"authentication": "sso", "ssoAdminEmails": ["admin@example.org"]}, home=empty_home)


@pytest.fixture(params=["dev", "prod", "scale-out", "scale-out prod", "sign-in"])
def any_stack(
    request: pytest.FixtureRequest,
    dev: Evaluation,
    prod: Evaluation,
    scaled: Evaluation,
    scaled_prod: Evaluation,
    signed_in: Evaluation,
) -> Evaluation:
    stacks = {"dev": dev, "prod": prod, "scale-out": scaled, "scale-out prod": scaled_prod, "sign-in": signed_in}
    return stacks[request.param]


def key_policy(stack: Evaluation) -> list[dict[str, Any]]:
    return json.loads(stack.one(KEY).inputs["policy"])["Statement"]


def granted_to(stack: Evaluation, principal: dict[str, str]) -> list[dict[str, Any]]:
    return [s for s in key_policy(stack) if s["Principal"] == principal and s["Effect"] == "Allow"]


def actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


# --- EC2 Auto Scaling launches hosts with encrypted root volumes ------------------------------------


@pytest.mark.parametrize("name", ["scaled", "scaled_prod"])
def test_the_group_launches_with_a_service_linked_role_the_key_admits(
    request: pytest.FixtureRequest, name: str
) -> None:
    """Amazon EC2 Auto Scaling User Guide, "Required AWS KMS key policy for use with encrypted
    volumes": the service-linked role that launches the group's instances has no access to a customer
    managed key until the key policy gives it Encrypt, Decrypt, ReEncrypt*, GenerateDataKey* and
    DescribeKey, and CreateGrant with kms:GrantIsForAWSResource; without it every launch fails
    (Client.InternalError). The guide ("Service-linked roles for Amazon EC2 Auto Scaling") advises a
    custom-suffix role for access to one key: the stack creates its own, so the policy never names a
    role the account may not have, and the group launches with exactly that role."""
    stack: Evaluation = request.getfixturevalue(name)
    (role,) = stack.of_type(SERVICE_LINKED_ROLE)
    assert role.inputs["awsServiceName"] == "autoscaling.amazonaws.com"
    assert role.inputs["customSuffix"]
    role_arn = role.state["arn"]
    assert role_arn == (
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/autoscaling.amazonaws.com/"
        f"AWSServiceRoleForAutoScaling_{role.inputs['customSuffix']}"
    )
    assert stack.one(GROUP).inputs["serviceLinkedRoleArn"] == role_arn
    (volume,) = stack.one(LAUNCH_TEMPLATE).inputs["blockDeviceMappings"]
    assert volume["ebs"]["kmsKeyId"] == stack.one(KEY).state["arn"]

    use, attach = granted_to(stack, {"AWS": role_arn})
    assert actions(use) == {"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"}
    assert use["Resource"] == "*" and "Condition" not in use
    assert actions(attach) == {"kms:CreateGrant"}
    assert attach["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": True}}


def test_failover_stacks_have_no_group_and_admit_no_launch_role(dev: Evaluation, prod: Evaluation) -> None:
    for stack in (dev, prod):
        assert not stack.of_type(SERVICE_LINKED_ROLE)
        assert not [s for s in key_policy(stack) if "aws-service-role" in json.dumps(s["Principal"])]


def test_every_principal_the_key_names_exists_before_kms_sees_the_policy(any_stack: Evaluation) -> None:
    """AWS KMS API Reference, CreateKey and PutKeyPolicy, parameter Policy: "The principals in the
    key policy must exist and be visible to KMS" (else MalformedPolicyDocumentException). Every IAM
    principal is the account itself or a role this stack creates before the key."""
    key = any_stack.one(KEY)
    before_key = {any_stack.by_urn(urn).state.get("arn") for urn in any_stack.ancestors(key.urn)}
    for statement in key_policy(any_stack):
        named = statement["Principal"].get("AWS")
        if named is None:
            continue
        for principal in [named] if isinstance(named, str) else named:
            assert principal == ROOT or principal in before_key, principal


# --- CloudWatch Logs encrypts the stack's log groups ---------------------------------------------


def test_cloudwatch_logs_may_use_the_key_for_exactly_the_stacks_log_groups(any_stack: Evaluation) -> None:
    """Amazon CloudWatch Logs User Guide, "Encrypt log data in CloudWatch Logs using AWS KMS": the
    logs service principal of the region gets the key, conditioned on the encryption context
    kms:EncryptionContext:aws:logs:arn, the ARN of the log group. Every group the stack encrypts with
    the key is admitted; a group of another stack in the account is not."""
    key_arn = any_stack.one(KEY).state["arn"]
    (logs,) = [s for s in granted_to(any_stack, {"Service": "logs.us-east-1.amazonaws.com"}) if "Condition" in s]
    patterns = logs["Condition"]["StringLike"]["kms:EncryptionContext:aws:logs:arn"]
    encrypted = [g for g in any_stack.of_type(LOG_GROUP) if g.inputs.get("kmsKeyId") == key_arn]
    assert len(encrypted) >= 4
    for group in encrypted:
        context = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{group.inputs['name']}"
        assert any(fnmatch.fnmatchcase(context, p) for p in patterns), context
    stranger = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/orthweb/other/envoy"
    assert not any(fnmatch.fnmatchcase(stranger, p) for p in patterns)


# --- CloudWatch alarms publish to the encrypted topic ------------------------------------------


def test_cloudwatch_may_use_the_key_for_this_stacks_alarms_and_its_topic_only(any_stack: Evaluation) -> None:
    """Amazon SNS Developer Guide, "Enable compatibility between event sources from AWS services and
    encrypted topics": the publishing service principal needs kms:GenerateDataKey* and kms:Decrypt,
    and AWS's examples for such services condition it on aws:SourceArn and on the encryption context
    kms:EncryptionContext:aws:sns:topicArn (the encrypted topic)."""
    (statement,) = granted_to(any_stack, {"Service": "cloudwatch.amazonaws.com"})
    assert actions(statement) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    condition = statement["Condition"]
    assert condition["ArnLike"]["aws:SourceArn"] == (
        f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:orthweb-{any_stack.stack}-*"
    )
    assert condition["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    topic_arn = any_stack.one("aws:sns/topic:Topic").state["arn"]
    assert condition["StringEquals"]["kms:EncryptionContext:aws:sns:topicArn"] == topic_arn


def test_no_service_principal_without_a_condition_but_describe(any_stack: Evaluation) -> None:
    """Every service principal's use of the key is conditioned; only DescribeKey (metadata, no data)
    is granted plainly."""
    for statement in key_policy(any_stack):
        if "Service" in statement["Principal"] and "Condition" not in statement:
            assert actions(statement) == {"kms:DescribeKey"}, statement


def test_the_key_policy_passes_parliament_in_every_stack_shape(any_stack: Evaluation) -> None:
    """parliament (offline IAM linter): known actions, condition keys of the right type, resources
    of the actions' types. AWS's default first statement (kms:* for the account) is checked exactly;
    "Resource": "*" in a key policy means this key, so it is linted as the key's ARN."""
    key = any_stack.one(KEY)
    admin, *rest = key_policy(any_stack)
    assert admin == {
        "Sid": "AccountAdministersThroughIam",
        "Effect": "Allow",
        "Principal": {"AWS": ROOT},
        "Action": "kms:*",
        "Resource": "*",
    }
    statements = [{**statement, "Resource": key.state["arn"]} for statement in rest]
    document = json.dumps({"Version": "2012-10-17", "Statement": statements})
    assert [(f.issue, f.detail) for f in analyze_policy_string(document).findings] == []
