"""Who may read and write DICOM objects besides the hosts: the configured admins, else the deployer.

aws:PrincipalArn names a role with its path (IAM Identity Center roles live under
aws-reserved/sso.amazonaws.com/...), while the STS session ARN drops the path: the bucket policy
must name the role exactly as IAM does, or the deployer is locked out of their own bucket.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orthweb.evaluate import Evaluation, evaluate
from orthweb.evaluate.mocks import MOCK_ACCOUNT, MockAccount, assumed_role

SSO_ROLE = (
    f"arn:aws:iam::{MOCK_ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/"
    "AWSReservedSSO_AdministratorAccess_0123456789abcdef"
)
PATH_ROLE = f"arn:aws:iam::{MOCK_ACCOUNT}:role/deployers/ci/Deployer"
IAM_USER = f"arn:aws:iam::{MOCK_ACCOUNT}:user/people/alice"


def object_access_principals(stack: Evaluation) -> set[str]:
    policy = json.loads(stack.named("orthweb-storage-dicom-policy").inputs["policy"])
    (others,) = [s for s in policy["Statement"] if s["Sid"] == "DenyObjectAccessToOthers"]
    return set(others["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])


def host_role_arn(stack: Evaluation) -> str:
    return stack.named("orthweb-host-identity-role").state["arn"]


@pytest.mark.parametrize("role_arn", [SSO_ROLE, PATH_ROLE], ids=["sso", "role-with-path"])
def test_an_assumed_role_deployer_is_named_by_its_role_with_the_path(empty_home: Path, role_arn: str) -> None:
    stack = evaluate("dev", home=empty_home, account=assumed_role(role_arn))
    assert object_access_principals(stack) == {host_role_arn(stack), role_arn}


def test_an_iam_user_deployer_is_named_as_it_is(empty_home: Path) -> None:
    stack = evaluate("dev", home=empty_home, account=MockAccount(caller_arn=IAM_USER, role_arns=()))
    assert object_access_principals(stack) == {host_role_arn(stack), IAM_USER}


def test_configured_admins_replace_the_deployer(empty_home: Path) -> None:
    admins = [SSO_ROLE, IAM_USER]
    # The caller's role does not exist in IAM: the deployer is not looked up when admins are given.
    stranger = MockAccount(caller_arn=f"arn:aws:sts::{MOCK_ACCOUNT}:assumed-role/Gone/s", role_arns=())
    stack = evaluate("prod", {"adminPrincipalArns": admins}, home=empty_home, account=stranger)
    assert object_access_principals(stack) == {host_role_arn(stack), *admins}


def test_the_policy_does_not_change_with_whoever_runs_up_when_admins_are_configured(empty_home: Path) -> None:
    config = {"adminPrincipalArns": [PATH_ROLE]}
    first = evaluate("dev", config, home=empty_home, account=assumed_role(SSO_ROLE))
    second = evaluate("dev", config, home=empty_home, account=MockAccount(caller_arn=IAM_USER, role_arns=()))
    assert object_access_principals(first) == object_access_principals(second)
