"""The site's TLS certificate, stored in the site TLS secret that both hosts read at boot.

Both hosts serve the same certificate, so moving the Elastic IP changes nothing for clients.
Self-signed by default (macOS trust rules: <= 825 days, SAN, serverAuth, SHA-256, RSA 2048);
a certificate and key given as stack secrets replace it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_tls as tls

from orthweb.config.stack_config import SiteCertificate as UserCertificate
from orthweb.shared.constants import PROJECT

VALIDITY_HOURS = 825 * 24
# Renewed by any `pulumi up` in its last month; hosts pick it up at their next boot.
EARLY_RENEWAL_HOURS = 30 * 24


@dataclass(frozen=True)
class SiteCertificateArgs:
    secret_id: pulumi.Input[str]
    dns_names: pulumi.Input[list[str]]
    ip_addresses: pulumi.Input[list[str]]
    user_certificate: UserCertificate | None = None


class SiteCertificate(pulumi.ComponentResource):
    certificate_pem: pulumi.Output[str]

    def __init__(self, name: str, args: SiteCertificateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orthweb:index:SiteCertificate", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if args.user_certificate is not None:
            certificate_pem = pulumi.Output.from_input(args.user_certificate.certificate_pem)
            private_key_pem = pulumi.Output.secret(args.user_certificate.private_key_pem)
        else:
            # RSA rather than P-256: older DICOM workstations often lack ECDSA cipher suites.
            key = tls.PrivateKey(f"{name}-key", algorithm="RSA", rsa_bits=2048, opts=child)
            private_key_pem = pulumi.Output.secret(key.private_key_pem)
            common_name = pulumi.Output.from_input(args.dns_names).apply(lambda names: names[0][:64])
            certificate = tls.SelfSignedCert(
                f"{name}-self-signed",
                private_key_pem=private_key_pem,
                subject=tls.SelfSignedCertSubjectArgs(common_name=common_name, organization=PROJECT),
                dns_names=args.dns_names,
                ip_addresses=args.ip_addresses,
                validity_period_hours=VALIDITY_HOURS,
                early_renewal_hours=EARLY_RENEWAL_HOURS,
                allowed_uses=["digital_signature", "key_encipherment", "server_auth"],
                opts=child,
            )
            certificate_pem = certificate.cert_pem
        aws.secretsmanager.SecretVersion(
            f"{name}-value",
            secret_id=args.secret_id,
            secret_string=pulumi.Output.secret(
                pulumi.Output.all(certificate=certificate_pem, private_key=private_key_pem).apply(json.dumps)
            ),
            opts=child,
        )
        self.certificate_pem = certificate_pem
        self.register_outputs({"certificate_pem": self.certificate_pem})
