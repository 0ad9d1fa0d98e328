"""DICOM client certificates (`dicomClientCertificates: true`) on the real resource graph: a stack
CA issues one certificate per modality, Envoy pins them, only the administrators can read them.

The certificate fields follow pulumi-tls (`tls.SelfSignedCert`, `tls.CertRequest`,
`tls.LocallySignedCert`); the pinned value is the SHA-256 of the certificate's DER, the form
Envoy's `verify_certificate_hash` compares (envoy/api/envoy/extensions/transport_sockets/tls/v3/common.proto).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from parliament import analyze_policy_string

from orthweb.evaluate import Evaluation, evaluate, redact, secrets_in
from orthweb.evaluate.host_files import host_files, user_data_text
from orthweb.host.layout import DICOM_CLIENTS_FILE, DICOM_CLIENTS_SDS_NAME
from orthweb.shared.constants import DICOM_CLIENT_TRUST_ROLE, DICOM_CLIENTS_ROLE, ROLE_TAG
from orthweb.shared.modalities import certificate_fingerprint, certificate_uri

MODALITIES = ["CT_1@10.20.0.15:104", "MR_1@10.20.0.16:11112"]
CERTIFICATES: dict[str, Any] = {"dicomClientCertificates": True, "dicomModalities": MODALITIES}
ADMIN = "arn:aws:iam::123456789012:role/PacsAdmins"
SECRET = "aws:secretsmanager/secret:Secret"
ISSUED = "tls:index/locallySignedCert:LocallySignedCert"
VERSION = "aws:secretsmanager/secretVersion:SecretVersion"


@pytest.fixture(scope="module")
def certified(empty_home: Path) -> Evaluation:
    return evaluate("dev", {**CERTIFICATES, "adminPrincipalArns": [ADMIN]}, home=empty_home)


def certificates_secret(stack: Evaluation):
    (secret,) = [s for s in stack.of_type(SECRET) if s.inputs["tags"].get(ROLE_TAG) == DICOM_CLIENTS_ROLE]
    return secret


def dicom_listener(stack: Evaluation, role: str = "primary") -> dict[str, Any]:
    envoy = yaml.safe_load(host_files(stack)[role]["envoy.yaml"].content)
    (listener,) = [lst for lst in envoy["static_resources"]["listeners"] if lst["name"] == "dicom_tls"]
    return listener["filter_chains"][0]["transport_socket"]["typed_config"]


def test_without_the_option_nothing_is_issued_and_envoy_asks_for_no_certificate(dev: Evaluation) -> None:
    assert dev.of_type(ISSUED) == [] and dev.of_type("tls:index/certRequest:CertRequest") == []
    assert not [
        s
        for s in dev.of_type(SECRET)
        if s.inputs["tags"].get(ROLE_TAG) in (DICOM_CLIENTS_ROLE, DICOM_CLIENT_TRUST_ROLE)
    ]
    tls = dicom_listener(dev)
    assert "require_client_certificate" not in tls
    assert "validation_context_sds_secret_config" not in tls["common_tls_context"]


def test_a_ca_issues_one_client_certificate_per_modality_naming_it(certified: Evaluation) -> None:
    ca = certified.named("orthweb-dicom-clients-ca").inputs
    assert ca["isCaCertificate"] is True and set(ca["allowedUses"]) == {"cert_signing", "crl_signing"}
    assert certified.named("orthweb-dicom-clients-ca-key").inputs["algorithm"] == "ECDSA"
    for aet in ("CT_1", "MR_1"):
        assert certified.named(f"orthweb-dicom-clients-{aet}-key").inputs["rsaBits"] == 2048
        request = certified.named(f"orthweb-dicom-clients-{aet}-request").inputs
        assert request["uris"] == [certificate_uri("dev", aet)] and request["subject"]["commonName"] == aet
        issued = certified.named(f"orthweb-dicom-clients-{aet}").inputs
        assert set(issued["allowedUses"]) == {"digital_signature", "key_encipherment", "client_auth"}
        assert issued["validityPeriodHours"] <= 2 * 366 * 24 and issued["earlyRenewalHours"] >= 7 * 24
    assert len(certified.of_type(ISSUED)) == 2


def trust_secret(stack: Evaluation):
    (secret,) = [s for s in stack.of_type(SECRET) if s.inputs["tags"].get(ROLE_TAG) == DICOM_CLIENT_TRUST_ROLE]
    return secret


def test_the_hosts_trust_exactly_the_issued_certificates(certified: Evaluation) -> None:
    """Envoy reads them from a file fetch-secrets.sh writes from the trust secret at every refresh:
    a certificate issued again replaces the old one without replacing a host."""
    tls = dicom_listener(certified)
    assert tls["require_client_certificate"] is True
    assert tls["common_tls_context"]["validation_context_sds_secret_config"] == {
        "name": DICOM_CLIENTS_SDS_NAME,
        "sds_config": {"path_config_source": {"path": f"/run/secrets/{DICOM_CLIENTS_FILE}"}},
    }
    secret = trust_secret(certified)
    assert secret.inputs["kmsKeyId"] == certified.one("aws:kms/key:Key").state["arn"]
    (version,) = [v for v in certified.of_type(VERSION) if v.inputs["secretId"] == secret.id]
    (value,) = secrets_in(version.inputs["secretString"])
    trust = json.loads(value)
    assert trust["ca_certificate"] == certified.named("orthweb-dicom-clients-ca").state["certPem"]
    issued = {aet: certified.named(f"orthweb-dicom-clients-{aet}").state["certPem"] for aet in ("CT_1", "MR_1")}
    assert trust["certificates"] == [
        {"aet": aet, "uri": certificate_uri("dev", aet), "sha256": certificate_fingerprint(pem)}
        for aet, pem in issued.items()
    ]
    assert "PRIVATE KEY" not in value
    # Both hosts read it: failover moves the address, not the modalities' trust.
    for role in ("primary", "secondary"):
        assert f"DICOM_CLIENTS_SECRET={secret.state['arn']}" in host_files(certified)[role]["fetch-secrets.sh"].content
    hosts = json.loads(certified.named("orthweb-host-identity-permissions").inputs["policy"])
    (reads,) = [s for s in hosts["Statement"] if s["Sid"] == "ReadOwnSecrets"]
    assert secret.state["arn"] in reads["Resource"]


def test_the_certificates_and_keys_are_one_secret_under_the_stack_key(certified: Evaluation) -> None:
    secret = certificates_secret(certified)
    assert secret.inputs["kmsKeyId"] == certified.one("aws:kms/key:Key").state["arn"]
    (version,) = [v for v in certified.of_type(VERSION) if v.inputs["secretId"] == secret.id]
    (value,) = secrets_in(version.inputs["secretString"])
    document = json.loads(value)
    assert set(document["modalities"]) == {"CT_1", "MR_1"}
    for aet, entry in document["modalities"].items():
        assert entry["private_key"] == certified.named(f"orthweb-dicom-clients-{aet}-key").state["privateKeyPem"]
        assert entry["uri"] == certificate_uri("dev", aet)
    assert document["ca_certificate"] == certified.named("orthweb-dicom-clients-ca").state["certPem"]
    assert certified.named("orthweb-dicom-clients-ca-key").state["privateKeyPem"] not in value


def test_no_key_reaches_user_data_outputs_or_any_plain_input(certified: Evaluation) -> None:
    keys = [k.state["privateKeyPem"] for k in certified.of_type("tls:index/privateKey:PrivateKey")]
    assert len(keys) == 4  # the site's, the CA's and one per modality
    shown = [json.dumps(certified.outputs, default=str)]
    shown += [user_data_text(h) for h in certified.of_type("aws:ec2/instance:Instance")]
    shown += [json.dumps(redact(r.inputs), default=str) for r in certified.resources]
    for key in keys:
        body = key.splitlines()[1]
        assert not any(body in text for text in shown)


def test_only_the_administrators_may_read_the_certificates(certified: Evaluation) -> None:
    secret = certificates_secret(certified)
    (policy,) = certified.of_type("aws:secretsmanager/secretPolicy:SecretPolicy")
    assert policy.inputs["secretArn"] == secret.state["arn"]
    document = json.loads(policy.inputs["policy"])
    (deny,) = document["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "secretsmanager:GetSecretValue"
    assert deny["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": [ADMIN]}}
    assert [(f.issue, f.detail) for f in analyze_policy_string(policy.inputs["policy"]).findings] == []
    # The hosts are not administrators, and their role does not even ask for it.
    hosts = json.loads(certified.named("orthweb-host-identity-permissions").inputs["policy"])
    (reads,) = [s for s in hosts["Statement"] if s["Sid"] == "ReadOwnSecrets"]
    assert secret.state["arn"] not in reads["Resource"]
    assert (
        certified.named("orthweb-host-identity-role").state["arn"]
        not in deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    )


def test_by_default_the_deployer_is_the_administrator_who_reads_them(empty_home: Path) -> None:
    stack = evaluate("dev", CERTIFICATES, home=empty_home)
    (policy,) = stack.of_type("aws:secretsmanager/secretPolicy:SecretPolicy")
    readers = json.loads(policy.inputs["policy"])["Statement"][0]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    bucket = json.loads(stack.named("orthweb-storage-dicom-policy").inputs["policy"])
    (others,) = [s for s in bucket["Statement"] if s["Sid"] == "DenyObjectAccessToOthers"]
    # The same administrators as the DICOM objects', without the hosts.
    assert set(readers) == set(others["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]) - {
        stack.named("orthweb-host-identity-role").state["arn"]
    }


def test_the_secret_is_priced(certified: Evaluation, dev: Evaluation) -> None:
    from orthweb.ops.cost import estimate

    def secrets_line(stack: Evaluation) -> float:
        (line,) = [item for item in estimate(stack.resources, "us-east-1").items if "Secrets Manager" in item.item]
        return line.quantity

    # The certificates (administrators only) and what the hosts trust of them.
    assert secrets_line(certified) == secrets_line(dev) + 2


def test_in_prod_both_secrets_go_through_the_stacks_endpoint_and_hosts_read_only_there(empty_home: Path) -> None:
    """The Secrets Manager endpoint (on in prod) lets only the stack's secrets through, these two
    included; the hosts' read of the trust secret holds only through it, like their other reads."""
    prod = evaluate("prod", CERTIFICATES, home=empty_home)
    (endpoint_policy,) = prod.of_type("aws:ec2/vpcEndpointPolicy:VpcEndpointPolicy")
    admitted = json.dumps(json.loads(endpoint_policy.inputs["policy"]))
    assert certificates_secret(prod).state["arn"] in admitted and trust_secret(prod).state["arn"] in admitted
    hosts = json.loads(prod.named("orthweb-host-identity-permissions").inputs["policy"])
    (reads,) = [s for s in hosts["Statement"] if s["Sid"] == "ReadOwnSecrets"]
    assert trust_secret(prod).state["arn"] in reads["Resource"]
    assert certificates_secret(prod).state["arn"] not in reads["Resource"]
    assert set(reads["Condition"]["StringEquals"]) == {"aws:SourceVpce"}
