"""`adminPrincipalArns`: IAM role or user ARNs, exactly as IAM names them (with their paths)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orthweb.config.stack_config import ConfigError, load_config

SSO_ROLE = "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123456789abcdef"


def load(home: Path, value: Any) -> Any:
    return load_config({"orthweb:adminPrincipalArns": value}, stack="test", home=home)


def test_default_is_empty_meaning_the_deploying_identity(empty_home: Path) -> None:
    assert load_config({}, stack="test", home=empty_home).admin_principal_arns == ()


@pytest.mark.parametrize(
    "value",
    [
        [SSO_ROLE],
        ["arn:aws:iam::123456789012:role/Admin", "arn:aws:iam::123456789012:user/people/alice"],
        f'["{SSO_ROLE}"]',  # what the engine hands over: JSON text
    ],
)
def test_role_and_user_arns_with_paths_are_accepted(empty_home: Path, value: Any) -> None:
    admins = load(empty_home, value).admin_principal_arns
    assert admins and all(arn.startswith("arn:aws:iam::123456789012:") for arn in admins)


def test_duplicates_collapse_and_order_is_kept(empty_home: Path) -> None:
    other = "arn:aws:iam::123456789012:role/Other"
    assert load(empty_home, [other, SSO_ROLE, other]).admin_principal_arns == (other, SSO_ROLE)


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        # The session ARN is exactly what a bucket policy cannot match on.
        (["arn:aws:sts::123456789012:assumed-role/Admin/alice"], "not an assumed-role session"),
        (["arn:aws:iam::123456789012:role/*"], "IAM role or user ARNs"),
        (["arn:aws:iam::123456789012:group/admins"], "IAM role or user ARNs"),
        (["arn:aws-cn:iam::123456789012:role/Admin"], "IAM role or user ARNs"),
        (["arn:aws:iam::12345:role/Admin"], "IAM role or user ARNs"),
        ("arn:aws:iam::123456789012:role/Admin", "a list"),
        ([42], "IAM role or user ARNs"),
    ],
)
def test_anything_else_is_one_line_naming_the_key(empty_home: Path, value: Any, allowed: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(empty_home, value)
    message = str(caught.value)
    assert "orthweb:adminPrincipalArns" in message and allowed in message and "\n" not in message
