"""Secrets stay on the stack's network: with the Secrets Manager interface endpoint (prod's default),
the endpoint lets through only this stack's secrets and the hosts' role reads them only through it.

Rules encoded here, from AWS's documentation:
- private DNS on an interface endpoint makes the service's regional name resolve to the endpoint
  inside the VPC, so the hosts' unchanged AWS CLI calls take it ("Using an AWS Secrets Manager VPC
  endpoint", docs.aws.amazon.com/secretsmanager/latest/userguide/vpc-endpoint-overview.html);
- `aws:SourceVpce` is in a request's context only when it came through a VPC endpoint, so an Allow
  conditioned on it grants nothing to the same credential used elsewhere (IAM User Guide, "AWS
  global condition context keys", docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html);
- an endpoint policy applies to every request through the endpoint, whoever makes it (AWS
  PrivateLink Guide, "Control access to VPC endpoints using endpoint policies",
  docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html);
- KMS calls that Secrets Manager makes on the caller's behalf do not come through the caller's
  endpoint (AWS KMS Developer Guide, "Use VPC endpoints to control access to AWS KMS resources"),
  so the key statement must not carry the condition.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from parliament import analyze_policy_string

from orthweb.evaluate import Evaluation, RecordedResource, evaluate
from orthweb.evaluate.mocks import MOCK_ACCOUNT
from orthweb.infra.policies import SECRET_READ_ACTIONS

ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
ENDPOINT_POLICY = "aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy"
RDS = "aws:rds/instance:Instance"
SECRET = "aws:secretsmanager/secret:Secret"
SSO = {"authentication": "sso", "ssoAdminEmails": ["pacs-admin@example.org"]}


@pytest.fixture(scope="module")
def dev_with_endpoint(empty_home: Path) -> Evaluation:
    return evaluate("dev", {"deploymentOptions.secretsManagerEndpoint": True}, home=empty_home)


@pytest.fixture(scope="module")
def prod_scaled_with_sign_in(empty_home: Path) -> Evaluation:
    return evaluate("prod", {**SSO, "topology": "scale-out"}, home=empty_home)


@pytest.fixture(params=["dev", "prod", "dev_with_endpoint", "prod_scaled_with_sign_in"])
def variant(request: pytest.FixtureRequest) -> Evaluation:
    return request.getfixturevalue(request.param)


@pytest.fixture(params=["prod", "dev_with_endpoint", "prod_scaled_with_sign_in"])
def with_endpoint(request: pytest.FixtureRequest) -> Evaluation:
    return request.getfixturevalue(request.param)


def secrets_endpoint(stack: Evaluation) -> RecordedResource | None:
    found = [r for r in stack.of_type(ENDPOINT) if r.inputs["serviceName"].endswith(".secretsmanager")]
    assert len(found) <= 1
    return found[0] if found else None


def host_statements(stack: Evaluation) -> dict[str, dict]:
    host_policy = stack.named("orthweb-host-identity-permissions")
    return {s["Sid"]: s for s in json.loads(host_policy.inputs["policy"])["Statement"]}


def stack_secret_arns(stack: Evaluation) -> set[str]:
    rds_secret = stack.one(RDS).state["masterUserSecrets"][0]["secretArn"]
    return {r.state["arn"] for r in stack.of_type(SECRET)} | {rds_secret}


def test_prod_has_the_endpoint_by_default_and_dev_does_not(dev: Evaluation, prod: Evaluation) -> None:
    assert secrets_endpoint(dev) is None and not dev.of_type(ENDPOINT_POLICY)
    endpoint = secrets_endpoint(prod)
    assert endpoint is not None and endpoint.inputs["privateDnsEnabled"] is True
    assert endpoint.inputs["vpcEndpointType"] == "Interface" and len(endpoint.inputs["subnetIds"]) == 2


def test_the_hosts_read_secrets_only_through_the_endpoint_exactly_when_there_is_one(variant: Evaluation) -> None:
    endpoint = secrets_endpoint(variant)
    assert (endpoint is not None) == variant.config.options.secrets_manager_endpoint
    statements = host_statements(variant)
    read = statements["ReadOwnSecrets"]
    if endpoint is None:
        assert "Condition" not in read
    else:
        assert endpoint.id.startswith("vpce-")
        assert read["Condition"] == {"StringEquals": {"aws:SourceVpce": endpoint.id}}
    # Only the secret reads are bound to the endpoint: S3, KMS through the services, logs and
    # metrics keep working from the hosts' usual paths.
    others = [sid for sid, statement in statements.items() if sid != "ReadOwnSecrets"]
    assert others and not any("aws:SourceVpce" in json.dumps(statements[sid]) for sid in others)


def test_the_endpoint_policy_admits_only_reads_of_this_stacks_secrets(with_endpoint: Evaluation) -> None:
    endpoint = secrets_endpoint(with_endpoint)
    assert endpoint is not None
    (attached,) = with_endpoint.of_type(ENDPOINT_POLICY)
    assert attached.inputs["vpcEndpointId"] == endpoint.id
    document = json.loads(attached.inputs["policy"])
    (statement,) = document["Statement"]
    assert statement["Effect"] == "Allow" and statement["Principal"] == "*"
    assert sorted(statement["Action"]) == sorted(SECRET_READ_ACTIONS)
    assert set(statement["Resource"]) == stack_secret_arns(with_endpoint)
    assert len(statement["Resource"]) == len(set(statement["Resource"]))
    assert not any("*" in arn or "?" in arn for arn in statement["Resource"])
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalAccount": MOCK_ACCOUNT}}
    findings = [(f.issue, f.detail) for f in analyze_policy_string(json.dumps(document)).findings]
    assert findings == []


def test_with_sign_in_the_endpoint_admits_both_client_secrets(prod_scaled_with_sign_in: Evaluation) -> None:
    (attached,) = prod_scaled_with_sign_in.of_type(ENDPOINT_POLICY)
    admitted = set(json.loads(attached.inputs["policy"])["Statement"][0]["Resource"])
    sign_in = {r.state["arn"] for r in prod_scaled_with_sign_in.of_type(SECRET) if "sign-in" in r.name}
    assert len(sign_in) == 2 and sign_in <= admitted


def test_the_endpoint_never_waits_for_the_database_only_its_policy_does(with_endpoint: Evaluation) -> None:
    endpoint = secrets_endpoint(with_endpoint)
    assert endpoint is not None
    database = with_endpoint.one(RDS).urn
    assert database not in with_endpoint.ancestors(endpoint.urn)
    (attached,) = with_endpoint.of_type(ENDPOINT_POLICY)
    assert database in with_endpoint.ancestors(attached.urn)
    for host in [
        *with_endpoint.of_type("aws:ec2/instance:Instance"),
        *with_endpoint.of_type("aws:autoscaling/group:Group"),
    ]:
        assert attached.urn not in with_endpoint.ancestors(host.urn), host.name
