"""The AWS account an offline evaluation deploys into, as the mock engine describes it.

The defaults are an ordinary account; a test changes one field to model another one (a deployer
signed in through IAM Identity Center, ...). Only the mock engine reads this.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

MOCK_ACCOUNT = "123456789012"
DEPLOYER_ROLE = f"arn:aws:iam::{MOCK_ACCOUNT}:role/Deployer"

_ROLE_ARN = re.compile(r"^arn:([\w-]+):iam::(\d{12}):role/(?:[^/]+/)*([^/]+)$")
_SESSION_ARN = re.compile(r"^arn:[\w-]+:sts::\d{12}:assumed-role/([^/]+)/[^/]+$")


@dataclass(frozen=True)
class LiveHost:
    """A host of the stack that runs already, as EC2 describes it (with its user data)."""

    ami: str
    user_data_base64: str
    subnet_id: str
    key_name: str
    root_volume_key_arn: str
    state: str = "running"
    instance_type: str = "t4g.small"


@dataclass(frozen=True)
class MockAccount:
    # Who runs `pulumi up`: what sts:GetCallerIdentity answers.
    caller_arn: str = f"arn:aws:sts::{MOCK_ACCOUNT}:assumed-role/Deployer/session"
    # The roles IAM knows, with their paths (what iam:GetRole answers for a role name).
    role_arns: tuple[str, ...] = (DEPLOYER_ROLE,)
    # What getPartition answers; the mock engine builds every ARN it makes up with it.
    partition: str = "aws"
    # The region's zones are its name plus each suffix; all offer every type and class, except
    # the zones listed here for an EC2 instance type or an RDS class (e.g. {"t4g.medium": ("us-east-1a",)}).
    zone_suffixes: str = "abc"
    missing_offerings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # The stack's hosts that run already, by their role tag; none before the first deploy.
    live_hosts: Mapping[str, LiveHost] = field(default_factory=dict)
    # AMIs the account can launch, with the architecture DescribeImages gives each; any other AMI
    # is answered without one (offline, a pinned AMI's architecture is unknown).
    images: Mapping[str, str] = field(default_factory=dict)

    def zones(self, region: str) -> list[str]:
        return [f"{region}{suffix}" for suffix in self.zone_suffixes]

    def zones_offering(self, region: str, offering: str) -> list[str]:
        missing = set(self.missing_offerings.get(offering, ()))
        return [zone for zone in self.zones(region) if zone not in missing]


def assumed_role(role_arn: str, session: str = "alice@example.org") -> MockAccount:
    """An account whose caller is a session of `role_arn` (whose ARN may carry a path)."""
    match = _ROLE_ARN.fullmatch(role_arn)
    if match is None:
        raise ValueError(f"not a role ARN: {role_arn}")
    partition, account, name = match.groups()
    return MockAccount(
        caller_arn=f"arn:{partition}:sts::{account}:assumed-role/{name}/{session}", role_arns=(role_arn,)
    )


def session_issuer(account: MockAccount, arn: str) -> str:
    """What iam get-session-context answers: the role behind an assumed-role session ARN, found
    by name as iam:GetRole finds it (with its path); any other ARN as it is."""
    session = _SESSION_ARN.fullmatch(arn)
    if session is None:
        return arn
    name = session.group(1)
    for role_arn in account.role_arns:
        if role_arn.rsplit("/", 1)[-1] == name:
            return role_arn
    # The provider fails the same way when the role cannot be read.
    raise LookupError(f"unable to get role ({name}): NoSuchEntity")
