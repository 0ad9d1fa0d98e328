"""Single sign-on: an Amazon Cognito user pool with roles, its sign-in domain and two app clients.

People sign in on Cognito's pages (no self sign-up: an admin invites them) and belong to the
groups viewer, uploader or admin; scripts use a machine client (client credentials) whose
scopes name the same roles. Envoy on each host enforces the roles (templates/envoy-sso.yaml.j2).

The site's client can only exist once the site's address does (Cognito checks its callback URL
exactly), and the hosts' user data cannot wait for that address: so the pool, the domain and the
machine client are made at construction, and `connect_site` adds the site's client later. Its
secret and the HMAC key reach the hosts through Secrets Manager, never through user data or the
host's bundle.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from orthweb.infra.durability import Durability
from orthweb.infra.tags import describe, stack_tags, with_role
from orthweb.infra.user_data import SignInHostInputs
from orthweb.shared import sso
from orthweb.shared.constants import PROJECT, aws_name

# Password rules for people with access to patient data (Cognito's maximum strength classes).
PASSWORD_MIN_LENGTH = 14
PASSWORD_HISTORY = 12
TEMPORARY_PASSWORD_DAYS = 7
# Lower precedence wins when a user is in several groups (Cognito's `cognito:preferred_role`).
GROUP_PRECEDENCE = {sso.ADMIN: 10, sso.UPLOADER: 20, sso.VIEWER: 30}


@dataclass(frozen=True)
class SignInArgs:
    stack: str
    region: pulumi.Input[str]
    admin_emails: tuple[str, ...]
    # None: `orthweb-<stack>-` and eight random digits (digits never spell a reserved word).
    domain_prefix: str | None
    key_arn: pulumi.Input[str]
    # Whether the pool and its people are kept and protected, and its secrets' recovery window.
    durability: Durability


class SignIn(pulumi.ComponentResource):
    user_pool: aws.cognito.UserPool
    domain: pulumi.Output[str]
    issuer: pulumi.Output[str]
    machine_client_id: pulumi.Output[str]
    site_client_secret_arn: pulumi.Output[str]
    machine_client_secret_arn: pulumi.Output[str]

    def __init__(self, name: str, args: SignInArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:SignIn", name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        # A stack that keeps its data keeps the pool and who is in it on destroy (AWS refuses to
        # delete a protected pool); the domain and the clients, which only serve this site, go.
        self._people = pulumi.ResourceOptions(parent=self, retain_on_delete=args.durability.keep_data)

        self.user_pool = self._create_user_pool()
        groups = self._create_groups()
        self._invite_admins(groups[sso.ADMIN])
        self.domain = self._create_domain()
        self.issuer = pulumi.Output.all(region=args.region, pool=self.user_pool.id).apply(
            lambda v: sso.issuer(v["region"], v["pool"])
        )
        machine_client = self._create_machine_client()
        self.machine_client_id = machine_client.id
        # Filled by `connect_site`; created now so the hosts' user data can name it.
        self._site_secret = self._secret(sso.SITE_CLIENT_ROLE, "the site's Cognito client secret and cookie key")
        self.site_client_secret_arn = self._site_secret.arn
        self.machine_client_secret_arn = self._store_machine_client(machine_client)
        self.register_outputs(
            {
                "user_pool_id": self.user_pool.id,
                "domain": self.domain,
                "machine_client_id": self.machine_client_id,
                "site_client_secret_arn": self.site_client_secret_arn,
                "machine_client_secret_arn": self.machine_client_secret_arn,
            }
        )

    def host_inputs(self) -> SignInHostInputs:
        """What each host's user data names: the pool, its domain, the clients (no secret value)."""
        return SignInHostInputs(
            user_pool_id=self.user_pool.id,
            domain=self.domain,
            machine_client_id=self.machine_client_id,
            site_client_secret_arn=self.site_client_secret_arn,
        )

    # --- the pool and who is in it --------------------------------------------------------------

    def _create_user_pool(self) -> aws.cognito.UserPool:
        args = self._args
        return aws.cognito.UserPool(
            f"{self._name}-users",
            name=aws_name(args.stack),
            # Essentials: managed login and password history; no charge under 10,000 monthly users.
            user_pool_tier="ESSENTIALS",
            username_attributes=["email"],
            username_configuration=aws.cognito.UserPoolUsernameConfigurationArgs(case_sensitive=False),
            auto_verified_attributes=["email"],
            admin_create_user_config=aws.cognito.UserPoolAdminCreateUserConfigArgs(
                allow_admin_create_user_only=True,
                invite_message_template=aws.cognito.UserPoolAdminCreateUserConfigInviteMessageTemplateArgs(
                    email_subject=f"Your {PROJECT} {args.stack} account",
                    email_message=(
                        f"You can now sign in to {PROJECT} {args.stack} as {{username}} with the temporary "
                        f"password {{####}}. You will choose your own password at the first sign-in."
                    ),
                ),
            ),
            password_policy=aws.cognito.UserPoolPasswordPolicyArgs(
                minimum_length=PASSWORD_MIN_LENGTH,
                require_lowercase=True,
                require_uppercase=True,
                require_numbers=True,
                require_symbols=True,
                password_history_size=PASSWORD_HISTORY,
                temporary_password_validity_days=TEMPORARY_PASSWORD_DAYS,
            ),
            # Each user may add an authenticator app; an admin can make it mandatory in the console.
            mfa_configuration="OPTIONAL",
            software_token_mfa_configuration=aws.cognito.UserPoolSoftwareTokenMfaConfigurationArgs(enabled=True),
            account_recovery_setting=aws.cognito.UserPoolAccountRecoverySettingArgs(
                recovery_mechanisms=[
                    aws.cognito.UserPoolAccountRecoverySettingRecoveryMechanismArgs(name="verified_email", priority=1)
                ]
            ),
            deletion_protection="ACTIVE" if args.durability.deletion_protection else "INACTIVE",
            tags=stack_tags(args.stack),
            opts=self._people,
        )

    def _create_groups(self) -> dict[str, aws.cognito.UserGroup]:
        return {
            role: aws.cognito.UserGroup(
                f"{self._name}-group-{role}",
                name=role,
                description=sso.ROLE_DESCRIPTIONS[role],
                precedence=GROUP_PRECEDENCE[role],
                user_pool_id=self.user_pool.id,
                opts=self._people,
            )
            for role in sso.ROLES
        }

    def _invite_admins(self, admin_group: aws.cognito.UserGroup) -> None:
        """Each address gets Cognito's invitation with a temporary password: the only bootstrap."""
        for email in self._args.admin_emails:
            # Named by the address, not its position: reordering the list changes nothing.
            handle = hashlib.sha256(email.lower().encode()).hexdigest()[:10]
            user = aws.cognito.User(
                f"{self._name}-admin-{handle}",
                user_pool_id=self.user_pool.id,
                username=email,
                attributes={"email": email, "email_verified": "true"},
                desired_delivery_mediums=["EMAIL"],
                opts=self._people,
            )
            aws.cognito.UserInGroup(
                f"{self._name}-admin-{handle}-in-admin",
                user_pool_id=self.user_pool.id,
                group_name=admin_group.name,
                username=user.username,
                opts=self._people,
            )

    def _create_domain(self) -> pulumi.Output[str]:
        args = self._args
        if args.domain_prefix:
            prefix: pulumi.Output[str] = pulumi.Output.from_input(args.domain_prefix)
        else:
            suffix = random.RandomString(
                f"{self._name}-domain-suffix",
                length=sso.PREFIX_SUFFIX_LENGTH,
                special=False,
                upper=False,
                lower=False,
                numeric=True,
                opts=self._child,
            )
            prefix = pulumi.Output.concat(sso.default_prefix_start(args.stack), suffix.result)
        domain = aws.cognito.UserPoolDomain(
            f"{self._name}-domain",
            domain=prefix,
            user_pool_id=self.user_pool.id,
            # Managed login (version 2); each app client that signs people in gets a branding style.
            managed_login_version=2,
            opts=self._child,
        )
        return pulumi.Output.all(prefix=domain.domain, region=args.region).apply(
            lambda v: sso.cognito_domain(v["prefix"], v["region"])
        )

    # --- the machine client, for scripts and DICOMweb clients -----------------------------------

    def _create_machine_client(self) -> aws.cognito.UserPoolClient:
        resource_server = aws.cognito.ResourceServer(
            f"{self._name}-roles",
            identifier=sso.RESOURCE_SERVER,
            name=f"{PROJECT} {self._args.stack} roles",
            scopes=[
                aws.cognito.ResourceServerScopeArgs(scope_name=role, scope_description=sso.ROLE_DESCRIPTIONS[role])
                for role in sso.ROLES
            ],
            user_pool_id=self.user_pool.id,
            opts=self._child,
        )
        return aws.cognito.UserPoolClient(
            f"{self._name}-machine-client",
            name=aws_name(self._args.stack, "machine"),
            user_pool_id=self.user_pool.id,
            generate_secret=True,
            allowed_oauth_flows=["client_credentials"],
            allowed_oauth_flows_user_pool_client=True,
            # Depends on the resource server through its output: its scopes must exist first.
            allowed_oauth_scopes=resource_server.scope_identifiers,
            supported_identity_providers=["COGNITO"],
            explicit_auth_flows=["ALLOW_REFRESH_TOKEN_AUTH"],
            access_token_validity=sso.ACCESS_TOKEN_MINUTES,
            token_validity_units=aws.cognito.UserPoolClientTokenValidityUnitsArgs(access_token="minutes"),
            prevent_user_existence_errors="ENABLED",
            enable_token_revocation=True,
            opts=self._child,
        )

    def _store_machine_client(self, client: aws.cognito.UserPoolClient) -> pulumi.Output[str]:
        """What `orthweb token` needs, for operators only (the hosts are not allowed to read it)."""
        secret = self._secret(sso.MACHINE_CLIENT_ROLE, "the machine client's credentials (orthweb token)")
        value = pulumi.Output.all(id=client.id, secret=client.client_secret, domain=self.domain).apply(
            lambda v: json.dumps(
                {
                    "client_id": v["id"],
                    "client_secret": v["secret"],
                    "token_endpoint": sso.token_endpoint(v["domain"]),
                    "scopes": {role: sso.scope(role) for role in sso.ROLES},
                }
            )
        )
        aws.secretsmanager.SecretVersion(
            f"{self._name}-{sso.MACHINE_CLIENT_ROLE}-value",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(value),
            opts=self._child,
        )
        return secret.arn

    # --- the site's client, once the site's address is known ------------------------------------

    def connect_site(self, site_address: pulumi.Input[str]) -> aws.cognito.UserPoolClient:
        """The browser client, whose callback and logout URLs are the site's address exactly."""
        address = pulumi.Output.from_input(site_address)
        client = aws.cognito.UserPoolClient(
            f"{self._name}-site-client",
            name=aws_name(self._args.stack, "site"),
            user_pool_id=self.user_pool.id,
            generate_secret=True,
            allowed_oauth_flows=["code"],
            allowed_oauth_flows_user_pool_client=True,
            allowed_oauth_scopes=list(sso.USER_SCOPES),
            callback_urls=address.apply(lambda site: [sso.callback_url(site)]),
            logout_urls=address.apply(lambda site: [sso.site_url(site)]),
            supported_identity_providers=["COGNITO"],
            explicit_auth_flows=["ALLOW_REFRESH_TOKEN_AUTH"],
            access_token_validity=sso.ACCESS_TOKEN_MINUTES,
            id_token_validity=sso.ACCESS_TOKEN_MINUTES,
            refresh_token_validity=sso.REFRESH_TOKEN_HOURS,
            token_validity_units=aws.cognito.UserPoolClientTokenValidityUnitsArgs(
                access_token="minutes", id_token="minutes", refresh_token="hours"
            ),
            prevent_user_existence_errors="ENABLED",
            enable_token_revocation=True,
            opts=self._child,
        )
        aws.cognito.ManagedLoginBranding(
            f"{self._name}-site-branding",
            user_pool_id=self.user_pool.id,
            client_id=client.id,
            use_cognito_provided_values=True,
            opts=self._child,
        )
        cookie_key = random.RandomPassword(f"{self._name}-cookie-key", length=32, special=False, opts=self._child)
        value = pulumi.Output.all(
            id=client.id, secret=client.client_secret, hmac=cookie_key.result, site=address
        ).apply(
            lambda v: json.dumps(
                {
                    "client_id": v["id"],
                    "client_secret": v["secret"],
                    "hmac_secret": v["hmac"],
                    "site_address": v["site"],
                }
            )
        )
        aws.secretsmanager.SecretVersion(
            f"{self._name}-{sso.SITE_CLIENT_ROLE}-value",
            secret_id=self._site_secret.id,
            secret_string=pulumi.Output.secret(value),
            opts=self._child,
        )
        return client

    def _secret(self, role: str, what: str) -> aws.secretsmanager.Secret:
        args = self._args
        return aws.secretsmanager.Secret(
            f"{self._name}-{role}",
            name_prefix=f"{PROJECT}/{args.stack}/{role}-",
            description=describe(args.stack, what),
            kms_key_id=args.key_arn,
            recovery_window_in_days=args.durability.secret_recovery_window_days,
            tags=with_role(args.stack, role),
            opts=self._child,
        )
