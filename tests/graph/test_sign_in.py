"""Sign-in (`authentication: sso`): the Cognito pool, its roles and clients, on the real graph.

Cognito checks an app client's callback and logout URLs exactly, so they must be the site's own
https address in every topology; the client secret and the cookie key must reach only the hosts
(Secrets Manager, our key), and the machine client's credentials only the operators.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from parliament import analyze_policy_string

from orthweb.evaluate import Evaluation, evaluate, plain, secrets_in
from orthweb.evaluate.host_files import user_data_text
from orthweb.shared import sso

POOL = "aws:cognito/userPool:UserPool"
CLIENT = "aws:cognito/userPoolClient:UserPoolClient"
ADMINS = ["pacs-admin@example.org", "radiology-lead@example.org"]
SSO_CONFIG: dict[str, Any] = {"authentication": "sso", "ssoAdminEmails": ADMINS}


def sso_stack(home: Path, stack: str = "dev", **extra: Any) -> Evaluation:
    return evaluate(stack, {**SSO_CONFIG, **extra}, home=home)


@pytest.fixture(scope="module")
def dev_sso(empty_home: Path) -> Evaluation:
    return sso_stack(empty_home)


def client(stack: Evaluation, part: str) -> dict[str, Any]:
    return stack.named(f"orthweb-sign-in-{part}-client").inputs


def test_basic_stacks_have_no_cognito_at_all(dev: Evaluation) -> None:
    assert not [r for r in dev.resources if r.type.startswith("aws:cognito/")]
    assert "sign_in_domain" not in dev.outputs


def test_the_pool_invites_only_and_asks_for_strong_passwords(dev_sso: Evaluation) -> None:
    pool = dev_sso.one(POOL).inputs
    assert pool["userPoolTier"] == "ESSENTIALS"
    assert pool["adminCreateUserConfig"]["allowAdminCreateUserOnly"] is True
    message = pool["adminCreateUserConfig"]["inviteMessageTemplate"]["emailMessage"]
    # Cognito refuses an invitation template without both placeholders.
    assert "{username}" in message and "{####}" in message
    policy = pool["passwordPolicy"]
    assert policy["minimumLength"] >= 14
    assert all(policy[f"require{kind}"] for kind in ("Lowercase", "Uppercase", "Numbers", "Symbols"))
    assert policy["temporaryPasswordValidityDays"] <= 7
    assert pool["mfaConfiguration"] in ("OPTIONAL", "ON")
    assert pool["softwareTokenMfaConfiguration"]["enabled"] is True
    assert pool["usernameAttributes"] == ["email"]


def test_deletion_protection_follows_the_environment(dev_sso: Evaluation, empty_home: Path) -> None:
    assert dev_sso.one(POOL).inputs["deletionProtection"] == "INACTIVE"
    assert sso_stack(empty_home, "prod").one(POOL).inputs["deletionProtection"] == "ACTIVE"


def test_roles_are_groups_and_each_admin_is_invited_into_admin(dev_sso: Evaluation) -> None:
    groups = {g.inputs["name"] for g in dev_sso.of_type("aws:cognito/userGroup:UserGroup")}
    assert groups == set(sso.ROLES)
    users = {u.inputs["username"]: u for u in dev_sso.of_type("aws:cognito/user:User")}
    assert set(users) == set(ADMINS)
    for user in users.values():
        assert user.inputs["desiredDeliveryMediums"] == ["EMAIL"]
        assert "password" not in user.inputs and "messageAction" not in user.inputs  # Cognito mails the invitation
    memberships = dev_sso.of_type("aws:cognito/userInGroup:UserInGroup")
    assert {(m.inputs["username"], m.inputs["groupName"]) for m in memberships} == {(a, sso.ADMIN) for a in ADMINS}


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({}, id="elastic-ip-name"),
        pytest.param({"siteDomain": "pacs.example.org"}, id="site-domain"),
        pytest.param({"topology": "scale-out", "siteDomain": "pacs.example.org"}, id="scale-out"),
    ],
)
def test_the_site_client_knows_the_site_address_exactly(empty_home: Path, extra: dict[str, Any]) -> None:
    stack = sso_stack(empty_home, **extra)
    site = stack.outputs["site_address"]
    site_client = client(stack, "site")
    assert site_client["callbackUrls"] == [f"https://{site}{sso.CALLBACK_PATH}"]
    assert site_client["logoutUrls"] == [f"https://{site}/"]
    assert site_client["allowedOauthFlows"] == ["code"]
    assert site_client["allowedOauthFlowsUserPoolClient"] is True
    assert site_client["generateSecret"] is True
    assert "openid" in site_client["allowedOauthScopes"]


def test_the_machine_client_has_client_credentials_and_one_scope_per_role(dev_sso: Evaluation) -> None:
    machine = client(dev_sso, "machine")
    assert machine["allowedOauthFlows"] == ["client_credentials"]
    assert machine["generateSecret"] is True
    assert sorted(machine["allowedOauthScopes"]) == sorted(sso.scope(role) for role in sso.ROLES)
    server = dev_sso.one("aws:cognito/resourceServer:ResourceServer").inputs
    assert server["identifier"] == sso.RESOURCE_SERVER


def test_the_sign_in_domain_is_a_prefix_cognito_accepts(dev_sso: Evaluation, empty_home: Path) -> None:
    prefix = dev_sso.one("aws:cognito/userPoolDomain:UserPoolDomain").inputs["domain"]
    assert prefix.startswith("orthweb-dev-") and sso.domain_prefix_reason(prefix) is None
    assert dev_sso.outputs["sign_in_domain"] == f"{prefix}.auth.us-east-1.amazoncognito.com"
    chosen = sso_stack(empty_home, ssoDomainPrefix="st-mary-pacs")
    assert chosen.one("aws:cognito/userPoolDomain:UserPoolDomain").inputs["domain"] == "st-mary-pacs"


def test_the_site_uses_managed_login_with_a_style(dev_sso: Evaluation) -> None:
    domain = dev_sso.one("aws:cognito/userPoolDomain:UserPoolDomain").inputs
    branding = dev_sso.one("aws:cognito/managedLoginBranding:ManagedLoginBranding").inputs
    site_client_id = dev_sso.named("orthweb-sign-in-site-client").id
    # Managed login pages answer with an error for a client that has no style.
    assert domain["managedLoginVersion"] == 2
    assert branding["clientId"] == site_client_id and branding["useCognitoProvidedValues"] is True


def _secret_value(stack: Evaluation, role: str) -> dict[str, Any]:
    version = stack.named(f"orthweb-sign-in-{role}-value").inputs["secretString"]
    assert secrets_in(version), f"{role} is stored unmarked"
    return json.loads(plain(version))


def test_client_secrets_live_in_secrets_manager_under_the_stack_key(dev_sso: Evaluation) -> None:
    key_arn = dev_sso.one("aws:kms/key:Key").state["arn"]
    for role in (sso.SITE_CLIENT_ROLE, sso.MACHINE_CLIENT_ROLE):
        secret = dev_sso.named(f"orthweb-sign-in-{role}")
        assert secret.inputs["kmsKeyId"] == key_arn
        assert secret.inputs["tags"]["orthweb:role"] == role
    site = _secret_value(dev_sso, sso.SITE_CLIENT_ROLE)
    site_client = dev_sso.named("orthweb-sign-in-site-client")
    assert site["client_id"] == site_client.id and site["client_secret"] == site_client.state["clientSecret"]
    assert len(site["hmac_secret"]) >= 32 and site["site_address"] == dev_sso.outputs["site_address"]
    machine = _secret_value(dev_sso, sso.MACHINE_CLIENT_ROLE)
    assert machine["client_id"] == dev_sso.named("orthweb-sign-in-machine-client").id
    assert machine["token_endpoint"] == f"https://{dev_sso.outputs['sign_in_domain']}/oauth2/token"


def test_hosts_may_read_the_site_client_secret_but_not_the_machine_client(dev_sso: Evaluation) -> None:
    policy = dev_sso.named("orthweb-host-identity-permissions").inputs["policy"]
    document = json.loads(policy)
    (read,) = [s for s in document["Statement"] if s["Sid"] == "ReadOwnSecrets"]
    site_arn = dev_sso.named(f"orthweb-sign-in-{sso.SITE_CLIENT_ROLE}").state["arn"]
    machine_arn = dev_sso.named(f"orthweb-sign-in-{sso.MACHINE_CLIENT_ROLE}").state["arn"]
    assert site_arn in read["Resource"] and machine_arn not in read["Resource"]
    assert not analyze_policy_string(policy).findings


def test_no_client_secret_reaches_user_data_or_outputs(dev_sso: Evaluation) -> None:
    secrets = [
        dev_sso.named("orthweb-sign-in-site-client").state["clientSecret"],
        dev_sso.named("orthweb-sign-in-machine-client").state["clientSecret"],
        dev_sso.named("orthweb-sign-in-cookie-key").state["result"],
    ]
    assert all(secrets)
    shown = json.dumps(plain(dev_sso.outputs)) + "".join(
        user_data_text(host) for host in dev_sso.of_type("aws:ec2/instance:Instance")
    )
    assert not any(secret in shown for secret in secrets)


def test_each_host_is_told_which_secret_to_read_and_the_secret_where_the_pool_is(dev_sso: Evaluation) -> None:
    from orthweb.evaluate.host_files import host_files

    pool = dev_sso.one(POOL)
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool.id}"
    site_secret = dev_sso.named(f"orthweb-sign-in-{sso.SITE_CLIENT_ROLE}").state["arn"]
    machine_id = dev_sso.named("orthweb-sign-in-machine-client").id
    for role, files in host_files(dev_sso).items():
        # Envoy's sign-in filters and clusters hold no secret: they come in the host's bundle.
        envoy = files["envoy.yaml"].content
        assert f'issuer: "{issuer}"' in envoy and machine_id in envoy, role
        assert f"https://{dev_sso.outputs['sign_in_domain']}/oauth2/token" in envoy, role
        assert f"address: {dev_sso.outputs['sign_in_domain']}" in envoy, role
        assert f"SSO_SECRET={site_secret}" in files["fetch-secrets.sh"].content, role
    # The site client's secret holds the values Cognito makes and the site's address, nothing else.
    secret = _secret_value(dev_sso, sso.SITE_CLIENT_ROLE)
    assert set(secret) == {"client_id", "client_secret", "hmac_secret", "site_address"}
