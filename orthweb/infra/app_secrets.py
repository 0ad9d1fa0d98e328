"""Secrets the hosts fetch at boot: the Orthanc web credentials and the site TLS secret.

Values are generated here, kept as Pulumi secrets, and stored in Secrets Manager encrypted with
the stack's key. User data only ever carries the secrets' ARNs. The database credential is not
here: RDS manages it (see database.py), so no program ever sees it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from orthweb.infra.durability import Durability
from orthweb.infra.tags import describe, with_role
from orthweb.shared.constants import CREDENTIALS_ROLE, PROJECT, SITE_TLS_ROLE

ADMIN_USER = "admin"
# A separate, least-privileged user for Envoy's health checks (the template restricts it to GET
# of the health URL), so the admin password never travels in health-check traffic.
HEALTH_USER = "healthcheck"


@dataclass(frozen=True)
class AppSecretsArgs:
    stack: str
    key_arn: pulumi.Input[str]
    durability: Durability  # how long a deleted secret can be restored


class AppSecrets(pulumi.ComponentResource):
    orthanc_credentials_arn: pulumi.Output[str]
    site_tls_arn: pulumi.Output[str]
    site_tls_secret: aws.secretsmanager.Secret

    def __init__(self, name: str, args: AppSecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:AppSecrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        passwords = {
            user: random.RandomPassword(
                f"{name}-{user}-password", length=32, special=False, min_numeric=2, min_upper=2, opts=child
            )
            for user in (ADMIN_USER, HEALTH_USER)
        }
        credentials = pulumi.Output.all(admin=passwords[ADMIN_USER].result, health=passwords[HEALTH_USER].result).apply(
            lambda password: json.dumps(
                {
                    "admin": {"username": ADMIN_USER, "password": password["admin"]},
                    "health": {"username": HEALTH_USER, "password": password["health"]},
                }
            )
        )
        credentials_secret = self._secret(name, CREDENTIALS_ROLE, args, child)
        aws.secretsmanager.SecretVersion(
            f"{name}-{CREDENTIALS_ROLE}-value",
            secret_id=credentials_secret.id,
            secret_string=pulumi.Output.secret(credentials),
            opts=child,
        )

        # Filled by SiteCertificate once the site address exists; created here so the hosts'
        # user data can name it without waiting for the address.
        self.site_tls_secret = self._secret(name, SITE_TLS_ROLE, args, child)

        self.orthanc_credentials_arn = credentials_secret.arn
        self.site_tls_arn = self.site_tls_secret.arn
        self.register_outputs(
            {
                "orthanc_credentials_arn": self.orthanc_credentials_arn,
                "site_tls_arn": self.site_tls_arn,
            }
        )

    @staticmethod
    def _secret(name: str, role: str, args: AppSecretsArgs, child: pulumi.ResourceOptions) -> aws.secretsmanager.Secret:
        return aws.secretsmanager.Secret(
            f"{name}-{role}",
            name_prefix=f"{PROJECT}/{args.stack}/{role}-",
            description=describe(args.stack, role),
            kms_key_id=args.key_arn,
            recovery_window_in_days=args.durability.secret_recovery_window_days,
            tags=with_role(args.stack, role),
            opts=child,
        )
