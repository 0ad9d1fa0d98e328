"""The stack's DICOM client certificates (`dicomClientCertificates: true`).

A CA made once by pulumi-tls issues one client certificate per configured modality; Envoy admits
on DICOM-TLS only these certificates (the CA, the URI naming the modality, the pinned
fingerprint). The CA's key stays in Pulumi's state as a secret and signs nothing else. Two
Secrets Manager secrets under the stack's key:
- the certificates and their keys, which only the stack's administrators may read (its policy
  denies everyone else, the hosts included); `orthweb modality-cert` writes one to a file;
- what Envoy trusts (the CA's certificate, each certificate's URI and fingerprint; nothing
  secret), which the hosts read at boot and at every refresh, so a certificate issued again is
  trusted instead of the old one without replacing a host.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_tls as tls

from orthweb.infra import policies
from orthweb.infra.durability import Durability
from orthweb.infra.tags import describe, with_role
from orthweb.shared.constants import DICOM_CLIENT_TRUST_ROLE, DICOM_CLIENTS_ROLE, PROJECT
from orthweb.shared.modalities import DicomModality, certificate_fingerprint, certificate_uri

# Ten years: the CA only signs at `pulumi up`; replacing it means issuing every modality again.
CA_VALIDITY_HOURS = 10 * 365 * 24
# Two years, renewed by any `pulumi up` in the last month (then give the modality its new file).
CLIENT_VALIDITY_HOURS = 2 * 365 * 24
CLIENT_EARLY_RENEWAL_HOURS = 30 * 24
CLIENT_USES = ["digital_signature", "key_encipherment", "client_auth"]


@dataclass(frozen=True)
class DicomClientCertificatesArgs:
    stack: str
    modalities: tuple[DicomModality, ...]
    key_arn: pulumi.Input[str]
    durability: Durability  # how long a deleted secret can be restored
    # The IAM roles and users who may read the certificates' secret (the stack's administrators).
    reader_arns: pulumi.Input[list[str]]


class DicomClientCertificates(pulumi.ComponentResource):
    ca_certificate_pem: pulumi.Output[str]
    # SHA-256 of each modality's certificate (hex, of its DER), in the order of the modalities.
    certificate_sha256: pulumi.Output[list[str]]
    secret_arn: pulumi.Output[str]
    # What the hosts read: the CA's certificate, each certificate's URI and fingerprint.
    trust_secret_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: DicomClientCertificatesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("orthweb:index:DicomClientCertificates", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ca_key = tls.PrivateKey(f"{name}-ca-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        ca = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=ca_key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(
                common_name=f"{PROJECT} {args.stack} DICOM clients CA", organization=PROJECT
            ),
            is_ca_certificate=True,
            validity_period_hours=CA_VALIDITY_HOURS,
            allowed_uses=["cert_signing", "crl_signing"],
            opts=child,
        )
        issued = {m.aet: self._issue(name, args.stack, m, ca_key, ca, child) for m in args.modalities}
        secret = self._store(name, args, ca.cert_pem, issued, child)
        self.ca_certificate_pem = ca.cert_pem
        self.certificate_sha256 = _all_of([cert.cert_pem for cert, _ in issued.values()]).apply(
            lambda pems: [certificate_fingerprint(pem) for pem in pems]
        )
        self.secret_arn = secret.arn
        self.trust_secret_arn = self._trust(name, args, ca.cert_pem, self.certificate_sha256, child).arn
        self.register_outputs(
            {
                "ca_certificate_pem": self.ca_certificate_pem,
                "secret_arn": self.secret_arn,
                "trust_secret_arn": self.trust_secret_arn,
            }
        )

    @staticmethod
    def _trust(
        name: str,
        args: DicomClientCertificatesArgs,
        ca_pem: pulumi.Output[str],
        fingerprints: pulumi.Output[list[str]],
        child: pulumi.ResourceOptions,
    ) -> aws.secretsmanager.Secret:
        secret = _secret(
            f"{name}-trust", DICOM_CLIENT_TRUST_ROLE, "what DICOM-TLS trusts of the modalities", args, child
        )
        value = pulumi.Output.all(ca=ca_pem, fingerprints=fingerprints).apply(
            lambda v: json.dumps(
                {
                    "ca_certificate": v["ca"],
                    "certificates": [
                        {"aet": m.aet, "uri": certificate_uri(args.stack, m.aet), "sha256": digest}
                        for m, digest in zip(args.modalities, v["fingerprints"], strict=True)
                    ],
                }
            )
        )
        # Nothing in it is secret; marked so anyway, like every value the hosts fetch.
        aws.secretsmanager.SecretVersion(
            f"{name}-trust-value", secret_id=secret.id, secret_string=pulumi.Output.secret(value), opts=child
        )
        return secret

    @staticmethod
    def _issue(
        name: str,
        stack: str,
        modality: DicomModality,
        ca_key: tls.PrivateKey,
        ca: tls.SelfSignedCert,
        child: pulumi.ResourceOptions,
    ) -> tuple[tls.LocallySignedCert, tls.PrivateKey]:
        # RSA: the TLS stacks of older modalities often lack ECDSA client keys.
        key = tls.PrivateKey(f"{name}-{modality.aet}-key", algorithm="RSA", rsa_bits=2048, opts=child)
        request = tls.CertRequest(
            f"{name}-{modality.aet}-request",
            private_key_pem=key.private_key_pem,
            subject=tls.CertRequestSubjectArgs(common_name=modality.aet, organization=f"{PROJECT} {stack}"),
            uris=[certificate_uri(stack, modality.aet)],
            opts=child,
        )
        certificate = tls.LocallySignedCert(
            f"{name}-{modality.aet}",
            cert_request_pem=request.cert_request_pem,
            ca_private_key_pem=ca_key.private_key_pem,
            ca_cert_pem=ca.cert_pem,
            validity_period_hours=CLIENT_VALIDITY_HOURS,
            early_renewal_hours=CLIENT_EARLY_RENEWAL_HOURS,
            allowed_uses=CLIENT_USES,
            opts=child,
        )
        return certificate, key

    @staticmethod
    def _store(
        name: str,
        args: DicomClientCertificatesArgs,
        ca_pem: pulumi.Output[str],
        issued: dict[str, tuple[tls.LocallySignedCert, tls.PrivateKey]],
        child: pulumi.ResourceOptions,
    ) -> aws.secretsmanager.Secret:
        secret = _secret(name, DICOM_CLIENTS_ROLE, "client certificates and keys of the DICOM modalities", args, child)
        value = pulumi.Output.all(
            ca=ca_pem,
            modalities=_all_of(
                [
                    pulumi.Output.all(aet=aet, certificate=cert.cert_pem, private_key=key.private_key_pem)
                    for aet, (cert, key) in issued.items()
                ]
            ),
        ).apply(
            lambda v: json.dumps(
                {
                    "ca_certificate": v["ca"],
                    "modalities": {
                        issued["aet"]: {
                            "uri": certificate_uri(args.stack, issued["aet"]),
                            "certificate": issued["certificate"],
                            "private_key": issued["private_key"],
                        }
                        for issued in v["modalities"]
                    },
                }
            )
        )
        aws.secretsmanager.SecretVersion(
            f"{name}-value", secret_id=secret.id, secret_string=pulumi.Output.secret(value), opts=child
        )
        aws.secretsmanager.SecretPolicy(
            f"{name}-policy",
            secret_arn=secret.arn,
            policy=pulumi.Output.all(arn=secret.arn, readers=args.reader_arns).apply(
                lambda v: policies.to_json(
                    policies.administrators_only_secret_policy(secret_arn=v["arn"], reader_arns=v["readers"])
                )
            ),
            opts=child,
        )
        return secret


def _all_of(outputs: list[pulumi.Output]) -> pulumi.Output[list]:
    """`Output.all` over a list that may be empty (no modality configured yet)."""
    return pulumi.Output.all(*outputs) if outputs else pulumi.Output.from_input([])


def _secret(
    name: str, role: str, what: str, args: DicomClientCertificatesArgs, child: pulumi.ResourceOptions
) -> aws.secretsmanager.Secret:
    return aws.secretsmanager.Secret(
        name,
        name_prefix=f"{PROJECT}/{args.stack}/{role}-",
        description=describe(args.stack, what),
        kms_key_id=args.key_arn,
        recovery_window_in_days=args.durability.secret_recovery_window_days,
        tags=with_role(args.stack, role),
        opts=child,
    )
